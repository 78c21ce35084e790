"""The WireServer endpoints (§2.5): plain HTTP on port 80, never through a proxy."""

from __future__ import annotations

import logging

from .. import AGENT_NAME
from .documents import WIRE_PROTOCOL_VERSION
from .errors import HttpFailed
from .http import (
    DEFAULT_POLICY,
    HEALTH_POLICY,
    MAX_DOCUMENT,
    MAX_LARGE_DOCUMENT,
    POLL_POLICY,
    TELEMETRY_POLICY,
    FabricHttp,
    RetryPolicy,
)

log = logging.getLogger(__name__)

# H1 of §2.5: every WireServer request but versions.
AGENT_HEADERS = {"x-ms-agent-name": AGENT_NAME, "x-ms-version": WIRE_PROTOCOL_VERSION}
XML_CONTENT = {"Content-Type": "text/xml;charset=utf-8"}
CIPHERS = ("AES128_CBC", "DES_EDE3_CBC")


class WireServer:
    def __init__(self, http: FabricHttp, endpoint: str) -> None:
        self.http = http
        self.endpoint = endpoint

    @property
    def base(self) -> str:
        return f"http://{self.endpoint}"

    async def versions(self, policy: RetryPolicy = DEFAULT_POLICY) -> bytes:
        reply = await self.http.request(
            "GET", f"{self.base}/?comp=versions", what="versions", policy=policy
        )
        return reply.body

    async def goal_state(self, policy: RetryPolicy = POLL_POLICY) -> bytes:
        reply = await self.http.request(
            "GET",
            f"{self.base}/machine/?comp=goalstate",
            what="goal state",
            headers=AGENT_HEADERS,
            policy=policy,
        )
        return reply.body

    async def document(self, url: str, what: str, *, large: bool = False) -> bytes:
        reply = await self.http.request(
            "GET",
            url,
            what=what,
            headers=AGENT_HEADERS,
            max_bytes=MAX_LARGE_DOCUMENT if large else MAX_DOCUMENT,
        )
        return reply.body

    async def certificates(self, url: str, transport_header: str) -> bytes:
        """The Certificates document, asking for AES128_CBC first, then DES_EDE3_CBC (§3.2)."""
        last: HttpFailed | None = None
        for cipher in CIPHERS:
            headers = {
                **AGENT_HEADERS,
                "x-ms-guest-agent-public-x509-cert": transport_header,
                "x-ms-cipher-name": cipher,
            }
            try:
                reply = await self.http.request(
                    "GET", url, what="certificates", headers=headers, max_bytes=MAX_LARGE_DOCUMENT
                )
            except HttpFailed as exc:
                log.warning("certificates with %s: %s", cipher, exc)
                last = exc
                continue
            return reply.body
        assert last is not None
        raise last

    async def report_health(self, document: bytes) -> None:
        await self.http.request(
            "POST",
            f"{self.base}/machine?comp=health",
            what="health report",
            headers={**AGENT_HEADERS, **XML_CONTENT},
            content=document,
            policy=HEALTH_POLICY,
        )

    async def send_telemetry(self, document: bytes) -> None:
        await self.http.request(
            "POST",
            f"{self.base}/machine?comp=telemetrydata",
            what="telemetry",
            headers={**AGENT_HEADERS, **XML_CONTENT},
            content=document,
            policy=TELEMETRY_POLICY,
        )
