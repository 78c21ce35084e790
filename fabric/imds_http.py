"""IMDS over HTTP: `/metadata/instance[/path]?api-version=...` with the `Metadata: true` header.

Served on its own listener at 169.254.169.254:80 in namespace placement, or on the WireServer
listener when the fabric runs on a loopback address.
"""

from __future__ import annotations

import json
from typing import Any

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
        version = request.query.get("api-version", "")
        if version not in imds.VERSIONS:
            return _version_refused(bool(version))
        parts = [p for p in request.path.split("/") if p][1:]  # after "metadata"
        document = self.ctx.source.imds() if parts[:1] == ["instance"] else None
        parsed: Any = None  # a document that is not JSON is served as it is, like before
        try:
            parsed = json.loads(document or b"null")
            whole = imds.for_version(parsed, version)
            node = imds.select(whole, parts[1:])
        except (KeyError, ValueError):
            node = None
        if document is not None and len(parts) == 1 and node == parsed:
            # Nothing withheld: the bytes as they are (a raw directory's capture stays exact).
            return web.Response(body=document, content_type="application/json")
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
    return None


def _version_refused(given: bool) -> web.Response:
    """IMDS's 400 for a missing or unknown api-version, listing the newest versions it takes."""
    why = "is invalid or was not specified" if given else "was not specified"
    body = {
        "error": f"Bad request. api-version {why} in the request. "
        "For more information refer to aka.ms/azureimds",
        "newest-versions": imds.newest_versions(),
    }
    return web.json_response(body, status=400)
