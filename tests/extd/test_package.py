"""Safe unpacking of handler packages: real zips, unpacked into a temporary directory."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from waagent.extd.errors import ExtensionError
from waagent.extd.package import Limits, unpack

from .hostile import make_zip, probe_files

FILE = stat.S_IFREG | 0o644
DEFAULT_LIMITS = Limits()


def unpacked(tmp_path: Path, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Path:
    target = tmp_path / "lib" / "P.A-1.0"
    target.parent.mkdir(exist_ok=True)
    unpack(io.BytesIO(data), target, limits)
    return target


def refused(tmp_path: Path, data: bytes, limits: Limits = DEFAULT_LIMITS) -> ExtensionError:
    with pytest.raises(ExtensionError) as error:
        unpacked(tmp_path, data, limits)
    assert not (tmp_path / "lib" / "P.A-1.0").exists()
    assert list((tmp_path / "lib").iterdir()) == []  # no temporary directory left either
    return error.value


def test_a_good_package_is_unpacked_with_every_file_executable_by_its_owner(tmp_path: Path) -> None:
    data = make_zip(
        [*probe_files(), ("bin/tool", b"#!/bin/sh\n", FILE), ("docs/", b"", stat.S_IFDIR | 0o755)]
    )
    target = unpacked(tmp_path, data)
    assert (target / "HandlerManifest.json").exists()
    assert (target / "bin" / "tool").stat().st_mode & stat.S_IXUSR
    assert (target / "docs").is_dir()


def test_a_handler_manifest_below_the_top_is_copied_to_the_top_without_its_bom(
    tmp_path: Path,
) -> None:
    data = make_zip([("pkg/HandlerManifest.json", b"\xef\xbb\xbf[{}]", FILE)])
    target = unpacked(tmp_path, data)
    assert (target / "HandlerManifest.json").read_bytes() == b"[{}]"


def test_an_existing_directory_is_replaced_whole(tmp_path: Path) -> None:
    target = unpacked(tmp_path, make_zip([*probe_files(), ("old.txt", b"old", FILE)]))
    unpacked(tmp_path, make_zip(probe_files()))
    assert not (target / "old.txt").exists()


@pytest.mark.parametrize(
    ("name", "mode", "content", "reason"),
    [
        ("../evil", FILE, b"x", "leaves the handler directory"),
        ("a/../../evil", FILE, b"x", "leaves the handler directory"),
        ("/etc/evil", FILE, b"x", "is an absolute path"),
        ("link", stat.S_IFLNK | 0o777, b"/etc/passwd", "outside the handler"),
        ("a/link", stat.S_IFLNK | 0o777, b"../../x", "outside the handler"),
        ("fifo", stat.S_IFIFO | 0o644, b"", "is a device, FIFO or socket"),
        ("dev", stat.S_IFCHR | 0o644, b"", "is a device, FIFO or socket"),
    ],
)
def test_entries_escaping_the_directory_are_refused(
    tmp_path: Path, name: str, mode: int, content: bytes, reason: str
) -> None:
    error = refused(tmp_path, make_zip([*probe_files(), (name, content, mode)]))
    assert error.code == 1005
    assert reason in error.text


def test_a_symlink_inside_the_directory_is_kept(tmp_path: Path) -> None:
    target = unpacked(
        tmp_path, make_zip([*probe_files(), ("bin/run", b"../probe.py", stat.S_IFLNK | 0o777)])
    )
    assert (target / "bin" / "run").is_symlink()
    assert (target / "bin" / "run").resolve() == (target / "probe.py").resolve()


def test_an_entry_through_a_symlink_is_refused(tmp_path: Path) -> None:
    entries = [*probe_files(), ("dir", b".", stat.S_IFLNK | 0o777), ("dir/x", b"x", FILE)]
    error = refused(tmp_path, make_zip(entries))
    assert "goes through the symlink" in error.text


def test_too_many_files_or_bytes_are_refused_from_the_directory_alone(tmp_path: Path) -> None:
    many = make_zip([*probe_files(), *((f"f{i}", b"", FILE) for i in range(20))])
    assert "entries, more than the 10 allowed" in refused(tmp_path, many, Limits(max_files=10)).text
    big = make_zip([*probe_files(), ("big", bytes(100_000), FILE)])
    assert "(a zip bomb?)" in refused(tmp_path, big, Limits(max_bytes=50_000)).text


def test_an_archive_that_lies_about_its_sizes_is_refused(tmp_path: Path) -> None:
    data = bytearray(make_zip([*probe_files(), ("zeros", bytes(1 << 20), FILE)]))
    # Declare 1000 bytes where 1 MiB hides, in the local header and the central directory.
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("zeros").header_offset
    data[local + 22 : local + 26] = (1000).to_bytes(4, "little")
    central = bytes(data).rindex(b"PK\x01\x02")  # "zeros" is the last entry
    data[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    error = refused(tmp_path, bytes(data))
    assert error.code == 1005
    assert "corrupt" in error.text


def test_something_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, b"PK\x03\x04 broken").code == 1005


def test_a_package_without_a_handler_manifest_is_1002(tmp_path: Path) -> None:
    assert refused(tmp_path, make_zip(probe_files()[1:])).code == 1002
