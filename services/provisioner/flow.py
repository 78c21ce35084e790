"""Provisioning in the classic order (reference §6.3), for Provisioning.Agent auto, waagent,
cloud-init and disabled.

A run reads the source (the DVD, else IMDS), then validates everything (names, paths, keys,
certificates, custom data, the password hash) before it changes anything: bad input fails the
run with a clear reason and nothing half-done. Then each step applies one thing, idempotently
(`steps.py`). The `provisioned` marker is written last, atomically; the Ready report follows it
and is repeated by the next start if it did not get through. Runs and deprovisioning are jobs
(common/jobs.py): one at a time, a second Provision joins the run under way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path, PurePosixPath

from ..common.clients.systemd import Units
from ..common.clients.wire import WireApi as Wire
from ..common.config import AgentConfig
from ..common.errors import Busy, Failed, WaagentError, from_os_error
from ..common.jobs import Jobs, StatusHolder
from ..common.models.remote_access import RemoteAccessUpdate
from ..common.root import Root
from . import events, instance_id, ovf
from .cloud_init import CLOUD_INIT_ENABLED_ERROR, CloudInit, CloudInitWaits
from .hostname import DHCLIENT_CONFS
from .kvp_report import KvpReporter
from .models import ProvisioningData, State, Status
from .parts import Parts
from .run import Run, StepListener
from .state import BOOT_NOTE
from .steps import Steps

log = logging.getLogger(__name__)

UNEXPECTED = "unexpected error; the service log has details"
PROVISION = "provision"


def _now_us() -> int:
    return int(time.time() * 1_000_000)


class Provisioner(StatusHolder[Status]):
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
        super().__init__(Status())
        self.config = config
        self.root = root
        self.parts = parts
        self.wire = wire
        self.sysfs_root = sysfs_root
        self.cloud_init = CloudInit(
            root, units, parts.store, parts.host_keys, waits or CloudInitWaits()
        )
        self.steps = Steps(config, root, parts, wire, units, sysfs_root)
        self.kvp = KvpReporter(root, sysfs_root)  # the result for the host, without the network
        self.step_listeners: list[StepListener] = []
        self.jobs: Jobs[None] = Jobs("provisioning")
        self.hostname_jobs: Jobs[str] = Jobs("hostname")
        self._run = self._new_run()
        self._remote_access: RemoteAccessUpdate | None = None  # the newest not yet applied
        # This boot's local work is done (user, keys, sshd settings), or there is none: the unit
        # tells systemd it has started then, and sshd, diskd and rdma start after it, as the
        # classic agent set up the resource disk and RDMA after provisioning.
        self.settled = asyncio.Event()

    # ---- status ----

    def busy(self) -> bool:
        return self.jobs.busy() or self.hostname_jobs.busy()

    def _show(self, status: Status, **changes: object) -> None:
        self._update(**{**status.model_dump(), **changes})

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
        self._update(remote_access_users=self.parts.jit.shown())
        if self.parts.store.boot_outcome() is None:
            if self.status.state != State.PROVISIONED:
                self._update(state=State.PROVISIONING, failure_reason="")
            # Queued now, so it holds the job lock before any call can be dispatched.
            self.jobs.start(self._provision, kind=PROVISION)
        else:
            self.settled.set()

    # ---- jobs ----

    async def provision(self) -> Status:
        """Run provisioning now (joining a run under way); Failed with the reason on failure."""
        await self.jobs.run(self._provision, kind=PROVISION)
        if self.status.state == State.FAILED:
            raise Failed(f"provisioning failed: {self.status.failure_reason}")
        return self.status

    async def wait(self) -> None:
        """Return once no run is under way (the outcome is in `status`)."""
        await self.jobs.wait()

    def plan_deprovision(self, delete_user: bool) -> list[str]:
        return list(self.parts.deprovisioner.plan(delete_user).warnings)

    async def deprovision(self, delete_user: bool) -> None:
        if self.busy():
            raise Busy("provisioning or deprovisioning is running; try again when it is done")

        async def job() -> None:
            plan = self.parts.deprovisioner.plan(delete_user)
            try:
                await self.parts.deprovisioner.run(plan)
            finally:
                self._show(Status(last_run=_now_us(), remote_access_users=self.parts.jit.shown()))

        await self.jobs.run(job)

    def apply_remote_access(self, update: RemoteAccessUpdate) -> None:
        """Queue a new goal state's JIT users (the newest wins) and return at once; the outcome
        shows in RemoteAccessUsers and RemoteAccessError."""
        self._remote_access = update
        self.jobs.start(self._apply_remote_access)

    async def keep_hostname(self) -> str:
        """Provisioning.MonitorHostName: publish the hostname again if it changed (hostname.py);
        the name published, or "" (nothing changed, or the switch is off)."""
        if not self.config.provisioning_monitor_host_name:
            return ""

        async def job() -> str:
            return await self.parts.hostname.keep() or ""

        # A run under way sets the name itself: compare once it is done (wire's call at its
        # start comes while the boot's run may be going on).
        await self.jobs.wait()
        return await self.hostname_jobs.run(job, kind="keep")

    async def _apply_remote_access(self) -> None:
        update, self._remote_access = self._remote_access, None
        if update is None:
            return  # a later job took it
        log.info("JIT users of incarnation %s", update.goal_state_incarnation)
        errors = await self.parts.jit.apply(update.document)
        shown = {
            "remote_access_users": self.parts.jit.shown(),
            "remote_access_error": "; ".join(errors),
        }
        self._update(**shown)
        # Kept with the record (its status otherwise as saved), so it outlives an idle exit.
        record = self.parts.store.load()
        self.parts.store.save(
            record.model_copy(update={"status": record.status.model_copy(update=shown)})
        )

    def _new_run(self) -> Run:
        return Run(self.wire, self.parts.store, lambda: self.status, self.step_listeners)

    async def _provision(self) -> None:
        self._run = run = self._new_run()
        try:
            await self._dispatch()
        except WaagentError as exc:
            await self._fail(exc.message)
        except OSError as exc:
            await self._fail(from_os_error(exc).message)
        except Exception:
            log.exception("provisioning failed unexpectedly")
            await self._fail(UNEXPECTED)
        self.settled.set()
        self.parts.store.note_boot("ran")
        # Shown as the job ends, so whoever sees Provisioned or Failed may call at once.
        if run.outcome is not None:
            self._show(run.outcome)

    async def _dispatch(self) -> None:
        agent = self.config.provisioning_agent
        if await self._scvmm():
            return
        if agent == "disabled":
            await self._disabled()
        elif agent == "cloud-init" or (agent == "auto" and await self.cloud_init.enabled()):
            await self._cloud_init()
        else:
            await self._waagent()

    # ---- how a run ends ----

    def _ended(self, state: State, reason: str = "") -> Status:
        self._run.outcome = self.status.model_copy(
            update={"state": state, "failure_reason": reason, "last_run": _now_us()}
        )
        return self._run.outcome

    async def _fail(self, reason: str) -> None:
        self.settled.set()
        log.error("Provisioning failed: %s", reason)
        self._run.save(status=self._ended(State.FAILED, reason))
        await self.kvp.failure(reason)
        await self._run.report("NotReady", "ProvisioningFailed", reason)
        await events.failed(self.wire, reason)

    async def _finish(self) -> None:
        """Provisioned: record it, report Ready, remember whether the report got through."""
        self.settled.set()  # the KVP and Ready reports need nothing ordered after this unit
        status = self._ended(State.PROVISIONED)
        self._run.save(status=status, ready_reported=False)
        with self._run.step("KVP report"):
            await self.kvp.success()
        with self._run.step("report ready"):
            reported = await self._run.report("Ready")
        self._run.save(status=status, ready_reported=reported)

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
                self._run.outcome = self.status.model_copy(
                    update={"state": State.PROVISIONED, "failure_reason": ""}
                )
            else:
                await self._finish()
            return True
        self.parts.deprovisioner.unique_id_changed()
        store.write_marker(current)
        await self._finish()
        return True

    async def _scvmm(self) -> bool:
        """DetectScvmmEnv=y and an SCVMM DVD: its bootstrap runs, nothing is provisioned and
        nothing reported (classic's daemon exits there: the VM is not on Azure)."""
        if self.parts.scvmm is None:
            return False
        how = await self.parts.scvmm.start_if_present()
        if how is None:
            return False
        log.info("SCVMM environment: started its bootstrap as %s; not provisioning", how)
        self._run.save(status=self._ended(State.SCVMM))
        return True

    # ---- the three handlers ----

    async def _disabled(self) -> None:
        """Provisioning.Agent=disabled: the marker and Ready, nothing else."""
        log.info("provisioning is disabled (Provisioning.Agent=disabled)")
        self.parts.store.write_marker(instance_id.read(self.sysfs_root))
        await self._finish()

    async def _cloud_init(self) -> None:
        """cloud-init provisions; this waits for its results, then reports (§6.3)."""
        self.settled.set()  # nothing local is ours: sshd must not wait for cloud-init's files
        if await self._after_marker():
            return
        self._update(state=State.PROVISIONING, failure_reason="")
        with self._run.step("wait for cloud-init's ovf-env.xml"):
            raw = await self.cloud_init.ovf_env()
        data = ovf.parse(raw)
        self._update(user=data.username, source=data.source)
        if data.agent_disabled:
            self.parts.store.disable_agent()
        await self._run.report("NotReady", "Provisioning", "Starting")
        with self._run.step("wait for the SSH host key"):
            await self.cloud_init.host_key()
        self.parts.store.write_marker(instance_id.read(self.sysfs_root))
        await self._provisioned(data, cloud_init=True)

    async def _waagent(self) -> None:
        if await self._after_marker():
            return
        if await self.cloud_init.enabled():
            raise Failed(CLOUD_INIT_ENABLED_ERROR)
        self._update(state=State.PROVISIONING, failure_reason="")
        with self._run.step("read the provisioning data"):
            data, raw = await self.steps.read_source()
        self._update(user=data.username, source=data.source)
        if data.agent_disabled:
            # Before anything asks wire (validate may, for certificates; then the first report):
            # wire hands a goal state to extd at once, which must see that this VM has no agent.
            self.parts.store.disable_agent()
        with self._run.step("validate"):
            plan = await self.steps.validate(data, raw)
        self._run.save()
        self._run.report_soon("NotReady", "Provisioning", "Starting")
        await self.steps.apply(plan, self._run)
        await self._provisioned(data, cloud_init=False)

    async def _provisioned(self, data: ProvisioningData, *, cloud_init: bool) -> None:
        """§6.3 steps 9-11: the telemetry of a run that provisioned, then Ready."""
        seconds = time.monotonic() - self._run.started
        await events.provisioned(
            self.wire, data.provision_guest_agent, seconds, cloud_init=cloud_init
        )
        await self._finish()
