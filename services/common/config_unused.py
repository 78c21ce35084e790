"""Classic keys that are accepted but have no effect here, each with the reason.

They stay valid (a classic /etc/waagent.conf loads unchanged, and a bad value is still an error),
but nothing reads them. wire, the one service every host starts, says so once at its start for
each key set to another value than its default. `tests/unit/test_config_unused.py` keeps this
table true: a key is either read by a service or listed here, never both; docs/configuration.md
shows the same table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .config import AgentConfig, LoadedConfig, format_value
from .names import WIRE

log = logging.getLogger(__name__)

_NETWORK = "belongs to the network service (issue 15), not built yet"
_SELF_UPDATE = "classic-only: self-update is not how this agent is upgraded (its package is)"
_AGENT_LIMITS = (
    "classic-only: the classic agent policed its own cgroup; each service here is a systemd unit "
    "in azure.slice, whose limits are systemd's"
)

UNUSED: Mapping[str, str] = {
    "Extensions.InitialGoalStatePeriod": "wire polls every Extensions.GoalStatePeriod from start",
    "Provisioning.MonitorHostNamePeriod": (
        "no periodic check: wire is told of each hostname change by the kernel"
    ),
    "Logs.Console": "the services log to stderr (the journal) and Logs.File, never /dev/console",
    "Debug.EnableCgroupV2ResourceLimiting": (
        "the log collector always runs in its own slice with its limits (systemd's, not a check)"
    ),
    "OS.AllowHTTP": "wire uses each URL with the scheme the fabric gave; no fallback to allow",
    "OS.EnableFirewallPeriod": (
        "no periodic check: netd puts the firewall back when the endpoint file changes and when"
        " nftables.service reloads the rule set"
    ),
    "Debug.FirewallRulesLogPeriod": "classic-only, and unused there too",
    "Monitor.NetworkConfigurationChanges": f"network monitoring {_NETWORK}",
    "OS.RemovePersistentNetRulesPeriod": (
        "no period: waagent-nic-names.path moves the persistent-net rules the moment one appears"
    ),
    "OS.MonitorDhcpClientRestartPeriod": (
        "no poll of the DHCP client: netd re-adds the DHCP routes when a lease file changes"
    ),
    "OS.RootDeviceScsiTimeoutPeriod": (
        "no period: a udev rule diskd writes sets OS.RootDeviceScsiTimeout on each disk as it"
        " appears"
    ),
    "OS.EnableFIPS": "not built: openssl is not run with OPENSSL_FIPS=1",
    "Debug.CgroupLogMetrics": _AGENT_LIMITS,
    "Debug.CgroupDisableOnProcessCheckFailure": _AGENT_LIMITS,
    "Debug.CgroupDisableOnQuotaCheckFailure": _AGENT_LIMITS,
    "Debug.CgroupCheckPeriod": _AGENT_LIMITS,
    "Debug.AgentCpuQuota": _AGENT_LIMITS,
    "Debug.AgentCpuThrottledTimeThreshold": _AGENT_LIMITS,
    "Debug.AgentMemoryQuota": _AGENT_LIMITS,
    "Debug.EnableAgentMemoryUsageCheck": _AGENT_LIMITS,
    "Debug.EnableExtensionPolicy": "not built: no extension policy is enforced",
    "Policy.PolicyFilePath": "not built: no extension policy is enforced",
    "Debug.EnableSignatureValidation": "not built: extension packages' signatures are not checked",
    "Debug.EnableRsmDowngrade": "this agent installs no other agent version, so none older "
    "(an RSM request is reported in the status: docs/wire.md)",
    "Autoupdate.Frequency": _SELF_UPDATE,
    "Debug.AutoUpdateHotfixFrequency": _SELF_UPDATE,
    "Debug.AutoUpdateNormalFrequency": _SELF_UPDATE,
    "Debug.SelfUpdateHotfixFrequency": _SELF_UPDATE,
    "Debug.SelfUpdateRegularFrequency": _SELF_UPDATE,
}


def _as_written(value: object) -> str:
    if isinstance(value, bool):
        return "y" if value else "n"
    return format_value(value)


def set_without_effect(config: AgentConfig) -> list[str]:
    """One line per key of the table set to another value than its default."""
    lines = []
    for name, field in AgentConfig.model_fields.items():
        reason = UNUSED.get(field.alias or "")
        value = getattr(config, name)
        if reason is not None and value != field.default:
            lines.append(f"{field.alias}={_as_written(value)} has no effect: {reason}")
    return lines


def warn(loaded: LoadedConfig, program: str) -> None:
    """Once per agent start, not once per service: only wire, which every host starts, warns."""
    if program != WIRE.program:
        return
    for line in set_without_effect(loaded.config):
        log.warning("%s: %s", loaded.path, line)
