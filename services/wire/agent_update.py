"""What wire says about agent updates (§10.1): this agent is updated by its distribution package.

It never downloads or runs agent packages. Under RSM (the fabric asks for a version through the
GAFamily of `AutoUpdate.GAFamily`, `IsVMEnabledForRSMUpgrades`, with `Debug.EnableGAVersioning`
and auto-update on), the status blob carries the classic `updateStatus`: `Success` when the
requested version is ours, else `Error` with a message that names the requested version and how
this agent is updated. `guestAgentStatus.status` stays `Ready` either way: the agent runs.
Outside RSM there is no `updateStatus`, as with the classic agent in self-update mode.
"""

from __future__ import annotations

import logging

from .. import AGENT_NAME, AGENT_VERSION
from ..common.config import AgentConfig
from ..common.models.extensions import ExtensionsGoalState, GAFamily
from ..common.models.status import FormattedMessage, UpdateStatus

log = logging.getLogger(__name__)

RSM = "RSM"
SELF_UPDATE = "SelfUpdate"  # the classic default mode; here it means "no automatic update"


def _numbers(version: str) -> tuple[int, ...] | str:
    """2.15.0.1 -> (2, 15, 0, 1), trailing zeros dropped (3.0 == 3.0.0.0); text if not numeric."""
    try:
        parts = [int(p) for p in version.strip().split(".")]
    except ValueError:
        return version.strip()
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def same_version(a: str, b: str) -> bool:
    return _numbers(a) == _numbers(b)


def requested_message(version: str) -> str:
    return (
        f"RSM requested agent version {version}; this agent ({AGENT_NAME} {AGENT_VERSION}, "
        "waagent) is not updated by downloading agent packages but by its distribution "
        f"package (apt, dnf, zypper). Version {AGENT_VERSION} keeps running."
    )


class AgentUpdate:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._logged: str | None = None  # the extensions goal state last logged about

    def family(self, extensions: ExtensionsGoalState | None) -> GAFamily | None:
        wanted = self.config.auto_update_ga_family.casefold()
        families = extensions.ga_families if extensions else ()
        return next((f for f in families if f.name.casefold() == wanted), None)

    def rsm(self, extensions: ExtensionsGoalState | None) -> GAFamily | None:
        """The family when the goal state puts this VM under RSM and the config allows it."""
        family = self.family(extensions)
        enabled = self.config.update_to_latest_version and self.config.debug_enable_ga_versioning
        if family is None or not enabled or not family.is_vm_enabled_for_rsm_upgrades:
            return None
        return family

    def mode(self, extensions: ExtensionsGoalState | None) -> str:
        return RSM if self.rsm(extensions) is not None else SELF_UPDATE

    def status(self, extensions: ExtensionsGoalState | None) -> UpdateStatus | None:
        family = self.rsm(extensions)
        if family is None or extensions is None:
            return None
        if family.version is None:
            message = "the goal state enables RSM upgrades but names no version"
        elif family.is_version_from_rsm and not same_version(family.version, AGENT_VERSION):
            message = requested_message(family.version)
        else:
            return UpdateStatus(
                expected_version=AGENT_VERSION,
                status="Success",
                code=0,
                formatted_message=FormattedMessage(message=""),
            )
        if self._logged != extensions.id:
            self._logged = extensions.id
            log.warning("%s (goal state %s)", message, extensions.id)
        return UpdateStatus(
            expected_version=AGENT_VERSION,
            status="Error",
            code=1,
            formatted_message=FormattedMessage(message=message),
        )
