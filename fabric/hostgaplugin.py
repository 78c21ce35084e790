"""HostGAPlugin (port 32526): versions, health, status, artifacts, vmSettings, log upload.

Like the real plugin it insists that x-ms-containerid and x-ms-host-config-name name the current
goal state (400 InvalidContainerConfiguration otherwise), so an agent that does not refresh them
after a redeploy sees the same error it would see on Azure.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from urllib.parse import urlsplit

from aiohttp import web

from . import reports
from .blobs import BlobError
from .context import Context, Route
from .dispatch import error_response, invalid_container
from .extension_documents import vm_settings_etag as etag
from .recorder import selected_headers
from .storage import is_page_write, record_status, serve_artifact

API_VERSIONS = ["2015-09-01"]


def _zip_names(body: bytes) -> list[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return None


class HostGAPlugin:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def resolve(self, request: web.Request) -> Route | None:
        routes = {
            ("GET", "/versions"): Route("hgap-versions", self.versions, "json"),
            ("GET", "/health"): Route("hgap-health", self.health, "json"),
            ("PUT", "/status"): Route("hgap-status", self.status, "json"),
            ("GET", "/extensionArtifact"): Route("hgap-artifact", self.artifact, "bytes"),
            ("GET", "/vmSettings"): Route(
                "hgap-vmsettings", self.vm_settings, "json", invalid=self.invalid_vm_settings
            ),
            ("PUT", "/vmAgentLog"): Route("hgap-vmagentlog", self.vm_agent_log, "json"),
        }
        return routes.get((request.method, request.path.rstrip("/") or "/"))

    def _stale_container(self, request: web.Request, *, config_name: bool = True) -> bool:
        expected = self.ctx.source.container()
        if expected is None:
            return False
        container_id, name = expected
        if request.headers.get("x-ms-containerid") != container_id:
            return True
        return config_name and request.headers.get("x-ms-host-config-name") != name

    async def versions(self, request: web.Request) -> web.Response:
        return web.json_response(API_VERSIONS)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def status(self, request: web.Request) -> web.Response:
        if self._stale_container(request):
            return invalid_container("json")
        try:
            uri, headers, content = reports.status_envelope(await request.read())
        except reports.ReportError as exc:
            return error_response(400, "InvalidStatusEnvelope", str(exc), "json")
        target = urlsplit(uri)
        try:
            written = self.ctx.blobs.put(target.path, is_page_write(target.query), headers, content)
        except BlobError as exc:
            # The plugin relays the storage error to the agent.
            return error_response(exc.status, exc.code, str(exc), "json")
        record_status(self.ctx, "hostgaplugin", target.path, written)
        return web.Response(status=200)

    async def artifact(self, request: web.Request) -> web.Response:
        if self._stale_container(request):
            return invalid_container()
        location = request.headers.get("x-ms-artifact-location")
        if not location:
            return error_response(
                400, "MissingRequiredHeader", "x-ms-artifact-location is required"
            )
        found = self.ctx.source.artifact(urlsplit(location).path)
        if found is None:
            return error_response(404, "BlobNotFound", f"no artifact at {location}")
        return serve_artifact(
            self.ctx,
            found,
            "hostgaplugin",
            location,
            manifest_location=request.headers.get("x-ms-artifact-manifest-location"),
            verify_from_artifacts_blob=request.headers.get("x-ms-verify-from-artifacts-blob"),
        )

    async def vm_settings(self, request: web.Request) -> web.Response:
        if self._stale_container(request):
            return invalid_container("json")
        document = self.ctx.source.vm_settings()
        if document is None:
            self.ctx.recorder.record(
                "extensions-goal-state", channel="HostGAPlugin", status=404, goal_state_id=None
            )
            return error_response(
                404, "NotFound", "vmSettings are not enabled (no FastTrack)", "json"
            )
        tag = etag(document)
        if request.headers.get("if-none-match") == tag:
            self.ctx.recorder.record(
                "extensions-goal-state",
                channel="HostGAPlugin",
                status=304,
                goal_state_id=f"etag_{tag}",
            )
            return web.Response(status=304, headers={"ETag": tag})
        self.ctx.recorder.record(
            "extensions-goal-state", channel="HostGAPlugin", status=200, goal_state_id=f"etag_{tag}"
        )
        return web.Response(body=document, content_type="application/json", headers={"ETag": tag})

    async def invalid_vm_settings(self, request: web.Request) -> web.Response:
        """The current vmSettings with a rule of §4.3 broken: its first handler's state is not
        enabled/disabled/uninstall. Served with its own ETag, like any new document."""
        document = json.loads(self.ctx.source.vm_settings() or b"{}")
        broken = {"name": "Fabric.Invalid.Handler", "version": "1.0", "state": "sideways"}
        extensions = document.get("extensionGoalStates") or [broken]
        extensions[0]["state"] = "sideways"
        document["extensionGoalStates"] = extensions
        body = json.dumps(document, indent=2).encode()
        headers = {"ETag": etag(body)}
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def vm_agent_log(self, request: web.Request) -> web.Response:
        if self._stale_container(request, config_name=False):
            return invalid_container("json")
        body = await request.read()
        self.ctx.recorder.record(
            "log-upload",
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            files=_zip_names(body),
            headers=selected_headers(request.headers),
        )
        return web.Response(status=200)
