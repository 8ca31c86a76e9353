"""The API's documentation pages, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served with
every file they load from the gateway itself: they work without internet access.

Swagger UI and ReDoc come from the ``fastapi-offline`` distribution (pinned in pyproject.toml),
which ships ``swagger-ui-dist`` and ReDoc's standalone bundle; ``PINNED`` records the SHA-256 of
each file, the pages load them with that subresource integrity, and a test checks the installed
files against it. The scripts that start the two viewers, and the favicon, are this package's
(``static/``): the pages hold no inline script, so their Content-Security-Policy allows scripts
from the gateway's origin only and never a third-party host; ReDoc's Google fonts are not linked.

These are FastAPI's "API description" routes (policy ``GetApiDescription``, public): plain
routes outside the OpenAPI document, with no database and nothing to admit.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"

# The distribution's files: name -> (the viewer's version, SHA-256 in base64 as SRI writes it).
PINNED = {
    "swagger-ui-bundle.js": (
        "swagger-ui-dist 5.32.6",
        "S1qbNaGt838A05wLriPNs3AH4pRiQO8DUTfMhbTVU0k=",
    ),
    "swagger-ui.css": ("swagger-ui-dist 5.32.6", "yiOPfXws9EgMHnepw7nakVqyFulv/TVOaQdlYMZQxt4="),
    "redoc.standalone.js": ("redoc 2.5.3", "EyD0QhUcV8RH07cMf/xsT4bQhGQCD+NMjMXTFk6ZRPA="),
}
_OWN = ("swagger-init.js", "redoc-init.js", "favicon.svg")
_MEDIA = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

# Everything from this origin only, and no inline script. Swagger UI's CSS holds its icons as
# data: URLs. ReDoc (only its page) needs two more: its styled-components add <style> elements at
# run time ('unsafe-inline' for styles, never scripts), and it builds its search index in a
# worker made from a blob: URL.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
REDOC_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "worker-src 'self'", "worker-src 'self' blob:"
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


# ReDoc's sidebar credits Redocly with a logo it always loads from Redocly's CDN (CSP would
# block it, with a console error): the one change made to a pinned file, to an empty image.
_PATCHES = {
    "redoc.standalone.js": (
        b"https://cdn.redoc.ly/redoc/logo-mini.svg",
        b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E",
    )
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    integrity: str  # the SRI value, sha256-<base64>: the page's browser checks the body with it


def distribution_dir() -> Path:
    """Where the installed ``fastapi-offline`` keeps its copies of Swagger UI and ReDoc."""
    return Path(str(resources.files("fastapi_offline") / "static"))


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file the pages load, read once. A distribution file whose SHA-256 is not the pinned
    one keeps the pinned integrity, so that browsers refuse it (fail closed)."""
    found = {}
    for name, (_, pinned) in PINNED.items():
        body = (distribution_dir() / name).read_bytes()
        integrity = f"sha256-{pinned}"
        if name in _PATCHES and sha256_b64(body) == pinned:
            old, new = _PATCHES[name]
            body = body.replace(old, new)
            integrity = f"sha256-{sha256_b64(body)}"
        found[name] = Asset(body, _MEDIA[Path(name).suffix], integrity)
    own_dir = Path(__file__).parent / "static"
    for name in _OWN:
        body = (own_dir / name).read_bytes()
        found[name] = Asset(body, _MEDIA[Path(name).suffix], f"sha256-{sha256_b64(body)}")
    return found


router = APIRouter()


def _page(
    request: Request, viewer: str, element: str, scripts: tuple[str, ...], csp: str
) -> HTMLResponse:
    """The page of ``viewer``: an element naming the OpenAPI document, then the scripts (and,
    for Swagger UI, its stylesheet), each with its subresource integrity."""
    root = request.scope.get("root_path", "")
    found = assets()

    def url(name: str) -> str:
        return html.escape(f"{root}{ASSETS_PATH}/{name}")

    styles = "".join(
        f'<link rel="stylesheet" href="{url(name)}" integrity="{found[name].integrity}">\n'
        for name in scripts
        if name.endswith(".css")
    )
    loads = "".join(
        f'<script src="{url(name)}" integrity="{found[name].integrity}"></script>\n'
        for name in scripts
        if name.endswith(".js")
    )
    openapi = html.escape(f"{root}{request.app.openapi_url}")
    document = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(request.app.title)} · {viewer}</title>
<link rel="icon" type="image/svg+xml" href="{url("favicon.svg")}">
{styles}</head>
<body>
<div id="{element}" data-openapi-url="{openapi}"></div>
{loads}</body>
</html>
"""
    return HTMLResponse(document, headers={**_HEADERS, "Content-Security-Policy": csp})


async def swagger_ui(request: Request) -> Response:
    return _page(
        request,
        "Swagger UI",
        "swagger-ui",
        ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-init.js"),
        CSP,
    )


async def redoc(request: Request) -> Response:
    return _page(request, "ReDoc", "redoc", ("redoc.standalone.js", "redoc-init.js"), REDOC_CSP)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    found = assets().get(name)
    if found is None:
        raise HTTPException(404, "Not Found")
    headers = {
        "Cache-Control": "public, max-age=86400",
        "ETag": f'"{found.integrity}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


# Plain routes, as FastAPI's own docs routes are: outside the schema, no admission.
router.add_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False)
router.add_route(REDOC_PATH, redoc, methods=["GET"], include_in_schema=False)
router.add_route(f"{ASSETS_PATH}/{{name}}", asset, methods=["GET"], include_in_schema=False)
