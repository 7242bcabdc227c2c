"""Published reports: the files a node's operator (or the demo) puts in its home's
``reports/`` folder, listed at ``/reports`` and served at ``/reports/{name}``.

The demo writes its incident picture there (``incident.html`` and ``incident.png``)
so that the explorer links to it. A report is public by being put there: it holds ids
and figures only, like everything else the node serves. Only plain file names of the
allowed kinds are listed or served (no folder, no hidden file, no other suffix), each
with a Content-Security-Policy that lets an HTML report load nothing but itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from carchain.api.schemas import compute_error_responses
from carchain.errors import NotFound

router = APIRouter(tags=["explorer"])

REPORTS_FOLDER = "reports"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.(html|png|svg)")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "png": "image/png",
    "svg": "image/svg+xml",
}
REPORT_CONTENT = {
    MEDIA_TYPES["html"]: {"schema": {"type": "string"}},
    MEDIA_TYPES["png"]: {"schema": {"type": "string", "format": "binary"}},
    MEDIA_TYPES["svg"]: {"schema": {"type": "string"}},
}
REPORT_HEADERS = {
    # An HTML report is self-contained: its inline style and images, nothing fetched.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class ReportFile(BaseModel):
    """One published report file."""

    name: str = Field(description="Its file name, e.g. ``incident.html``.")
    media_type: str
    bytes: int
    url: str = Field(description="Where the node serves it (same origin).")


class ReportList(BaseModel):
    """The reports this node publishes (an empty list when it has none)."""

    reports: list[ReportFile]


def get_reports_dir(request: Request) -> Path | None:
    """Return the folder the app serves reports from (``None``: it serves none)."""
    folder = getattr(request.app.state, "reports_dir", None)
    return folder if isinstance(folder, Path) else None


def list_report_files(folder: Path | None) -> dict[str, Path]:
    """Return the servable files of ``folder`` by name (regular files, allowed names)."""
    if folder is None or not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.iterdir()):
        if NAME_PATTERN.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            out[path.name] = path
    return out


def compute_media_type(name: str) -> str:
    """Return the media type a report file is served with."""
    return MEDIA_TYPES[name.rpartition(".")[2]]


@router.get("/reports", response_model=ReportList)
def list_reports(request: Request) -> ReportList:
    """List the reports this node publishes (its home's ``reports/`` folder)."""
    files = list_report_files(get_reports_dir(request))
    return ReportList(
        reports=[
            ReportFile(
                name=name, media_type=compute_media_type(name), bytes=path.stat().st_size,
                url=f"/reports/{name}",
            )
            for name, path in files.items()
        ]
    )  # fmt: skip


@router.get(
    "/reports/{name}",
    response_class=Response,
    responses={
        200: {"description": "The report file.", "content": REPORT_CONTENT},
        **compute_error_responses(404, 422),
    },
)
def get_report(request: Request, name: str) -> Response:
    """Return one published report file; 404 ``not_found`` for any other name."""
    path = list_report_files(get_reports_dir(request)).get(name)
    if path is None:
        raise NotFound(f"no report {name!r} on this node", path=name)
    return Response(path.read_bytes(), media_type=compute_media_type(name), headers=REPORT_HEADERS)


def register(app: FastAPI, reports_dir: Path | None = None) -> None:
    """Add the report routes, serving ``reports_dir`` (none when ``None``)."""
    app.state.reports_dir = reports_dir
    app.include_router(router)
