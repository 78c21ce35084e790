"""The network service without the bus: the firewall's status and the changes to it.

The endpoint the rules are made for is the one wire found, as the classic file
`<Lib.Dir>/WireServerEndpoint` gives it (written by root services; wire itself cannot write
there). Changes are jobs, one at a time (common/jobs.py); a failure is FirewallState=error with
its one line in LastError, and the caller gets the error too.
"""

from __future__ import annotations

import logging
from ipaddress import IPv4Address
from pathlib import PurePosixPath

from ..common.config import AgentConfig
from ..common.errors import NotSupported, WaagentError, from_os_error
from ..common.jobs import Jobs, StatusHolder
from ..common.root import Root
from .accounts import allowed_uids
from .firewall import Firewall, Seen
from .models import NetworkStatus
from .rdma_address import RdmaAddress
from .rules import FirewallState, WireRules, parse_endpoint

log = logging.getLogger(__name__)

ENDPOINT_FILE = "WireServerEndpoint"


class NetworkService(StatusHolder[NetworkStatus]):
    def __init__(
        self, config: AgentConfig, root: Root, firewall: Firewall, rdma: RdmaAddress | None = None
    ) -> None:
        super().__init__(NetworkStatus())
        self.rdma = rdma  # the RDMA address (waagent-rdma.service asks for it)
        self.config = config
        self.root = root
        self.firewall = firewall
        self.jobs: Jobs[None] = Jobs("firewall")

    def busy(self) -> bool:
        return self.jobs.busy()

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
                raise self._failed(exc) from None

        await self.jobs.run(work)

    async def remove_firewall(self) -> None:
        async def work() -> None:
            try:
                seen = await self.firewall.remove()
            except (WaagentError, OSError) as exc:
                raise self._failed(exc) from None
            self._show(seen, self.known_endpoint())

        await self.jobs.run(work)

    async def set_rdma_address(self, mac: str, address: str) -> str:
        if self.rdma is None:
            raise NotSupported("RDMA addresses are not handled by this build of netd")
        return await self.rdma.assign(mac, address)
