"""The Health report (§2.6): Ready, or NotReady with a provisioning substatus, for the current
incarnation (fetched first when wire has none yet)."""

from __future__ import annotations

import logging

from . import reports
from .keeper import GoalStateKeeper
from .wireserver import WireServer

log = logging.getLogger(__name__)


async def report(
    goal_state: GoalStateKeeper,
    wireserver: WireServer,
    state: str,
    substatus: str,
    description: str,
) -> None:
    if goal_state.summary is None:
        await goal_state.refresh(force=True)
    summary = goal_state.summary
    assert summary is not None
    document = reports.health_document(
        incarnation=summary.incarnation,
        container_id=summary.container_id,
        role_instance_id=summary.role_instance_id,
        state=state,
        substatus=substatus,
        description=description,
    )
    await wireserver.report_health(document)
    log.info("reported health %s%s", state, f"/{substatus}" if substatus else "")
