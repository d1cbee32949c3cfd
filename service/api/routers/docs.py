"""/docs and /redoc with Swagger UI's and ReDoc's files served from the installed package
`fastapi-offline`: the pages render with no internet (FastAPI's defaults load them from a CDN)."""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from service.api.deps import Public

ASSET_DIR = files("fastapi_offline") / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
PREFIX = "/docs-assets"
# The pages load nothing from elsewhere (ReDoc's bundle would fetch its badge from a CDN).
DOCS_CSP = {"Content-Security-Policy": "img-src 'self' data:; connect-src 'self'; font-src 'self' data:"}

router = APIRouter(include_in_schema=False, dependencies=[Public])


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{PREFIX}/favicon.png",
    )
    page.headers.update(DOCS_CSP)
    return page


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - API reference",
        redoc_js_url=f"{PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{PREFIX}/favicon.png",
        with_google_fonts=False,
    )
    page.headers.update(DOCS_CSP)
    return page


@router.get(f"{PREFIX}/{{name}}")
def asset(name: Annotated[str, PathParam(max_length=100)]) -> FileResponse:
    # Only these files, by exact name: no path from a request reaches the disk.
    if name not in ASSETS:
        raise HTTPException(404, f"No docs file {name!r}")
    return FileResponse(
        str(ASSET_DIR / name), media_type=ASSETS[name], headers={"Cache-Control": "max-age=86400"}
    )
