"""``/docs``: Swagger UI served from the pinned ``swagger-ui-bundle`` package, offline.

FastAPI's own docs page loads Swagger UI from a CDN, so it is blank without the
internet: apps turn it off (``docs_url=None, redoc_url=None``) and call
``register``. The page, its initializer and the assets (``/docs/static/...``, the
package's files in site-packages) come from the app itself, and the page's
Content-Security-Policy allows nothing else.

The pinned Swagger UI (4.15) renders OpenAPI 3.0 only, and FastAPI writes 3.1:
the page reads ``/docs/openapi-3.0.json``, the same document rewritten in 3.0
terms (``compute_openapi_30``). ``/openapi.json`` stays the 3.1 original.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from swagger_ui_bundle import swagger_ui_path

from carchain.errors import NotFound

STATIC_PATH = "/docs/static"
SPEC_30_PATH = "/docs/openapi-3.0.json"
# Only what the page loads: not the bundle's demo index.html, its petstore initializer,
# oauth2 page or source maps.
STATIC_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API docs</title>
<link rel="stylesheet" href="{root}/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="{root}/docs/static/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui" data-spec="{root}/docs/openapi-3.0.json"></div>
<script src="{root}/docs/static/swagger-ui-bundle.js"></script>
<script src="{root}/docs/init.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise send the document to an online validator.
_INIT_JS = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def compute_docs_page(title: str, root_path: str = "") -> str:
    """Return the docs page's HTML: every URL in it is the app's own."""
    return _PAGE.format(title=_escape(title), root=_escape(root_path))


def register(app: FastAPI) -> None:
    """Serve ``/docs``, its initializer, the 3.0 document and Swagger UI's assets."""
    headers = {"content-security-policy": CSP, "x-content-type-options": "nosniff"}

    @app.get(STATIC_PATH + "/{name}", include_in_schema=False)
    def docs_static(name: str) -> FileResponse:
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            raise NotFound("no such docs asset", path=name[:100])
        return FileResponse(Path(swagger_ui_path) / name, media_type=media_type, headers=headers)

    @app.get("/docs", include_in_schema=False)
    def docs_page(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        page = compute_docs_page(app.title, root)
        return HTMLResponse(page, headers=headers)

    @app.get("/docs/init.js", include_in_schema=False)
    def docs_init() -> Response:
        return Response(_INIT_JS, media_type="text/javascript", headers=headers)

    @app.get(SPEC_30_PATH, include_in_schema=False)
    def openapi_30() -> JSONResponse:
        return JSONResponse(compute_openapi_30(app.openapi()))


def compute_openapi_30(doc: dict[str, Any]) -> dict[str, Any]:
    """Return an OpenAPI 3.1 document (as FastAPI writes it) in OpenAPI 3.0 terms.

    ``anyOf`` with ``{"type": "null"}`` becomes ``nullable``, ``const`` a one-value
    ``enum``, numeric ``exclusiveMinimum``/``exclusiveMaximum`` the 3.0 boolean form,
    ``examples`` the first ``example``. ``doc`` is not changed.
    """
    out = {k: v for k, v in doc.items() if k != "openapi"}
    return {"openapi": "3.0.3", **_walk(out)}


def _walk(value: Any) -> Any:
    if isinstance(value, list):
        return [_walk(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("properties", "schemas", "paths", "responses", "content"):
            # Maps of names (fields, models, paths, statuses, media types): keys are no keywords.
            out[key] = {k: _walk(v) for k, v in item.items()} if isinstance(item, dict) else item
        else:
            out[key] = _walk(item)
    return _downgrade_schema(out)


def _downgrade_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Return one schema object's 3.1 keywords in their 3.0 form."""
    if "const" in schema and not isinstance(schema["const"], dict):
        schema["enum"] = [schema.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(schema.get(bound), int | float) and not isinstance(schema[bound], bool):
            schema[plain] = schema.pop(bound)
            schema[bound] = True
    if isinstance(schema.get("examples"), list) and "type" in schema:
        examples = schema.pop("examples")
        if examples:
            schema["example"] = examples[0]
    options = schema.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        schema.pop("anyOf")
        schema["nullable"] = True
        if len(rest) == 1 and "$ref" in rest[0]:
            schema["allOf"] = rest
        elif len(rest) == 1:
            schema.update({k: v for k, v in rest[0].items() if k not in schema})
        else:
            schema["anyOf"] = rest
    return schema
