"""Partition tables with sfdisk, and making sure the kernel knows the partitions (partx).

After a table changes, sfdisk asks the kernel to re-read it. A kernel without the partition
parser (this project's test machines), or a disk whose old partitions are busy, leaves the kernel
with a stale view and the partition node never appears; `partx -u` tells the kernel about each
partition directly, so the node shows up on real VMs and loop devices alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ..common.commands import CommandFailed, CommandRunner
from ..common.errors import Failed
from .models import Partition, Table

log = logging.getLogger(__name__)

SFDISK_TIMEOUT = 60.0
PARTX_TIMEOUT = 30.0
# How long a partition node may take to appear, before and after asking partx for it.
NODE_WAIT = 2.0
NODE_WAIT_AFTER_PARTX = 10.0
NODE_POLL = 0.05
NO_TABLE = "does not contain a recognized partition table"


def parse_table(text: str) -> Table:
    """`sfdisk --json` output as a Table (sizes in bytes)."""
    data: dict[str, Any] = json.loads(text)["partitiontable"]
    sector = int(data.get("sectorsize", 512))
    partitions = []
    for entry in data.get("partitions", []):
        node = str(entry["node"])
        digits = len(node) - len(node.rstrip("0123456789"))
        partitions.append(
            Partition(
                number=int(node[-digits:]),
                node=Path(node),
                start=int(entry["start"]) * sector,
                size=int(entry["size"]) * sector,
                type=str(entry["type"]),
            )
        )
    return Table(label=str(data["label"]), partitions=tuple(partitions))


def disk_size(disk: Path) -> int:
    fd = os.open(disk, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


class Partitioner:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    async def read_table(self, disk: Path) -> Table | None:
        """The disk's partition table, or None when it has none."""
        result = await self.runner.run(
            ["sfdisk", "--json", str(disk)], timeout=SFDISK_TIMEOUT, check=False
        )
        if result.ok:
            return parse_table(result.stdout)
        if NO_TABLE in result.stderr:
            return None
        raise CommandFailed(result)

    async def create_single(self, disk: Path, label: str) -> None:
        """A new table with one Linux partition over the whole disk; old signatures wiped."""
        log.info("%s: new %s partition table with one Linux partition", disk, label)
        await self.runner.run(
            ["sfdisk", "--quiet", "--wipe", "always", "--wipe-partitions", "always", str(disk)],
            input=f"label: {label}\n,,L\n".encode(),
            timeout=SFDISK_TIMEOUT,
        )
        await self.update_kernel(disk)

    async def set_linux_type(self, disk: Path, number: int) -> None:
        log.info("%s: partition %d becomes type Linux", disk, number)
        await self.runner.run(
            ["sfdisk", "--quiet", "--part-type", str(disk), str(number), "L"],
            timeout=SFDISK_TIMEOUT,
        )
        await self.update_kernel(disk)

    async def update_kernel(self, disk: Path) -> None:
        """Tell the kernel the partitions of the table on disk (adds, removes, resizes)."""
        result = await self.runner.run(
            ["partx", "-u", str(disk)], timeout=PARTX_TIMEOUT, check=False
        )
        if not result.ok:
            # A busy partition cannot be updated; the wait for the node says if it matters.
            log.warning("partx -u %s: %s", disk, result.message())

    async def wait_for_node(self, disk: Path, node: Path) -> Path:
        """The partition's device node, asking the kernel for it when it does not appear."""
        if await _appears(node, NODE_WAIT):
            return node
        log.info("%s did not appear; asking the kernel to add the partitions of %s", node, disk)
        await self.update_kernel(disk)
        await self.runner.run(["partx", "-a", str(disk)], timeout=PARTX_TIMEOUT, check=False)
        if await _appears(node, NODE_WAIT_AFTER_PARTX):
            return node
        raise Failed(f"partition {node} did not appear, even after partx")


def _exists(path: Path) -> bool:
    return path.exists()  # one stat of devtmpfs: not worth a thread


async def _appears(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _exists(path):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(NODE_POLL)
    return True
