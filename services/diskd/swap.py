"""The swap file on the resource disk (reference §8.3, with its short-file quirk fixed).

`<mount point>/swapfile` is the agent's by name; no other swap is ever touched (never
`swapoff -a`). The file is created 0600 from the first byte (O_CREAT|O_EXCL with the mode),
allocated with fallocate where the filesystem supports it and written with zeros elsewhere, so it
has exactly the size asked for. A swap that does not fit is refused before anything is changed,
and a failure part-way removes what was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..common.commands import CommandFailed, CommandRunner
from ..common.errors import InvalidArgs
from .activation import Activator, Commands
from .crypt import SwapEncryption
from .models import MIB
from .mounts import KernelState

log = logging.getLogger(__name__)

SWAPFILE = "swapfile"
FALLOCATE_TIMEOUT = 300.0
MKSWAP_TIMEOUT = 120.0
ZERO_CHUNK = 4 * MIB


@dataclass(frozen=True)
class SwapStatus:
    enabled: bool
    size_mb: int


def create_private(path: Path) -> None:
    """An empty file readable by root only, from the first byte; it must not exist yet."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
    finally:
        os.close(fd)


def write_zeros(path: Path, size: int) -> None:
    """Fill the file with `size` bytes of zeros (for filesystems without fallocate)."""
    chunk = bytes(ZERO_CHUNK)
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        left = size
        while left:
            left -= os.write(fd, chunk[: min(left, ZERO_CHUNK)])
        os.fsync(fd)
    finally:
        os.close(fd)


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except FileNotFoundError:
        return 0


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


class SwapFile:
    def __init__(
        self,
        runner: CommandRunner,
        kernel: KernelState,
        encryption: SwapEncryption,
        activator: Activator | None = None,
    ) -> None:
        self.runner = runner
        self.kernel = kernel
        self.encryption = encryption
        self.activator = activator or Commands(runner)

    def _active_device(self, path: Path) -> Path | None:
        """What is swapping for the agent's file: the file itself or its encrypted mapping."""
        if self.kernel.swap_active(path):
            return path
        if self.encryption.is_open() and self.kernel.swap_active(self.encryption.mapping):
            return self.encryption.mapping
        return None

    def status(self, mount_point: Path) -> SwapStatus:
        path = mount_point / SWAPFILE
        active = self._active_device(path) is not None
        return SwapStatus(active, _size(path) // MIB if active else 0)

    async def ensure(self, mount_point: Path, size_mb: int, *, encrypt: bool) -> SwapStatus:
        """Make the active swap file exactly `size_mb` MiB (0 removes it)."""
        path = mount_point / SWAPFILE
        size = size_mb * MIB
        device = self._active_device(path)
        wanted = self.encryption.mapping if encrypt else path
        if size and device == wanted and _size(path) == size:
            os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & 0o600)
            log.info("swap already enabled: %s, %d MiB", path, size_mb)
            return SwapStatus(True, size_mb)
        if size:
            self.check_fits(mount_point, size)
            if encrypt:
                self.encryption.check_available()
        await self.remove(mount_point)
        if not size:
            return SwapStatus(False, 0)
        try:
            await self.allocate(path, size)
            target = await self.encryption.open(path) if encrypt else path
            await self.runner.run(["mkswap", str(target)], timeout=MKSWAP_TIMEOUT)
            await self.activator.swapon(target)
        except BaseException:
            await self.remove(mount_point)
            raise
        log.info("swap enabled: %s, %d MiB%s", path, size_mb, " (encrypted)" if encrypt else "")
        return SwapStatus(True, size_mb)

    def check_fits(self, mount_point: Path, size: int) -> None:
        """Refuse, before anything changes, a swap file the filesystem cannot hold."""
        room = free_bytes(mount_point) + _size(mount_point / SWAPFILE)
        if size > room:
            raise InvalidArgs(
                f"a swap file of {size // MIB} MiB does not fit on {mount_point} "
                f"({room // MIB} MiB available)"
            )

    async def remove(self, mount_point: Path) -> None:
        """Disable and delete the agent's swap file (and its encrypted mapping), if any."""
        path = mount_point / SWAPFILE
        device = self._active_device(path)
        if device is not None:
            log.info("disabling swap %s", device)
            await self.activator.swapoff(device)
        await self.encryption.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    async def allocate(self, path: Path, size: int, *, zeros: bool = False) -> str:
        """Create `path` 0600 with `size` bytes; returns "fallocate" or "zeros" (how)."""
        create_private(path)
        if not zeros:
            result = await self.runner.run(
                ["fallocate", "-l", str(size), str(path)], timeout=FALLOCATE_TIMEOUT, check=False
            )
            if result.ok:
                return "fallocate"
            if "not supported" not in result.message():
                raise CommandFailed(result)
            log.info("%s: fallocate is not supported here; writing zeros", path)
        await asyncio.to_thread(write_zeros, path, size)
        return "zeros"
