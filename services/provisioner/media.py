"""The provisioning media (reference §6.2): find the DVD, read ovf-env.xml without mounting it.

The device is looked for under the dev root by the classic name patterns. ovf-env.xml is read in
user space with pycdlib from the block device (or image file): UDF first, then the ISO9660 views
(Joliet, Rock Ridge, plain). A filesystem supplied by the fabric therefore never reaches a kernel
parser and no CAP_SYS_ADMIN is needed. Only when that fails (pure UDF without an ISO9660 bridge,
which pycdlib cannot open) is the kernel asked: an existing mount of the device is reused, else
it is mounted read-only at DVD.MountPoint and unmounted again.

The DVD is not ejected: it was never mounted (or is unmounted again), and leaving it attached
keeps the fabric's view unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..common.commands import CommandRunner
from ..common.errors import NotFound, WaagentError
from ..common.root import Root
from .ovf import MAX_SIZE

log = logging.getLogger(__name__)

# In the order classic tries them; each name in full (sr0, sr1, ..., vdb).
DEVICE_PATTERNS = (r"sr[0-9]+", r"hd[c-z]", r"cdrom[0-9]+", r"cd[0-9]+", r"vd[b-z]")
OVF_FILE = "ovf-env.xml"
ISO9660_NAMES = ("OVF-ENV.XML", "OVF_ENV.XML")
MOUNT_TIMEOUT = 30.0
MOUNT_TYPES = "udf,iso9660"


class MediaError(NotFound):
    """No usable provisioning media; the message is the ProvisioningFailed reason."""


class NoMedia(MediaError):
    """No device that could be the DVD (IMDS may still know what to do)."""


@dataclass(frozen=True)
class Media:
    device: Path
    data: bytes
    how: str  # "udf", "joliet", "rock ridge", "iso9660" or "kernel mount"


def candidates(dev_root: Path) -> list[Path]:
    """Device nodes that may be the DVD, in the classic order of the patterns."""
    try:
        names = sorted(os.listdir(dev_root))
    except OSError:
        return []
    found = []
    for pattern in DEVICE_PATTERNS:
        found += [dev_root / n for n in names if re.fullmatch(pattern, n)]
    return found


def _checked_size(size: int) -> int:
    if size > MAX_SIZE:
        raise MediaError(f"{OVF_FILE} on the media is too large ({size} bytes)")
    return size


def _extract(iso: Any, **path: str) -> bytes:
    _checked_size(iso.get_record(**path).get_data_length())
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, **path)
    return out.getvalue()


def _iso9660_path(iso: Any) -> str | None:
    for child in iso.list_children(iso_path="/"):
        name = str(child.file_identifier().decode("ascii", "replace"))
        if name.split(";", 1)[0].upper() in ISO9660_NAMES:
            return "/" + name
    return None


def _lookups(iso: Any) -> list[tuple[str, dict[str, str]]]:
    """Where ovf-env.xml may be, in order: UDF, then the ISO9660 views."""
    found = []
    if iso.has_udf():
        found.append(("udf", {"udf_path": "/" + OVF_FILE}))
    if iso.has_joliet():
        found.append(("joliet", {"joliet_path": "/" + OVF_FILE}))
    if iso.has_rock_ridge():
        found.append(("rock ridge", {"rr_path": "/" + OVF_FILE}))
    plain = _iso9660_path(iso)
    if plain is not None:
        found.append(("iso9660", {"iso_path": plain}))
    return found


def read_user_space(device: Path) -> tuple[bytes, str]:
    """ovf-env.xml from an image or block device, parsed by pycdlib (no mount)."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    try:
        with open(device, "rb") as image:
            try:
                iso.open_fp(image)
            except Exception as exc:
                # pycdlib parses fabric-supplied bytes: any failure means "not readable".
                raise MediaError(f"{device} is not a readable UDF/ISO9660 image: {exc}") from None
            try:
                for how, path in _lookups(iso):
                    with contextlib.suppress(pycdlib.pycdlibexception.PyCdlibException):
                        return _extract(iso, **path), how
            finally:
                iso.close()
    except OSError as exc:
        raise MediaError(f"cannot read {device}: {exc.strerror or exc}") from None
    raise MediaError(f"{device} holds no {OVF_FILE}")


class KernelMedia(Protocol):
    async def read(self, device: Path) -> bytes: ...


class KernelMount:
    """The fallback: the kernel's mount of the device (reused, or made and undone)."""

    def __init__(self, root: Root, runner: CommandRunner, mount_point: str) -> None:
        self.root = root
        self.runner = runner
        self.mount_point = mount_point

    async def read(self, device: Path) -> bytes:
        existing = mounted_at(device)
        if existing is not None:
            log.info("%s is already mounted at %s", device, existing)
            return _read_capped(existing / OVF_FILE)
        made = self._missing_directories()
        target = self.root.makedirs(self.mount_point, 0o700)
        try:
            await self._mount(device, target)
            try:
                return _read_capped(target / OVF_FILE)
            finally:
                result = await self.runner.run(
                    ["umount", str(target)], timeout=MOUNT_TIMEOUT, check=False
                )
                if not result.ok:
                    log.warning("cannot unmount %s: %s", target, result.message())
        finally:
            for directory in made:  # deepest first: only what this attempt made
                with contextlib.suppress(OSError):
                    directory.rmdir()

    def _missing_directories(self) -> list[Path]:
        missing = []
        probe = self.root.resolve(self.mount_point)
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        return missing

    async def _mount(self, device: Path, target: Path) -> None:
        options = "ro,nodev,nosuid,noexec"
        argv = ["mount", "-o", options, "-t", MOUNT_TYPES, str(device), str(target)]
        result = await self.runner.run(argv, timeout=MOUNT_TIMEOUT, check=False)
        if not result.ok:
            # mount's first line says why; the last only points at dmesg.
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
            raise MediaError(lines[0] if lines else f"mount exited with {result.returncode}")


def _read_capped(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            _checked_size(os.fstat(f.fileno()).st_size)
            return f.read(MAX_SIZE + 1)
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from None


def mounted_at(device: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> Path | None:
    """Where the kernel has this block device mounted (matched by device number), if anywhere."""
    try:
        st = os.stat(device)
        text = mountinfo.read_text()
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    wanted = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[2] == wanted:
            return Path(fields[4].encode().decode("unicode_escape"))
    return None


class MediaReader:
    def __init__(self, dev_root: Path, kernel: KernelMedia) -> None:
        self.dev_root = dev_root
        self.kernel = kernel

    async def read(self) -> Media:
        devices = candidates(self.dev_root)
        if not devices:
            seen = (
                ", ".join(sorted(os.listdir(self.dev_root))[:20]) if self.dev_root.is_dir() else ""
            )
            raise NoMedia(
                f"no provisioning media: no DVD device in {self.dev_root} "
                f"(looked for {'|'.join(DEVICE_PATTERNS)}; seen: {seen or 'nothing'})"
            )
        problems = []
        for device in devices:
            try:
                data, how = await asyncio.to_thread(read_user_space, device)
            except MediaError as exc:
                problems.append(exc.message)
            else:
                log.info("read %s from %s (%s, in user space)", OVF_FILE, device, how)
                return Media(device, data, how)
        for device in devices:
            try:
                data = await self.kernel.read(device)
            except WaagentError as exc:
                problems.append(f"kernel mount of {device}: {exc.message}")
            else:
                log.info("read %s from %s through a kernel mount", OVF_FILE, device)
                return Media(device, data, "kernel mount")
        raise MediaError("provisioning media unreadable: " + "; ".join(problems))
