"""The files waagent puts into the system (issue 15): the /dev/disk/azure names udev gets from
waagent-azure-disk, the persistent-net rules moved aside, diskd's runtime SCSI-timeout rule, and
the log rotated by the shipped logrotate file. All against the sandbox root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.diskd.disks import gen2_sysfs, scsi_disk, vmbus_device
from tests.harness.environment import Environment
from tests.harness.paths import REPO
from waagent.diskd.scsi import RUNTIME_RULE

from .common import heading, show

DATA_CONTROLLER = "f8b3781b-1e82-4818-a1c3-63d806ec15bb"


def _azure_names() -> None:
    with tempfile.TemporaryDirectory() as directory:
        sysfs = gen2_sysfs(Path(directory), "sdb")
        scsi_disk(vmbus_device(sysfs, DATA_CONTROLLER, "{" + DATA_CONTROLLER + "}"), 1, 0, "sdc")
        for disk in ("sda", "sdb", "sr0", "sdc"):
            block = next(p for p in (sysfs / "devices").rglob(disk) if p.parent.name == "block")
            out = subprocess.run(
                [sys.executable, "-m", "waagent.diskd.azure_disk", "--sysfs-root", str(sysfs),
                 "/" + str(block.relative_to(sysfs))],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout.strip()  # fmt: skip
            name = out.partition("=")[2]
            show(f"{disk} ({block.parent.parent.name})", f"/dev/disk/azure/{name}" if name else "-")


def _nic_names(env: Environment) -> None:
    rules = env.sandbox.path("/etc/udev/rules.d/70-persistent-net.rules")
    rules.parent.mkdir(parents=True, exist_ok=True)
    rules.write_text('SUBSYSTEM=="net", ATTR{address}=="00:0d:3a:1b:2c:3d", NAME="eth0"\n')
    subprocess.run(
        [sys.executable, "-m", "waagent.netd.nic_names", "--root", str(env.sandbox.root),
         "--config", str(env.sandbox.config_path)],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    kept = env.sandbox.path("/var/lib/waagent/70-persistent-net.rules")
    show("70-persistent-net.rules in /etc/udev/rules.d", "yes" if rules.exists() else "no")
    show("moved into Lib.Dir", "yes" if kept.exists() else "no")


def _rotate(env: Environment) -> None:
    if shutil.which("logrotate") is None:
        show("log rotation", "skipped: no logrotate")
        return
    log = env.sandbox.path("/var/log/waagent.log")
    text = (REPO / "config" / "waagent.logrotate").read_text()
    text = text.replace("/var/log/waagent.log", str(log)).replace("waagent-wire", "root")
    config = env.base / "waagent.logrotate"
    config.write_text(text)
    os.chmod(config, 0o644)
    subprocess.run(["logrotate", "-f", "-s", str(env.base / "logrotate.state"), str(config)],
                   check=True, timeout=60, capture_output=True)  # fmt: skip
    for path in sorted(log.parent.glob("waagent.log*")):
        show(path.name, f"{path.stat().st_size} bytes")


def run(env: Environment) -> None:
    heading("udev names, stable NIC names, SCSI timeout rule, log rotation")
    _azure_names()
    _nic_names(env)
    rule = env.sandbox.path(str(RUNTIME_RULE))
    show("diskd's runtime rule", rule.read_text().splitlines()[-1] if rule.exists() else "-")
    _rotate(env)
