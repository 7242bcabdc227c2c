"""``carchain network``: a CometBFT localnet of one validator per consortium member."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from carchain.cli.common import CarchainTyper, JsonOpt, emit_json
from carchain.cli.log_format import parse_log_format

if TYPE_CHECKING:
    from carchain.sdk.light_client import TrustRoot

from carchain.cli.common import console
from carchain.errors import NoTrustRoot
from carchain.network import localnet

app = CarchainTyper(help="A CometBFT localnet on loopback: one validator per member node.")

DEFAULT_NETWORK_HOME = Path(
    os.environ.get("CARCHAIN_NETWORK_HOME", str(Path.home() / ".carchain" / "network"))
)
NetHomeOpt = Annotated[
    Path, typer.Option("--home", envvar="CARCHAIN_NETWORK_HOME", help="Network home folder.")
]
NodeArg = Annotated[str, typer.Argument(help="Node name (node0) or index (0).")]


@app.command("up")
def up(
    validators: Annotated[int, typer.Option(help="Number of validator nodes.", min=1, max=8)] = 4,
    chain_id: Annotated[str, typer.Option(help="Chain id.")] = "carchain-localnet",
    home: NetHomeOpt = DEFAULT_NETWORK_HOME,
    abci_transport: Annotated[
        str,
        typer.Option(
            help="ABCI between CometBFT and app: unix (0600 socket in the node home) or "
            "tcp (loopback port: any local user can connect). Used at creation only."
        ),
    ] = "unix",
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="The app nodes' logs: text or json (JSON lines); kept for restarts.",
        ),
    ] = None,
) -> None:
    """Create (first time) and start the localnet; print each node's API and RPC URLs."""
    from carchain.network import localnet

    fmt = None if log_format is None else parse_log_format(log_format)
    layout = localnet.up(home, validators, chain_id, abci_transport, fmt)
    table = Table("node", "API", "CometBFT RPC", "P2P", "ABCI")
    for n in layout.nodes:
        abci = str(n.abci_port) if n.abci_transport == "tcp" else "unix socket"
        table.add_row(n.name, n.api_url, n.rpc_url, str(n.p2p_port), abci)
    console.print(table)
    console.print(f"[green]up[/green]: chain {layout.chain_id}, home {home}")
    print_keyring_hint(home)


@app.command("logs")
def logs(
    node: NodeArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Last lines to show.")] = 50,
    comet: Annotated[bool, typer.Option("--comet", help="CometBFT's log, not the app's.")] = False,
    home: NetHomeOpt = DEFAULT_NETWORK_HOME,
) -> None:
    """Print a node's application log (or CometBFT's with --comet): the last lines, then
    with --follow each new line until Ctrl-C."""
    from carchain.errors import compute_printable_text
    from carchain.network.layout import load_layout
    from carchain.network.logs import follow_lines, get_log_path, read_last_lines

    layout = load_layout(home)
    path = get_log_path(layout, layout.get_node(node), "comet" if comet else "app")
    last, offset = read_last_lines(path, lines)
    for line in last:
        print(compute_printable_text(line))
    if follow:
        try:
            for line in follow_lines(path, offset):
                print(compute_printable_text(line), flush=True)
        except KeyboardInterrupt:
            return


def print_keyring_hint(home: Path) -> None:
    """Print where the founders' keys are and the two variables that unlock them."""
    from carchain.network.genesis import LOCALNET_PASSPHRASE

    keys = (home / "keys").resolve()
    console.print(
        f"founders' keys (saic, geely, ... one per member) in {keys}, encrypted with the "
        f"development passphrase {LOCALNET_PASSPHRASE!r}; to use them:",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"  export CARCHAIN_KEYRING={keys} CARCHAIN_PASSPHRASE={LOCALNET_PASSPHRASE}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print('or, with node0 as CARCHAIN_NODE too:  eval "$(carchain network env)"')


def compute_quorum(states: list[localnet.NodeState]) -> dict[str, int | bool]:
    """Return how many validators run (CometBFT answering) against the more than 2/3
    a commit needs (the localnet's validators have equal power)."""
    up = sum(1 for s in states if s.app_pid and s.comet_pid and s.height is not None)
    needed = len(states) * 2 // 3 + 1
    return {"validators": len(states), "up": up, "needed": needed, "quorum": up >= needed}


@app.command("env")
def env(
    node: Annotated[str, typer.Argument(help="Node name (node0) or index (0).")] = "node0",
    home: NetHomeOpt = DEFAULT_NETWORK_HOME,
) -> None:
    """Print the shell exports that point the CLI at a node and unlock the founders' keys:
    ``eval "$(carchain network env)"``."""
    import shlex

    from carchain.network.genesis import LOCALNET_PASSPHRASE
    from carchain.network.layout import load_layout

    layout = load_layout(home)
    n = layout.get_node(node)
    keys = shlex.quote(str((home / "keys").resolve()))
    typer.echo(f"export CARCHAIN_KEYRING={keys} CARCHAIN_PASSPHRASE={LOCALNET_PASSPHRASE}")
    typer.echo(f"export CARCHAIN_NODE={n.api_url}")


@app.command("status")
def status(home: NetHomeOpt = DEFAULT_NETWORK_HOME, as_json: JsonOpt = False) -> None:
    """Show each node's processes, height, app hash and peers, and whether enough
    validators run to commit blocks (the quorum: more than 2/3)."""
    from carchain.network.layout import load_layout

    layout = load_layout(home)
    states = [localnet.get_node_state(layout, n) for n in layout.nodes]
    quorum = compute_quorum(states)
    if as_json:
        emit_json({"chain_id": layout.chain_id, "nodes": states, **quorum})
        return
    table = Table("node", "app pid", "comet pid", "height", "app hash", "peers", "syncing")
    for s in states:
        table.add_row(
            s.name,
            str(s.app_pid or "-"),
            str(s.comet_pid or "-"),
            "-" if s.height is None else str(s.height),
            s.app_hash or "-",
            "-" if s.peers is None else str(s.peers),
            "-" if s.catching_up is None else ("yes" if s.catching_up else "no"),
        )
    console.print(table, soft_wrap=True)
    counts = f"{quorum['up']} of {quorum['validators']} validators running, {quorum['needed']}"
    if quorum["quorum"]:
        console.print(f"[green]quorum[/green]: {counts} needed")
    else:
        console.print(
            f"[red]quorum lost[/red]: {counts} needed to commit; no block can be made until "
            "enough are back (`carchain network restart NODE`)"
        )


@app.command("down")
def down(home: NetHomeOpt = DEFAULT_NETWORK_HOME) -> None:
    """Stop every node (state is kept; `up` starts them again)."""
    from carchain.network import localnet

    localnet.down(home)
    console.print("[green]down[/green]")


@app.command("kill")
def kill(node: NodeArg, home: NetHomeOpt = DEFAULT_NETWORK_HOME) -> None:
    """SIGKILL one node's CometBFT and application (a crash)."""
    from carchain.network import localnet
    from carchain.network.layout import load_layout

    layout = load_layout(home)
    localnet.kill_node(layout, layout.get_node(node))
    console.print(f"[yellow]killed[/yellow] {node}")


@app.command("restart")
def restart(node: NodeArg, home: NetHomeOpt = DEFAULT_NETWORK_HOME) -> None:
    """Stop (if running) and start one node; it catches up through the handshake."""
    from carchain.network import localnet
    from carchain.network.layout import load_layout

    layout = load_layout(home)
    n = layout.get_node(node)
    localnet.stop_node(layout, n)
    localnet.start_node(layout, n)
    console.print(f"[green]restarted[/green] {node}")


GenesisOpt = Annotated[
    Path | None,
    typer.Option("--genesis", help="Genesis file you hold: trust its initial validator set."),
]
TrustHeightOpt = Annotated[
    int | None, typer.Option("--trust-height", help="Height of a block hash you trust.", min=1)
]
TrustHashOpt = Annotated[
    str | None, typer.Option("--trust-hash", help="Block hash (hex) you trust at --trust-height.")
]
MaxAgeOpt = Annotated[
    float, typer.Option("--max-age", help="Refuse proofs on headers older than this (s).", min=1)
]


def get_trust_root(
    genesis: Path | None, trust_height: int | None, trust_hash: str | None, chain_id: str
) -> TrustRoot:
    """Return the trust root the options name; ``NoTrustRoot`` if none or both."""
    from carchain.sdk.light_client import TrustedHash, load_genesis_trust

    if (trust_height is None) != (trust_hash is None):
        raise NoTrustRoot("give --trust-height and --trust-hash together")
    if (genesis is None) == (trust_hash is None):
        raise NoTrustRoot(
            "give exactly one trust root: --genesis FILE, or --trust-height H --trust-hash HEX"
        )
    if genesis is not None:
        root = load_genesis_trust(genesis)
        if root.chain_id != chain_id:
            raise NoTrustRoot("the genesis file is of another chain", chain_id=root.chain_id)
        return root
    try:
        raw = bytes.fromhex(trust_hash or "")
    except ValueError as exc:
        raise NoTrustRoot("--trust-hash is not hex") from exc
    if len(raw) != 32:
        raise NoTrustRoot("--trust-hash must be 32 bytes")
    return TrustedHash(int(trust_height or 0), raw, chain_id)


@app.command("verify")
def verify(
    key: Annotated[str, typer.Argument(help="STORE/KEY, e.g. vehicles/v/saic:000001")],
    node: Annotated[str, typer.Option(help="Node to read through.")] = "node0",
    genesis: GenesisOpt = None,
    trust_height: TrustHeightOpt = None,
    trust_hash: TrustHashOpt = None,
    max_age: MaxAgeOpt = 60.0,
    home: NetHomeOpt = DEFAULT_NETWORK_HOME,
) -> None:
    """Read a state key and verify it against a header that chains to a trust root you
    hold (the genesis validator set, or a block hash) and is at most --max-age old.
    """
    from carchain.network.layout import load_layout
    from carchain.sdk.client import Client
    from carchain.sdk.light_client import make_rpc_provider, query_verified_by_consensus

    store, _, raw = key.partition("/")
    if not raw:
        raise typer.BadParameter("KEY is STORE/KEY")
    layout = load_layout(home)
    root = get_trust_root(genesis, trust_height, trust_hash, layout.chain_id)
    n = layout.get_node(node)
    with Client(n.api_url) as client:
        v = query_verified_by_consensus(
            client, make_rpc_provider(n.rpc_url), store, raw.encode(), root, max_age
        )
    via = "genesis validator set" if genesis is not None else f"trusted block {trust_height}"
    console.print(
        f"[green]verified[/green] {store}/{raw} against header {v.height} "
        f"(app hash {v.app_hash.hex()[:16]}…), chained from the {via}"
    )
    console.print(v.value.hex(), soft_wrap=True)
