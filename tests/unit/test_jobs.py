"""common/jobs.py: one job at a time, joining, surviving callers that give up (no bus needed)."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from waagent.common.errors import Failed
from waagent.common.jobs import Jobs, StatusHolder


def test_jobs_run_one_at_a_time_in_the_order_they_came() -> None:
    events: list[str] = []

    async def go() -> None:
        jobs: Jobs[str] = Jobs("test")

        def work(name: str) -> Any:
            async def job() -> str:
                events.append(f"{name} starts")
                await asyncio.sleep(0.01)
                events.append(f"{name} ends")
                return name

            return job

        assert await asyncio.gather(jobs.run(work("a")), jobs.run(work("b"))) == ["a", "b"]

    asyncio.run(go())
    assert events == ["a starts", "a ends", "b starts", "b ends"]


def test_a_request_of_the_same_kind_joins_the_job_under_way() -> None:
    started: list[int] = []

    async def go() -> list[int]:
        jobs: Jobs[int] = Jobs("test")

        async def job() -> int:
            started.append(1)
            await asyncio.sleep(0.01)
            return len(started)

        first = jobs.start(job, kind="activate")
        joined = jobs.start(job, kind="activate")
        assert joined is first
        return list(await asyncio.gather(jobs.run(job, kind="activate"), first))

    assert asyncio.run(go()) == [1, 1]
    assert started == [1]


def test_a_finished_job_is_not_joined() -> None:
    async def go() -> int:
        jobs: Jobs[int] = Jobs("test")
        count = 0

        async def job() -> int:
            nonlocal count
            count += 1
            return count

        await jobs.run(job, kind="k")
        return await jobs.run(job, kind="k")

    assert asyncio.run(go()) == 2


def test_a_caller_that_gives_up_does_not_interrupt_the_job() -> None:
    finished = []

    async def go() -> None:
        jobs: Jobs[None] = Jobs("test")

        async def job() -> None:
            await asyncio.sleep(0.05)
            finished.append(True)

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await jobs.run(job)
        assert jobs.busy()
        await jobs.wait()
        assert not jobs.busy()

    asyncio.run(go())
    assert finished == [True]


def test_cancel_stops_the_running_and_the_queued_jobs_and_their_cleanup_runs() -> None:
    """What a stopping service does: the job a caller's wait would leave running is stopped,
    its `finally` runs before `cancel` returns, and the job queued behind it never starts."""
    events: list[str] = []

    async def go() -> None:
        jobs: Jobs[None] = Jobs("test")

        async def long() -> None:
            events.append("long starts")
            try:
                await asyncio.sleep(60)
            finally:
                events.append("long cleaned up")

        async def queued() -> None:
            events.append("queued starts")

        waiter = asyncio.ensure_future(jobs.run(long))
        await asyncio.sleep(0.01)
        jobs.start(queued)
        await asyncio.sleep(0.01)
        waiter.cancel()  # the caller gives up: the job goes on
        await asyncio.sleep(0.01)
        assert jobs.busy()
        await jobs.cancel()
        assert not jobs.busy()

    asyncio.run(go())
    assert events == ["long starts", "long cleaned up"]


def test_a_failure_reaches_the_caller() -> None:
    async def go() -> None:
        async def job() -> None:
            raise Failed("the disk is gone")

        await Jobs[None]("test").run(job)

    with pytest.raises(Failed, match="the disk is gone"):
        asyncio.run(go())


def test_a_failure_nobody_awaits_is_logged_not_left_unretrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unretrieved: list[dict[str, Any]] = []

    async def go() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unretrieved.append(ctx))
        jobs: Jobs[None] = Jobs("resource disk")

        async def job() -> None:
            raise RuntimeError("bug")

        jobs.start(job)
        await jobs.wait()
        gc.collect()

    with caplog.at_level(logging.DEBUG, logger="waagent.common.jobs"):
        asyncio.run(go())
    assert unretrieved == []
    assert "resource disk job failed unexpectedly" in caplog.text
    assert "RuntimeError: bug" in caplog.text


class Sample(BaseModel):
    model_config = ConfigDict(frozen=True)
    a: int = 0
    b: str = ""


def test_a_status_change_is_told_once_with_old_and_new() -> None:
    holder = StatusHolder(Sample())
    seen: list[tuple[Sample, Sample]] = []
    holder.listeners.append(lambda old, new: seen.append((old, new)))
    holder._update(a=1)
    holder._update(a=1)
    holder._update(a=1, b="x")
    assert seen == [(Sample(), Sample(a=1)), (Sample(a=1), Sample(a=1, b="x"))]
    assert holder.status == Sample(a=1, b="x")
