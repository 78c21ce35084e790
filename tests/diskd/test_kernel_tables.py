"""Reading the kernel's mount and swap tables, and sfdisk's view of a partition table."""

from __future__ import annotations

from pathlib import Path

from waagent.diskd.models import Mount, Partition
from waagent.diskd.mounts import parse_mountinfo, parse_swaps
from waagent.diskd.partition import parse_table

MOUNTINFO = (
    "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    "98 22 259:3 / /mnt/my\\040disk rw,nosuid,nodev,relatime shared:50 - ext4 /dev/loop3p1 rw\n"
)


def test_mountinfo_lines_become_mounts_with_escapes_undone() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert mounts[1] == Mount(
        devno=(259, 3),
        mount_point="/mnt/my disk",
        fstype="ext4",
        source="/dev/loop3p1",
        options="rw,nosuid,nodev,relatime,rw",
    )


def test_proc_swaps_lists_paths_and_sizes() -> None:
    text = (
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        "/mnt/resource/swapfile                  file\t\t65532\t\t0\t\t-2\n"
    )
    swaps = parse_swaps(text)
    assert [(s.path, s.size_kib) for s in swaps] == [("/mnt/resource/swapfile", 65532)]


def test_sfdisk_json_gives_partitions_in_bytes_with_their_numbers() -> None:
    text = """{"partitiontable": {"label": "gpt", "sectorsize": 4096, "partitions": [
        {"node": "/dev/nvme0n1p1", "start": 256, "size": 1024, "type": "0FC63DAF"},
        {"node": "/dev/nvme0n1p12", "start": 2048, "size": 10, "type": "0FC63DAF"}]}}"""
    table = parse_table(text)
    assert table.label == "gpt"
    assert table.partitions == (
        Partition(1, Path("/dev/nvme0n1p1"), 256 * 4096, 1024 * 4096, "0FC63DAF"),
        Partition(12, Path("/dev/nvme0n1p12"), 2048 * 4096, 10 * 4096, "0FC63DAF"),
    )
