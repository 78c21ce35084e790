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
    # The last hostname publication (publish.Publication, kept in /run across activations).
    published_hostname: str = ""
    publish_method: str = ""
    published_at: str = ""
    publish_error: str = ""
