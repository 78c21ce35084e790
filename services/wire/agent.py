"""The wire service's logic: endpoint, goal state, certificates, reports, downloads.

`Wire` knows nothing of D-Bus: the adapter (`bus.py`) calls its methods and listens to its
callbacks. It polls the goal state every `Extensions.GoalStatePeriod` with one cheap request,
fetches the documents only when the incarnation changes, keeps the last good goal state when the
fabric misbehaves, and uploads the status blob (HostGAPlugin first, then storage directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import TypeAdapter

from .. import AGENT_NAME, AGENT_VERSION
from ..common.cmdenv import BASE_ENV
from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.errors import InvalidArgs
from ..common.logs import redact
from ..common.models.events import TelemetryEvent
from ..common.models.extensions import ExtensionsGoalState, redact_settings_text
from ..common.models.goal_state import Certificate, CertificateSummary, GoalStateSummary
from ..common.models.status import (
    AggregateStatus,
    ExtensionsStatus,
    GuestAgentStatus,
    SupportedFeature,
    VMStatus,
)
from ..common.root import Root
from ..common.selfexec import module_command
from . import certstore, documents, endpoint, osinfo, reports, xmldoc
from .download import BUDGET as DOWNLOAD_BUDGET
from .download import Downloader, Kind
from .errors import FabricError, InvalidContainer, MalformedDocument, ResourceGone
from .history import History
from .hostplugin import ContainerIdentity, HostPlugin
from .http import FabricHttp
from .imds import Imds
from .state import (
    FABRIC_UNAVAILABLE,
    GOAL_STATE_ERROR,
    READY,
    GoalStateCache,
    Observable,
    StateFiles,
)
from .storage import Storage
from .wireserver import WireServer

log = logging.getLogger(__name__)

_SUMMARIES = TypeAdapter(tuple[CertificateSummary, ...])
SECRETS_TIMEOUT = 60.0
MAX_LOG_BUNDLE = 100 << 20  # the classic collector caps the uncompressed total at 150 MiB
ROLE_INSTANCE_RETRIES = 6
ROLE_INSTANCE_DELAY = 0.5
REDISCOVER_AFTER = 60.0  # seconds of failed contact before looking for the endpoint again
TELEMETRY_FLUSH_DELAY = 5.0
TELEMETRY_FLUSH_COUNT = 30


def read_bounded(fd: int, limit: int) -> bytes:
    """All of a descriptor from its start (the caller keeps ownership), refusing more than limit."""
    chunks = []
    size = 0
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        size += len(chunk)
        offset += len(chunk)
        if size > limit:
            raise InvalidArgs(f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _utc_stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Clients:
    """How wire reaches the network: injected, so tests can give other transports."""

    fabric: FabricHttp
    storage_for_proxy: Callable[[str | None], FabricHttp]


@dataclass
class Callbacks:
    properties_changed: Callable[[dict[str, object]], None] = lambda changes: None
    goal_state_changed: Callable[[str, str], None] = lambda incarnation, egs_id: None
    # Ask extd to process the new extensions goal state (it may need bus activation).
    extensions_changed: Callable[[], Awaitable[None]] | None = None


@dataclass
class _Problem:
    """The last failure, so each distinct problem is logged once (no log flood)."""

    text: str = ""
    since: float = 0.0
    failures: int = 0


@dataclass
class _Telemetry:
    queue: list[TelemetryEvent] = field(default_factory=list)
    flush: asyncio.TimerHandle | None = None


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
    ) -> None:
        self.root = root
        self.config = config
        self.clients = clients
        self.runner = runner
        self.callbacks = callbacks or Callbacks()
        self.files = files or StateFiles(root)
        self.environ = environ if environ is not None else dict(os.environ)
        self.route_table = route_table
        self.download_budget = download_budget
        self.observable = Observable()
        self.history = History(root, self.files.path("history"))
        self.transport_header = ""
        self.summary: GoalStateSummary | None = None
        self.extensions: ExtensionsGoalState | None = None
        self.certs: list[Certificate] = []
        self.extensions_status: ExtensionsStatus | None = None
        self._doc: documents.GoalStateDocument | None = None
        self._raw_goal_state = b""
        self._refresh_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._problem = _Problem()
        self._telemetry = _Telemetry()
        self._tasks: set[asyncio.Future[object]] = set()
        self._status_uploaded_at: float | None = None
        self._status_dirty = True  # something in the status changed since the last upload
        self._protocol_checked = False
        self._extensions_told = False
        self._connect(endpoint.KNOWN_WIRESERVER)

    # ---- set-up ------------------------------------------------------------------------------

    def _connect(self, address: str) -> None:
        self.wireserver = WireServer(self.clients.fabric, address)
        self.hostplugin = HostPlugin(self.clients.fabric, address, self._container_identity)
        self.storage = Storage(
            self.clients.storage_for_proxy,
            proxy_host=self.config.http_proxy_host,
            proxy_port=self.config.http_proxy_port,
            environ=self.environ,
        )
        self.downloader = Downloader(
            self.storage,
            self.hostplugin,
            self.refresh_container,
            self.root.resolve(self.files.path("downloads")),
            budget=self.download_budget,
        )
        self.imds = Imds(self.clients.fabric, self.config.protocol_imds_endpoint)
        self._set(endpoint=address)

    async def start(self) -> None:
        """Re-detect the endpoint and make a new transport certificate, like every classic start."""
        self.files.prepare()
        self.files.clear_protocol()
        self._discover()
        await self._secrets("transport")
        self.transport_header = certstore.transport_header(self.root, self.files.directory)
        cache = self.files.load_cache()
        if cache is not None:
            self.summary, self.extensions = cache.summary, cache.extensions
            self.certs = certstore.load_stored(
                self.root, self.files.directory, cache.summary.certificates
            )
            self._set(
                incarnation=cache.summary.incarnation,
                container_id=cache.summary.container_id,
                role_instance_id=cache.summary.role_instance_id,
            )
        self.extensions_status = self.files.load_extensions_status()

    def _discover(self) -> None:
        found = endpoint.discover(
            self.root,
            method=self.config.protocol_endpoint_discovery,
            route_table_path=self.route_table,
        )
        if found.endpoint != self.observable.endpoint or not self.files.read("WireServerEndpoint"):
            log.info("WireServer endpoint %s (from %s)", found.endpoint, found.source)
            self._connect(found.endpoint)
            self.files.save_protocol(found.endpoint)
            self._protocol_checked = False

    # ---- observable state -------------------------------------------------------------------

    def _set(self, **values: object) -> None:
        self.observable.update(**values)
        if self.observable.changes:
            self.callbacks.properties_changed(self.observable.take_changes())

    def _contact(self) -> None:
        # Not announced with PropertiesChanged: it moves on every poll, and a signal every few
        # seconds would cost every listener (and wire) for nothing. Read it when needed.
        self.observable.last_contact = int(time.time() * 1_000_000)

    def _recovered(self) -> None:
        if self._problem.text:
            log.info("fabric reachable again after %d failed attempt(s)", self._problem.failures)
        self._problem = _Problem()
        self._set(state=READY, last_error="")

    def _failed(self, exc: Exception, state: str) -> None:
        text = redact(str(exc))  # LastError is readable by anyone
        if text != self._problem.text:
            log.warning("%s", text)
            self._problem = _Problem(text, time.monotonic(), 0)
        self._problem.failures += 1
        self._set(state=state, last_error=text)

    def _container_identity(self) -> ContainerIdentity:
        doc = self._doc
        summary = self.summary
        container = doc.container_id if doc else (summary.container_id if summary else "")
        config_name = doc.role_config_name if doc else (summary.role_config_name if summary else "")
        return ContainerIdentity(container, config_name, config_name.split(".", 1)[0])

    # ---- the goal state ---------------------------------------------------------------------

    async def _check_protocol(self) -> None:
        if not self._protocol_checked:
            if not documents.supports_protocol(await self.wireserver.versions()):
                raise MalformedDocument(
                    f"the WireServer does not support protocol {documents.WIRE_PROTOCOL_VERSION}"
                )
            self._protocol_checked = True

    async def _fetch_goal_state_document(self) -> tuple[bytes, documents.GoalStateDocument]:
        for attempt in range(1, ROLE_INSTANCE_RETRIES + 1):
            raw = await self.wireserver.goal_state()
            try:
                return raw, documents.parse_goal_state(raw)
            except documents.MissingRoleInstance:
                if attempt == ROLE_INSTANCE_RETRIES:
                    raise
                await asyncio.sleep(ROLE_INSTANCE_DELAY)
        raise AssertionError("unreachable")

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the goal state; the documents only when the incarnation changed. True if new.

        The goal-state bytes count as seen only once everything they name has been fetched, so
        a failure half-way is tried again on the next poll. A document that is gone (410: the
        goal state moved on meanwhile) makes it start over once with a fresh goal state.
        """
        async with self._refresh_lock:
            await self._check_protocol()
            for attempt in (1, 2):
                raw = await self.wireserver.goal_state()
                self._contact()
                if raw == self._raw_goal_state and not force:
                    return False  # the cheap path: unchanged bytes, nothing parsed
                doc = await self._parse_goal_state(raw)
                self._doc = doc  # HostGAPlugin headers follow the newest container id
                self._set(container_id=doc.container_id, role_instance_id=doc.role_instance_id)
                previous = self.summary
                same = previous is not None and previous.incarnation == doc.incarnation
                if same and not force:
                    assert previous is not None
                    if previous.container_id != doc.container_id:
                        self._commit(previous.model_copy(update={"container_id": doc.container_id}))
                    self._raw_goal_state = raw
                    return False
                try:
                    await self._fetch_documents(raw, doc)
                except ResourceGone:
                    if attempt == 2:
                        raise
                    log.info(
                        "a document of incarnation %s is gone; fetching the goal state again",
                        doc.incarnation,
                    )
                    continue
                self._raw_goal_state = raw
                return True
            raise AssertionError("unreachable")

    async def _parse_goal_state(self, raw: bytes) -> documents.GoalStateDocument:
        if raw == self._raw_goal_state and self._doc is not None:
            return self._doc
        try:
            return documents.parse_goal_state(raw)
        except documents.MissingRoleInstance:
            _, doc = await self._fetch_goal_state_document()
            return doc

    async def _fetch_documents(self, raw: bytes, doc: documents.GoalStateDocument) -> None:
        """Everything of a new incarnation, committed only once all of it arrived."""
        if doc.extensions_config_url:
            ext_xml = await self.wireserver.document(
                doc.extensions_config_url, "ExtensionsConfig", large=True
            )
            extensions = documents.parse_extensions_config(ext_xml, doc.incarnation)
            extensions = await self._with_on_hold(extensions)
        else:
            ext_xml = b""
            extensions = documents.empty_extensions_goal_state(doc.incarnation)
        hosting = documents.HostingEnvironment("", "", "")
        hosting_xml = b""
        if doc.hosting_env_url:
            hosting_xml = await self.wireserver.document(
                doc.hosting_env_url, "HostingEnvironmentConfig"
            )
            hosting = documents.parse_hosting_environment(hosting_xml)
        shared_xml = b""
        if doc.shared_config_url:
            shared_xml = await self.wireserver.document(doc.shared_config_url, "SharedConfig")
            xmldoc.parse(shared_xml, "SharedConfig")  # well-formed before it is kept
        certs = await self._fetch_certificates(doc)
        summary = GoalStateSummary(
            endpoint=self.observable.endpoint,
            incarnation=doc.incarnation,
            container_id=doc.container_id,
            role_instance_id=doc.role_instance_id,
            role_config_name=doc.role_config_name,
            instance_name=hosting.instance_name,
            role_name=hosting.role_name,
            deployment_name=hosting.deployment_name,
            certificates=tuple(
                CertificateSummary(
                    thumbprint=c.thumbprint, has_private_key=c.private_key_pem is not None
                )
                for c in certs
            ),
            extensions_goal_state_id=extensions.id,
            has_extensions_config=bool(doc.extensions_config_url),
            remote_access_url=doc.remote_access_url,
        )
        # All documents are here: now, and only now, replace what we had.
        old_extensions_id = self.extensions.id if self.extensions else ""
        if shared_xml:
            self.files.write("SharedConfig.xml", shared_xml, mode=0o644)
        self.certs = certs
        self.extensions = extensions
        self._status_dirty = True
        self._commit(summary)
        self._save_history(raw, ext_xml, hosting_xml, shared_xml, summary)
        log.info(
            "goal state: incarnation %s, container %s, %d extension handler(s), %d certificate(s)",
            doc.incarnation,
            doc.container_id,
            len(extensions.plugins),
            len(certs),
        )
        self.callbacks.goal_state_changed(doc.incarnation, extensions.id)
        if extensions.id != old_extensions_id:
            await self._tell_extensions()

    async def _tell_extensions(self) -> None:
        self._extensions_told = True
        if self.callbacks.extensions_changed:
            await self.callbacks.extensions_changed()

    def _commit(self, summary: GoalStateSummary) -> None:
        self.summary = summary
        assert self.extensions is not None
        self.files.save_cache(GoalStateCache(summary=summary, extensions=self.extensions))
        self._set(
            incarnation=summary.incarnation,
            container_id=summary.container_id,
            role_instance_id=summary.role_instance_id,
        )

    async def _fetch_certificates(self, doc: documents.GoalStateDocument) -> list[Certificate]:
        """A failure keeps the certificates we had (the classic agent used an empty list)."""
        if not doc.certificates_url:
            return []
        try:
            document = await self.wireserver.certificates(
                doc.certificates_url, self.transport_header
            )
            self.files.write("Certificates.xml", document)
            output = await self._secrets("certificates", input=document)
            summaries = _SUMMARIES.validate_json(output)
        except FabricError as exc:
            log.error("Cannot download certificates: %s; keeping the previous ones", exc)
            return self.certs
        return certstore.load_stored(self.root, self.files.directory, summaries)

    async def _secrets(self, command: str, input: bytes | None = None) -> bytes:
        """Run the cryptography helper (`waagent.wire.secrets`) in its own short-lived process."""
        argv, env = module_command(
            "waagent.wire.secrets",
            command,
            "--root",
            str(self.root.path),
            "--state-dir",
            str(self.files.directory),
            "--openssl",
            self.config.os_openssl_path,
        )
        result = await self.runner.run(
            argv, timeout=SECRETS_TIMEOUT, input=input, check=False, env={**BASE_ENV, **env}
        )
        if not result.ok:
            raise MalformedDocument(f"{command}: {result.message()}")
        return result.stdout.encode()

    async def _with_on_hold(self, extensions: ExtensionsGoalState) -> ExtensionsGoalState:
        """§9.2: the InVMArtifactsProfile says whether processing is on hold."""
        if not extensions.artifacts_profile_url:
            return extensions
        try:
            fd = await self.downloader.download(
                [extensions.artifacts_profile_url], "artifacts-profile"
            )
            with os.fdopen(fd, "rb") as profile:
                value = json.load(profile).get("onHold", False)
        except (FabricError, ValueError, AttributeError) as exc:
            log.warning("artifacts profile unusable (%s): not on hold", exc)
            return extensions
        on_hold = value if isinstance(value, bool) else str(value).lower() == "true"
        return extensions.model_copy(update={"on_hold": on_hold})

    def _save_history(
        self,
        raw: bytes,
        ext_xml: bytes,
        hosting_xml: bytes,
        shared_xml: bytes,
        summary: GoalStateSummary,
    ) -> None:
        try:
            self.history.begin(summary.incarnation)
        except OSError as exc:
            log.warning("cannot write the goal state history: %s", exc.strerror or exc)
            return
        self.history.save("GoalState.xml", raw)
        if ext_xml:
            # No protected settings (History.save takes out SAS tokens, §2.10 redaction).
            text = redact_settings_text(ext_xml.decode("utf-8", errors="replace"))
            self.history.save("ExtensionsConfig.xml", text)
        if hosting_xml:
            self.history.save("HostingEnvironmentConfig.xml", hosting_xml)
        if shared_xml:
            self.history.save("SharedConfig.xml", shared_xml)
        self.history.save(
            "Certificates.json",
            json.dumps(
                [
                    {"thumbprint": c.thumbprint, "hasPrivateKey": c.has_private_key}
                    for c in summary.certificates
                ]
            ),
        )

    async def refresh_container(self) -> None:
        """HostGAPlugin said our container id is stale: fetch the goal state again."""
        await self.refresh(force=False)

    # ---- the loop ---------------------------------------------------------------------------

    async def poll_once(self) -> None:
        """One iteration: the goal state, then the status (reported even when the first failed)."""
        try:
            await self.refresh()
        except FabricError as exc:
            unreachable = not isinstance(exc, MalformedDocument)
            self._failed(exc, FABRIC_UNAVAILABLE if unreachable else GOAL_STATE_ERROR)
            if unreachable and time.monotonic() - self._problem.since > REDISCOVER_AFTER:
                self._discover()
                self._problem.since = time.monotonic()
        else:
            self._recovered()
            if not self._extensions_told and self.extensions is not None:
                # Once per start, as the classic agent re-ran enable on every agent start (a
                # reboot): the cached goal state counts as new for extd the first time.
                await self._tell_extensions()
        await self.report_status()

    async def run(self) -> None:
        period = self.config.extensions_goal_state_period
        while True:
            await self.poll_once()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._wake.wait()

    def wake(self) -> None:
        self._wake.set()

    # ---- reports ----------------------------------------------------------------------------

    async def report_health(self, state: str, substatus: str, description: str) -> None:
        if self.summary is None:
            await self.refresh(force=True)
        assert self.summary is not None
        document = reports.health_document(
            incarnation=self.summary.incarnation,
            container_id=self.summary.container_id,
            role_instance_id=self.summary.role_instance_id,
            state=state,
            substatus=substatus,
            description=description,
        )
        await self.wireserver.report_health(document)
        log.info("reported health %s%s", state, f"/{substatus}" if substatus else "")

    def vm_status(self) -> VMStatus:
        ext = self.extensions_status or ExtensionsStatus()
        features = [SupportedFeature(key="MultipleExtensionsPerHandler")]
        return VMStatus(
            timestamp_utc=_utc_stamp(),
            aggregate_status=AggregateStatus(
                guest_agent_status=GuestAgentStatus(version=AGENT_VERSION),
                handler_aggregate_status=ext.handler_aggregate_status,
                vm_artifacts_aggregate_status=ext.vm_artifacts_aggregate_status,
            ),
            guest_os_info=osinfo.guest_os_info(self.root),
            supported_features=tuple(features),
        )

    async def set_extensions_status(self, status: ExtensionsStatus) -> None:
        self.extensions_status = status
        self.files.save_extensions_status(status)
        self._status_dirty = True
        await self.report_status(force=True)

    def _status_due(self) -> bool:
        """A change is uploaded at once; an unchanged status is refreshed every period."""
        if self._status_dirty or self._status_uploaded_at is None:
            return True
        elapsed = time.monotonic() - self._status_uploaded_at
        return elapsed >= self.config.status_refresh_period

    async def report_status(self, *, force: bool = False) -> bool:
        """Upload the status blob: HostGAPlugin first, storage directly when that fails (§5.3)."""
        blob = self.extensions.status_upload_blob if self.extensions else None
        if blob is None or not (force or self._status_due()):
            return False
        content = json.dumps(self.vm_status().to_json()).encode()
        try:
            if await self.hostplugin.ensure_available():
                await self.hostplugin.put_status(blob, content)
                self._status_uploaded(content, "HostGAPlugin")
                return True
        except (ResourceGone, InvalidContainer):
            with contextlib.suppress(FabricError):
                await self.refresh_container()
            return False
        except FabricError as exc:
            log.debug("status through HostGAPlugin failed (%s); uploading directly", exc)
        try:
            await self.storage.put_status(blob, content)
        except FabricError as exc:
            if force:
                raise
            self._failed(
                FabricError(f"Failed to upload status blob via either channel: {exc}"), READY
            )
            return False
        self._status_uploaded(content, "direct")
        return True

    def _status_uploaded(self, content: bytes, channel: str) -> None:
        if self._status_uploaded_at is None:
            log.info("status blob uploaded (%s)", channel)
        self._status_uploaded_at = time.monotonic()
        self._status_dirty = False

    # ---- what the other services ask for ----------------------------------------------------

    async def download(self, uris: Sequence[str], kind: Kind) -> int:
        fast_track = bool(self.extensions and self.extensions.source == "FastTrack")
        return await self.downloader.download(uris, kind, fast_track=fast_track)

    async def upload_logs(self, fd: int) -> int:
        """Send a log bundle (a zip, from a descriptor) to the HostGAPlugin; its size."""
        data = read_bounded(fd, MAX_LOG_BUNDLE)
        if not data.startswith(b"PK"):
            raise InvalidArgs("the log bundle is not a zip archive")
        if not await self.hostplugin.ensure_available():
            raise FabricError("HostGAPlugin is not available for the log upload")
        for attempt in (1, 2):
            try:
                await self.hostplugin.put_log(data)
            except (ResourceGone, InvalidContainer):
                if attempt == 2:
                    raise
                await self.refresh_container()
            else:
                break
        log.info("uploaded a log bundle of %d bytes", len(data))
        return len(data)

    async def instance_metadata(self) -> str:
        return await self.imds.instance()

    def certificates_with_keys(self) -> list[Certificate]:
        return list(self.certs)

    def shared_config(self) -> str:
        data = self.files.read("SharedConfig.xml")
        return data.decode("utf-8", errors="replace") if data else ""

    def certificate_summaries(self) -> tuple[CertificateSummary, ...]:
        return self.summary.certificates if self.summary else ()

    def send_events(self, events: Sequence[TelemetryEvent]) -> None:
        """Queue events; they are sent in batches (30 events or 5 seconds, §10.12)."""
        self._telemetry.queue.extend(events)
        loop = asyncio.get_running_loop()
        if len(self._telemetry.queue) >= TELEMETRY_FLUSH_COUNT:
            self._spawn(self.flush_events())
        elif self._telemetry.flush is None:
            self._telemetry.flush = loop.call_later(
                TELEMETRY_FLUSH_DELAY, lambda: self._spawn(self.flush_events())
            )

    def _spawn(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _telemetry_common(self) -> dict[str, object]:
        summary = self.summary
        return {
            "GAVersion": f"{AGENT_NAME}-{AGENT_VERSION}",
            "ContainerId": summary.container_id if summary else "",
            "OpcodeName": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "EventTid": 0,
            "EventPid": os.getpid(),
            "TaskName": "wire",
            "OSVersion": osinfo.telemetry_os_version(self.root),
            "ExecutionMode": "IAAS",
            "RAM": osinfo.memory_mb(),
            "Processors": os.cpu_count() or 1,
            "KeywordName": json.dumps({"CpuArchitecture": os.uname().machine}),
            "TenantName": summary.deployment_name if summary else "",
            "RoleName": summary.role_name if summary else "",
            "RoleInstanceName": summary.role_instance_id if summary else "",
        }

    async def flush_events(self) -> int:
        if self._telemetry.flush is not None:
            self._telemetry.flush.cancel()
            self._telemetry.flush = None
        events, self._telemetry.queue = self._telemetry.queue, []
        sent = 0
        for document, count in reports.telemetry_batches(events, self._telemetry_common()):
            try:
                await self.wireserver.send_telemetry(document)
                sent += count
            except FabricError as exc:
                log.warning("telemetry not sent (%d events dropped): %s", count, exc)
        return sent
