"""The WireServer (port 80): versions, goal state and its documents, and the agent's reports.

It checks what the real one checks: `x-ms-version: 2012-11-30` on everything but the versions
document, the transport certificate header on Certificates and RemoteAccess, and the incarnation
in document URLs (410 once it has moved on).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from aiohttp import web
from cryptography import x509

from . import health_service, reports
from .cms import CmsError, ContentCipher
from .context import Context, Handler, Route
from .dispatch import error_response
from .documents import WIRE_PROTOCOL_VERSION
from .recorder import RecordKind
from .source import Gone

Parser = Callable[[bytes], list[dict[str, Any]]]
# A document encrypted to the agent's transport certificate: Certificates, RemoteAccess.
Encrypted = Callable[[str | None, x509.Certificate, ContentCipher], bytes | None]

CONFIG_ENDPOINTS = {
    "hostingenvironmentconfig": ("hostingenv", "hostingEnvironmentConfig"),
    "sharedconfig": ("sharedconfig", "sharedConfig"),
    "extensionsconfig": ("extensionsconfig", "extensionsConfig"),
    "fullconfig": ("fullconfig", "fullConfig"),
}
XML = "text/xml"


def _xml(body: bytes | None, what: str) -> web.Response:
    if body is None:
        return error_response(404, "ResourceNotFound", f"this goal state has no {what}")
    return web.Response(body=body, content_type=XML, charset="utf-8")


def _version_error(request: web.Request) -> web.Response | None:
    version = request.headers.get("x-ms-version")
    if version != WIRE_PROTOCOL_VERSION:
        return error_response(
            400,
            "MissingOrInvalidRequiredHeader",
            f"x-ms-version must be {WIRE_PROTOCOL_VERSION}, got {version!r}",
        )
    return None


def _transport(request: web.Request) -> tuple[x509.Certificate, ContentCipher] | web.Response:
    header = request.headers.get("x-ms-guest-agent-public-x509-cert")
    if not header:
        return error_response(
            400, "MissingRequiredHeader", "x-ms-guest-agent-public-x509-cert is required"
        )
    try:
        certificate = x509.load_der_x509_certificate(
            base64.b64decode("".join(header.split()), validate=True)
        )
    except (binascii.Error, ValueError):
        return error_response(
            400, "InvalidHeaderValue", "x-ms-guest-agent-public-x509-cert is not a DER certificate"
        )
    name = request.headers.get("x-ms-cipher-name", ContentCipher.DES_EDE3_CBC.value)
    try:
        cipher = ContentCipher(name)
    except ValueError:
        return error_response(400, "InvalidHeaderValue", f"unsupported x-ms-cipher-name {name!r}")
    return certificate, cipher


class WireServer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def resolve(self, request: web.Request) -> Route | None:
        comp = request.query.get("comp", "").lower()
        path = request.path.rstrip("/")
        if request.method == "GET":
            return self._get(path, comp, request)
        if request.method == "POST":
            return self._post(path, comp)
        return None

    def _get(self, path: str, comp: str, request: web.Request) -> Route | None:
        if (path, comp) == ("", "versions"):
            return Route("versions", self.versions)
        if (path, comp) == ("/machine", "goalstate"):
            return Route("goalstate", self.goal_state)
        if not path.startswith("/machine/"):
            return None
        if comp == "config":
            found = CONFIG_ENDPOINTS.get(request.query.get("type", "").lower())
            return None if found is None else Route(found[0], self._config(found[1]))
        secrets = {
            "certificates": Route("certificates", self.certificates),
            "remoteaccess": Route("remoteaccess", self.remote_access),
        }
        return secrets.get(comp)

    def _post(self, path: str, comp: str) -> Route | None:
        if path == "/machine":
            reports_by_comp: dict[str, Route] = {
                "health": Route("health", self.health),
                "roleproperties": Route("roleproperties", self.role_properties),
                "telemetrydata": Route("telemetry", self.telemetry),
            }
            return reports_by_comp.get(comp)
        if path == "/provisioning/health":
            return Route("provisioning-health", self.provisioning_health, "json")
        if path == "/HealthService":
            return Route("healthservice", self.health_service, "json")
        return None

    # -- documents ----------------------------------------------------------------------------

    async def versions(self, request: web.Request) -> web.Response:
        return _xml(self.ctx.source.versions(), "versions document")

    async def goal_state(self, request: web.Request) -> web.Response:
        return _version_error(request) or _xml(self.ctx.source.goal_state(), "goal state")

    def _config(self, kind: str) -> Handler:
        async def serve(request: web.Request) -> web.Response:
            refused = _version_error(request)
            if refused:
                return refused
            try:
                body = self.ctx.source.config(kind, request.query.get("incarnation"))
            except Gone as gone:
                return error_response(410, "Gone", str(gone))
            if kind == "extensionsConfig" and body is not None:
                incarnation = request.query.get("incarnation") or self.ctx.source.incarnation()
                self.ctx.recorder.record(
                    "extensions-goal-state",
                    channel="WireServer",
                    status=200,
                    goal_state_id=f"incarnation_{incarnation}",
                )
            return _xml(body, kind)

        return serve

    async def certificates(self, request: web.Request) -> web.Response:
        return await self._encrypted(request, self.ctx.source.certificates, "certificates")

    async def remote_access(self, request: web.Request) -> web.Response:
        return await self._encrypted(request, self.ctx.source.remote_access, "remote access")

    async def _encrypted(self, request: web.Request, fetch: Encrypted, what: str) -> web.Response:
        refused = _version_error(request)
        if refused:
            return refused
        transport = _transport(request)
        if isinstance(transport, web.Response):
            return transport
        certificate, cipher = transport
        self.ctx.remember_transport(certificate)
        try:
            body = fetch(request.query.get("incarnation"), certificate, cipher)
        except Gone as gone:
            return error_response(410, "Gone", str(gone))
        except CmsError as exc:
            return error_response(400, "InvalidHeaderValue", str(exc))
        return _xml(body, what)

    # -- reports ------------------------------------------------------------------------------

    async def _xml_report(
        self, request: web.Request, kind: RecordKind, parse: Parser, status: int = 200
    ) -> web.Response:
        refused = _version_error(request)
        if refused:
            return refused
        try:
            entries = parse(await request.read())
        except reports.ReportError as exc:
            return error_response(400, "InvalidXml", str(exc))
        for fields in entries:
            self.ctx.recorder.record(kind, **fields)
        return web.Response(status=status)

    async def health(self, request: web.Request) -> web.Response:
        return await self._xml_report(request, "health", lambda body: [reports.health(body)])

    async def role_properties(self, request: web.Request) -> web.Response:
        # The classic protocol expects 202 Accepted here.
        parse: Parser = lambda body: [reports.role_properties(body)]  # noqa: E731
        return await self._xml_report(request, "role-properties", parse, status=202)

    async def telemetry(self, request: web.Request) -> web.Response:
        # One record per Provider element.
        return await self._xml_report(request, "telemetry", reports.telemetry)

    async def _json_report(self, request: web.Request, kind: RecordKind) -> web.Response:
        try:
            document = reports.json_object(await request.read())
        except reports.ReportError as exc:
            return error_response(400, "InvalidJson", str(exc), "json")
        self.ctx.recorder.record(kind, **document)
        return web.Response(status=200)

    async def provisioning_health(self, request: web.Request) -> web.Response:
        return await self._json_report(request, "provisioning-health")

    async def health_service(self, request: web.Request) -> web.Response:
        try:
            fields = health_service.report(await request.read())
        except reports.ReportError as exc:
            return error_response(400, "InvalidHealthReport", str(exc), "json")
        self.ctx.recorder.record("healthservice", **fields)
        return web.Response(status=200)
