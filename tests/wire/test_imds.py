"""GetInstanceMetadata is open to every user: wire answers from a short cache, and concurrent
callers share one IMDS request, so nobody can make wire hammer IMDS."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.wire.system import WireSystem

pytestmark = pytest.mark.integration

CALLERS = 12


def imds_requests(wire: WireSystem) -> int:
    return sum(r.endpoint == "imds" for r in wire.fabric.requests())


def call_all(wire: WireSystem) -> list[str]:
    """CALLERS busctl processes at once, every other one as nobody."""
    users = [UNPRIVILEGED if i % 2 else None for i in range(CALLERS)]
    with ThreadPoolExecutor(CALLERS) as pool:
        replies = list(pool.map(lambda user: wire.call("GetInstanceMetadata", user=user), users))
    assert all(r.ok for r in replies), [r.error for r in replies if not r.ok]
    return [r.data[0] for r in replies]


def test_concurrent_callers_share_one_imds_request_and_later_ones_the_cache(
    wire: WireSystem,
) -> None:
    wire.wait_prop("State", "Ready")
    before = imds_requests(wire)
    answers = call_all(wire)
    first_round = imds_requests(wire) - before
    answers += call_all(wire)
    both_rounds = imds_requests(wire) - before
    print(f"\n{2 * CALLERS} GetInstanceMetadata calls: {both_rounds} IMDS request(s)")
    assert first_round == 1
    assert both_rounds == 1
    assert len(set(answers)) == 1
    assert json.loads(answers[0])["compute"]["vmId"] == wire.fabric.scenario.identity.vm_id
