"""IMDS answers are cached and concurrent calls coalesced: callers cannot make wire hammer IMDS."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from waagent.wire.errors import FabricError
from waagent.wire.http import FabricHttp
from waagent.wire.imds import Imds


class Counting:
    def __init__(self, status: int = 200) -> None:
        self.requests = 0
        self.status = status

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        await asyncio.sleep(0.05)  # long enough for every caller to arrive meanwhile
        return httpx.Response(self.status, content=b'{"compute": {"vmId": "x"}}')


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def imds(server: Counting, clock: Clock) -> Imds:
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return Imds(FabricHttp(client), "169.254.169.254", ttl=60, error_ttl=10, clock=clock)


def test_concurrent_calls_share_one_request_and_the_answer_is_kept_for_its_ttl() -> None:
    server, clock = Counting(), Clock()
    metadata = imds(server, clock)

    async def go() -> None:
        answers = await asyncio.gather(*(metadata.instance() for _ in range(20)))
        assert len(set(answers)) == 1 and server.requests == 1
        clock.now = 59
        await metadata.instance()
        assert server.requests == 1
        clock.now = 61
        await metadata.instance()
        assert server.requests == 2

    asyncio.run(go())


def test_a_failure_is_kept_briefly_too() -> None:
    server, clock = Counting(status=404), Clock()
    metadata = imds(server, clock)

    async def go() -> None:
        for _ in range(3):
            with pytest.raises(FabricError, match="HTTP 404"):
                await metadata.instance()
        assert server.requests == 1
        clock.now = 11
        with pytest.raises(FabricError):
            await metadata.instance()
        assert server.requests == 2

    asyncio.run(go())


def test_a_caller_that_gives_up_does_not_cancel_the_others() -> None:
    server, clock = Counting(), Clock()
    metadata = imds(server, clock)

    async def go() -> None:
        impatient = asyncio.create_task(metadata.instance())
        patient = asyncio.create_task(metadata.instance())
        await asyncio.sleep(0.01)
        impatient.cancel()
        assert "vmId" in await patient
        assert server.requests == 1

    asyncio.run(go())
