"""diskd: a fresh NTFS-typed resource disk formatted, mounted, swap made; polkit on SetSwap."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from tests.diskd.disks import LoopDisk, dev_root, gen2_sysfs, ntfs_typed, sh
from tests.harness.environment import Environment
from tests.harness.procs import pids_with_marker, terminate
from waagent.common.names import DISK

from .common import heading, show

PROPS = ("State", "Device", "MountPoint", "Filesystem", "Mounted", "SwapEnabled", "SwapSizeMB")


def _call(env: Environment, method: str, *args: str, user: str | None = None) -> str:
    signature = "u" if args else ""
    reply = env.busctl.call(
        DISK.name, DISK.path, DISK.interface, method, signature, *args, user=user
    )
    return "ok" if reply.ok else reply.error


def _show_props(env: Environment) -> None:
    for prop in PROPS:
        show(f"Disk1.{prop}", env.busctl.get_property(DISK.name, DISK.path, DISK.interface, prop))


def run(env: Environment) -> None:
    heading("diskd: the resource disk (a 1 GiB loop device on a Gen2-like sysfs)")
    if os.geteuid() != 0:
        show("skipped", "needs root for loop devices")
        return
    with tempfile.TemporaryDirectory(prefix="demo-diskd-") as tmp:
        work = Path(tmp)
        disk = ntfs_typed(LoopDisk(work / "resource.img", 1024))
        sysfs = gen2_sysfs(work / "sys", disk.name)
        try:
            env.make_activatable(
                DISK, "--sysfs-root", str(sysfs), "--dev-root", str(dev_root(work / "dev", disk))
            )
            found = sh("blkid", "-p", "-o", "value", "-s", "TYPE", str(disk.part(1))).stdout
            show("the disk before", f"MBR partition 1 of type 7 holding {found.strip()}")
            started = time.monotonic()
            show(
                "busctl call Disk1 Activate (root)",
                f"{_call(env, 'Activate')} in {time.monotonic() - started:.2f} s",
            )
            show(
                "busctl call Disk1 SetSwap 64 (as nobody)",
                _call(env, "SetSwap", "64", user="nobody"),
            )
            show("busctl call Disk1 SetSwap 64 (root)", _call(env, "SetSwap", "64"))
            _show_props(env)
            print("  " + sh("swapon", "--show").stdout.replace("\n", "\n  ").rstrip())
            mount_point = env.busctl.get_property(
                DISK.name, DISK.path, DISK.interface, "MountPoint"
            )
            print("  " + sh("findmnt", "-n", "--mountpoint", mount_point).stdout.strip())
        finally:
            terminate(pids_with_marker(str(sysfs)))
            disk.release()
            env.make_activatable(DISK)
