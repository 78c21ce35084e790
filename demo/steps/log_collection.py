"""Periodic log collection: the systemd timer made from waagent.conf, and the same schedule
under `waagent -daemon` on a host without systemd (a bundle reaches the fabric)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.cli.system import cli_system, installed_services
from tests.harness.environment import Environment
from tests.harness.wait import wait_for
from waagent.cli import log_collector_timer

from .common import heading, show


def _generator() -> None:
    with tempfile.TemporaryDirectory(prefix="waagent-demo-gen-") as out:
        conf = Path(out) / "waagent.conf"
        conf.write_text("Logs.Collect=y\nLogs.CollectPeriod=3600\n")
        log_collector_timer.main([f"{out}/normal"], conf, Path("/usr/lib/systemd/system"))
        for path in sorted(Path(out, "normal").rglob("*")):
            if path.is_symlink():
                show(str(path.relative_to(out)), f"-> {os.readlink(path)}")
            elif path.is_file():
                show(str(path.relative_to(out)), path.read_text().splitlines()[2:])


def run(env: Environment) -> None:
    heading("log collection: the systemd generator turns waagent.conf into the timer")
    _generator()
    heading("log collection: waagent -daemon collects after the initial delay (here 1 s)")
    if os.geteuid() != 0:
        show("skipped", "needs root (setpriv to the wire user, polkitd)")
        return
    with cli_system({"Debug.LogCollectorInitialDelay": "1"}) as system:
        system.start_daemon()
        system.wait_up(installed_services())
        wait_for(lambda: system.fabric.records("log-upload"), timeout=60, what="a bundle")
        record = system.fabric.records("log-upload")[0]
        show("fabric: log-upload", f"{record['size']} bytes, {len(record['files'])} files")
        wait_for(lambda: "log collection 1:" in system.log_text(), timeout=30, what="the log")
        line = next(x for x in system.log_text().splitlines() if "log collection 1:" in x)
        show("waagent.log", line.split(" ", 3)[3])
