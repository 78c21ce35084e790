"""SCSI timeouts written into a fake sysfs: only sd* disks, only when different; and the
runtime udev rule that gives disks attached later the same timeout, which udev's own parser
accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_udev_rules import needs_udev, rules_of, udev_reads
from waagent.common.root import Root
from waagent.diskd.scsi import RUNTIME_RULE, ScsiTimeouts, rule_text


def timeouts(tmp_path: Path) -> ScsiTimeouts:
    return ScsiTimeouts(tmp_path, Root(tmp_path / "root"))


def disk(sysfs: Path, name: str, timeout: str | None) -> Path:
    device = sysfs / "block" / name / "device"
    device.mkdir(parents=True)
    if timeout is not None:
        (device / "timeout").write_text(timeout)
    return device / "timeout"


def test_the_timeout_is_written_to_every_scsi_disk_that_differs(tmp_path: Path) -> None:
    sda = disk(tmp_path, "sda", "30\n")
    sdb = disk(tmp_path, "sdb", "300\n")
    loop = disk(tmp_path, "loop0", "30\n")
    nvme = disk(tmp_path, "nvme0n1", None)

    changed = timeouts(tmp_path).apply(300)

    assert changed == ["sda"]
    assert (sda.read_text(), sdb.read_text(), loop.read_text()) == ("300", "300\n", "30\n")
    assert not nvme.exists()


def test_a_disk_without_a_timeout_file_is_skipped(tmp_path: Path) -> None:
    disk(tmp_path, "sdc", None)
    assert timeouts(tmp_path).apply(300) == []


def test_no_block_directory_changes_nothing(tmp_path: Path) -> None:
    assert timeouts(tmp_path).apply(300) == []


def rule(tmp_path: Path) -> Path:
    return Root(tmp_path / "root").join(RUNTIME_RULE)


def test_the_rule_gives_every_scsi_disk_the_configured_timeout_as_it_appears(
    tmp_path: Path,
) -> None:
    timeouts(tmp_path).keep_applied(300)

    [(_, tokens)] = rules_of(rule(tmp_path).read_text())
    assert [(k, a, op, v) for k, a, op, v in tokens] == [
        ("ACTION", None, "==", "add"),
        ("SUBSYSTEM", None, "==", "block"),
        ("KERNEL", None, "==", "sd*[!0-9]"),  # disks, not their partitions
        ("ATTR", "device/timeout", "=", "300"),
    ]
    assert rule(tmp_path).stat().st_mode & 0o777 == 0o644


def test_an_unchanged_rule_is_not_rewritten(tmp_path: Path) -> None:
    scsi = timeouts(tmp_path)
    scsi.keep_applied(300)
    before = rule(tmp_path).stat()
    scsi.keep_applied(300)
    assert rule(tmp_path).stat().st_ino == before.st_ino  # udevd reloads on a new file


def test_a_new_value_replaces_the_rule_and_no_value_removes_it(tmp_path: Path) -> None:
    scsi = timeouts(tmp_path)
    scsi.keep_applied(300)
    scsi.keep_applied(180)
    assert 'ATTR{device/timeout}="180"' in rule(tmp_path).read_text()
    scsi.keep_applied(None)
    assert not rule(tmp_path).exists()
    scsi.keep_applied(None)  # nothing there: nothing to do


def test_a_rule_that_cannot_be_written_leaves_the_present_disks_handled(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "run").write_text("not a directory")
    sda = disk(tmp_path, "sda", "30\n")
    scsi = timeouts(tmp_path)
    scsi.keep_applied(300)
    assert scsi.apply(300) == ["sda"] and sda.read_text() == "300"


@needs_udev
@pytest.mark.parametrize("seconds", [1, 300, 86400])
def test_udev_s_own_parser_accepts_the_rule(seconds: int) -> None:
    said = udev_reads({RUNTIME_RULE.name: rule_text(seconds)})
    assert f"Reading rules file: /usr/lib/udev/rules.d/{RUNTIME_RULE.name}" in said, said
    assert not [line for line in said.splitlines() if f"{RUNTIME_RULE.name}:" in line]
