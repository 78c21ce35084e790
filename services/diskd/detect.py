"""Finding the resource disk (reference §8.1), under a sysfs root and a /dev root.

In order: the device named by `ResourceDisk.Device` (an admin's choice wins); the udev link
`/dev/disk/azure/resource`; the VMBus walk: Gen1 VMs put the resource disk on IDE port 1 (VMBus
device id starting `00000000-0001`), Gen2 VMs at LUN 1 of the SCSI controller
`f8b3781a-1e82-4818-a1c3-63d806ec15bb`.

The walk reads the sysfs tree itself rather than through pyudev: libudev always reads the real
/sys (it has had no way to use another sysfs root since udev 183), and tests present a topology
under a temporary directory. It never follows symlinks below the VMBus device, as sysfs is full
of links back up the tree.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path, PurePosixPath

from ..common.errors import NotFound

log = logging.getLogger(__name__)

VMBUS_DEVICES = PurePosixPath("bus/vmbus/devices")
GEN1_RESOURCE_PREFIX = "00000000-0001"
GEN2_CONTROLLER = "f8b3781a-1e82-4818-a1c3-63d806ec15bb"
AZURE_RESOURCE_LINK = PurePosixPath("disk/azure/resource")


def vmbus_device_id(device_dir: Path) -> str:
    """A VMBus device's id as sysfs gives it (`{...}`), bare and lower case; '' if none."""
    try:
        raw = (device_dir / "device_id").read_text()
    except OSError:
        return ""
    return raw.strip().strip("{}").lower()


def _block_name(block_dir: str, children: list[str]) -> str | None:
    """`block/sdb` (first child) or, on older kernels, a directory named `block:sdb`."""
    name = os.path.basename(block_dir)
    if name.startswith("block:"):
        return name.partition(":")[2] or None
    return sorted(children)[0] if children else None


def _walk_block_dirs(top: Path) -> list[tuple[str, str]]:
    """(parent directory name, disk name) of every block directory below `top`."""
    found = []
    for current, dirs, _files in os.walk(top, followlinks=False):
        dirs.sort()
        base = os.path.basename(current)
        if base == "block" or base.startswith("block:"):
            name = _block_name(current, [d for d in dirs if not d.startswith(".")])
            if name:
                found.append((os.path.basename(os.path.dirname(current)), name))
            dirs.clear()
    return found


def vmbus_resource_disk(sysfs_root: Path) -> str | None:
    """The kernel name of the resource disk found by the VMBus walk, or None."""
    devices = sysfs_root / VMBUS_DEVICES
    if not devices.is_dir():
        return None
    for entry in sorted(devices.iterdir()):
        device_dir = entry.resolve()
        device_id = vmbus_device_id(device_dir)
        if device_id.startswith(GEN1_RESOURCE_PREFIX):
            blocks = _walk_block_dirs(device_dir)
            if blocks:
                return blocks[0][1]
        elif device_id == GEN2_CONTROLLER:
            for parent, name in _walk_block_dirs(device_dir):
                if parent.endswith(":1"):  # H:C:T:L with LUN 1
                    return name
    return None


def is_block_device(path: Path) -> bool:
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


class DiskFinder:
    def __init__(self, sysfs_root: Path, dev_root: Path, configured: str | None = None) -> None:
        self.sysfs_root = sysfs_root
        self.dev_root = dev_root
        self.configured = configured

    def dev_path(self, device: str | PurePosixPath) -> Path:
        """A /dev path as seen through the dev root, its links followed."""
        inner = PurePosixPath(device)
        if inner.is_absolute():
            if inner.parts[:2] != ("/", "dev"):
                return Path(os.path.realpath(inner))
            inner = inner.relative_to("/dev")
        return Path(os.path.realpath(self.dev_root / inner))

    def find(self) -> Path | None:
        """The resource disk's block device node, or None when there is none."""
        if self.configured:
            node = self.dev_path(self.configured)
            if not is_block_device(node):
                raise NotFound(f"ResourceDisk.Device={self.configured} is not a block device")
            log.info("resource disk from ResourceDisk.Device: %s", node)
            return node
        link = self.dev_root / AZURE_RESOURCE_LINK
        if os.path.lexists(link):
            node = self.dev_path("/dev" / AZURE_RESOURCE_LINK)
            if is_block_device(node):
                log.info("resource disk from /dev/%s: %s", AZURE_RESOURCE_LINK, node)
                return node
            log.warning("/dev/%s does not lead to a block device", AZURE_RESOURCE_LINK)
        name = vmbus_resource_disk(self.sysfs_root)
        if name is None:
            return None
        node = self.dev_path(f"/dev/{name}")
        if not is_block_device(node):
            raise NotFound(f"the resource disk {name} has no block device node {node}")
        log.info("resource disk from the VMBus walk: %s", node)
        return node
