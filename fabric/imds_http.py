"""IMDS over HTTP: `/metadata/instance[/path]?api-version=...` with the `Metadata: true` header.

Served on its own listener at 169.254.169.254:80 in namespace placement, or on the WireServer
listener when the fabric runs on a loopback address.
"""

from __future__ import annotations

import json

from aiohttp import web

from . import imds
from .context import Context, Route
from .dispatch import error_response


class Imds:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def resolve(self, request: web.Request) -> Route | None:
        if request.method == "GET" and request.path.startswith("/metadata/"):
            return Route("imds", self.metadata, "json")
        return None

    async def metadata(self, request: web.Request) -> web.Response:
        refused = _refusal(request)
        if refused is not None:
            return error_response(400, "BadRequest", f"Bad request. {refused}", "json")
        parts = [p for p in request.path.split("/") if p][1:]  # after "metadata"
        document = self.ctx.source.imds() if parts[:1] == ["instance"] else None
        if document is not None and len(parts) == 1:
            return web.Response(body=document, content_type="application/json")
        try:
            node = imds.select(json.loads(document or b"null"), parts[1:])
        except (KeyError, ValueError):
            node = None
        if document is None or node is None:
            return error_response(404, "NotFound", f"no such metadata: {request.path}", "json")
        if request.query.get("format") == "text" and not isinstance(node, dict | list):
            return web.Response(text=str(node))
        return web.json_response(node)


def _refusal(request: web.Request) -> str | None:
    """Why IMDS refuses a request, as the real one does, or None."""
    if request.headers.get("Metadata", "").lower() != "true":
        return "Required metadata header not specified"
    if "X-Forwarded-For" in request.headers:
        return "Proxied requests are refused"
    if not request.query.get("api-version"):
        return "api-version was not specified in the request"
    return None
