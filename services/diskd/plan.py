"""What to do with an unmounted resource disk (reference §8.2), decided from what it holds.

A pure function of the facts, so every case is a unit test. The never-format rule comes first:
when the disk or any partition holds something that is not disposable, the disk is never
partitioned or formatted; partition 1 is mounted as it is when it holds a Linux filesystem, and
otherwise nothing is done. Only then the classic rules apply: an empty disk gets one Linux
partition; a GPT disk with several partitions is repartitioned to one; partition 1 (NTFS-typed on
a fresh disk, or holding nothing) is formatted with the configured filesystem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .models import Content, Partition, Table
from .probe import MOUNTABLE, describe, is_protected

# Partition types meaning "Linux filesystem" (sfdisk prints them like this).
LINUX_TYPES = frozenset({"83", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"})
# An MBR table cannot describe a disk larger than 2 TiB (32-bit sector numbers).
MBR_LIMIT = 2 << 40


@dataclass(frozen=True)
class MountExisting:
    """Mount what is there, with the filesystem type found on it."""

    device: Path
    fstype: str


@dataclass(frozen=True)
class FormatPartition:
    partition: Partition
    set_linux_type: bool


@dataclass(frozen=True)
class Repartition:
    """Replace the table with one holding a single Linux partition, then format it."""

    label: str


@dataclass(frozen=True)
class Refuse:
    reason: str


Plan = MountExisting | FormatPartition | Repartition | Refuse


def new_label(table: Table | None, disk_size: int) -> str:
    if table is not None:
        return table.label
    return "gpt" if disk_size > MBR_LIMIT else "dos"


def choose(
    disk: Path,
    disk_size: int,
    whole: Content,
    table: Table | None,
    contents: Mapping[int, Content],
) -> Plan:
    """The plan for `disk`, from the probe of the whole device and of each partition."""
    if whole.type is not None or whole.ambivalent:
        return _whole_disk(disk, disk_size, whole, table)
    if table is None:
        return Repartition(new_label(None, disk_size))
    return _partitioned(disk, table, contents)


def _whole_disk(disk: Path, disk_size: int, whole: Content, table: Table | None) -> Plan:
    """A filesystem (or something else) straight on the disk, without a partition table."""
    if whole.type in MOUNTABLE and not whole.ambivalent:
        return MountExisting(disk, whole.type)
    if is_protected(whole):
        return Refuse(f"{disk} holds {describe(whole)}; it is never formatted")
    return Repartition(new_label(table, disk_size))


def _partitioned(disk: Path, table: Table, contents: Mapping[int, Content]) -> Plan:
    kept = {n: c for n, c in contents.items() if is_protected(c)}
    first = table.partition(1)
    if kept:
        found = kept.get(1)
        if first is not None and found is not None and found.type in MOUNTABLE:
            return MountExisting(first.node, found.type)
        held = ", ".join(f"partition {n} holds {describe(c)}" for n, c in sorted(kept.items()))
        return Refuse(f"{disk}: {held}; a disk holding data is never formatted")
    if first is None or (table.label == "gpt" and len(table.partitions) > 1):
        return Repartition(table.label)
    return FormatPartition(first, set_linux_type=first.type.upper() not in LINUX_TYPES)
