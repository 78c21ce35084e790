"""waagent: the Azure Linux VM agent as four least-privilege D-Bus services."""

__version__ = "3.0.0"

# What the fabric is told (guestAgentStatus, User-Agent, telemetry): four numbers, like the
# classic WALinuxAgent versions. waagent is a new major line above the classic 2.x agents.
AGENT_VERSION = "3.0.0.0"
AGENT_NAME = "WALinuxAgent"
