"""The classic HTTP rules (§2.4), driven through httpx's MockTransport with a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest

from waagent.wire.errors import HttpFailed, InvalidContainer, ResourceGone
from waagent.wire.http import (
    DEFAULT_POLICY,
    FabricHttp,
    RetryPolicy,
    fibonacci_delay,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def serve(
    responses: list[int | Exception | httpx.Response],
) -> Callable[[httpx.Request], httpx.Response]:
    items: Iterator[int | Exception | httpx.Response] = iter(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = next(items)
        if isinstance(item, Exception):
            raise item
        if isinstance(item, httpx.Response):
            return item
        return httpx.Response(item, content=b"body")

    return handler


def request(
    responses: list[int | Exception | httpx.Response],
    policy: RetryPolicy = DEFAULT_POLICY,
    **kw: object,
):  # type: ignore[no-untyped-def]
    clock = Clock()
    client = httpx.AsyncClient(transport=httpx.MockTransport(serve(responses)))
    http = FabricHttp(client, sleep=clock.sleep, clock=clock)

    async def go():  # type: ignore[no-untyped-def]
        async with client:
            return await http.request("GET", "http://127.0.0.1/x", what="doc", policy=policy, **kw)  # type: ignore[arg-type]

    return clock, go


def test_fibonacci_delays_are_2_3_5_8_13_times_the_unit() -> None:
    assert [fibonacci_delay(n, 1.0) for n in range(2, 7)] == [2, 3, 5, 8, 13]
    assert fibonacci_delay(3, 15.0) == 45


def test_retryable_statuses_are_retried_with_fibonacci_backoff() -> None:
    clock, go = request([500, 502, 200])
    reply = asyncio.run(go())
    assert reply.status == 200
    assert clock.sleeps == [2.0, 3.0]


def test_throttling_switches_to_the_fixed_delay_and_raises_the_attempt_count() -> None:
    clock, go = request([429] * 10 + [200], RetryPolicy(attempts=3))
    assert asyncio.run(go()).status == 200
    assert clock.sleeps == [1.0] * 10


def test_a_410_is_raised_at_once_for_the_caller_to_refresh_the_goal_state() -> None:
    clock, go = request([410])
    with pytest.raises(ResourceGone):
        asyncio.run(go())
    assert clock.sleeps == []


def test_invalid_container_configuration_is_its_own_error() -> None:
    response = httpx.Response(400, content=b"<Error>InvalidContainerConfiguration</Error>")
    _, go = request([response])
    with pytest.raises(InvalidContainer):
        asyncio.run(go())


def test_a_non_retryable_status_fails_at_once() -> None:
    clock, go = request([404])
    with pytest.raises(HttpFailed, match="^doc: HTTP 404$"):
        asyncio.run(go())
    assert clock.sleeps == []


def test_connection_errors_and_timeouts_are_retried() -> None:
    clock, go = request([httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 200])
    assert asyncio.run(go()).status == 200
    assert len(clock.sleeps) == 2


def test_retries_are_bounded_in_time_not_only_in_count() -> None:
    policy = RetryPolicy(attempts=30, delay=15.0, deadline=300.0)
    clock, go = request([503] * 1 + [500] * 40, policy)
    with pytest.raises(HttpFailed, match="attempts made in"):
        asyncio.run(go())
    assert clock.now <= 300.0


def test_a_body_over_the_limit_is_refused() -> None:
    big = httpx.Response(200, content=b"x" * 2000)
    _, go = request([big], max_bytes=1000)
    with pytest.raises(HttpFailed, match="larger than 1000 bytes"):
        asyncio.run(go())


def test_the_last_error_message_redacts_sas_tokens() -> None:
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused https://a.blob.core.windows.net/s?sig=SECRET&sv=1")

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    http = FabricHttp(client, sleep=clock.sleep, clock=clock)
    with pytest.raises(HttpFailed) as info:
        asyncio.run(http.request("GET", "http://x/", what="blob", policy=RetryPolicy(attempts=1)))
    assert "SECRET" not in str(info.value)


class Drip(httpx.AsyncByteStream):
    """A body that arrives one byte every `interval` seconds: each read is quick."""

    def __init__(self, body: bytes, interval: float) -> None:
        self.body = body
        self.interval = interval

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for index in range(len(self.body)):
            await asyncio.sleep(self.interval)
            yield self.body[index : index + 1]


def dripping(body: bytes = b"x" * 1000, interval: float = 0.05) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Drip(body, interval))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def timed(http: FabricHttp, policy: RetryPolicy) -> tuple[float, HttpFailed]:
    async def go() -> tuple[float, HttpFailed]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with http.client:
            with pytest.raises(HttpFailed) as caught:
                await http.request("GET", "http://127.0.0.1/x", what="doc", policy=policy)
        return loop.time() - started, caught.value

    return asyncio.run(go())


def test_a_dripping_body_is_cut_off_at_the_attempt_deadline() -> None:
    policy = RetryPolicy(attempts=1, attempt_deadline=0.3, deadline=10.0)
    elapsed, error = timed(FabricHttp(dripping()), policy)
    print(f"dripping body cut off after {elapsed:.2f} s")
    assert "doc: no complete answer within 0.3 s -- 1 attempts made" in str(error)
    assert elapsed < 5  # did not hang: the body alone would take 50 s


def test_the_whole_request_retries_included_ends_at_its_deadline() -> None:
    policy = RetryPolicy(attempts=6, delay=0.05, attempt_deadline=0.3, deadline=0.8)
    elapsed, error = timed(FabricHttp(dripping()), policy)
    print(f"request with retries ended after {elapsed:.2f} s: {error}")
    assert "no complete answer" in str(error)
    assert elapsed < 5


def test_max_deadline_caps_every_policy() -> None:
    http = FabricHttp(dripping(), max_deadline=0.3)
    elapsed, error = timed(http, DEFAULT_POLICY)
    print(f"capped request ended after {elapsed:.2f} s")
    assert "no complete answer within 0.3 s" in str(error)
    assert elapsed < 5


def test_a_max_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_deadline must be positive"):
        FabricHttp(httpx.AsyncClient(), max_deadline=0)
