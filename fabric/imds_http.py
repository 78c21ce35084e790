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

API_VERSIONS = ["2017-03-01", "2018-02-01", "2019-06-01", "2020-09-01", "2021-02-01", "2023-07-01"]


class Imds:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def resolve(self, request: web.Request) -> Route | None:
        if request.method == "GET" and request.path.startswith("/metadata/"):
            return Route("imds", self.metadata, "json")
        return None

    async def metadata(self, request: web.Request) -> web.Response:
        if request.headers.get("Metadata", "").lower() != "true":
            return error_response(
                400, "BadRequest", "Bad request. Required metadata header not specified", "json"
            )
        if "X-Forwarded-For" in request.headers:
            return error_response(
                400, "BadRequest", "Bad request. Proxied requests are refused", "json"
            )
        if not request.query.get("api-version"):
            return error_response(
                400,
                "BadRequest",
                "Bad request. api-version was not specified in the request",
                "json",
            )
        parts = [p for p in request.path.split("/") if p][1:]  # after "metadata"
        if not parts or parts[0] != "instance":
            return error_response(404, "NotFound", f"no such metadata: {request.path}", "json")
        document = self.ctx.source.imds()
        if document is None:
            return error_response(404, "NotFound", "no instance metadata in this scenario", "json")
        if len(parts) == 1:
            return web.Response(body=document, content_type="application/json")
        try:
            node = imds.select(json.loads(document), parts[1:])
        except (KeyError, ValueError):
            return error_response(404, "NotFound", f"no such metadata: {request.path}", "json")
        if request.query.get("format") == "text" and not isinstance(node, dict | list):
            return web.Response(text=str(node))
        return web.json_response(node)
