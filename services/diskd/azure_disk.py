"""`waagent-azure-disk DEVPATH`: the name of a Hyper-V disk under /dev/disk/azure, for udev.

udev/66-azure-storage.rules imports its output (`WAAGENT_AZURE_DISK=<name>`) for every block
device whose SCSI parent says vendor `Msft`, model `Virtual Disk`, and links
`/dev/disk/azure/<name>` (partitions: `<name>-part<N>`). The name comes from the VMBus device
the disk hangs off (reference §8.1, the classic 66-azure-storage.rules' facts):

* Gen1: the IDE controllers' device ids: `00000000-0000-...` is the OS disk (`root`),
  `00000000-0001-...` the resource disk (`resource`);
* the SCSI controllers `f8b3781a/b/c/d-1e82-4818-a1c3-63d806ec15bb` are scsi0..scsi3, and a
  disk on one is `scsi<N>/lun<L>` by the LUN of its `H:C:T:L`; on scsi0 (Gen2's only
  controller) LUN 0 is `root`, LUN 1 `resource`, and LUN 2 (the DVD) gets no name.

It prints nothing for any other device, so udev adds no link. diskd's detect.py finds the
resource disk the other way round (VMBus device to disk) from the same constants.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from .detect import GEN1_RESOURCE_PREFIX, GEN2_CONTROLLER, vmbus_device_id

GEN1_OS_PREFIX = "00000000-0000"
# The four synthetic SCSI controllers differ only in the eighth hex digit (a, b, c, d).
SCSI_CONTROLLER = re.compile(r"f8b3781([a-d])" + re.escape(GEN2_CONTROLLER[8:]))
HCTL = re.compile(r"\d+:\d+:\d+:(\d+)")
# On scsi0: the OS disk, the resource disk, and the DVD (no link).
SCSI0_NAMES: dict[int, str | None] = {0: "root", 1: "resource", 2: None}
PROPERTY = "WAAGENT_AZURE_DISK"


def _ancestors(device: Path, top: Path) -> list[Path]:
    """`device` and its parents up to (not including) `top`."""
    found = []
    while device != top and device.is_relative_to(top):
        found.append(device)
        device = device.parent
    return found


def azure_name(sysfs_root: Path, devpath: str) -> str | None:
    """The /dev/disk/azure name of the block device at `devpath` (`/devices/...`), or None."""
    lun: int | None = None
    for directory in _ancestors(sysfs_root / devpath.lstrip("/"), sysfs_root):
        hctl = HCTL.fullmatch(directory.name)
        if lun is None and hctl:
            lun = int(hctl.group(1))
        device_id = vmbus_device_id(directory)
        if device_id:
            return _named(device_id, lun)
    return None


def _named(device_id: str, lun: int | None) -> str | None:
    if device_id.startswith(GEN1_OS_PREFIX):
        return "root"
    if device_id.startswith(GEN1_RESOURCE_PREFIX):
        return "resource"
    controller = SCSI_CONTROLLER.fullmatch(device_id)
    if controller is None or lun is None:
        return None
    number = "abcd".index(controller.group(1))
    if number == 0 and lun in SCSI0_NAMES:
        return SCSI0_NAMES[lun]
    return f"scsi{number}/lun{lun}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="waagent-azure-disk", description="print the /dev/disk/azure name of a disk (udev)"
    )
    parser.add_argument("devpath", help="the device's sysfs path, as udev's %%p")
    parser.add_argument("--sysfs-root", type=Path, default=Path("/sys"))
    args = parser.parse_args(argv)
    name = azure_name(args.sysfs_root, args.devpath)
    if name is not None:
        sys.stdout.write(f"{PROPERTY}={name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
