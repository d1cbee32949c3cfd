"""The dashboard: one HTML page, its stylesheet and script, served by the API itself.

No build step and nothing fetched from elsewhere at run time: the page is plain HTML, CSS and
JavaScript from `service/api/static/`, and it reads every figure through the public REST API.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse

from service.api.deps import Public, State

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Only the page's own files are served, by exact name: no path from a request reaches the disk.
ASSETS = {path.name: path for path in STATIC_DIR.iterdir() if path.suffix in MEDIA_TYPES}

# The page loads nothing but its own files and talks to nothing but this service.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on each visit (cheap: ETag), so an upgraded service never serves an old script.
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False, dependencies=[Public])


def _page(default_org: str | None) -> str:
    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return template.replace("{{DEFAULT_ORG}}", html.escape(default_org or "", quote=True))


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
@router.api_route("/dashboard", methods=["GET", "HEAD"], response_class=HTMLResponse)
def dashboard(state: State) -> HTMLResponse:
    """The page; it opens on the default organization (ORG_ID) when one is configured."""
    return HTMLResponse(_page(state.settings.org_id), headers=SECURITY_HEADERS)


@router.get("/dashboard/static/{name}")
def asset(name: Annotated[str, PathParam(max_length=100)]) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(404, f"No dashboard file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)
