"""`Extensions.WaitForCloudInit=y` (reference §10.2 step 4): before the first goal state's
extensions run, wait for `cloud-init status --wait`, at most `Extensions.WaitForCloudInitTimeout`
seconds, then proceed whatever happened (errors are logged and sent as telemetry `CloudInit`).

Classic waits once per service start, which is once per boot for a resident agent. extd exits
when idle and is started again, so "done" is a note in /run keyed on the boot id, not a flag in
memory. Classic quirk fixed: the timeout is honoured as a number of seconds (classic read it as a
switch and always waited up to 3600 s). The command is found in the root's standard PATH, so a
sandbox root brings its own `cloud-init`; when there is none, there is nothing to wait for.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path, PurePosixPath

from .. import AGENT_NAME, AGENT_VERSION
from ..common.cmdenv import BASE_ENV
from ..common.commands import CommandRunner
from ..common.errors import Failed
from ..common.root import Root
from .telemetry import Telemetry

log = logging.getLogger(__name__)

NOTE = PurePosixPath("/run/waagent/extd-cloud-init")
OPERATION = "CloudInit"  # the classic telemetry operation (§10.12)
WAITING = "Waiting for cloud-init to complete..."
FAILED = (
    "An error occurred while waiting for cloud-init; will proceed to execute VM extensions. "
    "Extensions that have conflicts with cloud-init may fail.\n{}"
)


class CloudInitWait:
    def __init__(
        self,
        root: Root,
        runner: CommandRunner,
        telemetry: Telemetry,
        *,
        timeout: float,
        boot_id: str,
    ) -> None:
        self.root = root
        self.runner = runner
        self.telemetry = telemetry
        self.timeout = timeout
        self.boot_id = boot_id

    def done(self) -> bool:
        return self.root.read_text(NOTE) == self.boot_id

    def executable(self) -> Path | None:
        """`cloud-init` in the root's standard PATH, or None."""
        for directory in BASE_ENV["PATH"].split(":"):
            candidate = self.root.resolve(f"{directory}/cloud-init")
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        return None

    async def wait_once(self) -> None:
        """Wait for cloud-init unless it was waited for already in this boot."""
        if self.done():
            return
        executable = self.executable()
        if executable is None:
            log.info("Extensions.WaitForCloudInit=y, but cloud-init is not installed")
        else:
            await self._wait(executable)
        self._remember()  # also after an error: extensions proceed, as classic

    async def _wait(self, executable: Path) -> None:
        log.info("%s", WAITING)
        self._event(True, WAITING, 0.0)
        started = time.monotonic()
        try:
            result = await self.runner.run(
                [str(executable), "status", "--wait"], timeout=self.timeout
            )
        except Failed as exc:
            message = FAILED.format(exc)
            log.error("%s", message)
            self._event(False, message, time.monotonic() - started)
            return
        message = f"cloud-init completed\n{result.stdout.strip()}".strip()
        log.info("%s (%.1f s)", message, time.monotonic() - started)
        self._event(True, message, time.monotonic() - started)

    def _event(self, success: bool, message: str, duration: float) -> None:
        self.telemetry.operation(AGENT_NAME, AGENT_VERSION, OPERATION, success, message, duration)

    def _remember(self) -> None:
        try:
            self.root.makedirs(NOTE.parent, 0o755)
            self.root.write_atomic(NOTE, self.boot_id, mode=0o644)
        except OSError as exc:
            log.warning("cannot write %s: %s", NOTE, exc.strerror or exc)
