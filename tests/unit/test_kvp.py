"""The KVP pool files: their record layout, replacing in place, torn tails, and both locks."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from waagent.common.errors import Busy, InvalidArgs
from waagent.common.kvp import (
    EXTERNAL,
    GUEST,
    KEY_SIZE,
    RECORD_SIZE,
    KvpPool,
    decode,
    encode,
    pool_path,
)
from waagent.common.root import Root

# A holder of the pool's lock in another process, as hv_kvp_daemon (fcntl record lock) or
# cloud-init (flock) holds it; it prints "locked" once it has the lock.
HOLDER = """
import fcntl, sys, time
f = open(sys.argv[1], "r+b")
(fcntl.lockf if sys.argv[2] == "fcntl" else fcntl.flock)(f, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
"""


def pool_file(root: Path, pool: int = GUEST) -> Path:
    return root / str(pool_path(pool)).lstrip("/")


def daemon_records(root: Path, *pairs: tuple[str, str], pool: int = GUEST) -> bytes:
    """A pool as hv_kvp_daemon writes it (fixed records, NUL-padded)."""
    data = b"".join(encode(k, v) for k, v in pairs)
    path = pool_file(root, pool)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(kind: str, seconds: float) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(pool_file(tmp_path)), kind, str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_a_record_is_a_nul_padded_512_byte_key_and_2048_byte_value(tmp_path: Path) -> None:
    KvpPool(Root(tmp_path), GUEST).put("PROVISIONING_REPORT", "result=success")
    data = pool_file(tmp_path).read_bytes()
    assert len(data) == RECORD_SIZE == 2560
    assert data[:KEY_SIZE] == b"PROVISIONING_REPORT".ljust(512, b"\0")
    assert data[KEY_SIZE:] == b"result=success".ljust(2048, b"\0")
    assert pool_file(tmp_path).stat().st_mode & 0o777 == 0o644
    assert pool_file(tmp_path).parent.stat().st_mode & 0o777 == 0o755


def test_records_of_other_writers_stay_byte_for_byte_and_a_new_key_is_appended(
    tmp_path: Path,
) -> None:
    before = daemon_records(tmp_path, ("HostName", "vm1"), ("OSName", "Debian"))
    KvpPool(Root(tmp_path), GUEST).put("PROVISIONING_REPORT", "result=success")
    data = pool_file(tmp_path).read_bytes()
    assert data[: len(before)] == before
    assert len(data) == 3 * RECORD_SIZE
    contents = KvpPool(Root(tmp_path), GUEST).read()
    assert [r.key for r in contents.records] == ["HostName", "OSName", "PROVISIONING_REPORT"]
    assert contents.problems == ()


def test_a_key_is_replaced_in_its_slot_and_the_file_does_not_grow(tmp_path: Path) -> None:
    daemon_records(tmp_path, ("A", "1"), ("PROVISIONING_REPORT", "result=error"), ("B", "2"))
    KvpPool(Root(tmp_path), GUEST).put("PROVISIONING_REPORT", "result=success")
    data = pool_file(tmp_path).read_bytes()
    assert len(data) == 3 * RECORD_SIZE
    assert data[RECORD_SIZE : 2 * RECORD_SIZE] == encode("PROVISIONING_REPORT", "result=success")
    contents = decode(data)
    assert [(r.key, r.value) for r in contents.records] == [
        ("A", "1"),
        ("PROVISIONING_REPORT", "result=success"),
        ("B", "2"),
    ]


def test_a_crash_mid_replacement_leaves_the_new_value_last_and_duplicates_all_change(
    tmp_path: Path,
) -> None:
    """The state a kill between the in-place rewrite and the truncation leaves: the slot torn,
    the intact copy at the end; readers take the last record of the key."""
    torn = encode("K", "new value")[:1000] + encode("K", "old value")[1000:]
    contents = decode(encode("A", "1") + torn + encode("K", "new value"))
    assert contents.get("K") == "new value"
    daemon_records(tmp_path, ("A", "1"), ("K", "x"), ("K", "y"))
    KvpPool(Root(tmp_path), GUEST).put("K", "z")
    assert [r.value for r in KvpPool(Root(tmp_path), GUEST).read().records] == ["1", "z", "z"]


def test_a_truncated_trailing_record_is_reported_and_cut_by_the_next_writer(
    tmp_path: Path,
) -> None:
    whole = daemon_records(tmp_path, ("HostName", "vm1"))
    with pool_file(tmp_path).open("ab") as f:
        f.write(encode("Half", "written")[:700])
    contents = KvpPool(Root(tmp_path), GUEST).read()
    assert [r.key for r in contents.records] == ["HostName"]
    assert contents.problems == ("a truncated record of 700 bytes at the end",)
    KvpPool(Root(tmp_path), GUEST).put("K", "v")
    data = pool_file(tmp_path).read_bytes()
    assert data == whole + encode("K", "v")


def test_a_record_that_is_not_utf8_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    bad = b"Bad\xff".ljust(KEY_SIZE, b"\0") + b"v".ljust(2048, b"\0")
    contents = decode(encode("A", "1") + bad + encode("B", "2"))
    assert [r.key for r in contents.records] == ["A", "Bad\ufffd", "B"]
    assert contents.problems == ("record 1 ('Bad\ufffd') is not valid UTF-8",)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("", "v", "KVP key is empty"),
        ("k" * 512, "v", "KVP key is 512 bytes; at most 511 fit"),
        ("k", "v" * 2048, "KVP value is 2048 bytes; at most 2047 fit"),
        ("k", "é" * 1024, "KVP value is 2048 bytes; at most 2047 fit"),
        ("k\0", "v", "KVP key contains a NUL byte"),
    ],
)
def test_sizes_are_strict_and_nothing_is_truncated(key: str, value: str, message: str) -> None:
    with pytest.raises(InvalidArgs, match=message):
        encode(key, value)


def test_the_largest_key_and_value_fit(tmp_path: Path) -> None:
    KvpPool(Root(tmp_path), GUEST).put("k" * 511, "v" * 2047)
    assert KvpPool(Root(tmp_path), GUEST).read().get("k" * 511) == "v" * 2047


def test_a_missing_pool_reads_as_empty_and_clears_as_absent(tmp_path: Path) -> None:
    assert KvpPool(Root(tmp_path), EXTERNAL).read().records == ()
    assert KvpPool(Root(tmp_path), EXTERNAL).clear() is False
    assert not pool_file(tmp_path, EXTERNAL).exists()


def test_clear_empties_the_pool_under_the_lock(tmp_path: Path, holder: object) -> None:
    daemon_records(tmp_path, ("HostName", "vm1"))
    holder("fcntl", 30)  # type: ignore[operator]
    with pytest.raises(Busy):
        KvpPool(Root(tmp_path), GUEST, lock_timeout=0.2).clear()
    assert len(pool_file(tmp_path).read_bytes()) == RECORD_SIZE


def test_clear_keeps_the_file(tmp_path: Path) -> None:
    daemon_records(tmp_path, ("HostName", "vm1"))
    assert KvpPool(Root(tmp_path), GUEST).clear() is True
    assert pool_file(tmp_path).read_bytes() == b""


@pytest.mark.parametrize("kind", ["fcntl", "flock"])
def test_a_writer_waits_for_the_lock_of_another_process(
    tmp_path: Path, holder: object, kind: str
) -> None:
    daemon_records(tmp_path, ("HostName", "vm1"))
    process = holder(kind, 0.5)  # type: ignore[operator]
    started = time.monotonic()
    KvpPool(Root(tmp_path), GUEST).put("K", "v")
    assert time.monotonic() - started >= 0.4, process  # not before the holder let go
    assert KvpPool(Root(tmp_path), GUEST).read().get("K") == "v"


@pytest.mark.parametrize("kind", ["fcntl", "flock"])
def test_a_lock_held_past_the_deadline_is_busy_and_changes_nothing(
    tmp_path: Path, holder: object, kind: str
) -> None:
    before = daemon_records(tmp_path, ("HostName", "vm1"))
    holder(kind, 30)  # type: ignore[operator]
    with pytest.raises(Busy, match="stayed locked by another writer"):
        KvpPool(Root(tmp_path), GUEST, lock_timeout=0.3).put("K", "v")
    assert pool_file(tmp_path).read_bytes() == before
