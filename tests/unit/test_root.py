from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from waagent.common.errors import InvalidArgs
from waagent.common.root import Root


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


def test_write_atomic_does_not_follow_a_planted_temporary_symlink(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("untouched")
    (tmp_path / f".#f.{os.getpid()}.tmp").symlink_to(target)
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
