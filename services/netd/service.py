"""The network service without the bus: the firewall's status and the changes to it.

The endpoint the rules are made for is the one wire found, as the classic file
`<Lib.Dir>/WireServerEndpoint` gives it (written by root services; wire itself cannot write
there). Changes are jobs, one at a time (common/jobs.py); a failure is FirewallState=error with
its one line in LastError, and the caller gets the error too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from ipaddress import IPv4Address
from pathlib import PurePosixPath

from ..common.config import AgentConfig
from ..common.errors import Failed, NotSupported, WaagentError, from_os_error
from ..common.inotify import Watch
from ..common.jobs import Jobs, StatusHolder
from ..common.root import Root
from .accounts import allowed_uids
from .changes import CHANGED_FILE, FirewallChanges
from .dhcp_routes import DhcpRoutes, RoutesRecord
from .firewall import Firewall, Seen
from .models import NetworkStatus
from .publish import Publication, Publisher, now
from .rdma_address import RdmaAddress
from .rules import FirewallState, WireRules, parse_endpoint
from .telemetry import FIREWALL, HOSTNAME_PUBLISHING, Telemetry

log = logging.getLogger(__name__)

ENDPOINT_FILE = "WireServerEndpoint"
# The last publication, for the next activation's properties (gone at reboot, as it should).
PUBLICATION_FILE = "/run/waagent/hostname-publication.json"


class NetworkService(StatusHolder[NetworkStatus]):
    def __init__(
        self,
        config: AgentConfig,
        root: Root,
        firewall: Firewall,
        *,
        routes: DhcpRoutes,
        rdma: RdmaAddress | None = None,
        publisher: Publisher | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(NetworkStatus())
        self.rdma = rdma  # the RDMA address (waagent-rdma.service asks for it)
        self.config = config
        self.root = root
        self.firewall = firewall
        self.routes = routes
        self.changes = FirewallChanges(root)
        self.publisher = publisher
        self.telemetry = telemetry or Telemetry(None)
        self.jobs: Jobs[None] = Jobs("firewall")
        self.publishing: Jobs[None] = Jobs("hostname publishing")
        self._rereading: asyncio.Task[None] | None = None
        self._reread_again = False
        self._show_publication(self._last_publication())

    def busy(self) -> bool:
        rereading = self._rereading is not None and not self._rereading.done()
        return self.jobs.busy() or self.publishing.busy() or rereading

    def watch_changes(self) -> Watch:
        """Read the rules again whenever another process (the boot or refresh unit) changed
        them, so the status never shows a replaced state."""
        return self.changes.watch(self._changed_elsewhere)

    def _changed_elsewhere(self) -> None:
        by = (self.root.read_text(CHANGED_FILE) or "").strip()
        if by == str(os.getpid()):
            return  # our own change: the status already shows it
        log.debug("the firewall was changed by process %s: reading it again", by or "?")
        # A reading under way may have started before this change ended: read once more after.
        self._reread_again = True
        if self._rereading is None or self._rereading.done():
            self._rereading = asyncio.ensure_future(self._reread())

    async def _reread(self) -> None:
        while self._reread_again:
            self._reread_again = False
            await self.refresh()

    @property
    def endpoint_file(self) -> PurePosixPath:
        return PurePosixPath(self.config.lib_dir) / ENDPOINT_FILE

    def known_endpoint(self) -> IPv4Address | None:
        """The endpoint wire last found, or None when there is none yet (or it is unreadable)."""
        text = (self.root.read_text(self.endpoint_file) or "").strip()
        if not text:
            return None
        try:
            return parse_endpoint(text)
        except WaagentError as exc:
            log.warning("%s: %s; ignoring it", self.endpoint_file, exc.message)
            return None

    def rules(self, endpoint: IPv4Address) -> WireRules:
        return WireRules(endpoint=endpoint, uids=allowed_uids(self.root))

    def _show(self, seen: Seen, endpoint: IPv4Address | None) -> None:
        self._update(
            firewall_state=seen.found.state,
            backend=seen.backend,
            endpoint=str(endpoint or ""),
            last_error="",
        )

    def _failed(self, exc: WaagentError | OSError) -> WaagentError:
        error = from_os_error(exc) if isinstance(exc, OSError) else exc
        self._update(firewall_state=FirewallState.ERROR, last_error=error.message)
        return error

    def _show_routes(self, record: RoutesRecord) -> None:
        self._update(
            dhcp_lease=record.lease,
            dhcp_routes=list(record.wanted),
            dhcp_routes_added=list(record.added),
            dhcp_routes_failed=list(record.failed),
        )

    async def apply_dhcp_routes(self) -> RoutesRecord:
        """Add the active lease's routes the DHCP client left out (§10.10)."""

        async def work() -> None:
            try:
                self._show_routes(await self.routes.apply())
                # A netd already on the bus (the boot or lease unit runs this in a process of
                # its own) reads the new record, as after a firewall change.
                self.changes.announce()
            except (WaagentError, OSError, ValueError) as exc:
                message = exc.message if isinstance(exc, WaagentError) else str(exc)
                self._update(dhcp_routes_failed=[f"routes not read: {message}"])
                raise Failed(f"DHCP routes: {message}") from None

        await self.jobs.run(work)
        return self.routes.last()

    async def refresh(self) -> None:
        """Read what is in place (for the endpoint wire found) into the status."""
        self._show_routes(self.routes.last())
        endpoint = IPv4Address(self.status.endpoint) if self.status.endpoint else None
        endpoint = endpoint or self.known_endpoint()
        try:
            # Without the lock (a listing is atomic): a start of netd never waits for a boot
            # unit's change, and the change's announcement makes it read again after.
            seen = await self.firewall.inspect(self.rules(endpoint) if endpoint else None)
            self._show(seen, endpoint)
        except (WaagentError, OSError) as exc:
            self._failed(exc)

    async def setup_firewall(self, endpoint: IPv4Address) -> None:
        async def work() -> None:
            try:
                async with self.changes.locked():
                    seen = await self.firewall.apply(self.rules(endpoint))
                    self.changes.announce()
            except (WaagentError, OSError) as exc:
                error = self._failed(exc)
                await self.telemetry.send(
                    FIREWALL, False, f"Unable to set up the firewall rules: {error.message}"
                )
                raise error from None
            self._show(seen, endpoint)
            status = self.status
            await self.telemetry.send(FIREWALL, True, f"The firewall rules for {endpoint} are "
                                      f"{status.firewall_state} ({status.backend})")  # fmt: skip

        await self.jobs.run(work)

    async def remove_firewall(self) -> None:
        async def work() -> None:
            try:
                async with self.changes.locked():
                    seen = await self.firewall.remove()
                    self.changes.announce()
            except (WaagentError, OSError) as exc:
                raise self._failed(exc) from None
            self._show(seen, self.known_endpoint())

        await self.jobs.run(work)

    async def set_rdma_address(self, mac: str, address: str) -> str:
        if self.rdma is None:
            raise NotSupported("RDMA addresses are not handled by this build of netd")
        return await self.rdma.assign(mac, address)

    # ---- hostname publishing ----

    def _last_publication(self) -> Publication:
        text = self.root.read_text(PUBLICATION_FILE)
        try:
            return Publication.model_validate_json(text) if text else Publication()
        except ValueError:
            log.warning("%s is unreadable; ignoring it", PUBLICATION_FILE)
            return Publication()

    def _show_publication(self, publication: Publication) -> None:
        self._update(
            published_hostname=publication.hostname,
            publish_method=publication.method,
            published_at=publication.at,
            publish_error=publication.error,
        )

    def _record(self, publication: Publication) -> None:
        self._show_publication(publication)
        try:
            self.root.makedirs("/run/waagent", 0o755)
            self.root.write_atomic(PUBLICATION_FILE, publication.model_dump_json(), mode=0o644)
        except OSError as exc:
            log.warning("%s not written: %s", PUBLICATION_FILE, exc.strerror or exc)

    async def publish_hostname(self) -> None:
        """Send the current hostname to the DHCP server (publish.py); a failure is also an
        event (HostnamePublishing) and shown in PublishError."""
        publisher = self.publisher
        if publisher is None:
            raise NotSupported("hostname publishing needs the bus")

        async def work() -> None:
            name = socket.gethostname()
            try:
                self._record(await publisher.publish(name))
            except (WaagentError, OSError) as exc:
                error = from_os_error(exc) if isinstance(exc, OSError) else exc
                self._record(Publication(hostname=name, at=now(), error=error.message))
                message = f"Error while publishing the hostname: {error.message}"
                log.error("%s", message)
                await self.telemetry.send(HOSTNAME_PUBLISHING, False, message)
                raise error from None

        await self.publishing.run(work)
