"""`ProvisionGuestAgent=false` (reference §1.1 step 9, §6.3 step 10): the VM was deployed without
an agent, so no extension is processed.

The provisioner writes the empty `<Lib.Dir>/disable_agent` when the OVF says
`ProvisionGuestAgent=false` (on both the waagent and the cloud-init path) and never removes it,
as classic; deprovisioning empties Lib.Dir. The classic daemon then slept forever and reported
nothing, so an extension operation in the portal timed out; here every goal state is answered:
each handler NotReady and the goal state Failed, with a message that says why.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .. import AGENT_NAME, AGENT_VERSION
from .telemetry import Telemetry

log = logging.getLogger(__name__)

FILE_NAME = "disable_agent"
OPERATION = "AgentDisabled"  # the classic telemetry operation (§10.12)
WHY = "the VM was deployed without the guest agent (ProvisionGuestAgent=false)"


class AgentSwitch:
    """Whether the agent is disabled; checked at every goal state and manual operation (the
    provisioner may write the file after extd started)."""

    def __init__(self, lib_dir: Path, telemetry: Telemetry) -> None:
        self.path = lib_dir / FILE_NAME
        self.telemetry = telemetry
        self._announced = False

    def disabled(self) -> bool:
        return self.path.exists()

    def goal_state_message(self) -> str:
        return f"Extensions are not processed: {WHY}; {self.path} exists"

    def handler_message(self, label: str) -> str:
        return f"Extension '{label}' will not be processed: {WHY}"

    def refusal(self) -> str:
        """The one-line error of an operation by hand."""
        return f"extensions are not processed: {WHY}"

    def announce(self) -> None:
        """Log and send the telemetry once per extd run."""
        if self._announced:
            return
        self._announced = True
        message = self.goal_state_message()
        log.warning("%s", message)
        self.telemetry.operation(AGENT_NAME, AGENT_VERSION, OPERATION, True, message, 0.0)
