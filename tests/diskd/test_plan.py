"""The plan for an unmounted disk: the never-format rule first, then the classic rules (§8.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from waagent.diskd.models import Content, Partition, Table
from waagent.diskd.plan import (
    LINUX_TYPES,
    MBR_LIMIT,
    FormatPartition,
    MountExisting,
    Refuse,
    Repartition,
    choose,
)

DISK = Path("/dev/sdb")
SIZE = 64 << 30
EMPTY = Content()
NTFS = Content(type="ntfs")
EXT4 = Content(type="ext4")
GPT_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def part(number: int, type: str = "7") -> Partition:
    return Partition(number, Path(f"/dev/sdb{number}"), number << 20, 1 << 30, type)


def table(label: str, *parts: Partition) -> Table:
    return Table(label, parts)


def test_a_fresh_azure_disk_with_ntfs_in_a_type_7_partition_is_formatted_after_retyping() -> None:
    plan = choose(DISK, SIZE, Content(pttype="dos"), table("dos", part(1)), {1: NTFS})
    assert plan == FormatPartition(part(1), set_linux_type=True)


def test_an_empty_linux_partition_is_formatted_without_retyping() -> None:
    plan = choose(DISK, SIZE, Content(pttype="dos"), table("dos", part(1, "83")), {1: EMPTY})
    assert plan == FormatPartition(part(1, "83"), set_linux_type=False)


def test_a_disk_without_a_table_or_signature_gets_an_mbr_partition() -> None:
    assert choose(DISK, SIZE, EMPTY, None, {}) == Repartition("dos")


def test_a_disk_over_2_tib_without_a_table_gets_gpt() -> None:
    assert choose(DISK, MBR_LIMIT + 1, EMPTY, None, {}) == Repartition("gpt")


@pytest.mark.parametrize("fstype", ["ext2", "ext3", "ext4", "xfs", "btrfs"])
def test_a_linux_filesystem_in_partition_1_is_mounted_as_it_is_even_when_ntfs_typed(
    fstype: str,
) -> None:
    plan = choose(
        DISK, SIZE, Content(pttype="dos"), table("dos", part(1)), {1: Content(type=fstype)}
    )
    assert plan == MountExisting(part(1).node, fstype)


def test_a_filesystem_on_the_whole_disk_is_mounted_as_it_is() -> None:
    assert choose(DISK, SIZE, EXT4, None, {}) == MountExisting(DISK, "ext4")


@pytest.mark.parametrize("kind", ["swap", "LVM2_member", "crypto_LUKS", "vfat", "zfs_member"])
def test_anything_else_recognised_on_the_whole_disk_is_refused(kind: str) -> None:
    plan = choose(DISK, SIZE, Content(type=kind), None, {})
    assert isinstance(plan, Refuse)
    assert f"holds {kind}" in plan.reason


def test_several_signatures_at_once_are_refused() -> None:
    plan = choose(DISK, SIZE, Content(ambivalent=True), None, {})
    assert plan == Refuse("/dev/sdb holds several conflicting signatures; it is never formatted")


def test_a_gpt_disk_with_several_empty_partitions_is_repartitioned() -> None:
    parts = (part(1, GPT_LINUX), part(2, GPT_LINUX), part(3, GPT_LINUX))
    plan = choose(DISK, SIZE, Content(pttype="gpt"), table("gpt", *parts), {1: EMPTY, 2: NTFS})
    assert plan == Repartition("gpt")


def test_a_gpt_disk_with_data_in_a_later_partition_is_never_repartitioned() -> None:
    parts = (part(1, GPT_LINUX), part(2, GPT_LINUX), part(3, GPT_LINUX))
    plan = choose(
        DISK, SIZE, Content(pttype="gpt"), table("gpt", *parts), {1: EMPTY, 2: EXT4, 3: EMPTY}
    )
    assert plan == Refuse(
        "/dev/sdb: partition 2 holds ext4; a disk holding data is never formatted"
    )


def test_a_gpt_disk_with_one_empty_partition_keeps_its_table() -> None:
    plan = choose(DISK, SIZE, Content(pttype="gpt"), table("gpt", part(1, GPT_LINUX)), {1: EMPTY})
    assert plan == FormatPartition(part(1, GPT_LINUX), set_linux_type=False)


def test_an_mbr_disk_formats_partition_1_only_when_the_others_hold_nothing() -> None:
    parts = (part(1), part(2, "83"))
    assert isinstance(
        choose(DISK, SIZE, Content(pttype="dos"), table("dos", *parts), {1: NTFS, 2: EMPTY}),
        FormatPartition,
    )
    assert isinstance(
        choose(DISK, SIZE, Content(pttype="dos"), table("dos", *parts), {1: NTFS, 2: EXT4}),
        Refuse,
    )


def test_a_table_without_partition_1_is_replaced() -> None:
    plan = choose(DISK, SIZE, Content(pttype="dos"), table("dos", part(2, "83")), {2: EMPTY})
    assert plan == Repartition("dos")


def test_an_empty_table_is_replaced_with_the_same_label() -> None:
    assert choose(DISK, SIZE, Content(pttype="gpt"), table("gpt"), {}) == Repartition("gpt")


def test_the_linux_partition_types_are_the_ones_sfdisk_prints() -> None:
    assert {"83", GPT_LINUX} == LINUX_TYPES
