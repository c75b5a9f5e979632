"""The provider's API docs page (`/docs`): Swagger UI from the `swagger-ui-bundle` package.

FastAPI's own docs page loads Swagger UI from a CDN (blank offline, and a script that is not
ours) and starts it with an inline script. Here every asset comes from the provider's origin,
the page is started by a script file of our own, and the page's Content-Security-Policy
allows nothing but 'self' for scripts (icons in Swagger's CSS are data: images).
"""

from __future__ import annotations

import html
import json

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no py.typed

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def docs_html(title: str, assets: str, init_script: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head><body><div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{init_script}"></script>
</body></html>
"""


def init_script(openapi_url: str) -> str:
    return f""""use strict";
window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: {json.dumps(openapi_url)},
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
  }});
}});
"""


def install_docs(app: FastAPI, prefix: str, openapi_url: str) -> None:
    """`{prefix}/docs`, its initialiser `{prefix}/static/docs-init.js` and the Swagger UI
    files under `{prefix}/docs-assets/`."""
    assets = f"{prefix}/docs-assets"
    init_url = f"{prefix}/static/docs-init.js"
    page = docs_html(f"{app.title} - API", assets, init_url)
    script = init_script(openapi_url)

    @app.get(f"{prefix}/docs", include_in_schema=False)
    async def docs() -> Response:
        return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})

    @app.get(init_url, include_in_schema=False)
    async def docs_init() -> Response:
        return Response(script, media_type="text/javascript")

    app.mount(assets, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    del docs, docs_init
