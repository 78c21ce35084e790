"""What the Network1 properties show."""

from __future__ import annotations

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
    dhcp_routes: tuple[str, ...] = ()
    dhcp_routes_added: tuple[str, ...] = ()
    dhcp_routes_failed: tuple[str, ...] = ()
