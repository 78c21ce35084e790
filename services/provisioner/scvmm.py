"""System Center VMM (reference §10.7, `DetectScvmmEnv=y`): start its bootstrap and stand aside.

A VM deployed by SCVMM carries a DVD with `linuxosconfiguration.xml` and an `install` script;
SCVMM's own guest agent configures the VM, so waagent does not provision it. As with the OVF
media, the DVD is read in user space (pycdlib, no mount): its files are copied to a private
directory (root, 0700, fresh at each start) and `/bin/bash <dir>/install -p <dir>` is started
there. (Classic passed `-p <dir>` as one argument; a getopts-style parser reads both the same.)

The bootstrap must outlive the provisioner, which exits when idle, and escape its sandbox (it
installs software): with systemd it is the transient unit `waagent-scvmm.service` (its output in
the journal, its outcome in `systemctl status`); without systemd, `setsid --fork` puts it in a
session of its own, reparented to init. Either way it gets RUNTIME_MAX: classic detached it with
no limit at all; an hour lets a slow package install finish while a hung bootstrap does not stay
forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from ..common.bus.client import ServiceUnavailable
from ..common.clients.systemd import SystemdError
from ..common.clients.systemd_units import ServiceUnit
from ..common.errors import Failed
from ..common.root import Root
from .media import candidates

log = logging.getLogger(__name__)

CONFIG_FILE = "linuxosconfiguration.xml"
INSTALL = "install"
PRIVATE_DIR = PurePosixPath("/run/waagent/scvmm")
UNIT = "waagent-scvmm.service"
RUNTIME_MAX = 3600.0
KILL_AFTER = 30
LAUNCH_TIMEOUT = 10.0
# The DVD is the fabric's input: bounded before a byte is written.
MAX_TOTAL = 256 << 20
MAX_FILES = 1000
UNIT_EXISTS = "org.freedesktop.systemd1.UnitExists"


class TooLarge(ValueError):
    """An SCVMM DVD over the limits: said as a warning, then treated as no SCVMM DVD."""


class TransientUnits(Protocol):
    async def start_transient(
        self, name: str, unit: ServiceUnit, *, mode: str = "fail"
    ) -> None: ...


def _plain(name: str, view: str) -> str:
    return name.split(";", 1)[0].rstrip(".").lower() if view == "iso_path" else name


def _views(iso: Any) -> Iterator[str]:
    """The directory trees of the image, best names first."""
    if iso.has_udf():
        yield "udf_path"
    if iso.has_rock_ridge():
        yield "rr_path"
    if iso.has_joliet():
        yield "joliet_path"
    yield "iso_path"


def _files(iso: Any, view: str) -> dict[PurePosixPath, str]:
    """Relative path (plain name) -> the path in this view, for every file of the image."""
    found: dict[PurePosixPath, str] = {}
    for directory, _, files in iso.walk(**{view: "/"}):
        for name in files:
            inner = PurePosixPath(directory, name)
            relative = PurePosixPath(*(_plain(p, view) for p in inner.parts[1:]))
            if any(p in ("", ".", "..") for p in relative.parts):
                continue
            found[relative] = str(inner)
    return found


def copy_scvmm_media(device: Path, directory: Path) -> int | None:
    """Copy every file of an SCVMM DVD into `directory` (made afresh, root only); how many,
    or None when the device is not an SCVMM DVD (or not readable). Files are streamed from the
    image to disk, never held in memory."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    try:
        with open(device, "rb") as image:
            iso.open_fp(image)
            try:
                found = _listing(iso)
                if found is None:
                    return None
                view, files = found
                _fresh(directory)
                for relative, path in files.items():
                    with _private_file(directory, relative) as out:
                        iso.get_file_from_iso_fp(out, **{view: path})
                return len(files)
            finally:
                iso.close()
    except TooLarge as exc:
        log.warning("%s holds %s but is not used: %s", device, CONFIG_FILE, exc)
        return None
    except OSError:
        raise  # writing the copy failed: the run fails and says why
    except Exception as exc:  # pycdlib parses fabric-supplied bytes: any failure is "not SCVMM"
        log.debug("%s: not an SCVMM DVD (%s)", device, exc)
        return None


def _listing(iso: Any) -> tuple[str, dict[PurePosixPath, str]] | None:
    """The view that holds linuxosconfiguration.xml and its files, checked against the limits."""
    for view in _views(iso):
        files = _files(iso, view)
        if PurePosixPath(CONFIG_FILE) not in files:
            continue
        if len(files) > MAX_FILES:
            raise TooLarge(f"{len(files)} files (at most {MAX_FILES})")
        total = sum(iso.get_record(**{view: p}).get_data_length() for p in files.values())
        if total > MAX_TOTAL:
            raise TooLarge(f"{total} bytes (at most {MAX_TOTAL})")
        return view, files
    return None


def _fresh(directory: Path) -> None:
    """Nothing left from an earlier start; made with 0700 from the first instant."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.parent.mkdir(parents=True, exist_ok=True)
    os.mkdir(directory, 0o700)


def _private_file(directory: Path, relative: PurePosixPath) -> BinaryIO:
    """A new file (never an existing one, never through a symlink), its directories 0700."""
    target = directory / relative
    for parent in reversed(relative.parents[:-1]):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory / parent, 0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.fdopen(os.open(target, flags, 0o700), "wb")


class Scvmm:
    def __init__(self, root: Root, dev_root: Path, units: TransientUnits | None) -> None:
        self.root = root
        self.dev_root = dev_root
        self.units = units

    async def start_if_present(self) -> str | None:
        """Start the bootstrap of an SCVMM DVD; how it was started, None without one."""
        directory = self.root.resolve(PRIVATE_DIR)
        for device in candidates(self.dev_root):
            count = await asyncio.to_thread(copy_scvmm_media, device, directory)
            if count is None:
                continue
            log.info("%s is an SCVMM DVD: %d files copied to %s", device, count, directory)
            argv = ("/bin/bash", str(directory / INSTALL), "-p", str(directory))
            return await self._launch(argv, directory)
        return None

    async def _launch(self, argv: tuple[str, ...], directory: Path) -> str:
        if self.units is not None:
            unit = ServiceUnit(
                argv=argv,
                description="System Center VMM guest agent bootstrap (from the DVD)",
                working_directory=str(directory),
                runtime_max=RUNTIME_MAX,
                standard_input="null",
            )
            try:
                await self.units.start_transient(UNIT, unit)
            except ServiceUnavailable:
                return await _start_session(argv, directory)  # no systemd on this bus
            except SystemdError as exc:
                if exc.name != UNIT_EXISTS:
                    raise
                return f"systemd unit {UNIT} (already started)"
            return f"systemd unit {UNIT}"
        return await _start_session(argv, directory)


async def _start_session(argv: tuple[str, ...], directory: Path) -> str:
    limited = ["timeout", f"--kill-after={KILL_AFTER}", f"{RUNTIME_MAX:g}", *argv]
    proc = await asyncio.create_subprocess_exec(
        "setsid",
        "--fork",
        *limited,
        cwd=directory,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(LAUNCH_TIMEOUT):
            code = await proc.wait()
    except TimeoutError:
        proc.kill()
        raise Failed(f"setsid did not return within {LAUNCH_TIMEOUT:g} s") from None
    if code != 0:
        raise Failed(f"cannot start the SCVMM bootstrap: setsid exited with {code}")
    return "a session of its own (setsid)"
