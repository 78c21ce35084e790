"""Boot settings waagent manages on the kernel command line: the serial console and NUMA.

`waagent -serialconsole` (and the bus method) makes ttyS0 the boot console; the provisioner
adds `numa=off` on kernels up to 2.6.37, whose virtual NUMA support misbehaves on Hyper-V
(reference §10.8). Both go through `bootloader`; what was added is recorded per file in
`<Lib.Dir>/boot-settings.json`, so an undo takes out exactly that and leaves what the admin or
the image had. After a change the GRUB configuration is regenerated (`update-grub`, else
`grub2-mkconfig`/`grub-mkconfig -o`) with a timeout; in a sandbox root it is reported as
skipped, never run against the host.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from pathlib import PurePosixPath

from pydantic import Field, ValidationError

from ..common.commands import CommandRunner
from ..common.errors import Failed, WaagentError
from ..common.models.base import FrozenModel
from ..common.root import Root
from . import bootloader
from .bootloader import Change
from .kernel_args import KernelArg

log = logging.getLogger(__name__)

SERIAL_CONSOLE = (KernelArg("console", "ttyS0"), KernelArg("earlyprintk", "ttyS0"))
NUMA_OFF = (KernelArg("numa", "off"),)
LAST_NUMA_BUGGY_KERNEL = (2, 6, 37)
RECORD = "boot-settings.json"
REGENERATE_TIMEOUT = 300.0
GRUB_CONFIGS = (
    ("grub2-mkconfig", "/boot/grub2/grub.cfg"),
    ("grub-mkconfig", "/boot/grub/grub.cfg"),
)


class BootRecord(FrozenModel):
    """The words waagent added, per feature, per file (paths inside the root)."""

    added: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)


class BootResult(FrozenModel):
    changed: tuple[str, ...] = ()
    diff: str = ""
    regeneration: str = ""
    message: str = ""


def needs_numa_off(kernel_release: str) -> bool:
    """Kernels up to 2.6.37 (`2.6.32-754.el6.x86_64`: yes; `6.1.0-13-amd64`: no)."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", kernel_release)
    if match is None:
        return False
    version = tuple(int(part or 0) for part in match.groups())
    return version <= LAST_NUMA_BUGGY_KERNEL


class BootSettings:
    def __init__(
        self,
        root: Root,
        runner: CommandRunner,
        lib_dir: str,
        wrap: Sequence[str] = (),
        *,
        regenerate: bool | None = None,
    ) -> None:
        self.root, self.runner = root, runner
        # grub.cfg is the running system's: regenerated for `/` only (tests may say otherwise).
        self.regenerate = root.is_host if regenerate is None else regenerate
        self.record_path = PurePosixPath(lib_dir) / RECORD
        # systemd-run ... --, from the service: grub-mkconfig probes block devices and writes
        # /boot, which the provisioner's sandbox does not allow.
        self.wrap = tuple(wrap)

    def load(self) -> BootRecord:
        text = self.root.read_text(self.record_path)
        if text is None:
            return BootRecord()
        try:
            return BootRecord.model_validate_json(text)
        except ValidationError:
            log.warning("%s is not a valid record; starting a new one", self.record_path)
            return BootRecord()

    def _save(self, record: BootRecord) -> None:
        self.root.makedirs(self.record_path.parent, 0o700)
        self.root.write_atomic(self.record_path, record.model_dump_json(indent=1) + "\n")

    async def enable(self, feature: str, args: Sequence[KernelArg], dry_run: bool) -> BootResult:
        changes = bootloader.plan_add(self.root, args)
        if not changes:
            words = " ".join(a.text for a in args)
            return BootResult(message=f"{words}: already on the kernel command line")
        record = self.load()
        added = dict(record.added.get(feature, {}))
        for change in changes:
            added[change.path] = (*added.get(change.path, ()), *change.added)
        after = BootRecord(added={**record.added, feature: added})
        return await self._apply(changes, dry_run, "added", record, after)

    async def disable(self, feature: str, dry_run: bool) -> BootResult:
        record = self.load()
        added = record.added.get(feature)
        if not added:
            return BootResult(message="nothing to undo: waagent has not added these arguments")
        changes = bootloader.plan_remove(self.root, added)
        after = BootRecord(added={k: v for k, v in record.added.items() if k != feature})
        return await self._apply(changes, dry_run, "removed", record, after)

    async def _apply(
        self,
        changes: list[Change],
        dry_run: bool,
        verb: str,
        record: BootRecord,
        after: BootRecord,
    ) -> BootResult:
        """Record, write, regenerate; a failed regeneration puts files and record back, so the
        next run does the whole change again rather than finding it "already" done."""
        diff = "".join(change.diff() for change in changes)
        changed = tuple(change.path for change in changes)
        command = self._regeneration(changes)
        if dry_run:
            plan = f"would run {self._shown(command)}" if command else self._skipped(changes)
            return BootResult(changed=changed, diff=diff, regeneration=plan, message="dry run")
        # Recorded first: after a crash the undo knows what may have been written.
        self._save(after)
        for change in changes:
            self._write(change)
        log.info("kernel arguments %s in %s", verb, ", ".join(changed))
        if not command:
            return BootResult(
                changed=changed, diff=diff, regeneration=self._skipped(changes), message=verb
            )
        try:
            await self.runner.run(command, timeout=REGENERATE_TIMEOUT)
        except WaagentError as exc:
            for change in changes:
                self._write(Change(change.path, change.after, change.before))
            self._save(record)
            raise Failed(f"{exc.message}; the boot loader files are left as they were") from None
        return BootResult(
            changed=changed, diff=diff, regeneration=f"ran {self._shown(command)}", message=verb
        )

    def _write(self, change: Change) -> None:
        if change.after is None:
            self.root.remove(change.path)
            return
        mode = 0o644
        if change.before is not None:
            mode = self.root.resolve(change.path).stat().st_mode & 0o7777
        self.root.makedirs(PurePosixPath(change.path).parent)
        self.root.write_atomic(change.path, change.after, mode=mode)

    def _regeneration(self, changes: list[Change]) -> tuple[str, ...]:
        if not self.regenerate or not any(c.regenerates_grub for c in changes):
            return ()
        # Absolute paths: what was found is what runs, whatever the runner's PATH.
        if update_grub := shutil.which("update-grub"):
            return (*self.wrap, update_grub)
        for tool, config in GRUB_CONFIGS:
            found = shutil.which(tool)
            if found and self.root.exists(PurePosixPath(config).parent):
                return (*self.wrap, found, "-o", config)
        return ()

    def _shown(self, command: Sequence[str]) -> str:
        shown = " ".join(command[len(self.wrap) :])
        return f"{shown} (through systemd-run)" if self.wrap else shown

    def _skipped(self, changes: list[Change]) -> str:
        if not any(c.regenerates_grub for c in changes):
            return "not needed (the boot loader reads the edited files itself)"
        if not self.regenerate:
            return f"skipped: {self.root.path} is a sandbox root, not the running system"
        return "skipped: neither update-grub nor grub2-mkconfig/grub-mkconfig is installed"

    async def serial_console(self, enable: bool, dry_run: bool) -> BootResult:
        if enable:
            return await self.enable("serial_console", SERIAL_CONSOLE, dry_run)
        return await self.disable("serial_console", dry_run)

    async def numa_workaround(self, kernel_release: str) -> BootResult | None:
        """`numa=off` on the kernels that need it; None (nothing done) elsewhere."""
        if not needs_numa_off(kernel_release):
            return None
        try:
            return await self.enable("numa", NUMA_OFF, dry_run=False)
        except WaagentError as exc:
            # Provisioning goes on: the VM boots without it, as it did before.
            log.warning("numa=off not added for kernel %s: %s", kernel_release, exc.message)
            return None
