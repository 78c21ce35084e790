"""Fetching and keeping the goal state, on a mock fabric (no bus, no root)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from waagent.wire import documents
from waagent.wire.errors import FabricError, ResourceGone

from .fabric_mock import (
    GOAL_STATE_URL,
    WIRESERVER,
    MockFabric,
    goal_state_xml,
    history_entries,
    make_wire,
)


def test_a_role_instance_retry_keeps_the_bytes_of_the_response_it_parsed(tmp_path: Path) -> None:
    """§2.7: a goal state without RoleInstance is fetched again. What history keeps (and what
    counts as seen) is the response that was parsed, not the first one."""
    fabric = MockFabric()
    fabric.serve_incarnation(2)
    fabric.serve(
        "GET",
        GOAL_STATE_URL,
        goal_state_xml(2, role_instance=False),
        goal_state_xml(2, container="c2"),
    )
    wire = make_wire(tmp_path, fabric)
    assert asyncio.run(wire.refresh()) is True
    [entry] = history_entries(tmp_path)
    saved = (entry / "GoalState.xml").read_bytes()
    doc = documents.parse_goal_state(saved)  # the first response had no RoleInstance
    assert (doc.incarnation, doc.container_id) == ("2", "c2")
    assert wire.observable.container_id == "c2"


def test_unchanged_bytes_are_not_fetched_again_and_a_new_incarnation_is(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve_incarnation(1)
    wire = make_wire(tmp_path, fabric)

    async def go() -> list[bool]:
        results = [await wire.refresh(), await wire.refresh()]
        fabric.serve_incarnation(2)
        return [*results, await wire.refresh()]

    assert asyncio.run(go()) == [True, False, True]
    assert fabric.count("GET", f"{WIRESERVER}/machine/c/r?comp=config&incarnation=1") == 2
    assert wire.observable.incarnation == "2"
    assert len(history_entries(tmp_path)) == 2


def test_a_goal_state_half_fetched_is_not_committed_and_is_tried_again(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve_incarnation(1)
    told: list[str] = []
    wire = make_wire(tmp_path, fabric, on_extensions=lambda: told.append("told"))

    async def go() -> None:
        await wire.refresh()
        fabric.serve_incarnation(2)
        base = f"{WIRESERVER}/machine/c/r?comp=config&incarnation=2"
        fabric.serve("GET", f"{base}&type=hostingEnvironmentConfig", 500)
        with pytest.raises(FabricError):
            await wire.refresh()
        assert wire.goal_state.summary is not None
        assert wire.goal_state.summary.incarnation == "1"  # the last good one stays
        fabric.serve_incarnation(2)
        assert await wire.refresh() is True  # the same bytes count as new: not all arrived

    asyncio.run(go())
    assert wire.observable.incarnation == "2"
    assert told == ["told", "told"]


def test_a_document_gone_starts_over_once_with_a_fresh_goal_state(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve_incarnation(3)
    fabric.serve("GET", GOAL_STATE_URL, goal_state_xml(2), goal_state_xml(3))
    fabric.serve("GET", f"{WIRESERVER}/machine/c/r?comp=config&incarnation=2", 410)
    wire = make_wire(tmp_path, fabric)
    assert asyncio.run(wire.refresh()) is True
    assert wire.observable.incarnation == "3"


def test_a_document_gone_twice_is_a_failure(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve("GET", GOAL_STATE_URL, goal_state_xml(2))
    fabric.serve("GET", f"{WIRESERVER}/machine/c/r?comp=config&incarnation=2", 410)
    wire = make_wire(tmp_path, fabric)
    with pytest.raises(ResourceGone):
        asyncio.run(wire.refresh())
    assert wire.goal_state.summary is None


def test_the_handover_carries_what_extd_needs(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve_incarnation(4)
    wire = make_wire(tmp_path, fabric)
    assert wire.goal_state.handover() is None
    asyncio.run(wire.refresh())
    handover = wire.goal_state.handover()
    assert handover is not None
    assert handover.goal_state_id == "incarnation_4"
    assert handover.endpoint == "168.63.129.16"
    assert handover.extensions.status_upload_blob is not None
    assert "private" not in repr(handover)
