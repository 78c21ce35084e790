"""The network service without the bus: the firewall's status and the changes to it.

The endpoint the rules are made for is the one wire found, as the classic file
`<Lib.Dir>/WireServerEndpoint` gives it (written by root services; wire itself cannot write
there). Changes are jobs, one at a time (common/jobs.py); a failure is FirewallState=error with
its one line in LastError, and the caller gets the error too.
"""

from __future__ import annotations

import logging
import socket
from ipaddress import IPv4Address
from pathlib import PurePosixPath

from ..common.config import AgentConfig
from ..common.errors import NotSupported, WaagentError, from_os_error
from ..common.jobs import Jobs, StatusHolder
from ..common.root import Root
from .accounts import allowed_uids
from .firewall import Firewall, Seen
from .models import NetworkStatus
from .publish import Publication, Publisher, now
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
        publisher: Publisher | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(NetworkStatus())
        self.config = config
        self.root = root
        self.firewall = firewall
        self.publisher = publisher
        self.telemetry = telemetry or Telemetry(None)
        self.jobs: Jobs[None] = Jobs("firewall")
        self.publishing: Jobs[None] = Jobs("hostname publishing")
        self._show_publication(self._last_publication())

    def busy(self) -> bool:
        return self.jobs.busy() or self.publishing.busy()

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

    async def refresh(self) -> None:
        """Read what is in place (for the endpoint wire found) into the status."""
        endpoint = IPv4Address(self.status.endpoint) if self.status.endpoint else None
        endpoint = endpoint or self.known_endpoint()
        try:
            self._show(
                await self.firewall.inspect(self.rules(endpoint) if endpoint else None), endpoint
            )
        except (WaagentError, OSError) as exc:
            self._failed(exc)

    async def setup_firewall(self, endpoint: IPv4Address) -> None:
        async def work() -> None:
            try:
                self._show(await self.firewall.apply(self.rules(endpoint)), endpoint)
            except (WaagentError, OSError) as exc:
                error = self._failed(exc)
                await self.telemetry.send(
                    FIREWALL, False, f"Unable to set up the firewall rules: {error.message}"
                )
                raise error from None
            status = self.status
            await self.telemetry.send(FIREWALL, True, f"The firewall rules for {endpoint} are "
                                      f"{status.firewall_state} ({status.backend})")  # fmt: skip

        await self.jobs.run(work)

    async def remove_firewall(self) -> None:
        async def work() -> None:
            try:
                seen = await self.firewall.remove()
            except (WaagentError, OSError) as exc:
                raise self._failed(exc) from None
            self._show(seen, self.known_endpoint())

        await self.jobs.run(work)

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
