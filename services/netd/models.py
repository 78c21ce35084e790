"""What the Network1 properties show."""

from __future__ import annotations

from pydantic import Field

from ..common.models.base import FrozenModel
from .rules import BackendName, FirewallState


class NetworkStatus(FrozenModel):
    """Replaced as a whole on each change."""

    firewall_state: FirewallState = FirewallState.ABSENT
    endpoint: str = ""
    backend: BackendName = BackendName.NONE
    last_error: str = ""
    # DHCP routes (dhcp_routes.py): the lease read, its routes, what netd added or could not.
    dhcp_lease: str = ""
    dhcp_routes: list[str] = Field(default_factory=list)  # lists: what D-Bus arrays take
    dhcp_routes_added: list[str] = Field(default_factory=list)
    dhcp_routes_failed: list[str] = Field(default_factory=list)
    # The last hostname publication (publish.Publication, kept in /run across activations).
    published_hostname: str = ""
    publish_method: str = ""
    published_at: str = ""
    publish_error: str = ""
