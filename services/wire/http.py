"""HTTP to the fabric with the classic rules (§2.4), bounded in time as well as in attempts.

The retry policy is data (`RetryPolicy`). The transport is an injected `httpx.AsyncClient`, so
unit tests give it an `httpx.MockTransport` and integration tests the fabric simulator. httpx
exceptions become our errors in one place (`_mapped_errors`).

Time is bounded on the wall clock, not only per read: httpx's timeout applies to each read, so a
host that drips its answer a byte every few seconds would hold a request forever. Each attempt
(connect, send, every read of the body) has `attempt_deadline`, and the whole request, attempts
and waits included, `deadline`; an attempt in flight is cut off when either runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import BinaryIO

import httpx

from ..common.logs import redact
from .errors import HttpFailed, InvalidContainer, ResourceGone

log = logging.getLogger(__name__)

RETRY_CODES = frozenset({205, 206, 403, 500, 501, 502, 503, 504, 507, 429})
THROTTLE_CODES = frozenset({403, 429, 503})
OK_CODES = frozenset({200, 201, 202})
INVALID_CONTAINER = b"InvalidContainerConfiguration"

# Sizes: goal-state documents are kilobytes; a response past these limits is refused, not parsed.
MAX_DOCUMENT = 4 << 20
MAX_LARGE_DOCUMENT = 16 << 20


def fibonacci_delay(attempt: int, unit: float) -> float:
    """Delay before attempt `attempt` (2, 3, ...): unit x 2, 3, 5, 8, 13, ... (§2.4)."""
    a, b = 1, 2
    for _ in range(attempt - 2):
        a, b = b, a + b
    return unit * b


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    delay: float = 1.0
    throttle_delay: float = 1.0
    # Throttling raises the attempt count to this (telemetry keeps its own small count).
    throttled_attempts: int = 25
    # httpx's timeout: connect, and each read or write (§2.4: 10 s per socket operation).
    timeout: float = 10.0
    # Wall clock of one attempt, from connect to the last byte of the body.
    attempt_deadline: float = 60.0
    # Total time budget across attempts and waits: the classic health report could back off
    # for days (30 attempts x Fibonacci x 15 s); ours gives up after this and says so.
    deadline: float = 300.0
    retry_codes: frozenset[int] = RETRY_CODES
    extra_retry_codes: frozenset[int] = frozenset()

    def single(self) -> RetryPolicy:
        return replace(self, attempts=1, throttled_attempts=1)


DEFAULT_POLICY = RetryPolicy()
# The goal-state poll repeats every period anyway: one retry, and the State shows a problem soon.
# 20 s in all: a Refresh that fails answers before busctl's default 25 s timeout.
POLL_POLICY = RetryPolicy(attempts=2, attempt_deadline=10.0, deadline=20.0)
# Status is uploaded every period too; HostGAPlugin failing falls back to storage at once.
STATUS_POLICY = RetryPolicy(attempts=2, attempt_deadline=15.0, deadline=30.0)
TELEMETRY_POLICY = RetryPolicy(
    attempts=3, throttle_delay=8.0, throttled_attempts=3, attempt_deadline=30.0, deadline=60.0
)
HEALTH_POLICY = RetryPolicy(attempts=30, delay=15.0, deadline=300.0)
# Packages are up to 512 MiB: an attempt may take longer than a document's.
DOWNLOAD_POLICY = RetryPolicy(attempt_deadline=150.0)
# HostGAPlugin's artifact cache answers a transient 400 (§2.4).
ARTIFACT_POLICY = replace(DOWNLOAD_POLICY, extra_retry_codes=frozenset({400}))


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None = None, *, io: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.io = io  # a socket error or timeout, counted for ReportNetworkErrors


HOSTPLUGIN_PORT = 32526
IO_ERROR_CLASSES = ("hostplugin", "protocol", "other")


class IOErrorCounter:
    """IOErrors per destination class (§2.4): `hostplugin` = the endpoint's port 32526,
    `protocol` = the endpoint, `other` = everything else (storage, IMDS). Read and reset every
    30 min for the `HttpErrors` telemetry."""

    def __init__(self, endpoint: Callable[[], str] = lambda: "168.63.129.16") -> None:
        self.endpoint = endpoint  # the current WireServer address (wire's, once it knows it)
        self.counts = dict.fromkeys(IO_ERROR_CLASSES, 0)

    def increment(self, url: httpx.URL) -> None:
        if url.host == self.endpoint():
            self.counts["hostplugin" if url.port == HOSTPLUGIN_PORT else "protocol"] += 1
        else:
            self.counts["other"] += 1

    def take(self) -> dict[str, int]:
        counts, self.counts = self.counts, dict.fromkeys(IO_ERROR_CLASSES, 0)
        return counts


@contextlib.contextmanager
def _mapped_errors(what: str) -> Iterator[None]:
    """Transport problems are retried (timeouts, refused or dropped connections, short reads)."""
    try:
        yield
    except httpx.TimeoutException:
        raise _Retryable(f"{what}: timed out", io=True) from None
    except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
        raise _Retryable(redact(f"{what}: {type(exc).__name__}: {exc}"), io=True) from None


class FabricHttp:
    """Requests with the classic retry rules. `sleep` and `clock` are injectable for tests."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_deadline: float | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        io_errors: IOErrorCounter | None = None,
    ) -> None:
        """`max_deadline` caps every request's deadline, whatever its policy allows;
        `io_errors` may be shared by the clients of one process (fabric and storage)."""
        if max_deadline is not None and max_deadline <= 0:
            raise ValueError(f"max_deadline must be positive, not {max_deadline!r}")
        self.client = client
        self.max_deadline = max_deadline
        self._sleep = sleep
        self._clock = clock
        self.io_errors = io_errors or IOErrorCounter()

    def _deadline(self, policy: RetryPolicy) -> float:
        if self.max_deadline is None:
            return policy.deadline
        return min(policy.deadline, self.max_deadline)

    async def _bounded(self, window: float, what: str, attempt: Awaitable[Reply]) -> Reply:
        """One attempt, cut off after `window` seconds however its reads trickle in."""
        try:
            async with asyncio.timeout(window):
                return await attempt
        except TimeoutError:
            raise _Retryable(f"{what}: no complete answer within {window:.1f} s", io=True) from None

    async def _once(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: float,
        max_bytes: int,
        what: str,
        sink: BinaryIO | None,
    ) -> Reply:
        with _mapped_errors(what):
            request = self.client.build_request(
                method, url, headers=dict(headers), content=content, timeout=timeout
            )
            response = await self.client.send(request, stream=True)
            try:
                body = bytearray()
                size = 0
                streaming = sink is not None and response.status_code == 200
                if streaming and sink is not None:
                    sink.seek(0)
                    sink.truncate()
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise HttpFailed(f"{what}: response larger than {max_bytes} bytes refused")
                    if streaming and sink is not None:
                        sink.write(chunk)
                    else:
                        body += chunk
                expected = response.headers.get("content-length")
                if expected is not None and expected.isdigit() and int(expected) != size:
                    raise _Retryable(f"{what}: short body ({size} of {expected} bytes)")
            finally:
                await response.aclose()
        return Reply(response.status_code, response.headers, bytes(body))

    async def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        ok: frozenset[int] | None = OK_CODES,
        max_bytes: int = MAX_DOCUMENT,
        sink: BinaryIO | None = None,
    ) -> Reply:
        """One logical request. `ok=None` returns any status after a single attempt (raw mode).

        With a `sink`, a 200 body is streamed into it (rewound at each attempt) instead of memory.
        """
        started = self._clock()
        deadline = self._deadline(policy)
        attempts = policy.attempts
        attempt = 0
        last = ""
        last_status: int | None = None  # of the last answer; None when it was a socket error
        retry_codes = policy.retry_codes | policy.extra_retry_codes
        while True:
            attempt += 1
            delay = fibonacci_delay(attempt + 1, policy.delay)
            window = min(policy.attempt_deadline, deadline - (self._clock() - started))
            try:
                reply = await self._bounded(
                    max(window, 0.0),
                    what,
                    self._once(
                        method, url, headers or {}, content, policy.timeout, max_bytes, what, sink
                    ),
                )
            except _Retryable as exc:
                last, last_status = str(exc), exc.status
                if exc.io:
                    self.io_errors.increment(httpx.URL(url))
            else:
                if ok is None or reply.status in ok:
                    return reply
                last, last_status = f"{what}: HTTP {reply.status}", reply.status
                if reply.status == 410:
                    raise ResourceGone(f"{what}: 410 Gone (goal state changed)", 410)
                if reply.status == 400 and INVALID_CONTAINER in reply.body:
                    raise InvalidContainer(f"{what}: InvalidContainerConfiguration", 400)
                if reply.status not in retry_codes:
                    raise HttpFailed(last, reply.status)
                if reply.status in THROTTLE_CODES:
                    attempts = max(attempts, policy.throttled_attempts)
                    delay = policy.throttle_delay
            elapsed = self._clock() - started
            if attempt >= attempts or elapsed + delay >= deadline:
                raise HttpFailed(
                    f"{redact(last)} -- {attempt} attempts made in {elapsed:.1f} s", last_status
                )
            log.debug("%s; retrying in %.0f s", redact(last), delay)
            await self._sleep(delay)
