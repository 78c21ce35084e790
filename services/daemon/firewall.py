"""`waagent -daemon`: the WireServer firewall, as the boot and refresh units set it under systemd.

At start, before any service runs (wire's first request goes out behind the rules), the boot
unit's command runs once as a child (`waagent-netd --setup-firewall`: the endpoint a previous
boot found, nothing when OS.EnableFirewall=n or none is known yet); then again each time
`Lib.Dir/WireServerEndpoint` gets a new address (what waagent-firewall-refresh.path does),
noticed through inotify on Lib.Dir rather than a poll. The child does the work so the resident
daemon imports none of netd.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ..common.cmdenv import BASE_ENV
from ..common.commands import CommandRunner
from ..common.inotify import IN_CLOSE_WRITE, IN_MOVED_TO, Watch
from ..common.selfexec import module_command

log = logging.getLogger(__name__)

ENDPOINT_FILE = "WireServerEndpoint"
# The setup runs a few firewall commands of 30 s at most each, after waiting for another change.
SETUP_TIMEOUT = 600.0


def setup_command(root: Path, config: Path, *, verbose: bool) -> tuple[list[str], dict[str, str]]:
    args = ["--setup-firewall", "--root", str(root), "--config", str(config)]
    argv, env = module_command("waagent.netd", *args, *(["--verbose"] if verbose else []))
    return argv, {**BASE_ENV, **env}


class DaemonFirewall:
    def __init__(
        self, argv: list[str], env: dict[str, str], lib_dir: Path, runner: CommandRunner
    ) -> None:
        self.argv = argv
        self.env = env
        self.lib_dir = lib_dir
        self.runner = runner
        self._applied: str | None = None
        self.pending: asyncio.Task[None] | None = None

    def _endpoint(self) -> str:
        try:
            return (self.lib_dir / ENDPOINT_FILE).read_text().strip()
        except OSError:
            return ""

    async def setup(self) -> None:
        """The rules for the endpoint known now (a failure is logged: the services start anyway,
        as a failed boot unit does not stop the boot)."""
        endpoint = self._endpoint()
        result = await self.runner.run(self.argv, timeout=SETUP_TIMEOUT, env=self.env, check=False)
        self._applied = endpoint
        if not result.ok:
            log.error("WireServer firewall not set up: %s", result.message())

    def watch(self) -> Watch:
        """Set it up again whenever the endpoint file gets another address."""
        watch = Watch(self._lib_dir_changed)
        watch.add(self.lib_dir, IN_CLOSE_WRITE | IN_MOVED_TO)
        return watch

    def _lib_dir_changed(self) -> None:
        if self.pending is not None and not self.pending.done():
            return  # the running setup reads the file when it starts; see _again
        if self._endpoint() not in ("", self._applied):
            self.pending = asyncio.ensure_future(self._again())

    async def settled(self) -> None:
        """Wait for a setup started by the watch (if any) to end."""
        if self.pending is not None:
            await self.pending

    async def _again(self) -> None:
        while self._endpoint() not in ("", self._applied):
            log.info("WireServer endpoint is now %s: setting up the firewall", self._endpoint())
            await self.setup()
