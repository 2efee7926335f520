"""``GET /``: the live odds board, a static page that reads ``/events`` and ``/stream``."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from faust.types import AppT
from faust.web import Blueprint, Request, Response, View

from app.error_shape import error

ASSETS = {
    "board.html": "text/html; charset=utf-8",
    "board.js": "text/javascript; charset=utf-8",
    "board.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none';"
                               " form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@cache
def asset(name: str) -> bytes:
    """Return one file of ``web/static``."""
    return resources.files("web").joinpath("static", name).read_bytes()


def _serve(view: View, name: str) -> Response:
    content_type = ASSETS.get(name)
    if content_type is None:
        return error(view, 404, "not_found", f"no asset {name[:60]!r}")
    # aiohttp refuses a charset inside content_type=, so the header is set whole.
    response: Response = view.bytes(asset(name), content_type=None,
                                    headers={**HEADERS, "Content-Type": content_type})
    return response


blueprint = Blueprint("board")


@blueprint.route("/")
class Board(View):
    """The board page."""

    async def get(self, request: Request, **kwargs: Any) -> Response:
        return _serve(self, "board.html")


@blueprint.route("/static/{name}")
class BoardAsset(View):
    """The board's script and style sheet."""

    async def get(self, request: Request, **kwargs: Any) -> Response:
        return _serve(self, request.match_info["name"])


_PRODUCTION_INDEX = "faust.web.apps.production_index:blueprint"


def install(faust_app: AppT) -> None:
    """Give "/" to the board."""
    # Faust mounts a JSON "production index" at "/" when its statistics pages are off
    # (aiohttp would answer with whichever route was added first).
    blueprints = faust_app.web.blueprints
    blueprints._enabled = [(prefix, bp) for prefix, bp in blueprints._enabled
                           if bp != _PRODUCTION_INDEX]
