"""The diskd daemon without the bus: the status, the jobs, what happens at start.

One job runs at a time (activation or a swap change, see common/jobs.py); a second Activate
joins the running one. Each failure becomes State=Failed with the error's one line in
LastError; the service stays up.

At start the service applies the SCSI timeouts and, when ResourceDisk.Format=y, activates the
resource disk once per boot (a record in /run says it was done, so a later bus activation only
reads the current state instead of re-applying the configuration over a SetSwap).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from ..common.boot import current_boot_id
from ..common.config import AgentConfig
from ..common.errors import InvalidArgs, WaagentError, from_os_error
from ..common.jobs import Jobs, StatusHolder
from ..common.models.base import FrozenModel
from ..common.root import Root
from .detect import DiskFinder
from .models import MIB, DiskStatus, State
from .resource_disk import ResourceDisk
from .scsi import ScsiTimeouts
from .swap import SwapFile

log = logging.getLogger(__name__)

RECORD = "/run/waagent/diskd.json"
UNEXPECTED = "unexpected error; the service log has details"
ACTIVATE = "activate"


class BootRecord(FrozenModel):
    """What the last job of this boot ended with (kept in /run, gone at the next boot)."""

    boot_id: str
    state: State
    last_error: str = ""


class DiskService(StatusHolder[DiskStatus]):
    def __init__(
        self,
        config: AgentConfig,
        root: Root,
        *,
        finder: DiskFinder,
        resource_disk: ResourceDisk,
        swap: SwapFile,
        scsi: ScsiTimeouts,
        boot_id: str | None = None,
    ) -> None:
        super().__init__(DiskStatus())
        self.config = config
        self.root = root
        self.finder = finder
        self.resource_disk = resource_disk
        self.swap = swap
        self.scsi = scsi
        self.boot_id = boot_id or current_boot_id()
        self.jobs: Jobs[DiskStatus] = Jobs("resource disk")

    # ---- status ----

    def busy(self) -> bool:
        return self.jobs.busy()

    def _step(self, state: State) -> None:
        self._update(state=state)

    def _show_swap(self) -> None:
        if self.status.mounted:
            swap = self.swap.status(Path(self.status.mount_point))
            self._update(swap_enabled=swap.enabled, swap_size_mb=swap.size_mb)

    # ---- the record of this boot ----

    def _read_record(self) -> BootRecord | None:
        text = self.root.read_text(RECORD)
        if text is None:
            return None
        try:
            record = BootRecord.model_validate_json(text)
        except ValidationError:
            log.warning("%s is unreadable; ignoring it", RECORD)
            return None
        return record if record.boot_id == self.boot_id else None

    def _write_record(self) -> None:
        record = BootRecord(
            boot_id=self.boot_id, state=self.status.state, last_error=self.status.last_error
        )
        try:
            self.root.makedirs(str(Path(RECORD).parent), 0o755)
            self.root.write_atomic(RECORD, record.model_dump_json() + "\n", mode=0o644)
        except OSError as exc:
            log.warning("cannot write %s: %s", RECORD, exc.strerror or exc)

    # ---- start ----

    async def prepare(self) -> None:
        """Before the service takes its bus name: start the boot work when it is due (State
        already says Detecting), else read the current state, so no caller sees a stale one."""
        # Temporary files of a write interrupted by a kill (only dead writers' go).
        self.root.remove_stale_temps([str(PurePosixPath(RECORD).parent)])
        record = self._read_record()
        if self.config.resource_disk_format and record is None:
            self._update(state=State.DETECTING)
            # Queued now, so it holds the job lock before any call can be dispatched.
            self.jobs.start(self._job(self._activate, refused_fails=True), kind=ACTIVATE)
            return
        self._apply_scsi()
        await self.refresh(record)

    async def refresh(self, record: BootRecord | None = None) -> None:
        """Show the disk as it is now, changing nothing."""
        try:
            disk = self.finder.find()
            if disk is None:
                self._update(state=State.NO_RESOURCE_DISK)
                return
            self._update(device=str(disk))
            mounted = await self.resource_disk.current(disk)
        except WaagentError as exc:
            self._fail(exc.message)
            return
        if mounted is not None:
            self._update(
                mount_point=str(mounted.mount_point), filesystem=mounted.fstype, mounted=True
            )
            self._show_swap()
        if record is not None and record.state == State.FAILED:
            self._update(state=State.FAILED, last_error=record.last_error)
        else:
            self._update(state=State.MOUNTED if mounted else State.NOT_STARTED)

    def _apply_scsi(self) -> None:
        seconds = self.config.os_root_device_scsi_timeout
        # The rule first: a disk that appears meanwhile gets the timeout from udev.
        self.scsi.keep_applied(seconds)
        if seconds is not None:
            self.scsi.apply(seconds)

    # ---- jobs ----

    async def activate(self) -> DiskStatus:
        """Detect, partition and format if fresh, mount, swap; joins an activation under way."""
        return await self.jobs.run(self._job(self._activate, refused_fails=True), kind=ACTIVATE)

    async def set_swap(self, size_mb: int) -> DiskStatus:
        """Make the swap file `size_mb` MiB now (0 removes it); not kept across reboots."""
        return await self.jobs.run(self._job(lambda: self._set_swap(size_mb), refused_fails=False))

    def _job(
        self, work: Callable[[], Awaitable[None]], *, refused_fails: bool
    ) -> Callable[[], Awaitable[DiskStatus]]:
        """`work` as a job: a failure shows as State=Failed (a refusal only if `refused_fails`),
        and the outcome is recorded for this boot."""

        async def job() -> DiskStatus:
            try:
                await work()
            except InvalidArgs as exc:
                if refused_fails:
                    self._fail(exc.message)
                raise
            except WaagentError as exc:
                self._fail(exc.message)
                raise
            except OSError as exc:
                mapped = from_os_error(exc)
                self._fail(mapped.message)
                raise mapped from None
            except Exception:
                self._fail(UNEXPECTED)  # the job's error is logged with its traceback
                raise
            finally:
                self._write_record()
            return self.status

        return job

    def _fail(self, message: str) -> None:
        log.error("resource disk: %s", message)
        self._show_swap()
        self._update(state=State.FAILED, last_error=message)

    async def _activate(self) -> None:
        self._update(state=State.DETECTING, last_error="")
        self._apply_scsi()
        disk = self.finder.find()
        if disk is None:
            log.info("no resource disk found; nothing to do")
            self._update(state=State.NO_RESOURCE_DISK, device="")
            return
        self._update(device=str(disk))
        mounted = await self.resource_disk.activate(disk, self._step)
        self._update(mount_point=str(mounted.mount_point), filesystem=mounted.fstype, mounted=True)
        if self.config.resource_disk_enable_swap:
            await self._ensure_swap(self.config.resource_disk_swap_size_mb)
        self._show_swap()
        self._update(state=State.MOUNTED)

    async def _set_swap(self, size_mb: int) -> None:
        if not self.status.mounted:
            raise InvalidArgs(
                f"the resource disk is not mounted (State={self.status.state}); "
                "there is nowhere to put a swap file"
            )
        self.swap.check_fits(Path(self.status.mount_point), size_mb * MIB)
        await self._ensure_swap(size_mb)
        self._update(state=State.MOUNTED, last_error="")

    async def _ensure_swap(self, size_mb: int) -> None:
        self._step(State.CONFIGURING_SWAP)
        mount_point = Path(self.status.mount_point)
        encrypt = self.config.resource_disk_enable_swap_encryption
        result = await self.swap.ensure(mount_point, size_mb, encrypt=encrypt)
        self._update(swap_enabled=result.enabled, swap_size_mb=result.size_mb)
