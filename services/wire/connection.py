"""Everything wire reaches at one WireServer address: WireServer, HostGAPlugin, storage, IMDS.

`Link` holds the current `Connection` and replaces it as a whole when the endpoint is discovered
again, so no part keeps the old address.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ..common.config import AgentConfig
from ..common.root import Root
from . import endpoint
from .contact import Contact
from .download import Downloader
from .hostplugin import ContainerIdentity, HostPlugin
from .http import FabricHttp
from .imds import Imds
from .state import StateFiles
from .storage import Storage
from .wireserver import WireServer

log = logging.getLogger(__name__)


@dataclass
class Clients:
    """How wire reaches the network: injected, so tests can give other transports."""

    fabric: FabricHttp
    storage_for_proxy: Callable[[str | None], FabricHttp]


@dataclass(frozen=True)
class Connection:
    address: str
    wireserver: WireServer
    hostplugin: HostPlugin
    storage: Storage
    downloader: Downloader
    imds: Imds


class Link:
    def __init__(
        self,
        root: Root,
        config: AgentConfig,
        clients: Clients,
        files: StateFiles,
        contact: Contact,
        *,
        identity: Callable[[], ContainerIdentity],
        refresh_container: Callable[[], Awaitable[object]],
        route_table: Path,
        download_budget: float,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.root, self.config, self.clients, self.files = root, config, clients, files
        self.contact = contact
        self.identity, self.refresh_container = identity, refresh_container
        self.route_table, self.download_budget, self.environ = route_table, download_budget, environ
        self.current = self.connect(endpoint.KNOWN_WIRESERVER)

    def connect(self, address: str) -> Connection:
        hostplugin = HostPlugin(self.clients.fabric, address, self.identity)
        storage = Storage(
            self.clients.storage_for_proxy,
            proxy_host=self.config.http_proxy_host,
            proxy_port=self.config.http_proxy_port,
            environ=self.environ if self.environ is not None else dict(os.environ),
        )
        downloads = self.root.resolve(self.files.path("downloads"))
        self.current = Connection(
            address=address,
            wireserver=WireServer(self.clients.fabric, address),
            hostplugin=hostplugin,
            storage=storage,
            downloader=Downloader(
                storage, hostplugin, self.refresh_container, downloads, budget=self.download_budget
            ),
            imds=Imds(self.clients.fabric, self.config.protocol_imds_endpoint),
        )
        self.contact.set(endpoint=address)
        return self.current

    def discover(self) -> None:
        """Look for the endpoint (DHCP lease, route table...); reconnect when it moved."""
        found = endpoint.discover(
            self.root,
            method=self.config.protocol_endpoint_discovery,
            route_table_path=self.route_table,
        )
        known = self.contact.observable.endpoint
        if found.endpoint != known or not self.files.read("WireServerEndpoint"):
            log.info("WireServer endpoint %s (from %s)", found.endpoint, found.source)
            self.connect(found.endpoint)
            self.files.save_protocol(found.endpoint)
