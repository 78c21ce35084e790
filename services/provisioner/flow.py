"""Provisioning in the classic order (reference §6.3), for Provisioning.Agent auto, waagent,
cloud-init and disabled.

A run reads the source (the DVD, else IMDS), then validates everything (names, paths, keys,
certificates, custom data, the password hash) before it changes anything: bad input fails the
run with a clear reason and nothing half-done. Then each step applies one thing, idempotently:
a run killed at any point and started again finishes the job exactly once (a user is created
only if missing, a key or sudoers line added only if absent, custom data executed once). The
`provisioned` marker is written last, atomically; the Ready report follows it and is repeated
by the next start if it did not get through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from ..common import logs
from ..common.classic_files import ClassicFiles
from ..common.config import AgentConfig
from ..common.errors import Busy, Failed, WaagentError, from_os_error
from ..common.models.goal_state import Certificate
from ..common.root import Root
from . import imds, instance_id, ovf, password
from .custom_data import CustomData
from .deprovision import Deprovisioner
from .home_files import HomeFiles
from .host_keys import HostKeys
from .hostname import DHCLIENT_CONFS, Hostname, validate_hostname
from .media import MediaReader, NoMedia
from .models import ProvisioningData, Record, State, Status, StepTime
from .peers import Units, Wire
from .ssh_keys import KeyPlan, SshKeys
from .sshd_config import SshdConfig, settings
from .state import BOOT_NOTE, StateStore
from .sudoers import Sudoers
from .users import Users

log = logging.getLogger(__name__)

T = TypeVar("T")
Listener = Callable[[Status, Status], None]
StepListener = Callable[[str], None]

SSHD_UNITS = ("ssh.service", "sshd.service")
CLOUD_INIT_UNIT = "cloud-init-local.service"
CLOUD_INIT_DISABLED = "/etc/cloud/cloud-init.disabled"
CLOUD_INIT_ENABLED_ERROR = (
    "cloud-init appears to be installed and enabled, this is not expected, cannot continue"
)
UNEXPECTED = "unexpected error; the service log has details"


@dataclass(frozen=True)
class CloudInitWaits:
    """How long the cloud-init handler waits for cloud-init's results (classic: 1800 x 1 s)."""

    ovf_env: float = 1800.0
    host_key: float = 1800.0
    poll: float = 1.0


@dataclass
class Parts:
    """The logic the provisioner drives, each working against the same root."""

    store: StateStore
    media: MediaReader
    users: Users
    sudoers: Sudoers
    sshd: SshdConfig
    keys: SshKeys
    hostname: Hostname
    custom_data: CustomData
    host_keys: HostKeys
    deprovisioner: Deprovisioner
    certificates: ClassicFiles


@dataclass(frozen=True)
class Plan:
    """A validated provisioning: what every step will do."""

    data: ProvisioningData
    home: PurePosixPath
    keys: KeyPlan
    certificates: tuple[Certificate, ...]
    custom_data: bytes | None
    password_hash: str | None


@dataclass
class _Run:
    steps: list[StepTime] = field(default_factory=list)


def _now_us() -> int:
    return int(time.time() * 1_000_000)


class Provisioner:
    def __init__(
        self,
        config: AgentConfig,
        root: Root,
        parts: Parts,
        *,
        wire: Wire,
        units: Units,
        sysfs_root: Path,
        waits: CloudInitWaits | None = None,
    ) -> None:
        self.config = config
        self.root = root
        self.parts = parts
        self.wire = wire
        self.units = units
        self.sysfs_root = sysfs_root
        self.waits = waits or CloudInitWaits()
        self.status = Status()
        self.listeners: list[Listener] = []
        self.step_listeners: list[StepListener] = []
        self._lock = asyncio.Lock()
        self._job: asyncio.Future[None] | None = None
        self._run = _Run()
        # How the run under way ended (shown once it is over).
        self._outcome: Status | None = None
        # A health report on its way while the steps run.
        self._pending: asyncio.Future[bool] | None = None

    # ---- status ----

    def busy(self) -> bool:
        return self._lock.locked() or (self._job is not None and not self._job.done())

    def _show(self, status: Status, **changes: Any) -> None:
        self._update(**{**status.model_dump(), **changes})

    def _update(self, **changes: Any) -> None:
        old = self.status
        new = old.model_copy(update=changes)
        if new == old:
            return
        self.status = new
        for listener in self.listeners:
            listener(old, new)

    def _already_provisioned(self) -> bool:
        marker = self.parts.store.marker()
        return marker is not None and instance_id.same(marker, instance_id.read(self.sysfs_root))

    def written_dirs(self) -> list[str]:
        """The directories this service writes files to atomically."""
        config = self.config
        shadow_dir = str(PurePosixPath(config.os_password_path).parent)
        fixed = ["/etc", *(str(PurePosixPath(p).parent) for p in DHCLIENT_CONFS)]
        dirs = [*fixed, shadow_dir, config.os_ssh_dir, config.os_sudoers_dir, config.lib_dir]
        return list(dict.fromkeys([*dirs, str(BOOT_NOTE.parent)]))

    def prepare(self) -> None:
        """At service start: show the recorded state, and provision when this boot has not
        run yet (a run killed half-way left no note, so it is finished now)."""
        # A kill -9 mid-write leaves a temporary file; ours are named and locked so that only
        # those of dead writers go (wire writes to Lib.Dir at the same time).
        self.root.remove_stale_temps(self.written_dirs())
        record = self.parts.store.load()
        if self._already_provisioned():
            self._show(record.status, state=State.PROVISIONED, failure_reason="")
        elif record.status.state == State.FAILED:
            self._show(record.status)
        else:
            self._show(record.status, state=State.NOT_PROVISIONED)
        if self.parts.store.boot_outcome() is None:
            if self.status.state != State.PROVISIONED:
                self._update(state=State.PROVISIONING, failure_reason="")
            self._job = self._start()

    # ---- jobs ----

    def _start(self) -> asyncio.Future[None]:
        job = asyncio.ensure_future(self._locked_run())
        job.add_done_callback(_retrieve)
        return job

    async def provision(self) -> Status:
        """Run provisioning now (joining a run under way); Failed with the reason on failure."""
        if self._job is None or self._job.done():
            self._job = self._start()
        await asyncio.shield(self._job)
        if self.status.state == State.FAILED:
            raise Failed(f"provisioning failed: {self.status.failure_reason}")
        return self.status

    async def wait(self) -> None:
        """Return once no run is under way (the outcome is in `status`)."""
        if self._job is not None:
            await asyncio.wait([self._job])

    def plan_deprovision(self, delete_user: bool) -> list[str]:
        return list(self.parts.deprovisioner.plan(delete_user).warnings)

    async def deprovision(self, delete_user: bool) -> None:
        if self.busy():
            raise Busy("provisioning or deprovisioning is running; try again when it is done")
        async with self._lock:
            plan = self.parts.deprovisioner.plan(delete_user)
            try:
                await self.parts.deprovisioner.run(plan)
            finally:
                self._show(Status(last_run=_now_us()))

    async def _locked_run(self) -> None:
        async with self._lock:
            self._run = _Run()
            self._outcome = None
            self._pending = None
            try:
                await self._dispatch()
            except WaagentError as exc:
                await self._fail(exc.message)
            except OSError as exc:
                await self._fail(from_os_error(exc).message)
            except Exception:
                log.exception("provisioning failed unexpectedly")
                await self._fail(UNEXPECTED)
            self.parts.store.note_boot("ran")
        # Shown once the run is over, so whoever sees Provisioned or Failed may call at once.
        outcome = self._run_outcome()
        if outcome is not None:
            self._show(outcome)

    def _run_outcome(self) -> Status | None:
        """How the run ended (set by _finish or _fail), None if it ended some other way."""
        return self._outcome

    async def _dispatch(self) -> None:
        agent = self.config.provisioning_agent
        if agent == "disabled":
            await self._disabled()
        elif agent == "cloud-init" or (agent == "auto" and await self._cloud_init_enabled()):
            await self._cloud_init()
        else:
            await self._waagent()

    # ---- steps ----

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[None]:
        for listener in self.step_listeners:
            listener(name)
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self._run.steps.append(StepTime(name=name, seconds=round(seconds, 6)))
        log.info("step %s done in %.3f s", name, seconds)

    async def _send(self, state: str, substatus: str, description: str) -> bool:
        """Report health through wire; a failure is logged, never raised (as classic)."""
        try:
            await self.wire.report_health(state, substatus, description)
        except WaagentError as exc:
            log.warning("cannot report %s %s: %s", state, substatus, exc.message)
            return False
        return True

    def _report_soon(self, state: str, substatus: str = "", description: str = "") -> None:
        """Report while the steps go on (wire may first fetch the goal state); the next report
        waits for this one, so the fabric sees them in order."""
        self._pending = asyncio.ensure_future(self._send(state, substatus, description))

    async def _report(self, state: str, substatus: str = "", description: str = "") -> bool:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending
        return await self._send(state, substatus, description)

    def _save(self, **changes: Any) -> Record:
        """The record, with the status as shown (or as given) and this run's step times."""
        changes.setdefault("status", self.status)
        record = self.parts.store.load().model_copy(
            update={"steps": tuple(self._run.steps), **changes}
        )
        self.parts.store.save(record)
        return record

    def _ended(self, state: State, reason: str = "") -> Status:
        self._outcome = self.status.model_copy(
            update={"state": state, "failure_reason": reason, "last_run": _now_us()}
        )
        return self._outcome

    async def _fail(self, reason: str) -> None:
        log.error("Provisioning failed: %s", reason)
        self._save(status=self._ended(State.FAILED, reason))
        await self._report("NotReady", "ProvisioningFailed", reason)

    async def _finish(self) -> None:
        """Provisioned: record it, report Ready, remember whether the report got through."""
        status = self._ended(State.PROVISIONED)
        self._save(status=status, ready_reported=False)
        with self._step("report ready"):
            reported = await self._report("Ready")
        self._save(status=status, ready_reported=reported)

    async def _after_marker(self) -> bool:
        """True when the marker says this VM is done: the Ready report is repeated if the last
        run could not send it; a marker of another instance id cleans the old VM's state."""
        store = self.parts.store
        marker = store.marker()
        if marker is None:
            return False
        current = instance_id.read(self.sysfs_root)
        record = store.load()
        if instance_id.same(marker, current):
            log.info("already provisioned (instance id %s)", current)
            self._show(record.status, state=self.status.state)
            if record.ready_reported:
                # Nothing was done: LastRun stays the run that provisioned.
                self._outcome = self.status.model_copy(
                    update={"state": State.PROVISIONED, "failure_reason": ""}
                )
            else:
                await self._finish()
            return True
        self.parts.deprovisioner.unique_id_changed()
        store.write_marker(current)
        await self._finish()
        return True

    async def _disabled(self) -> None:
        """Provisioning.Agent=disabled: the marker and Ready, nothing else."""
        log.info("provisioning is disabled (Provisioning.Agent=disabled)")
        self.parts.store.write_marker(instance_id.read(self.sysfs_root))
        await self._finish()

    async def _cloud_init_enabled(self) -> bool:
        if self.root.exists(CLOUD_INIT_DISABLED):
            return False
        enabled = await self.units.enabled(CLOUD_INIT_UNIT)
        return self._cloud_init_wanted() if enabled is None else enabled

    def _cloud_init_wanted(self) -> bool:
        """Without systemd on the bus: an enablement symlink in the root (its target may lie
        outside a sandbox, so lexists, not exists)."""
        wants = self.root.glob("/etc/systemd/system", "*.wants")
        return any(os.path.lexists(directory / CLOUD_INIT_UNIT) for directory in wants)

    async def _cloud_init(self) -> None:
        """cloud-init provisions; this waits for its results, then reports (§6.3)."""
        if await self._after_marker():
            return
        self._update(state=State.PROVISIONING, failure_reason="")
        with self._step("wait for cloud-init's ovf-env.xml"):
            raw = await self._wait_for(self._saved_ovf, self.waits.ovf_env, "ovf-env.xml")
        data = ovf.parse(raw)
        self._update(user=data.username, source=data.source)
        if data.agent_disabled:
            self.parts.store.disable_agent()
        await self._report("NotReady", "Provisioning", "Starting")
        with self._step("wait for the SSH host key"):
            await self._wait_for(self._host_key_ready, self.waits.host_key, "the SSH host key")
        self.parts.store.write_marker(instance_id.read(self.sysfs_root))
        await self._finish()

    async def _saved_ovf(self) -> bytes | None:
        return self.parts.store.saved_ovf()

    async def _host_key_ready(self) -> bool:
        try:
            await self.parts.host_keys.fingerprint()
        except WaagentError:
            return False
        return True

    async def _wait_for(
        self, probe: Callable[[], Awaitable[T | None]], timeout: float, what: str
    ) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = await probe()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise Failed(f"cloud-init did not provide {what} within {timeout:g} s")
            await asyncio.sleep(self.waits.poll)

    async def _waagent(self) -> None:
        if await self._after_marker():
            return
        if await self._cloud_init_enabled():
            raise Failed(CLOUD_INIT_ENABLED_ERROR)
        self._update(state=State.PROVISIONING, failure_reason="")
        with self._step("read the provisioning data"):
            data, raw = await self._read_source()
        self._update(user=data.username, source=data.source)
        with self._step("validate"):
            plan = await self._validate(data, raw)
        self._save()
        self._report_soon("NotReady", "Provisioning", "Starting")
        await self._apply(plan)
        await self._finish()

    async def _read_source(self) -> tuple[ProvisioningData, bytes | None]:
        """ovf-env.xml from the DVD; IMDS only when there is no DVD at all."""
        try:
            media = await self.parts.media.read()
        except NoMedia as missing:
            log.info("%s; asking IMDS", missing.message)
            try:
                return imds.parse(await self.wire.instance_metadata()), None
            except WaagentError as exc:
                raise NoMedia(f"{missing.message}; IMDS: {exc.message}") from None
        return ovf.parse(media.data), media.data

    async def _validate(self, data: ProvisioningData, raw: bytes | None) -> Plan:
        """Everything that can be refused is refused here, before the first change."""
        parts = self.parts
        validate_hostname(data.hostname)
        parts.users.check(data.username)
        home = parts.users.home_for(data.username)
        certificates = await self._certificates(parts.keys.fingerprints(data))
        keys = parts.keys.plan(data, home, certificates)
        parts.keys.check(keys, HomeFiles(self.root, home, -1, -1))
        custom = None if data.custom_data is None else parts.custom_data.content(data.custom_data)
        hashed = None
        if data.password is not None:
            secret = data.password.get_secret_value()
            logs.register_secret(secret)
            hashed = password.hash_password(
                secret,
                self.config.provisioning_password_crypt_id,
                self.config.provisioning_password_crypt_salt_length,
            )
        if raw is not None:
            parts.store.save_ovf(ovf.redact(raw))
        return Plan(data, home, keys, tuple(certificates), custom, hashed)

    async def _certificates(self, needed: set[str]) -> list[Certificate]:
        """The tenant certificates, when keys need some; the goal state is fetched again once
        when one is missing (wire may not have fetched it yet)."""
        if not needed:
            return []
        certificates = await self.wire.certificates()
        if needed - {c.thumbprint.upper() for c in certificates}:
            await self.wire.refresh()
            certificates = await self.wire.certificates()
        return certificates

    async def _apply(self, plan: Plan) -> None:
        parts, data, config = self.parts, plan.data, self.config
        with self._step("hostname"):
            await parts.hostname.set(data.hostname)
            parts.hostname.publish(data.hostname)
        with self._step("user"):
            account = await parts.users.ensure(data.username)
        if plan.password_hash is not None:
            with self._step("password"):
                await parts.users.set_password_hash(data.username, plan.password_hash)
        with self._step("sudoers"):
            parts.sudoers.grant(data.username, with_password=plan.password_hash is not None)
        with self._step("sshd settings"):
            parts.sshd.apply(
                settings(
                    disable_password=data.disable_ssh_password_authentication,
                    client_alive_interval=config.os_ssh_client_alive_interval,
                )
            )
        with self._step("ssh keys"):
            if plan.certificates:
                parts.certificates.write_certificates(plan.certificates)
            files = HomeFiles(self.root, account.home, account.uid, account.gid)
            parts.keys.deploy(plan.keys, files)
        if plan.custom_data is not None:
            with self._step("custom data"):
                await self._custom_data(plan.custom_data)
        if config.provisioning_delete_root_password:
            with self._step("root password"):
                parts.users.lock_root_password()
        with self._step("ssh host keys"):
            if config.provisioning_regenerate_ssh_host_key_pair:
                await parts.host_keys.regenerate(f"root@{data.hostname}")
            await parts.host_keys.fingerprint()
        with self._step("restart sshd"):
            restarted = await self.units.try_restart(SSHD_UNITS)
            if restarted is False:
                log.info("sshd not restarted: systemd is not on the bus")
        if data.agent_disabled:
            parts.store.disable_agent()
        with self._step("marker"):
            parts.store.write_marker(instance_id.read(self.sysfs_root))

    async def _custom_data(self, content: bytes) -> None:
        custom = self.parts.custom_data
        custom.save(content)
        if custom.execute and not self.parts.store.load().custom_data_executed:
            await custom.run()
            self._save(custom_data_executed=True)


def _retrieve(job: asyncio.Future[None]) -> None:
    """The outcome is in the status (or the log); do not warn that nobody read it."""
    if not job.cancelled():
        job.exception()
