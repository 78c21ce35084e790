"""One request through the fabric: resolve the route, apply a programmed fault, record it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from aiohttp import web

from .context import BodyKind, Context, Route
from .faults import Step
from .recorder import selected_headers
from .xmldoc import error as xml_error

log = logging.getLogger(__name__)

Resolver = Callable[[web.Request], Route | None]

MALFORMED: dict[BodyKind, bytes] = {
    "xml": b'<?xml version="1.0" encoding="utf-8"?>\n<GoalState><Incarnation>1</Incarn',
    "json": b'{"malformed": [1, 2',
    "bytes": b"PK\x03\x04 this is not a zip file",
}
CONTENT_TYPES: dict[BodyKind, str] = {
    "xml": "text/xml",
    "json": "application/json",
    "bytes": "application/octet-stream",
}


def error_response(status: int, code: str, message: str, kind: BodyKind = "xml") -> web.Response:
    """An error as the service would send it: XML <Error> or a JSON {"error": ...}."""
    if kind == "json":
        body = json.dumps({"error": message, "code": code}).encode()
    else:
        body = xml_error(code, message)
    return web.Response(status=status, body=body, content_type=CONTENT_TYPES[kind])


def invalid_container(kind: BodyKind = "xml") -> web.Response:
    return error_response(
        400,
        "InvalidContainerConfiguration",
        "InvalidContainerConfiguration: the container id or host config name is not current",
        kind,
    )


async def _truncated(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Headers promising the whole body, half of it, then the connection closes."""
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body) + 1
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.abort()
    return stream


async def _dripped(
    request: web.Request, response: web.Response, interval: float
) -> web.StreamResponse:
    """The headers at once, then the body one byte every `interval` seconds: each read of a
    client is quick, the whole answer takes as long as the body is long (a stalled host)."""
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    try:
        for index in range(len(body)):
            await stream.write(body[index : index + 1])
            await asyncio.sleep(interval)
        await stream.write_eof()
    except ConnectionError:
        pass  # the client gave up: what the fault is for
    return stream


def _drop(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=499)  # never sent: the connection is gone


def _instead(step: Step, request: web.Request, route: Route) -> web.Response:
    """The answer of a step that replaces the service's own."""
    if step.kind == "status":
        status = step.status or 500
        return error_response(status, f"Http{status}", f"fault injected: {status}", route.body)
    if step.kind == "invalid-container":
        return invalid_container(route.body)
    if step.kind == "malformed":
        return web.Response(body=MALFORMED[route.body], content_type=CONTENT_TYPES[route.body])
    return _drop(request)


async def _apply(step: Step | None, request: web.Request, route: Route) -> web.StreamResponse:
    if step is None or step.kind in ("ok", "delay"):
        if step is not None and step.delay:
            await asyncio.sleep(step.delay)
        return await route.handler(request)
    if step.kind == "truncate":
        return await _truncated(request, await route.handler(request))
    if step.kind == "drip":
        return await _dripped(request, await route.handler(request), step.delay or 0.0)
    if step.kind == "invalid" and route.invalid is not None:
        return await route.invalid(request)
    return _instead(step, request, route)


async def handle(
    ctx: Context, listener: str, resolve: Resolver, request: web.Request
) -> web.StreamResponse:
    """Serve one request: resolve, take the endpoint's next fault step, answer, record."""
    route = resolve(request)
    step = ctx.faults.take(route.endpoint) if route is not None else None
    if route is None:
        response: web.StreamResponse = error_response(
            404, "ResourceNotFound", f"no such resource: {request.path}"
        )
    else:
        response = await _apply(step, request, route)
    fault = None if step is None else step.describe()
    ctx.recorder.request(
        listener=listener,
        method=request.method,
        path=request.path_qs,
        endpoint=None if route is None else route.endpoint,
        headers=selected_headers(request.headers),
        status=None if fault == "drop" else response.status,
        fault=fault,
    )
    log.debug("%s %s %s -> %s%s", listener, request.method, request.path_qs, response.status,
              f" (fault: {fault})" if fault else "")  # fmt: skip
    return response
