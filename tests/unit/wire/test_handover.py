"""Handing goal states to extd until it acknowledges them (no bus: the call is a function)."""

from __future__ import annotations

import asyncio

from waagent.common.bus.client import ServiceUnavailable
from waagent.common.errors import Failed
from waagent.wire.handover import Handover


class Extd:
    """Answers ProcessGoalState with the outcomes it is given, then acknowledges."""

    def __init__(self, *outcomes: Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        if self.outcomes:
            raise self.outcomes.pop(0)


async def settle(handover: Handover) -> None:
    for _ in range(200):
        if not handover.pending():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the goal state was never acknowledged")


def hand_over(extd: Extd) -> None:
    """One goal state handed over, until acknowledged (or given up)."""

    async def go() -> None:
        handover = Handover(extd, first_retry=0.01)
        handover.notify()
        await settle(handover)

    asyncio.run(go())


def test_a_goal_state_is_sent_again_until_extd_acknowledges_it() -> None:
    extd = Extd(Failed("NoReply: extd was killed"), Failed("the unit is restarting"))
    hand_over(extd)
    assert extd.calls == 3


def test_notifications_during_a_call_fold_into_one_more_call() -> None:
    extd = Extd()

    async def go() -> None:
        handover = Handover(extd, first_retry=0.01)
        for _ in range(5):
            handover.notify()
        await settle(handover)
        handover.notify()
        await settle(handover)

    asyncio.run(go())
    assert extd.calls == 2  # the five folded into one call, then the last


def test_an_extd_that_is_not_installed_is_not_asked_again() -> None:
    missing = ServiceUnavailable(
        "org.waagent.Extensions1", "not found", "org.freedesktop.DBus.Error.ServiceUnknown"
    )
    extd = Extd(missing)
    hand_over(extd)
    assert extd.calls == 1


def test_an_extd_that_failed_to_start_is_asked_again() -> None:
    crashed = ServiceUnavailable(
        "org.waagent.Extensions1", "exited", "org.freedesktop.DBus.Error.Spawn.ChildExited"
    )
    extd = Extd(crashed)
    hand_over(extd)
    assert extd.calls == 2
