"""IMDS (§4.6): instance metadata at 169.254.169.254, header `Metadata: true`, never proxied."""

from __future__ import annotations

import json

from .errors import MalformedDocument
from .http import FabricHttp, RetryPolicy

API_VERSION = "2021-02-01"
IMDS_POLICY = RetryPolicy(attempts=3, attempt_deadline=10.0, deadline=30.0)


class Imds:
    def __init__(self, http: FabricHttp, address: str) -> None:
        self.http = http
        self.address = address

    async def instance(self) -> str:
        """The instance document as JSON text (validated as JSON, passed on unchanged)."""
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
