"""Plain HTTP to the WireServer, HostGAPlugin and IMDS with http.client: no proxy, timeouts.

One kept-alive connection per host:port, reopened once when the peer closed it between polls.
A transport error is an `IOError` counted by destination class (the `HttpErrors` telemetry).
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .. import AGENT_NAME, AGENT_VERSION

HEADERS = {"User-Agent": f"{AGENT_NAME}/{AGENT_VERSION}", "Accept-Encoding": "identity"}
HOSTPLUGIN_PORT = 32526
TIMEOUT = 15.0  # one attempt; the next period is the retry
MAX_BODY = 4 << 20


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class TransportError(OSError):
    """No answer: refused, reset, timed out."""


@dataclass
class Http:
    endpoint: str = ""  # the WireServer address: IOErrors are classed by it
    io_errors: dict[str, int] = field(default_factory=dict)
    _connections: dict[tuple[str, int], http.client.HTTPConnection] = field(default_factory=dict)

    def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Reply:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            reused = (host, port) in self._connections
            conn = self._connections.pop((host, port), None) or http.client.HTTPConnection(
                host, port, timeout=TIMEOUT
            )
            try:
                conn.request(method, target, body=body, headers={**HEADERS, **headers})
                response = conn.getresponse()
                data = response.read(MAX_BODY)
                reply = Reply(
                    response.status, {k.lower(): v for k, v in response.getheaders()}, data
                )
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and attempt == 1 and not isinstance(exc, TimeoutError):
                    continue  # the peer closed a kept-alive connection: once more, fresh
                self._count(host, port)
                raise TransportError(f"{method} {host}:{port}{parts.path}: {exc!r}") from None
            if response.will_close:
                conn.close()
            else:
                self._connections[(host, port)] = conn
            return reply
        raise AssertionError("unreachable")

    def _count(self, host: str, port: int) -> None:
        if host == self.endpoint:
            kind = "hostplugin" if port == HOSTPLUGIN_PORT else "protocol"
        else:
            kind = "other"
        self.io_errors[kind] = self.io_errors.get(kind, 0) + 1

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()
