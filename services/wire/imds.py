"""IMDS (§4.6): instance metadata at 169.254.169.254, header `Metadata: true`, never proxied.

Any local user may ask wire for the instance document, so wire must not turn each call into an
IMDS request (IMDS throttles the VM, and the user would spend wire's time): the answer is kept
for `ttl` seconds, a failure for `error_ttl`, and concurrent calls share one request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from .. import AGENT_NAME, AGENT_VERSION
from ..common.telemetry_xml import imds_health_verdict
from .errors import FabricError, HttpFailed, MalformedDocument
from .http import FabricHttp, RetryPolicy

API_VERSION = "2021-02-01"
IMDS_POLICY = RetryPolicy(attempts=3, attempt_deadline=10.0, deadline=30.0)
# The heartbeat asks once a minute: one attempt, and the next minute is the retry.
HEALTH_POLICY = RetryPolicy(attempts=1, throttled_attempts=1, attempt_deadline=15.0)
HEALTH_AGENT = f"{AGENT_NAME}/{AGENT_VERSION}+health"  # §2.4: IMDS tells health calls apart


def health_verdict(body: bytes) -> str:
    """'' when the document has interface 0's first private IP and its MAC, else why not."""
    return imds_health_verdict(body)


CACHE_TTL = 60.0
ERROR_TTL = 10.0


class Imds:
    def __init__(
        self,
        http: FabricHttp,
        address: str,
        *,
        ttl: float = CACHE_TTL,
        error_ttl: float = ERROR_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.address = address
        self.ttl = ttl
        self.error_ttl = error_ttl
        self._clock = clock
        self._answer: tuple[float, str | FabricError] | None = None
        self._pending: asyncio.Task[str] | None = None

    async def instance(self) -> str:
        """The instance document as JSON text (validated as JSON, passed on unchanged)."""
        if self._answer is not None:
            at, value = self._answer
            if self._clock() - at < (self.error_ttl if isinstance(value, Exception) else self.ttl):
                if isinstance(value, Exception):
                    raise value
                return value
        if self._pending is None:
            self._pending = asyncio.create_task(self._fetch())
            self._pending.add_done_callback(self._settled)
        # Shielded: a caller that gives up (or times out) does not cancel the others' request.
        return await asyncio.shield(self._pending)

    def _settled(self, task: asyncio.Task[str]) -> None:
        self._pending = None
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self._answer = (self._clock(), task.result())
        elif isinstance(error, FabricError):
            self._answer = (self._clock(), error)

    async def _fetch(self) -> str:
        reply = await self.http.request(
            "GET",
            f"http://{self.address}/metadata/instance?api-version={API_VERSION}",
            what="instance metadata",
            headers={"Metadata": "true"},
            policy=IMDS_POLICY,
        )
        try:
            json.loads(reply.body)
        except ValueError:
            raise MalformedDocument("instance metadata is not JSON") from None
        return reply.body.decode("utf-8", errors="replace")

    async def health(self) -> tuple[bool, str]:
        """The heartbeat's check (§4.6): (healthy, why not). Only IMDS's own answers count
        against it; a connection error or timeout is the network's, not IMDS's: healthy."""
        try:
            reply = await self.http.request(
                "GET",
                f"http://{self.address}/metadata/instance?api-version={API_VERSION}",
                what="instance metadata health",
                headers={"Metadata": "true", "User-Agent": HEALTH_AGENT},
                policy=HEALTH_POLICY,
            )
        except HttpFailed as exc:
            return exc.status is None, str(exc)
        why = health_verdict(reply.body)
        return not why, why
