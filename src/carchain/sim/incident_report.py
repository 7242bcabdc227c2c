"""The incident at a glance: an HTML report and a PNG of the investigated crash.

Built from what the investigation decrypted (``Investigation``), never from the
simulator's ground truth: the crash cars' tracks in the case's window, the witnesses'
positions nearest the crash, the EDRs' pre-crash speed, service brake and delta-V,
and the case's time line as the chain recorded it. The figure is drawn with
matplotlib (Agg, no display); the HTML embeds the same figure as SVG and the time
line as a table, with no external resource.
"""

from __future__ import annotations

import html
import io
import os
from pathlib import Path
from typing import Any

from carchain.sim.investigation import Investigation
from carchain.sim.reconstruction import EDR_FIRST_MS, EDR_STEP_MS, CrashCarReconstruction

COLOURS = ("#c0392b", "#2471a3")
SVG_METADATA: dict[str, Any] = {"Creator": None, "Date": None, "Format": None, "Type": None}
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}"
    "h1{font-weight:600}table{border-collapse:collapse;margin:1rem 0}"
    "td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}"
    "svg{max-width:100%;height:auto}"
)


def group_by_place(inv: Investigation) -> dict[tuple[float, float], list[str]]:
    """Return the witnesses' ids by position (to ~1 m): cars seen at one place get one
    marker and one label listing them all, not labels drawn over each other."""
    places: dict[tuple[float, float], list[str]] = {}
    for w in inv.witnesses:
        places.setdefault((round(w.lon, 5), round(w.lat, 5)), []).append(w.vehicle_id)
    return {place: sorted(ids) for place, ids in places.items()}


def _draw_map(ax: Any, inv: Investigation, cars: list[CrashCarReconstruction]) -> None:
    for colour, car in zip(COLOURS, cars, strict=False):
        if car.track:
            lons = [p[2] for p in car.track]
            lats = [p[1] for p in car.track]
            ax.plot(lons, lats, "-o", color=colour, markersize=3, label=car.vehicle_id)
            ax.annotate("", (lons[-1], lats[-1]), (lons[0], lats[0]),
                        arrowprops={"arrowstyle": "->", "color": colour, "alpha": 0.4})  # fmt: skip
    for (lon, lat), ids in group_by_place(inv).items():
        ax.plot(lon, lat, "^", color="#7d3c98", markersize=6)
        ax.annotate("\n".join(ids), (lon, lat), fontsize=6, xytext=(3, 3),
                    textcoords="offset points", va="bottom")  # fmt: skip
    ends = [car.track[-1] for car in cars if car.track]
    if ends:
        ax.plot(ends[0][2], ends[0][1], "X", color="black", markersize=12, label="crash")
    ax.set_title("the junction: crash cars' tracks, witnesses (▲)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    ax.ticklabel_format(useOffset=False)


def _draw_edr(ax_speed: Any, ax_dv: Any, cars: list[CrashCarReconstruction]) -> None:
    for colour, car in zip(COLOURS, cars, strict=False):
        edr = car.edr
        if edr is None:
            continue
        speeds = edr.pre_crash_speed_kmh or []
        ts = [(EDR_FIRST_MS + i * EDR_STEP_MS) / 1000 for i in range(len(speeds))]
        ax_speed.plot(ts, speeds, "-o", color=colour, markersize=3, label=car.vehicle_id)
        for t, on in zip(ts, edr.service_brake or [], strict=False):
            if on:
                ax_speed.axvspan(t - 0.25, t + 0.25, color=colour, alpha=0.12)
        dv = edr.delta_v_long_kmh or []
        ax_dv.plot([10 * i for i in range(len(dv))], dv, color=colour, label=car.vehicle_id)
    ax_speed.set_title("EDR: speed before impact (shaded: service brake)")
    ax_speed.set_xlabel("s before impact")
    ax_speed.set_ylabel("km/h")
    ax_dv.set_title("EDR: longitudinal delta-V")
    ax_dv.set_xlabel("ms after impact")
    ax_dv.set_ylabel("km/h")
    for ax in (ax_speed, ax_dv):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)


def render_figure(inv: Investigation) -> tuple[bytes, str]:
    """Return the incident's figure as PNG bytes and as SVG text."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from matplotlib.figure import Figure

    cars = [inv.crash_cars[v] for v in sorted(inv.crash_cars)]
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(1.1, 1))
    _draw_map(fig.add_subplot(grid[:, 0]), inv, cars)
    _draw_edr(fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1]), cars)
    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png", dpi=110)
    fig.savefig(svg, format="svg", metadata=SVG_METADATA)
    return png.getvalue(), svg.getvalue()


def render_html(inv: Investigation, svg: str, facts: list[tuple[str, str]]) -> str:
    """Return the self-contained HTML report."""
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{height}</td></tr>"
        for label, height, _ in inv.timeline
    )
    fact_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts
    )
    svg_body = svg[svg.find("<svg") :]
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>carchain: the crash investigated</title><style>{STYLE}</style>"
        "<h1>The crash, investigated</h1>"
        f"<table>{fact_rows}</table>{svg_body}"
        f"<h2>Time line (block heights)</h2><table><tr><th>step</th><th>block</th></tr>{rows}"
        "</table></html>"
    )


def write_incident_report(
    inv: Investigation, out_dir: Path, facts: list[tuple[str, str]]
) -> tuple[Path, Path]:
    """Write ``incident.html`` and ``incident.png`` in ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = render_figure(inv)
    png_path, html_path = out_dir / "incident.png", out_dir / "incident.html"
    png_path.write_bytes(png)
    html_path.write_text(render_html(inv, svg, facts), encoding="utf-8")
    return html_path, png_path
