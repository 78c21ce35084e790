"""The HostGAPlugin (§4): port 32526 on the WireServer address, never through a proxy.

Its headers carry the container id and role config name of the latest goal state; when they are
stale it answers 410 or InvalidContainerConfiguration, and the caller refreshes the goal state
and retries once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .. import AGENT_NAME, AGENT_VERSION
from ..common.models.extensions import StatusUploadBlob
from ..common.telemetry_xml import status_blob_writes, status_envelope
from .http import ARTIFACT_POLICY, MAX_LARGE_DOCUMENT, STATUS_POLICY, FabricHttp, Reply, RetryPolicy

log = logging.getLogger(__name__)

PORT = 32526
API_VERSION = "2015-09-01"
# §2.4: 30 s per socket operation; a bundle is up to 100 MiB.
LOG_UPLOAD_POLICY = RetryPolicy(timeout=30.0, attempt_deadline=120.0)
# One attempt, for requests repeated on a schedule: vmSettings are asked once per poll, raw (§4.3:
# the caller reads every status), and the heartbeats once a minute (the next one is the retry).
ONE_ATTEMPT_POLICY = RetryPolicy(attempts=1, throttled_attempts=1, attempt_deadline=15.0)


@dataclass(frozen=True)
class ContainerIdentity:
    container_id: str
    role_config_name: str
    deployment_id: str


class HostPlugin:
    def __init__(
        self, http: FabricHttp, endpoint: str, identity: Callable[[], ContainerIdentity]
    ) -> None:
        self.http = http
        self.endpoint = endpoint
        self._identity = identity
        self.available = False

    @property
    def base(self) -> str:
        return f"http://{self.endpoint}:{PORT}"

    def _headers(self) -> dict[str, str]:
        ident = self._identity()
        return {
            "x-ms-version": API_VERSION,
            "x-ms-containerid": ident.container_id,
            "x-ms-host-config-name": ident.role_config_name,
        }

    async def ensure_available(self) -> bool:
        """/versions must mention 2015-09-01; once it did, it is not asked again (§4.1)."""
        if not self.available:
            reply = await self.http.request(
                "GET",
                f"{self.base}/versions",
                what="HostGAPlugin versions",
                headers={"x-ms-containerid": self._identity().container_id},
                policy=RetryPolicy(attempts=1, throttled_attempts=1, attempt_deadline=15.0),
            )
            self.available = API_VERSION.encode() in reply.body
        return self.available

    async def put_status(self, blob: StatusUploadBlob, content: bytes) -> None:
        """§4.4: the blob writes (`common.telemetry_xml`, shared with the resident poller), each
        wrapped in a JSON envelope."""
        for uri, data, headers in status_blob_writes(blob.url, blob.blob_type, content):
            await self._put_envelope(uri, data, headers)

    async def _put_envelope(self, uri: str, content: bytes | None, headers: dict[str, str]) -> None:
        body = status_envelope(uri, content, headers)
        await self.http.request(
            "PUT",
            f"{self.base}/status",
            what="status through HostGAPlugin",
            headers={**self._headers(), "Content-type": "application/json"},
            content=body,
            policy=STATUS_POLICY,
        )

    async def vm_settings(self, etag: str | None) -> Reply:
        """GET /vmSettings, any status returned as it came (304, 404 and 410 mean something)."""
        headers = {**self._headers(), "x-ms-client-correlationid": str(uuid.uuid4())}
        if etag:
            headers["if-none-match"] = etag
        return await self.http.request(
            "GET",
            f"{self.base}/vmSettings",
            what="vmSettings",
            headers=headers,
            policy=ONE_ATTEMPT_POLICY,
            ok=None,
            max_bytes=MAX_LARGE_DOCUMENT,
        )

    async def artifact(
        self,
        url: str,
        *,
        sink: BinaryIO | None = None,
        manifest_url: str | None = None,
        verify_from_artifacts_blob: bool = False,
        max_bytes: int,
    ) -> Reply:
        headers = {**self._headers(), "x-ms-artifact-location": url}
        if manifest_url:
            headers["x-ms-artifact-manifest-location"] = manifest_url
        if verify_from_artifacts_blob:  # §4.1: artifacts of a Fast Track goal state
            headers["x-ms-verify-from-artifacts-blob"] = "true"
        return await self.http.request(
            "GET",
            f"{self.base}/extensionArtifact",
            what="artifact through HostGAPlugin",
            headers=headers,
            policy=ARTIFACT_POLICY,
            sink=sink,
            max_bytes=max_bytes,
        )

    async def put_log(self, data: bytes) -> None:
        ident = self._identity()
        headers = {
            "x-ms-version": API_VERSION,
            "x-ms-containerid": ident.container_id,
            "x-ms-vmagentlog-deploymentid": ident.deployment_id,
            "x-ms-client-name": AGENT_NAME,
            "x-ms-client-version": AGENT_VERSION,
            "x-ms-client-correlationid": str(uuid.uuid4()),
        }
        await self.http.request(
            "PUT",
            f"{self.base}/vmAgentLog",
            what="log upload",
            headers=headers,
            content=data,
            policy=LOG_UPLOAD_POLICY,
        )

    async def health(self) -> None:
        """GET /health, one attempt (§4.1): returns when 200, raises FabricError otherwise."""
        await self.http.request(
            "GET", f"{self.base}/health", what="HostGAPlugin health", policy=ONE_ATTEMPT_POLICY
        )
