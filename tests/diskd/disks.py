"""Real loop devices and fake sysfs / dev trees that point at them, for diskd's tests.

A `LoopDisk` is a sparse image attached with partition scanning, like a real disk. `release()`
undoes everything made on it, in order, even when a test failed half-way: swap on its
filesystems, its mounts, the partitions the kernel knows, the loop device, the image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from waagent.diskd.mounts import KernelState, device_number

GEN1_RESOURCE_ID = "{00000000-0001-8899-0000-000000000000}"
GEN1_OS_ID = "{00000000-0000-8899-0000-000000000000}"
GEN2_CONTROLLER_ID = "{f8b3781a-1e82-4818-a1c3-63d806ec15bb}"
NETWORK_ID = "{9ca2a3c2-26c6-4e5d-b0b4-6d0a5a6bf9a1}"


def sh(
    *argv: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), input=input, capture_output=True, text=True, timeout=120, check=check
    )


class LoopDisk:
    def __init__(self, image: Path, size_mb: int) -> None:
        self.image = image
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        self.device = Path(
            sh("losetup", "--find", "--show", "--partscan", str(image)).stdout.strip()
        )
        self.name = self.device.name
        self.released = False

    def part(self, number: int) -> Path:
        return Path(f"{self.device}p{number}")

    def partition(self, script: str) -> None:
        """Write a partition table (sfdisk script) and tell the kernel its partitions."""
        sh("sfdisk", "--quiet", "--wipe", "always", str(self.device), input=script)
        sh("partx", "-u", str(self.device))

    def devices(self) -> list[Path]:
        """The disk and every partition node the kernel has for it now."""
        return [self.device, *sorted(self.device.parent.glob(f"{self.name}p*"))]

    def mounts(self) -> list[str]:
        numbers = {n for n in (device_number(d) for d in self.devices()) if n is not None}
        return [m.mount_point for m in KernelState().mounts() if m.devno in numbers]

    def release_mounts(self) -> None:
        """Swap off what lives on the disk's filesystems, then unmount them."""
        mounts = self.mounts()
        for swap in KernelState().active_swaps():
            if any(swap.path.startswith(m.rstrip("/") + "/") for m in mounts):
                sh("swapoff", swap.path, check=False)
        for mount_point in sorted(mounts, key=len, reverse=True):
            sh("umount", mount_point, check=False)

    def release(self) -> None:
        """Undo everything: swap, mounts, partitions, the loop device, the image (once)."""
        if self.released:
            return
        self.release_mounts()
        sh("partx", "-d", str(self.device), check=False)
        sh("losetup", "-d", str(self.device), check=False)
        self.image.unlink(missing_ok=True)
        self.released = True


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def vmbus_device(sysfs: Path, guid: str, device_id: str) -> Path:
    """A VMBus device directory, and its bus/vmbus/devices link, as the kernel lays them out."""
    real = sysfs / "devices" / "LNXSYSTM:00" / "VMBUS:00" / guid
    _write(real / "device_id", device_id + "\n")
    link = sysfs / "bus" / "vmbus" / "devices" / guid
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(real, link.parent))
    return real


def scsi_disk(controller: Path, host: int, lun: int, name: str) -> None:
    hctl = f"{host}:0:0:{lun}"
    _write(
        controller / f"host{host}" / f"target{host}:0:0" / hctl / "block" / name / "dev", "0:0\n"
    )


def gen1_sysfs(sysfs: Path, resource: str, os_disk: str = "sda") -> Path:
    """A Gen1 VM: the OS disk on IDE port 0, the resource disk on IDE port 1."""
    scsi_disk(
        vmbus_device(sysfs, "00000000-0000-8899-0000-000000000000", GEN1_OS_ID), 0, 0, os_disk
    )
    scsi_disk(
        vmbus_device(sysfs, "00000000-0001-8899-0000-000000000000", GEN1_RESOURCE_ID),
        1,
        0,
        resource,
    )
    vmbus_device(sysfs, "9ca2a3c2-26c6-4e5d-b0b4-6d0a5a6bf9a1", NETWORK_ID)
    return sysfs


def gen2_sysfs(sysfs: Path, resource: str, os_disk: str = "sda", dvd: str = "sr0") -> Path:
    """A Gen2 VM: one SCSI controller with the OS disk (LUN 0), resource disk (1) and DVD (2)."""
    controller = vmbus_device(sysfs, "f8b3781a-1e82-4818-a1c3-63d806ec15bb", GEN2_CONTROLLER_ID)
    scsi_disk(controller, 0, 0, os_disk)
    scsi_disk(controller, 0, 1, resource)
    scsi_disk(controller, 0, 2, dvd)
    return sysfs


def dev_root(directory: Path, disk: LoopDisk) -> Path:
    """A /dev where the disk's kernel name leads to the real node (partitions stay in /dev)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / disk.name).symlink_to(disk.device)
    return directory


# The kernel counts a swap file without its header pages.
SWAP_HEADER_SLACK = 64 << 10


def active_swap_bytes(path: Path) -> int:
    """The size `swapon --show` gives for `path`; fails when it is not active swap."""
    out = sh("swapon", "--show=NAME,SIZE", "--bytes", "--noheadings").stdout
    sizes = {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.strip()}
    assert str(path) in sizes, f"{path} is not active swap: {out!r}"
    return sizes[str(path)]


def ntfs_typed(disk: LoopDisk) -> LoopDisk:
    """How Azure delivers a fresh resource disk: an MBR partition of type 7 holding NTFS."""
    disk.partition("label: dos\ntype=7\n")
    if shutil.which("mkntfs") is not None:
        sh("mkntfs", "-Q", "-F", str(disk.part(1)))
    return disk
