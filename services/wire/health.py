"""The Health report (§2.6): Ready, or NotReady with a provisioning substatus, for the newest
GoalState.xml (only that fetched first when wire has none yet)."""

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
    incarnation, container_id, role_instance_id = await goal_state.identity()
    document = reports.health_document(
        incarnation=incarnation,
        container_id=container_id,
        role_instance_id=role_instance_id,
        state=state,
        substatus=substatus,
        description=description,
    )
    await wireserver.report_health(document)
    log.info("reported health %s%s", state, f"/{substatus}" if substatus else "")
