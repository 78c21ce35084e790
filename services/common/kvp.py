"""Hyper-V KVP pools: the files hv_kvp_daemon exchanges with the host.

`/var/lib/hyperv/.kvp_pool_<n>` is a plain sequence of fixed records: a 512-byte key and a
2048-byte value, UTF-8, NUL-padded (the daemon treats both as C strings, so a key holds at most
511 bytes and a value 2047). Pool 0 holds what the host gives the guest (`NdDriverVersion`,
`IPoIB_Data`), pool 1 what the guest tells the host (`PROVISIONING_REPORT`).

Locking: hv_kvp_daemon takes a POSIX record lock (fcntl F_SETLKW, whole file) around every read
and rewrite of a pool; cloud-init and azure-init take a BSD `flock`. On Linux the two kinds do
not see each other, so this module takes both, each with a deadline (a stuck holder is a `Busy`
error, never a hang). A POSIX lock belongs to the process and goes when any of its descriptors of
the file closes: one call at a time per process (the provisioner makes one per run).

Crash consistency: records never move. A new key is one `pwrite` of a whole record at the end of
the last whole record. Replacing a key first appends the new record (fsync), then rewrites the
old slots in place (fsync), then drops the appended copy (ftruncate, fsync): at every instant
the last record of the key is an intact old or new value, and a torn write can only be inside a
record that a later intact copy supersedes. A torn trailing record (a writer died mid-append)
is reported by `read` and cut off by the next writer, so later appends stay aligned.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from .errors import Busy, InvalidArgs
from .root import Root

log = logging.getLogger(__name__)

KEY_SIZE = 512
VALUE_SIZE = 2048
RECORD_SIZE = KEY_SIZE + VALUE_SIZE
POOL_DIR = PurePosixPath("/var/lib/hyperv")
EXTERNAL = 0  # host -> guest
GUEST = 1  # guest -> host
LOCK_TIMEOUT = 5.0
LOCK_POLL = 0.02
MAX_POOL_BYTES = 4096 * RECORD_SIZE  # far above what the host keeps; a bigger file is not a pool


def pool_path(pool: int) -> PurePosixPath:
    return POOL_DIR / f".kvp_pool_{pool}"


@dataclass(frozen=True)
class Record:
    key: str
    value: str


@dataclass(frozen=True)
class PoolContents:
    records: tuple[Record, ...] = ()
    problems: tuple[str, ...] = ()  # a torn tail, records that are not UTF-8

    def get(self, key: str) -> str | None:
        """The value of `key`; the last record wins, as appending writers expect."""
        for record in reversed(self.records):
            if record.key == key:
                return record.value
        return None


def _field(text: str, size: int, what: str) -> bytes:
    data = text.encode("utf-8")
    if b"\0" in data:
        raise InvalidArgs(f"KVP {what} contains a NUL byte")
    if len(data) >= size:
        raise InvalidArgs(f"KVP {what} is {len(data)} bytes; at most {size - 1} fit")
    return data.ljust(size, b"\0")


def encode(key: str, value: str) -> bytes:
    """One record; InvalidArgs for an empty or oversized key or value (never truncated)."""
    if not key:
        raise InvalidArgs("KVP key is empty")
    return _field(key, KEY_SIZE, "key") + _field(value, VALUE_SIZE, "value")


def _text(raw: bytes) -> tuple[str, bool]:
    data = raw.split(b"\0", 1)[0]
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), False


def decode(data: bytes) -> PoolContents:
    """The records of a pool file's bytes; what is wrong is in `problems`, never raised."""
    whole = len(data) - len(data) % RECORD_SIZE
    records: list[Record] = []
    problems: list[str] = []
    for index, offset in enumerate(range(0, whole, RECORD_SIZE)):
        key, key_ok = _text(data[offset : offset + KEY_SIZE])
        value, value_ok = _text(data[offset + KEY_SIZE : offset + RECORD_SIZE])
        if not (key_ok and value_ok):
            problems.append(f"record {index} ({key!r}) is not valid UTF-8")
        if key:
            records.append(Record(key, value))
    if whole != len(data):
        problems.append(f"a truncated record of {len(data) - whole} bytes at the end")
    return PoolContents(tuple(records), tuple(problems))


def _acquire(
    try_lock: Callable[[int, int], object], fd: int, flags: int, deadline: float, path: str
) -> None:
    while True:
        try:
            try_lock(fd, flags | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            if time.monotonic() >= deadline:
                raise Busy(f"{path} stayed locked by another writer") from None
            time.sleep(LOCK_POLL)
        else:
            return


@contextlib.contextmanager
def _locked(fd: int, exclusive: bool, timeout: float, path: str) -> Iterator[None]:
    flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + timeout
    _acquire(fcntl.flock, fd, flags, deadline, path)  # cloud-init, azure-init
    try:
        _acquire(fcntl.lockf, fd, flags, deadline, path)  # hv_kvp_daemon
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_all(fd: int, path: str) -> bytes:
    size = os.fstat(fd).st_size
    if size > MAX_POOL_BYTES:
        raise InvalidArgs(f"{path} is {size} bytes, more than a KVP pool holds")
    return os.pread(fd, size, 0)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class KvpPool:
    """One pool file inside a root; each call opens, locks, acts and closes."""

    def __init__(self, root: Root, pool: int, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.root = root
        self.inner = pool_path(pool)
        self.lock_timeout = lock_timeout

    def read(self) -> PoolContents:
        """The pool's records (empty when the file does not exist)."""
        path = self.root.resolve(self.inner)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return PoolContents()
        try:
            with _locked(fd, False, self.lock_timeout, str(self.inner)):
                contents = decode(_read_all(fd, str(self.inner)))
        finally:
            os.close(fd)
        for problem in contents.problems:
            log.warning("%s: %s", self.inner, problem)
        return contents

    def put(self, key: str, value: str) -> None:
        """Set `key` to `value`: replace its records in place, or append one (see above)."""
        record = encode(key, value)
        self.root.makedirs(POOL_DIR, 0o755)  # as hv_kvp_daemon makes it
        path = self.root.resolve(self.inner)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o644)
        try:
            with _locked(fd, True, self.lock_timeout, str(self.inner)):
                self._put_locked(fd, record)
        finally:
            os.close(fd)

    def clear(self) -> bool:
        """Empty the pool in place (the inode the daemon locks stays); False when it is absent."""
        path = self.root.resolve(self.inner)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return False
        try:
            with _locked(fd, True, self.lock_timeout, str(self.inner)):
                os.ftruncate(fd, 0)
                os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def _put_locked(self, fd: int, record: bytes) -> None:
        data = _read_all(fd, str(self.inner))
        end = len(data) - len(data) % RECORD_SIZE
        if end != len(data):
            log.warning("%s: cutting a truncated record of %d bytes", self.inner, len(data) - end)
            os.ftruncate(fd, end)
        key = record[:KEY_SIZE]
        slots = [at for at in range(0, end, RECORD_SIZE) if data[at : at + KEY_SIZE] == key]
        _write_all(fd, record, end)
        os.fsync(fd)
        if not slots:
            return
        for at in slots:
            _write_all(fd, record, at)
        os.fsync(fd)
        os.ftruncate(fd, end)
        os.fsync(fd)
