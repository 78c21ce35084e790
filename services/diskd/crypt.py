"""Encrypted swap (ResourceDisk.EnableSwapEncryption): new behaviour on Linux.

The classic agent honoured the key only on FreeBSD (geli with a one-time key). Here the swap file
is opened with dm-crypt in plain mode with a random key read from /dev/urandom and never stored:
what is swapped out cannot be read after the mapping is closed or the VM stops. The mapping is
`/dev/mapper/waagent-swap`, over the agent's own swap file (cryptsetup attaches a loop device).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from ..common.cmdenv import BASE_ENV
from ..common.commands import CommandRunner
from ..common.errors import NotSupported

log = logging.getLogger(__name__)

MAP_NAME = "waagent-swap"
CIPHER = "aes-xts-plain64"
KEY_BITS = "512"
CRYPTSETUP_TIMEOUT = 60.0
PROC_MISC = Path("/proc/misc")


def missing_support(proc_misc: Path = PROC_MISC) -> str | None:
    """Why encrypted swap cannot work here, or None when it can."""
    if shutil.which("cryptsetup", path=BASE_ENV["PATH"]) is None:
        return "cryptsetup is not installed"
    try:
        misc = proc_misc.read_text()
    except OSError:
        misc = ""
    if "device-mapper" not in misc.split():
        return "the kernel has no device-mapper (no device-mapper in /proc/misc), so no dm-crypt"
    return None


class SwapEncryption:
    def __init__(self, runner: CommandRunner, dev_root: Path, proc_misc: Path = PROC_MISC) -> None:
        self.runner = runner
        self.mapping = dev_root / "mapper" / MAP_NAME
        self.proc_misc = proc_misc

    def check_available(self) -> None:
        reason = missing_support(self.proc_misc)
        if reason is not None:
            raise NotSupported(f"swap encryption is not possible: {reason}")

    def is_open(self) -> bool:
        return self.mapping.exists()

    async def open(self, swapfile: Path) -> Path:
        """Map the swap file with a random one-time key; returns the mapped device."""
        await self.runner.run(
            [
                "cryptsetup",
                "open",
                "--type",
                "plain",
                "--cipher",
                CIPHER,
                "--key-size",
                KEY_BITS,
                "--key-file",
                "/dev/urandom",
                str(swapfile),
                MAP_NAME,
            ],
            timeout=CRYPTSETUP_TIMEOUT,
        )
        return self.mapping

    async def close(self) -> None:
        if self.is_open():
            await self.runner.run(["cryptsetup", "close", MAP_NAME], timeout=CRYPTSETUP_TIMEOUT)
