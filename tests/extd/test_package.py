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


LINK = stat.S_IFLNK | 0o777
# The escape of issue 12: every link looks inside when its `..` are counted by hand, but `up`
# is the handler directory itself, so the manifest link climbs above it (two levels here, to
# stay in the test's directory; four in the integration test, to the root).
CHAIN = [
    ("d/e/f/up", b"../../..", LINK),
    ("HandlerManifest.json", b"d/e/f/up/../../etc/cron.d/x", LINK),
    ("pkg/HandlerManifest.json", probe_files()[0][1], FILE),
    probe_files()[1],
]


def sandbox(tmp_path: Path) -> Path:
    """`<tmp>/etc/cron.d` exists: two levels above `<tmp>/lib/P.A-1.0`'s temporary twin."""
    cron = tmp_path / "etc" / "cron.d"
    cron.mkdir(parents=True)
    return cron


def test_a_symlink_chain_that_climbs_out_through_another_link_is_refused(tmp_path: Path) -> None:
    cron = sandbox(tmp_path)
    error = refused(tmp_path, make_zip(CHAIN))
    assert error.code == 1005
    assert "symlink 'HandlerManifest.json' points to" in error.text
    assert "outside the handler" in error.text
    assert list(cron.iterdir()) == []


@pytest.mark.parametrize(
    "entries",
    [
        # A link to a link whose `..` leaves: l2 is the top, so `l2/..` is above it.
        [("d/up", b"..", LINK), ("d/e/l2", b"../up/..", LINK)],
        # The same, with the outer link read before the link it goes through.
        [("a", b"b/c/..", LINK), ("b/c", b"../x/..", LINK), ("x", b".", LINK)],
        # An absolute link.
        [("cron", b"/etc/cron.d", LINK)],
    ],
    ids=["link-via-link", "link-before-its-link", "absolute"],
)
def test_links_that_resolve_outside_through_any_chain_are_refused(
    tmp_path: Path, entries: list[tuple[str, bytes, int]]
) -> None:
    sandbox(tmp_path)
    error = refused(tmp_path, make_zip([*probe_files(), *entries]))
    assert "outside the handler" in error.text


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    loop = [("a", b"b", LINK), ("b", b"a", LINK)]
    assert "a loop of symlinks" in refused(tmp_path, make_zip([*probe_files(), *loop])).text


def test_a_file_written_through_an_escaping_link_is_refused(tmp_path: Path) -> None:
    cron = sandbox(tmp_path)
    entries = [
        *probe_files(),
        ("d/e/f/up", b"../../..", LINK),
        ("out", b"d/e/f/up/../../etc/cron.d", LINK),
        ("out/x", b"* * * * * root id\n", FILE),
    ]
    refused(tmp_path, make_zip(entries))
    assert list(cron.iterdir()) == []


def test_an_entry_through_a_link_that_stays_inside_is_refused_before_writing(
    tmp_path: Path,
) -> None:
    entries = [
        *probe_files(),
        ("d", b"e", LINK),
        ("e/", b"", stat.S_IFDIR | 0o755),
        ("d/x", b"x", FILE),
    ]
    error = refused(tmp_path, make_zip(entries))
    assert "entry 'd/x' goes through the symlink 'd'" in error.text


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_an_entry_below_a_file_or_twice_in_the_archive_is_refused(tmp_path: Path) -> None:
    below = make_zip([*probe_files(), ("probe.py/x", b"x", FILE)])
    assert "goes through the file 'probe.py'" in refused(tmp_path, below).text
    twice = make_zip([*probe_files(), ("probe.py", b"y", FILE)])
    assert "entry 'probe.py' appears twice" in refused(tmp_path, twice).text


def test_a_link_named_like_a_directory_the_agent_writes_into_is_refused(tmp_path: Path) -> None:
    entries = [*probe_files(), ("lib", b".", stat.S_IFDIR | 0o755), ("config", b"lib", LINK)]
    error = refused(tmp_path, make_zip(entries))
    assert "'config' must be a directory" in error.text


def test_links_inside_chains_and_dotdot_through_real_directories_are_kept(tmp_path: Path) -> None:
    entries = [
        *probe_files(),
        ("bin/run", b"../lib/run", LINK),
        ("lib/run", b"../d/e/../../probe.py", LINK),
        ("d/e/keep", b"", FILE),
        ("top", b"bin/..", LINK),
    ]
    target = unpacked(tmp_path, make_zip(entries))
    assert (target / "bin" / "run").resolve() == (target / "probe.py").resolve()
    assert (target / "top").resolve() == target.resolve()


def test_files_with_permission_bits_and_no_type_are_regular_files(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, _ in probe_files():
            archive.writestr(name, data)  # writestr: external_attr 0o600 << 16, no S_IFREG
        info = zipfile.ZipInfo("tool.sh")
        info.external_attr = 0o644 << 16
        archive.writestr(info, b"#!/bin/sh\n")
    target = unpacked(tmp_path, buffer.getvalue())
    assert stat.S_ISREG((target / "tool.sh").lstat().st_mode)
    assert (target / "tool.sh").stat().st_mode & 0o777 == 0o744


@pytest.mark.parametrize("kind", [stat.S_IFBLK, stat.S_IFSOCK, stat.S_IFIFO, stat.S_IFCHR])
def test_devices_fifos_and_sockets_are_still_refused(tmp_path: Path, kind: int) -> None:
    error = refused(tmp_path, make_zip([*probe_files(), ("node", b"", kind | 0o644)]))
    assert "is a device, FIFO or socket" in error.text


def test_a_symlink_with_a_target_that_is_not_utf8_is_refused_as_a_bad_package(
    tmp_path: Path,
) -> None:
    error = refused(tmp_path, make_zip([*probe_files(), ("bad", b"\xff\xfe", LINK)]))
    assert error.code == 1005
    assert "is not UTF-8" in error.text


def test_any_failure_of_the_zip_library_is_a_bad_package(tmp_path: Path) -> None:
    data = bytearray(make_zip(probe_files()))
    # Compression method 99 (AES) in both headers: zipfile raises NotImplementedError.
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("probe.py").header_offset
    data[local + 8 : local + 10] = (99).to_bytes(2, "little")
    central = bytes(data).rindex(b"PK\x01\x02")
    data[central + 10 : central + 12] = (99).to_bytes(2, "little")
    error = refused(tmp_path, bytes(data))
    assert error.code == 1005
    assert "could not be unpacked" in error.text
