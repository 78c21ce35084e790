"""Building the log bundle (reference §10.13): a zip of what the manifest names, inside a root.

The classic caps hold: a file larger than 30 MiB is replaced by its last 30 MiB (archived as
`truncated_<path_with_underscores>`), a larger compressed file is left out, and at most 150 MiB
go in uncompressed: the file that would pass them is trimmed to its last bytes that fit, not
dropped (only files after it, once the 150 MiB are reached, are left out). Once the zip is so
big that one more file could take it past what wire accepts, nothing more is added, so the
upload is never refused for its size. The files most useful to support (the agent log, status,
history, extension logs) go first.

Nothing secret goes in: private keys are left out by name (`*.prv`, `*.key`) and by content (a
PEM private key block anywhere in the file), `protectedSettings` values of handler settings files
are redacted, and a symlink is followed only when root owns it (a user could otherwise point one
at /etc/shadow from a log directory). Paths are resolved inside the root, as in a chroot.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import stat
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from .. import __version__
from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.errors import Failed, InvalidArgs
from ..common.root import Root
from . import log_manifest
from .log_manifest import Manifest

log = logging.getLogger(__name__)

MiB = 1 << 20
FILE_CAP = 30 * MiB
TOTAL_CAP = 150 * MiB
# What wire accepts (services/wire/log_upload.py MAX_LOG_BUNDLE); a test keeps the two equal.
ARCHIVE_CAP = 100 * MiB
# Room kept for what follows the last file: results.txt and the zip's central directory.
ARCHIVE_RESERVE = MiB
MAX_ERRORS = 8
CHUNK = MiB
LIST_TIMEOUT = 30.0

COMPRESSED_SUFFIXES = (".gz", ".zip", ".xz")
SECRET_SUFFIXES = (".prv", ".key")
PRIVATE_KEY_MARKER = b"PRIVATE KEY-----"
REDACTED = "***REDACTED***"
RESULTS_NAME = "results.txt"


@dataclass(frozen=True)
class Caps:
    file: int = FILE_CAP
    total: int = TOTAL_CAP
    archive: int = ARCHIVE_CAP
    reserve: int = ARCHIVE_RESERVE

    @property
    def archive_full_at(self) -> int:
        """Past this many bytes of zip, one more file (at most `file` bytes, even if it does
        not compress) could take the finished archive over `archive`."""
        return self.archive - self.file - self.reserve


@dataclass
class Bundle:
    """What went into the zip (archive names), and what did not and why."""

    files: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)
    uncompressed: int = 0
    size: int = 0


class LeftOut(Exception):
    """A file that is not collected, with the reason (written to results.txt)."""


def archive_name(inner: PurePosixPath) -> str:
    return str(inner).lstrip("/")


def truncated_name(inner: PurePosixPath) -> str:
    return "truncated_" + archive_name(inner).replace("/", "_")


def redact_protected(document: Any) -> Any:
    """Every `protectedSettings` value replaced, wherever it sits in the document."""
    if isinstance(document, dict):
        return {
            key: REDACTED if key == "protectedSettings" else redact_protected(value)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [redact_protected(item) for item in document]
    return document


class LogCollector:
    def __init__(
        self, root: Root, config: AgentConfig, runner: CommandRunner, caps: Caps | None = None
    ) -> None:
        self.root = root
        self.config = config
        self.runner = runner
        self.caps = caps or Caps()
        self.values = log_manifest.variables(config)
        self.results: list[str] = []
        self.errors = 0

    # ---- the manifest ----

    async def build(self, manifest: Manifest, out: IO[bytes]) -> Bundle:
        """Write the zip to `out` (a file open for writing) and say what is in it."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.note(f"waagent {__version__} log collection at {stamp}, root {self.root.path}")
        candidates: list[PurePosixPath] = []
        for operation, argument in manifest:
            target = log_manifest.expand(argument, self.values)
            if operation == "echo":
                self.note(target)
            elif operation == "ll":
                await self.listing(target)
            elif operation == "copy":
                candidates += [p for p in self.matches(target) if p not in candidates]
            else:
                raise InvalidArgs(f"unknown manifest operation {operation!r}")
        first = [p for p in candidates if log_manifest.must_collect(str(p), self.values)]
        ordered = first + [p for p in candidates if p not in first]
        bundle = Bundle()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for inner in ordered:
                self.add(archive, out, inner, bundle)
            self.note(f"{len(bundle.files)} files, {bundle.uncompressed} bytes before compression")
            archive.writestr(RESULTS_NAME, "\n".join(self.results) + "\n")
        bundle.size = out.tell()
        return bundle

    def note(self, line: str) -> None:
        self.results.append(line)
        log.debug("%s", line)

    async def listing(self, inner: str) -> None:
        directory = self.root.resolve(inner)
        if not directory.is_dir():
            self.note(f"ll {inner}: no such directory")
            return
        result = await self.runner.run(
            ["ls", "-alF", str(directory)], timeout=LIST_TIMEOUT, check=False
        )
        self.note(f"ll {inner}\n{result.stdout.rstrip()}")

    def matches(self, pattern: str) -> list[PurePosixPath]:
        relative = pattern.lstrip("/")
        found = glob.glob(relative, root_dir=self.root.path)
        return [PurePosixPath("/") / path for path in sorted(found)]

    # ---- one file ----

    def add(
        self, archive: zipfile.ZipFile, out: IO[bytes], inner: PurePosixPath, bundle: Bundle
    ) -> None:
        if out.tell() > self.caps.archive_full_at:
            self.leave_out(bundle, inner, "the archive is full")
            return
        try:
            self.add_file(archive, inner, bundle)
        except LeftOut as reason:
            self.leave_out(bundle, inner, str(reason))
        except OSError as exc:
            self.errors += 1
            self.leave_out(bundle, inner, f"error: {exc.strerror or exc}")
            if self.errors >= MAX_ERRORS:
                raise Failed(
                    f"log collection gave up after {MAX_ERRORS} errors; the last: {inner}: "
                    f"{exc.strerror or exc}"
                ) from None

    def leave_out(self, bundle: Bundle, inner: PurePosixPath, reason: str) -> None:
        bundle.left_out[str(inner)] = reason
        self.note(f"left out {inner}: {reason}")

    def source(self, inner: PurePosixPath) -> Path:
        """The host path to read, or LeftOut: regular files only, root's symlinks only."""
        host = self.root.join(inner)
        link = os.lstat(host)
        if stat.S_ISLNK(link.st_mode):
            if link.st_uid != 0:
                raise LeftOut("a symlink not owned by root")
            host = self.root.resolve(inner)
        if inner.name.endswith(SECRET_SUFFIXES) or host.name.endswith(SECRET_SUFFIXES):
            raise LeftOut("a private key")
        if not stat.S_ISREG(os.stat(host).st_mode):
            raise LeftOut("not a regular file")
        return host

    def add_file(self, archive: zipfile.ZipFile, inner: PurePosixPath, bundle: Bundle) -> None:
        host = self.source(inner)
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as stream:
            size = os.fstat(fd).st_size
            start, name = self.trimmed(inner, host, size, bundle)
            length = size - start
            if _holds_private_key(stream, start, length):
                raise LeftOut("it holds a private key")
            if host.name.endswith(".settings"):
                self.write_settings(archive, name, stream)
            else:
                with archive.open(name, "w", force_zip64=length > 0x7FFF0000) as entry:
                    for chunk in _chunks(stream, start, length):
                        entry.write(chunk)
        if start:
            bundle.truncated.append(name)
            self.note(f"added {name}: the last {length} bytes of {inner} ({size} bytes)")
        else:
            self.note(f"added {name} ({length} bytes)")
        bundle.files.append(name)
        bundle.uncompressed += length

    def trimmed(
        self, inner: PurePosixPath, host: Path, size: int, bundle: Bundle
    ) -> tuple[int, str]:
        """Where to start reading and the archive name: a text file over the per-file cap, or
        over what is left of the total, goes in as its last bytes (the newest lines)."""
        room = min(self.caps.file, self.caps.total - bundle.uncompressed)
        if size <= room:
            return 0, archive_name(inner)
        if room <= 0:
            raise LeftOut(f"the {self.caps.total} bytes total are reached")
        if host.name.endswith(COMPRESSED_SUFFIXES):
            raise LeftOut(f"a compressed file over {room} bytes (its tail would be unreadable)")
        return size - room, truncated_name(inner)

    def write_settings(self, archive: zipfile.ZipFile, name: str, stream: IO[bytes]) -> None:
        stream.seek(0)
        try:
            document = json.loads(stream.read())
        except ValueError:
            raise LeftOut("handler settings that are not JSON may hold secrets") from None
        archive.writestr(name, json.dumps(redact_protected(document), indent=2) + "\n")


def _chunks(stream: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    stream.seek(start)
    left = length
    while left > 0:
        chunk = stream.read(min(CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def _holds_private_key(stream: IO[bytes], start: int, length: int) -> bool:
    tail = b""
    for chunk in _chunks(stream, start, length):
        if PRIVATE_KEY_MARKER in tail + chunk:
            return True
        tail = chunk[-len(PRIVATE_KEY_MARKER) :]
    return False
