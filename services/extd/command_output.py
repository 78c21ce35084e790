"""A command's stdout and stderr: 0600 files of extd's, watched with inotify and cut past a small
bound (the classic report keeps only the first 3200 characters, so a command printing 100 MB
costs neither memory nor disk), combined the classic way, and logged to CommandExecution.log."""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from ..common import inotify
from ..common.root import write_file_atomic
from .launch_records import Launch

log = logging.getLogger(__name__)

OUTPUT_CHARS = 3200  # classic: what the status and the log keep of a command's output
HEAD_BYTES = OUTPUT_CHARS * 4  # enough bytes for 3200 UTF-8 characters
CUT_AT = 64 * 1024  # an output file larger than this is emptied (its head is kept)
COMMAND_LOG_MAX = 10 << 20  # CommandExecution.log is head-truncated at 10 MiB


class _Output:
    """One output stream: a 0600 file of extd's the command appends to, watched and cut."""

    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
        if create:
            flags |= os.O_CREAT | os.O_EXCL
        self.fd = os.open(path, flags, 0o600)
        self.head: bytes | None = None

    def cut(self) -> None:
        if os.fstat(self.fd).st_size > CUT_AT:
            if self.head is None:
                self.head = os.pread(self.fd, HEAD_BYTES, 0)
            os.ftruncate(self.fd, 0)

    def text(self) -> str:
        data = self.head if self.head is not None else os.pread(self.fd, HEAD_BYTES, 0)
        return data.decode("utf-8", errors="backslashreplace")[:OUTPUT_CHARS]

    def close(self, remove: bool) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if remove:
            self.path.unlink(missing_ok=True)


class Outputs:
    """stdout and stderr of one command, cut as they grow (inotify, no polling)."""

    def __init__(self, out: _Output, err: _Output) -> None:
        self.out, self.err = out, err
        self._watch: inotify.Watch | None = None

    @classmethod
    def create(cls, directory: Path, name: str) -> Outputs:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        out = _Output(directory / f"{name}.stdout", create=True)
        try:
            return cls(out, _Output(directory / f"{name}.stderr", create=True))
        except OSError:
            out.close(remove=True)
            raise

    @classmethod
    def reopen(cls, launch: Launch) -> Outputs:
        out = _Output(Path(launch.stdout), create=False)
        try:
            return cls(out, _Output(Path(launch.stderr), create=False))
        except OSError:
            out.close(remove=False)
            raise

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.out.cut()
            self.err.cut()

    def watch(self) -> None:
        self._cut()
        try:
            self._watch = inotify.Watch(self._cut)
            self._watch.add(self.out.path)
            self._watch.add(self.err.path)
        except OSError as exc:  # the output is still cut once the command ends
            log.warning("cannot watch command output (%s)", exc)

    def combined(self) -> str:
        self._cut()
        return combine(self.out.text(), self.err.text())

    def close(self, remove: bool = True) -> None:
        """Stop watching; `remove` the files too, unless a later extd is to read them."""
        if self._watch is not None:
            self._watch.close()
        self.out.close(remove)
        self.err.close(remove)


def combine(stdout: str, stderr: str, limit: int = OUTPUT_CHARS) -> str:
    """`[stdout]\\n...\\n\\n[stderr]\\n...` within `limit` characters, tails kept, the longer
    stream giving up its room first (classic format)."""
    template = "[stdout]\n{}\n\n[stderr]\n{}"
    room = limit - len(template.format("", ""))
    if len(stdout) + len(stderr) > room:
        short, long_ = sorted((stdout, stderr), key=len)
        short_room = min(len(short), room // 2)
        keep = {id(short): short_room, id(long_): room - short_room}
        stdout = stdout[len(stdout) - keep[id(stdout)] :] if keep[id(stdout)] else ""
        stderr = stderr[len(stderr) - keep[id(stderr)] :] if keep[id(stderr)] else ""
    return template.format(stdout, stderr)


def append_command_log(path: Path, text: str) -> None:
    """CommandExecution.log: appended, root-only (commands print secrets); once past 10 MiB
    its oldest half is dropped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_size > COMMAND_LOG_MAX:
            data = path.read_bytes()
            write_file_atomic(path, data[len(data) // 2 :], mode=0o600)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    with open(fd, "a", encoding="utf-8", errors="backslashreplace") as log_file:
        os.fchmod(fd, 0o600)  # a log an earlier version made world-readable
        log_file.write(f"{stamp} {text}\n")
