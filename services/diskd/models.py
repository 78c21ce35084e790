"""What diskd knows about the resource disk, and the facts it reads from the kernel and blkid."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..common.models.base import FrozenModel

MIB = 1 << 20


class State(StrEnum):
    """The `State` property: where the resource-disk work stands."""

    NOT_STARTED = "NotStarted"
    DETECTING = "Detecting"
    NO_RESOURCE_DISK = "NoResourceDisk"
    PARTITIONING = "Partitioning"
    FORMATTING = "Formatting"
    MOUNTING = "Mounting"
    CONFIGURING_SWAP = "ConfiguringSwap"
    MOUNTED = "Mounted"
    FAILED = "Failed"


class DiskStatus(FrozenModel):
    """Everything the Disk1 properties show; replaced as a whole on each change."""

    device: str = ""
    mount_point: str = ""
    filesystem: str = ""
    mounted: bool = False
    swap_enabled: bool = False
    swap_size_mb: int = 0
    state: State = State.NOT_STARTED
    last_error: str = ""


@dataclass(frozen=True)
class Partition:
    """One entry of a partition table; offsets and sizes in bytes."""

    number: int
    node: Path
    start: int
    size: int
    type: str


@dataclass(frozen=True)
class Table:
    label: str  # "dos" or "gpt"
    partitions: tuple[Partition, ...]

    def partition(self, number: int) -> Partition | None:
        return next((p for p in self.partitions if p.number == number), None)


@dataclass(frozen=True)
class Content:
    """What blkid's low-level probe finds in a device or a byte range of it."""

    type: str | None = None  # filesystem or container: ext4, ntfs, swap, LVM2_member...
    pttype: str | None = None  # partition table: dos, gpt
    ambivalent: bool = False  # several signatures: nobody can say what it holds


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo."""

    devno: tuple[int, int]
    mount_point: str
    fstype: str
    source: str
    options: str
