"""The wire service's logic, as the bus adapter (`bus.py`) and `__main__` see it.

`Wire` knows nothing of D-Bus and holds the pieces together: the connection to the endpoint
(`connection.py`, discovered again after a minute without contact), the last good goal state
(`keeper.py`, fetched by `goal_state.py`), the status blob (`status_upload.py`), telemetry
(`telemetry.py`), log uploads (`log_upload.py`) and the heartbeats (`heartbeats.py`). It polls
the goal state every `Extensions.GoalStatePeriod`, keeps the last good one when the fabric
misbehaves, uploads the status after each poll when it is due, then runs the heartbeats when due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.models.download import DownloadKind
from ..common.models.handover import Handover
from ..common.models.remote_access import RemoteAccess
from ..common.models.status import ExtensionsStatus
from ..common.root import Root
from . import certstore, endpoint, health, log_upload
from .agent_update import AgentUpdate
from .connection import Clients, Connection, Link
from .contact import Contact
from .documents import GoalStateDocument
from .download import BUDGET as DOWNLOAD_BUDGET
from .errors import FabricError, MalformedDocument
from .fast_track import FastTrack, Support
from .goal_state import GoalState, GoalStateFetcher
from .heartbeats import Heartbeats, Periods
from .keeper import GoalStateKeeper
from .provisioning_gate import ProvisioningGate
from .state import FABRIC_UNAVAILABLE, GOAL_STATE_ERROR, READY, StateFiles
from .status_upload import StatusUploader
from .telemetry import Telemetry

__all__ = ["Callbacks", "Clients", "Wire"]

log = logging.getLogger(__name__)

REDISCOVER_AFTER = 60.0  # seconds of failed contact before looking for the endpoint again


@dataclass
class Callbacks:
    properties_changed: Callable[[], None] = lambda: None
    goal_state_changed: Callable[[str, str], None] = lambda incarnation, egs_id: None
    # Hand the new extensions goal state to extd (which may need bus activation): returns at once.
    extensions_changed: Callable[[], None] = lambda: None
    # A new incarnation naming ExtensionsConfig is being fetched: extd may start now, so that
    # its bus activation overlaps the documents' fetch (certificates decrypted included).
    extensions_coming: Callable[[], None] = lambda: None
    # A new incarnation's JIT users for the provisioner (None: no RemoteAccess document).
    remote_access_changed: Callable[[str, RemoteAccess | None], None] = lambda inc, doc: None


class Wire:
    def __init__(
        self,
        root: Root,
        config: AgentConfig,
        clients: Clients,
        runner: CommandRunner,
        *,
        callbacks: Callbacks | None = None,
        files: StateFiles | None = None,
        environ: dict[str, str] | None = None,
        route_table: Path = endpoint.ROUTE_TABLE,
        download_budget: float = DOWNLOAD_BUDGET,
        heartbeat_periods: Periods | None = None,
        provisioning: ProvisioningGate | None = None,
    ) -> None:
        self.root, self.config = root, config
        self.callbacks, self.files = callbacks or Callbacks(), files or StateFiles(root)
        self.contact = Contact(self.callbacks.properties_changed)
        self.observable = self.contact.observable
        self.secrets = certstore.SecretsHelper(
            runner, root, self.files.directory, config.os_openssl_path
        )
        self.transport_header = ""
        fetcher = GoalStateFetcher(
            lambda: self.connection,
            self.secrets,
            self.files,
            root,
            transport_header=lambda: self.transport_header,
            on_contact=self.contact.touched,
        )
        self.fast_track = FastTrack(
            self.files,
            lambda: self.connection.hostplugin,
            enabled=config.debug_enable_fast_track,
            report=lambda event: self.telemetry.send([event]),
            announce=lambda support: self.contact.set(fast_track=support),
        )
        self.goal_state = GoalStateKeeper(
            fetcher,
            self.files,
            root,
            self.contact,
            committed=self._committed,
            fetching=self._fetching,
            fast_track=self.fast_track,
        )
        self.agent_update = AgentUpdate(config)
        self.telemetry = Telemetry(
            root, lambda: self.connection.wireserver, lambda: self.goal_state.summary
        )
        self.heartbeats = Heartbeats(
            lambda: self.connection,
            self.telemetry.send,
            lambda: self.agent_update.mode(self.goal_state.extensions),
            periods=heartbeat_periods,
        )
        self.status = StatusUploader(
            root,
            self.files,
            lambda: self.connection,
            refresh_period=config.status_refresh_period,
            refresh_container=self.refresh,
            failed=lambda exc: self.contact.failed(exc, READY),
            fast_track=lambda: self.fast_track.support == Support.SUPPORTED,
            update_status=lambda: self.agent_update.status(self.goal_state.extensions),
            host_plugin_outcome=self.heartbeats.host_plugin_status,
        )
        # IOErrors are classed by destination: the WireServer's address is the current one.
        clients.fabric.io_errors.endpoint = lambda: self.connection.address
        self.link = Link(
            root,
            config,
            clients,
            self.files,
            self.contact,
            identity=self.goal_state.container_identity,
            refresh_container=self.refresh,
            route_table=route_table,
            download_budget=download_budget,
            environ=environ,
        )
        # None: extensions are handed over without waiting for provisioning (unit tests).
        self.provisioning = provisioning
        self._wake = asyncio.Event()
        self._extensions_told = False

    @property
    def connection(self) -> Connection:
        return self.link.current

    async def start(self) -> None:
        """Re-detect the endpoint and make a new transport certificate, like every classic start."""
        self.files.prepare()
        self.files.clear_protocol()
        self.link.discover()
        await self.secrets.run("transport")
        self.transport_header = certstore.transport_header(self.root, self.files.directory)
        self.goal_state.load()
        self.status.load()

    def _committed(self, goal_state: GoalState, new_extensions: bool) -> None:
        self.status.dirty = True
        self.callbacks.goal_state_changed(
            goal_state.response.doc.incarnation, goal_state.extensions.id
        )
        if new_extensions:
            self._tell_extensions()
        self.callbacks.remote_access_changed(
            goal_state.response.doc.incarnation, goal_state.remote_access
        )

    def _fetching(self, doc: GoalStateDocument) -> None:
        gate = self.provisioning
        if doc.extensions_config_url and (gate is None or gate.is_open()):
            self.callbacks.extensions_coming()

    def _tell_extensions(self) -> None:
        self._extensions_told = True
        self.callbacks.extensions_changed()

    @property
    def told_extensions(self) -> bool:
        return self._extensions_told

    def extensions_told(self) -> None:
        """extd was told about the cached goal state this boot already (an earlier wire did)."""
        self._extensions_told = True

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the goal state (the documents only for a new incarnation); True if new."""
        return await self.goal_state.refresh(force=force)

    # ---- the loop ---------------------------------------------------------------------------

    async def poll_once(self) -> None:
        """One iteration: the goal state, then the status (reported even when the first failed)."""
        try:
            await self.refresh()
        except FabricError as exc:
            self.heartbeats.goal_state_failed()
            unreachable = not isinstance(exc, MalformedDocument)
            self.contact.failed(exc, FABRIC_UNAVAILABLE if unreachable else GOAL_STATE_ERROR)
            problem = self.contact.problem
            if unreachable and time.monotonic() - problem.since > REDISCOVER_AFTER:
                self.link.discover()
                problem.since = time.monotonic()
        else:
            self.contact.recovered()
            held = self.goal_state.held is not None
            if not self._extensions_told and self.goal_state.extensions is not None and not held:
                # Once per start, as the classic agent re-ran enable on every agent start (a
                # reboot): the cached goal state counts as new for extd the first time.
                self._tell_extensions()
        await self.report_status()

    async def run(self) -> None:
        try:
            while True:
                await self.poll_once()
                self.heartbeats.tick()  # on this loop's wake-ups: no timer of their own
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.extensions_goal_state_period):
                        await self._wake.wait()
        finally:
            self.heartbeats.stop()

    def wake(self) -> None:
        self._wake.set()

    # ---- what the other services ask for ----------------------------------------------------

    def _held(self, handover: Handover | None) -> bool:
        """Extensions wait until provisioning is done (`provisioning_gate.py`)."""
        gate = self.provisioning
        return bool(handover and handover.extensions.plugins and gate and not gate.is_open())

    def handover(self) -> Handover | None:
        """What extd gets for the current extensions goal state now (None: nothing yet)."""
        handover = self.goal_state.handover()
        return None if self._held(handover) else handover

    async def next_handover(self) -> Handover | None:
        """The hand-over to send extd, once provisioning allows it (the newest by then)."""
        if self._held(self.goal_state.handover()):
            assert self.provisioning is not None
            await self.provisioning.wait()
        return self.goal_state.handover()

    async def report_health(self, state: str, substatus: str, description: str) -> None:
        if self.provisioning is not None:
            self.provisioning.health_reported(state, substatus)
        await health.report(
            self.goal_state, self.connection.wireserver, state, substatus, description
        )

    async def report_status(self, *, force: bool = False) -> bool:
        extensions = self.goal_state.extensions
        blob = extensions.status_upload_blob if extensions else None
        return await self.status.upload(blob, force=force)

    async def set_extensions_status(self, status: ExtensionsStatus) -> None:
        self.status.set_extensions_status(status)
        await self.report_status(force=True)

    async def download(self, uris: Sequence[str], kind: DownloadKind) -> int:
        extensions = self.goal_state.extensions
        fast_track = extensions is not None and extensions.source == "FastTrack"
        return await self.connection.downloader.download(uris, kind, fast_track=fast_track)

    async def upload_logs(self, fd: int) -> int:
        return await log_upload.upload_logs(
            self.connection.hostplugin, fd, self.refresh, lambda e: self.telemetry.send([e])
        )

    async def instance_metadata(self) -> str:
        return await self.connection.imds.instance()
