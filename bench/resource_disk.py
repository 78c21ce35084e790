"""diskd: time from service start to the resource disk mounted and swap on; fallocate vs zeros.

A fresh 2 GiB NTFS-typed loop disk and a 1 GiB swap file, diskd bus-activated on a private bus
(the first property read starts it; at start it does the boot work since ResourceDisk.Format=y).
Measured twice: ext4 (the swap file is allocated with fallocate) and ext3 (no fallocate, so the
file is written with zeros). Then the two ways of allocating 1 GiB, alone, on the mounted ext4.
Prints figures; asserts nothing. Needs root. Run: .venv/bin/python bench/resource_disk.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.diskd.disks import LoopDisk, dev_root, gen2_sysfs, ntfs_typed, sh
from tests.diskd.system import DiskEnvironment, config
from tests.harness.wait import wait_for
from waagent.common.commands import Runner
from waagent.common.names import DISK
from waagent.diskd.crypt import SwapEncryption
from waagent.diskd.mounts import KernelState
from waagent.diskd.swap import SwapFile

DISK_MB = 2048
SWAP_MB = 1024
RUNS = 3


def start_to_swap_on(workdir: Path, filesystem: str) -> tuple[float, str]:
    """Seconds from the activating call to State=Mounted with swap on."""
    disk = ntfs_typed(LoopDisk(workdir / "disk.img", DISK_MB))
    sysfs = gen2_sysfs(workdir / "sys", disk.name)
    dev = dev_root(workdir / "dev", disk)
    env = DiskEnvironment(
        ["--sysfs-root", str(sysfs), "--dev-root", str(dev)],
        [disk],
        config=config(
            {
                "ResourceDisk.Filesystem": filesystem,
                "ResourceDisk.EnableSwap": "y",
                "ResourceDisk.SwapSizeMB": str(SWAP_MB),
            }
        ),
    )
    try:
        env.start()
        started = time.monotonic()

        def done() -> dict[str, object] | None:
            reply = env.busctl.call(
                DISK.name,
                DISK.path,
                "org.freedesktop.DBus.Properties",
                "GetAll",
                "s",
                DISK.interface,
            )
            props = {k: v["data"] for k, v in reply.data[0].items()} if reply.ok else {}
            return props if props.get("State") in ("Mounted", "Failed") else None

        props = wait_for(done, timeout=300, interval=0.01, what="diskd to finish")
        elapsed = time.monotonic() - started
        return elapsed, f"{props['State']} swap={props['SwapSizeMB']} MiB {props['LastError']}"
    finally:
        env.stop()
        disk.release()


def allocation(workdir: Path) -> dict[str, list[float]]:
    """1 GiB swap file allocated with fallocate and with zeros, on a mounted ext4."""
    disk = LoopDisk(workdir / "alloc.img", DISK_MB)
    mount_point = workdir / "mnt"
    mount_point.mkdir()
    times: dict[str, list[float]] = {"fallocate": [], "zeros": []}
    runner = Runner()
    try:
        sh("mkfs.ext4", "-q", "-F", str(disk.device))
        sh("mount", str(disk.device), str(mount_point))
        swap = SwapFile(runner, KernelState(), SwapEncryption(runner, Path("/dev")))
        for _ in range(RUNS):
            for how in ("fallocate", "zeros"):
                path = mount_point / "swapfile"
                started = time.monotonic()
                asyncio.run(swap.allocate(path, SWAP_MB << 20, zeros=how == "zeros"))
                times[how].append(time.monotonic() - started)
                path.unlink()
    finally:
        disk.release()
    return times


def main() -> int:
    if os.geteuid() != 0:
        print("needs root (loop devices, mounts, swap)")
        return 1
    print(f"diskd: {DISK_MB} MiB NTFS-typed loop disk, {SWAP_MB} MiB swap, {RUNS} runs each")
    for filesystem, how in (("ext4", "fallocate"), ("ext3", "zeros")):
        results = []
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory(prefix="bench-diskd-") as tmp:
                results.append(start_to_swap_on(Path(tmp), filesystem))
        seconds = [r[0] for r in results]
        print(
            f"  start -> mounted + swap on, {filesystem} ({how}): "
            f"median {statistics.median(seconds):.2f} s, min {min(seconds):.2f} s, "
            f"max {max(seconds):.2f} s   [{results[-1][1].strip()}]"
        )
    with tempfile.TemporaryDirectory(prefix="bench-diskd-") as tmp:
        times = allocation(Path(tmp))
    for how, seconds in times.items():
        print(
            f"  allocate {SWAP_MB} MiB swap file with {how:<9}: "
            f"median {statistics.median(seconds) * 1000:.0f} ms, "
            f"min {min(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
