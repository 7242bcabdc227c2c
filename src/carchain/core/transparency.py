"""Public transparency counters: every case transition counted, each number a state key.

A counter set is named by its *scope*: ``q/<period>`` for a calendar quarter of block
time (``2026Q4``, UTC), ``y/<year>/<oem>`` for one OEM's calendar year (the annual
report of the 2021 Several Provisions on Automotive Data Security Management, art. 13,
due by 15 December). A counter is ``t/<scope>/<name>`` (u64, 8 bytes big-endian); the
first time a counter is written its name is appended to the scope's index
``ti/<scope>/<n>`` (count ``tin/<scope>``), so a reader enumerates a period's numbers
with a proof for each, by bounded pages. Names are ``/``-joined codes and member ids
(``authority/<member>``, ``basis/<code>``, ``state/authorized``,
``open_to_authorize/le_1d``); ``docs/transparency.md`` lists them all.

Counted in the quarter of the transition's block: at ``case.open`` the case by
authority, legal basis, OEM of the opened scope's vehicles and category; every
transition into a state (``state/<s>``); the court that authorised or rejected it; the
time from open to authorisation and the notification delay (sum, count, buckets);
approvals, declines (by reason), shares released, notice extensions (and the delay they
added), reports, notices given. Per OEM and year: the cases and vehicles of its fleet
authorised, by legal basis, authority, court and category, the shares released, the
owners told, the extensions and declines.
"""

from __future__ import annotations

from carchain.core.case_records import DAY_MS, STORE, Case, CaseScope, CaseState
from carchain.core.state import KVView, compute_key
from carchain.core.types import BlockContext
from carchain.core.validation import NAMESPACE_SEPARATOR

HOUR_MS = 3_600_000
# (name suffix, upper bound inclusive), then ``gt_<last>`` for everything above.
OPEN_TO_AUTHORIZE_BUCKETS: tuple[tuple[str, int], ...] = (
    ("le_1h", HOUR_MS),
    ("le_1d", DAY_MS),
    ("le_7d", 7 * DAY_MS),
    ("le_30d", 30 * DAY_MS),
)
NOTICE_DELAY_BUCKETS: tuple[tuple[str, int], ...] = (
    ("le_0d", 0),
    ("le_7d", 7 * DAY_MS),
    ("le_30d", 30 * DAY_MS),
    ("le_90d", 90 * DAY_MS),
    ("le_180d", 180 * DAY_MS),
)


# --- periods and keys ------------------------------------------------------------


def compute_date(time_ms: int) -> tuple[int, int, int]:
    """Return the UTC (year, month, day) of a block time: the proleptic Gregorian civil
    date of the Unix day (H. Hinnant's days-to-civil; the core reads no clock and
    imports no ``datetime``)."""
    z = time_ms // DAY_MS + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def compute_year(time_ms: int) -> int:
    """Return the UTC calendar year of a block time."""
    return compute_date(time_ms)[0]


def compute_quarter(time_ms: int) -> str:
    """Return the calendar quarter (UTC) of a block time, e.g. ``2026Q4``."""
    year, month, _ = compute_date(time_ms)
    return f"{year:04d}Q{(month - 1) // 3 + 1}"


def compute_quarter_scope(period: str) -> str:
    """Return the counter scope of a quarter."""
    return f"q/{period}"


def compute_year_scope(year: int, oem: str) -> str:
    """Return the counter scope of one OEM's calendar year."""
    return f"y/{year:04d}/{oem}"


def compute_counter_key(scope: str, name: str) -> bytes:
    """Return the state key of a counter."""
    return compute_key("t", f"{scope}/{name}")


def compute_index_key(scope: str, n: int) -> bytes:
    """Return the state key of a scope's ``n``-th counter name."""
    return compute_key("ti", scope, n)


def compute_index_count_key(scope: str) -> bytes:
    """Return the state key of how many counters a scope holds."""
    return compute_key("tin", scope)


def _get_u64(view: KVView, key: bytes) -> int:
    raw = view.get(STORE, key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def get_counter(view: KVView, scope: str, name: str) -> int:
    """Return a counter's value (0 when never counted)."""
    return _get_u64(view, compute_counter_key(scope, name))


def get_counter_names(view: KVView, scope: str, start: int = 0, limit: int = 1000) -> list[str]:
    """Return up to ``limit`` of a scope's counter names from index ``start``, in index order."""
    n = _get_u64(view, compute_index_count_key(scope))
    names = (
        view.get(STORE, compute_index_key(scope, i)) for i in range(start, min(n, start + limit))
    )
    return [raw.decode() for raw in names if raw is not None]


def get_counters(view: KVView, scope: str) -> dict[str, int]:
    """Return every counter of a scope (readers; the core never calls this)."""
    return {name: get_counter(view, scope, name) for name in get_counter_names(view, scope)}


def process_add(view: KVView, scope: str, name: str, delta: int = 1) -> None:
    """Add ``delta`` to a counter, indexing its name the first time it is written."""
    if delta <= 0:
        return
    key = compute_counter_key(scope, name)
    raw = view.get(STORE, key)
    if raw is None:
        count_key = compute_index_count_key(scope)
        n = _get_u64(view, count_key)
        view.set(STORE, compute_index_key(scope, n), name.encode())
        view.set(STORE, count_key, (n + 1).to_bytes(8, "big"))
    value = (0 if raw is None else int.from_bytes(raw, "big")) + delta
    view.set(STORE, key, value.to_bytes(8, "big"))


def compute_bucket(buckets: tuple[tuple[str, int], ...], value: int) -> str:
    """Return the name of the bucket ``value`` falls in."""
    for name, bound in buckets:
        if value <= bound:
            return name
    return "gt_" + buckets[-1][0].removeprefix("le_")


def process_add_duration(
    view: KVView, scope: str, name: str, value: int, buckets: tuple[tuple[str, int], ...]
) -> None:
    """Count one duration: its sum, count and bucket."""
    process_add(view, scope, f"{name}/count")
    process_add(view, scope, f"{name}/sum_ms", value)
    process_add(view, scope, f"{name}/{compute_bucket(buckets, value)}")


def compute_scope_oems(scope: CaseScope) -> dict[str, int]:
    """Return the OEMs of a scope's vehicles, with how many vehicles each."""
    out: dict[str, int] = {}
    for vehicle_id in scope.vehicles:
        oem = vehicle_id.partition(NAMESPACE_SEPARATOR)[0]
        out[oem] = out.get(oem, 0) + 1
    return out


def _authorized_scope(case: Case) -> CaseScope:
    return case.opened_scope if case.scope is None else case.scope


def process_add_per_oem(
    view: KVView, ctx: BlockContext, case: Case, names: list[str], per_vehicle: str = ""
) -> None:
    """Count ``names`` once in the year scope of each OEM of the case's scope (and
    ``per_vehicle`` once per vehicle of that OEM)."""
    year = compute_year(ctx.time_ms)
    for oem, vehicles in sorted(compute_scope_oems(_authorized_scope(case)).items()):
        scope = compute_year_scope(year, oem)
        for name in names:
            process_add(view, scope, name)
        if per_vehicle:
            process_add(view, scope, per_vehicle, vehicles)


# --- the hooks -----------------------------------------------------------------------


def process_transition(view: KVView, ctx: BlockContext, before: Case | None, after: Case) -> None:
    """Count a case's change (open, authorize, reject, approve, decline, release, extend,
    report, close) in the quarter of the block, and per OEM and year."""
    q = compute_quarter_scope(compute_quarter(ctx.time_ms))
    if before is None:
        _process_opened(view, ctx, q, after)
        return
    if before.state != after.state:
        process_add(view, q, f"state/{after.state.value}")
        if after.state == CaseState.AUTHORIZED:
            _process_authorized(view, ctx, q, after)
        elif after.state == CaseState.REJECTED:
            process_add(view, q, f"court/{after.court}")
            process_add_per_oem(view, ctx, after, ["cases_rejected"])
        elif after.state == CaseState.CLOSED:
            process_add_per_oem(view, ctx, after, ["cases_closed"])
    _process_votes(view, ctx, q, before, after)
    process_add(view, q, "shares_released", after.released_keys - before.released_keys)
    if after.notice_extensions > before.notice_extensions:
        process_add(
            view, q, "notice_delay/extensions", after.notice_extensions - before.notice_extensions
        )
        process_add(
            view, q, "notice_delay/extended_ms", after.notice_delay_ms - before.notice_delay_ms
        )
        process_add_per_oem(view, ctx, after, ["notice_extensions"])
    if after.report_hash and not before.report_hash:
        process_add(view, q, "reported")


def _process_opened(view: KVView, ctx: BlockContext, q: str, case: Case) -> None:
    process_add(view, q, f"state/{CaseState.OPEN.value}")
    process_add(view, q, f"authority/{case.authority}")
    process_add(view, q, f"basis/{case.legal_basis}")
    for oem in sorted(compute_scope_oems(case.opened_scope)):
        process_add(view, q, f"oem/{oem}")
    for category in case.opened_scope.categories:
        process_add(view, q, f"category/{category}")
    process_add_per_oem(view, ctx, case, ["cases_opened"])


def _process_authorized(view: KVView, ctx: BlockContext, q: str, case: Case) -> None:
    scope = _authorized_scope(case)
    process_add(view, q, f"court/{case.court}")
    process_add(view, q, "authorized_vehicles", len(scope.vehicles))
    wait = max(case.authorized_ms - case.opened_ms, 0)
    process_add_duration(view, q, "open_to_authorize", wait, OPEN_TO_AUTHORIZE_BUCKETS)
    process_add_duration(view, q, "notice_delay", case.notice_delay_ms, NOTICE_DELAY_BUCKETS)
    names = [
        "cases_authorized",
        f"basis/{case.legal_basis}",
        f"authority/{case.authority}",
        f"court/{case.court}",
        *(f"category/{c}" for c in scope.categories),
    ]
    process_add_per_oem(view, ctx, case, names, per_vehicle="vehicles")


def _process_votes(view: KVView, ctx: BlockContext, q: str, before: Case, after: Case) -> None:
    process_add(view, q, "approvals", len(after.approvals) - len(before.approvals))
    for vote in after.declines[len(before.declines) :]:
        process_add(view, q, "declines")
        process_add(view, q, f"decline_reason/{vote.reason}")
        process_add_per_oem(view, ctx, after, ["declines"])


def process_oem_release(view: KVView, ctx: BlockContext, oem: str, keys: int) -> None:
    """Count the shares of an OEM's vehicles one release disclosed, in the OEM's year."""
    process_add(view, compute_year_scope(compute_year(ctx.time_ms), oem), "shares_released", keys)


def process_notice(view: KVView, ctx: BlockContext, case: Case) -> None:
    """Count a notice the chain gave (the case, and per OEM the owners told)."""
    q = compute_quarter_scope(compute_quarter(ctx.time_ms))
    process_add(view, q, "notices")
    process_add(view, q, "noticed_vehicles", len(_authorized_scope(case).vehicles))
    process_add_per_oem(view, ctx, case, [], per_vehicle="owners_notified")
