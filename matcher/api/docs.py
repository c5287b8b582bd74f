"""The API documentation page (``/docs``), served entirely by the matcher itself.

FastAPI's own ``/docs`` loads Swagger UI from a public CDN with an inline bootstrap script: on a
locked-down municipal network the page stays blank, and the inline script needed a weaker
Content-Security-Policy. Here the Swagger UI files are vendored in ``static/swagger-ui/`` (from
the npm package swagger-ui-dist, Apache License 2.0: its LICENSE and NOTICE are beside them; the
README there says how to update them), the bootstrap is a script file of our own, and the page
works under a same-origin-only policy (:mod:`matcher.api.headers`). The PyPI package
swagger-ui-bundle was not used: it ships Swagger UI 4, which can not read the OpenAPI 3.1 schema
FastAPI writes. ReDoc is not offered: a second viewer of the same schema to vendor and keep
patched.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

__all__ = ["DOCS_ASSETS", "DOCS_PATH", "SWAGGER_UI_DIR", "install_docs"]

DOCS_PATH = "/docs"
DOCS_ASSETS = "/docs/assets"
_INIT = "/docs/init.js"
SWAGGER_UI_DIR = Path(__file__).parent / "static" / "swagger-ui"

# Swagger UI's standard bootstrap, as a file (no inline script): the schema from this origin,
# no "try it out" against other servers, no validator badge (it would call an outside host).
_INIT_JS = """\
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""


def _page(title: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - API documentation</title>
<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS_ASSETS}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>
<script src="{_INIT}"></script>
</body>
</html>
"""


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, its bootstrap script and the Swagger UI files to ``app``.

    Create the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are absent.
    """
    page = _page(app.title)

    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    async def init_js() -> Response:
        return Response(_INIT_JS, media_type="text/javascript")

    app.add_api_route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False)
    app.add_api_route(_INIT, init_js, methods=["GET"], include_in_schema=False)
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI_DIR), name="docs-assets")
