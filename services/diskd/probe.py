"""The one rule that must never break: a disk that holds a Linux filesystem is never formatted.

What a device holds is read from the device itself (blkid's low-level probe, which reads the
superblocks and ignores caches and partition types), for the whole disk and for every partition.
Only an empty range or an NTFS filesystem (how Azure delivers a fresh resource disk) may be
destroyed; anything else blkid recognises (ext4, xfs, swap, LVM, LUKS, several signatures at
once...) protects the whole disk.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..common.commands import CommandFailed, CommandRunner
from ..common.errors import Failed
from .models import Content

log = logging.getLogger(__name__)

BLKID_TIMEOUT = 30.0
# Content Azure puts on a fresh resource disk, which may be formatted over.
DISPOSABLE = frozenset({"ntfs"})
# Filesystems found on a disk that diskd mounts as they are.
MOUNTABLE = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs"})

# blkid exit statuses (blkid(8)).
_FOUND, _NOTHING, _AMBIVALENT = 0, 2, 8


class NeverFormat(Failed):
    """Formatting was about to destroy something that is not disposable; it did not happen."""


def is_protected(content: Content) -> bool:
    return content.ambivalent or (content.type is not None and content.type not in DISPOSABLE)


def describe(content: Content) -> str:
    if content.ambivalent:
        return "several conflicting signatures"
    return content.type or "nothing"


def parse_export(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


class Prober:
    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    async def probe(
        self, device: Path, offset: int | None = None, size: int | None = None
    ) -> Content:
        """What `device` holds (from `offset` for `size` bytes when given)."""
        argv = ["blkid", "-p", "-o", "export"]
        if offset is not None:
            argv += ["-O", str(offset)]
        if size is not None:
            argv += ["-S", str(size)]
        result = await self.runner.run([*argv, str(device)], timeout=BLKID_TIMEOUT, check=False)
        if result.returncode == _NOTHING:
            return Content()
        if result.returncode == _AMBIVALENT:
            return Content(ambivalent=True)
        if result.returncode != _FOUND:
            raise CommandFailed(result)
        values = parse_export(result.stdout)
        return Content(type=values.get("TYPE"), pttype=values.get("PTTYPE"))

    async def check_formattable(self, device: Path) -> None:
        """The last check before mkfs: raise NeverFormat unless `device` holds nothing to keep."""
        content = await self.probe(device)
        if is_protected(content):
            raise NeverFormat(f"{device} holds {describe(content)}; it is never formatted")
        log.info("%s holds %s: it may be formatted", device, describe(content))
