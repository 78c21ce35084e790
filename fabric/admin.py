"""The admin HTTP API: the Fabric's control methods as JSON, for subprocesses, the demo, people.

    POST /api/<operation>   JSON object of keyword arguments -> {"result": ...}
    GET  /api/<operation>   read-only operations, arguments in the query string

Errors are 400 (or 404 for an unknown operation) with {"error": "one line"}.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel

if TYPE_CHECKING:
    from .server import Fabric

log = logging.getLogger(__name__)

READ_ONLY = frozenset(
    {"info", "records", "requests", "transport_certificate", "tenant_certificates", "ovf_env"}
)
OPERATIONS = frozenset(
    {
        *READ_ONLY,
        "program_faults",
        "clear_faults",
        "go_down",
        "come_back",
        "bump_incarnation",
        "add_extension",
        "update_extension",
        "set_extension_state",
        "set_extension_settings",
        "remove_extension",
        "set_publishing",
        "add_certificate",
        "set_remote_access",
        "set_agent_family",
        "write_ovf_image",
        "set_dhcp",
    }
)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _refusal(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _arguments(request: web.Request, name: str) -> dict[str, Any] | web.Response:
    """Keyword arguments: the query of a GET (read-only operations), the JSON body of a POST."""
    if name not in OPERATIONS:
        return _refusal(f"unknown operation {name!r}", 404)
    if request.method == "GET":
        if name not in READ_ONLY:
            return _refusal(f"{name} changes the fabric: use POST", 405)
        return dict(request.query)
    try:
        arguments = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        return _refusal(f"body is not JSON: {exc}", 400)
    if not isinstance(arguments, dict):
        return _refusal("body must be a JSON object", 400)
    return arguments


def admin_app(fabric: Fabric) -> web.Application:
    async def call(request: web.Request) -> web.Response:
        name = request.match_info["operation"]
        arguments = await _arguments(request, name)
        if isinstance(arguments, web.Response):
            return arguments
        operation: Callable[..., Any] = getattr(fabric, name)
        try:
            result = operation(**arguments)
        except (ValueError, LookupError, TypeError) as exc:
            return _refusal(f"{name}: {exc}", 400)
        except Exception as exc:  # the API answers; the traceback goes to the fabric's log
            log.exception("admin %s failed", name)
            return _refusal(f"{name}: {exc.__class__.__name__}: {exc}", 500)
        return web.json_response({"result": _plain(result)})

    app = web.Application()
    app.router.add_route("GET", "/api/{operation}", call)
    app.router.add_route("POST", "/api/{operation}", call)
    return app
