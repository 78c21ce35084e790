from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from waagent.common import root as root_module
from waagent.common.errors import InvalidArgs
from waagent.common.root import STALE_AFTER, Root


def test_join_maps_inner_paths_under_the_root(tmp_path: Path) -> None:
    assert Root(tmp_path).join("/etc/hostname") == tmp_path / "etc" / "hostname"


def test_join_refuses_dot_dot(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgs, match="contains '..'"):
        Root(tmp_path).join("/etc/../../outside")


def test_absolute_symlinks_are_followed_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "etc").symlink_to("/real")
    assert Root(tmp_path).resolve("/etc/hostname") == tmp_path / "real" / "hostname"


def test_relative_symlinks_cannot_climb_above_the_root(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "escape").symlink_to("../../../../../etc")
    resolved = Root(tmp_path).resolve("/var/escape/passwd")
    assert resolved == tmp_path / "etc" / "passwd"


def test_symlink_loops_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(InvalidArgs, match="too many symlinks"):
        Root(tmp_path).resolve("/a/x")


def test_write_atomic_creates_the_file_with_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    root = Root(tmp_path)
    old = os.umask(0)
    try:
        path = root.write_atomic("/secret.prv", b"key", mode=0o600)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_atomic_replaces_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    root = Root(tmp_path)
    root.write_atomic("/f", "one")
    root.write_atomic("/f", "two", mode=0o640)
    assert (tmp_path / "f").read_text() == "two"
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_write_atomic_does_not_follow_a_planted_temporary_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(root_module.os, "urandom", bytes)  # zeros: a known name
    target = tmp_path / "victim"
    target.write_text("untouched")
    (tmp_path / f".#f.{os.getpid()}-00000000.tmp").symlink_to(target)
    with pytest.raises(FileExistsError):
        Root(tmp_path).write_atomic("/f", "data")
    assert target.read_text() == "untouched"


def test_makedirs_gives_new_directories_the_mode(tmp_path: Path) -> None:
    path = Root(tmp_path).makedirs("/var/lib/waagent", 0o700)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700


def test_read_text_is_none_for_a_missing_file(tmp_path: Path) -> None:
    assert Root(tmp_path).read_text("/nope") is None


def test_remove_deletes_a_symlink_not_its_target(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert Root(tmp_path).remove("/link") is True
    assert (tmp_path / "target").read_text() == "keep"
    assert Root(tmp_path).remove("/link") is False


# ---- temporary files of interrupted writes ----

# A writer that dies holding nothing: the state a kill -9 leaves (the pid is then gone).
DEAD_PID = 2**22 + 1  # above the kernel's pid_max limit, so never a live process


def _temp(directory: Path, name: str, *, age: float = 0.0) -> Path:
    path = directory / name
    path.write_text("half")
    if age:
        past = time.time() - age
        os.utime(path, (past, past))
    return path


@pytest.fixture
def live_writer(tmp_path: Path) -> Iterator[Path]:
    """A separate process holding the lock of its temporary file, as write_file_atomic does."""
    ready = tmp_path / "ready"
    script = (
        "import fcntl, os, sys, time\n"
        "path = f'{sys.argv[1]}/.#hostname.{os.getpid()}-1a2b3c4d.tmp'\n"
        "fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "open(sys.argv[2], 'w').write(path)\n"
        "time.sleep(60)\n"
    )
    directory = tmp_path / "etc"
    directory.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", script, str(directory), str(ready)])
    try:
        deadline = time.monotonic() + 10
        while not (ready.exists() and ready.read_text()) and time.monotonic() < deadline:
            time.sleep(0.01)
        yield Path(ready.read_text())
    finally:
        proc.kill()
        proc.wait()


def test_a_temporary_file_of_a_dead_writer_is_removed(tmp_path: Path) -> None:
    stale = _temp(tmp_path, f".#hostname.{DEAD_PID}-0badc0de.tmp")
    kept = _temp(tmp_path, "hostname")
    assert Root(tmp_path).remove_stale_temps(["/"]) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]


def test_a_temporary_file_of_a_killed_writer_not_yet_reaped_is_removed(tmp_path: Path) -> None:
    zombie = subprocess.Popen(["sleep", "60"])
    zombie.kill()
    time.sleep(0.2)  # killed, not waited for: a zombie still owning its pid
    try:
        stale = _temp(tmp_path, f".#hostname.{zombie.pid}-0badc0de.tmp")
        assert Root(tmp_path).remove_stale_temps(["/"]) == [stale]
    finally:
        zombie.wait()


def test_the_naming_of_earlier_versions_is_recognised(tmp_path: Path) -> None:
    stale = _temp(tmp_path, f".#hostname.{DEAD_PID}.tmp")
    assert Root(tmp_path).remove_stale_temps(["/"]) == [stale]


def test_a_file_locked_by_a_live_writer_is_kept_however_old(live_writer: Path) -> None:
    tmp = live_writer
    past = time.time() - 10 * STALE_AFTER
    os.utime(tmp, (past, past))
    assert root_module.remove_stale_temps(tmp.parent) == []
    assert tmp.exists()


def test_an_unlocked_file_of_a_live_pid_is_kept_until_it_is_old(tmp_path: Path) -> None:
    # A writer between its create and its lock looks like this; pid 1 is always alive.
    fresh = _temp(tmp_path, ".#hostname.1-00aa00aa.tmp")
    assert Root(tmp_path).remove_stale_temps(["/"]) == []
    os.utime(fresh, (time.time() - STALE_AFTER - 60,) * 2)
    assert Root(tmp_path).remove_stale_temps(["/"]) == [fresh]


def test_a_file_from_before_this_boot_is_stale_even_if_its_pid_is_alive(tmp_path: Path) -> None:
    uptime = time.clock_gettime(time.CLOCK_BOOTTIME)
    old = _temp(tmp_path, ".#hostname.1-00aa00aa.tmp", age=uptime + 5)
    assert Root(tmp_path).remove_stale_temps(["/"]) == [old]


def test_only_our_naming_and_only_regular_files_are_touched(tmp_path: Path) -> None:
    names = [".#hostname", "hostname.1.tmp", f".#x.{DEAD_PID}.swp", ".#notes.txt"]
    for name in names:
        _temp(tmp_path, name)
    (tmp_path / f".#link.{DEAD_PID}.tmp").symlink_to(tmp_path / "hostname.1.tmp")
    (tmp_path / f".#dir.{DEAD_PID}.tmp").mkdir()
    assert Root(tmp_path).remove_stale_temps(["/", "/missing"]) == []
    assert len(list(tmp_path.iterdir())) == len(names) + 2
