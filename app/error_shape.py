"""The platform's JSON error response: ``{"error": {"code", "message"}}``, code by status."""

from __future__ import annotations

from typing import Any

from aiohttp import web as aioweb
from faust.web import Response

CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
         413: "too_large", 500: "internal_error"}


def json_error(status: int, message: str) -> aioweb.Response:
    """Return an error response of ``status`` in the platform's shape."""
    body = {"error": {"code": CODES.get(status, "http_error"), "message": message}}
    return aioweb.json_response(body, status=status)


def error(view: Any, status: int, code: str, message: str) -> Response:
    """Return the platform's JSON error shape from a Faust view: ``{"error": {"code",
    "message"}}`` with a code of the view's choosing."""
    response: Response = view.json({"error": {"code": code, "message": message}},
                                   status=status)
    return response
