"""The goal state as wire exposes it over the bus (`GetGoalState`): identity, never secrets."""

from __future__ import annotations

from .base import FrozenModel


class CertificateSummary(FrozenModel):
    """One tenant certificate delivered by the fabric (§3.2 summary)."""

    thumbprint: str
    has_private_key: bool


class GoalStateSummary(FrozenModel):
    """What identifies the VM's current goal state (§2.7)."""

    endpoint: str
    incarnation: str
    container_id: str
    role_instance_id: str
    role_config_name: str = ""
    # From HostingEnvironmentConfig (§2.6).
    instance_name: str = ""
    role_name: str = ""
    deployment_name: str = ""
    certificates: tuple[CertificateSummary, ...] = ()
    extensions_goal_state_id: str = ""
    has_extensions_config: bool = False
    remote_access_url: str = ""

    @property
    def deployment_id(self) -> str:
        """The deployment id sent with log uploads: the config name before its first dot."""
        return self.role_config_name.split(".", 1)[0]


class Certificate(FrozenModel):
    """A tenant certificate with its private key: only ever sent to root callers."""

    thumbprint: str
    certificate_pem: str
    private_key_pem: str | None = None
