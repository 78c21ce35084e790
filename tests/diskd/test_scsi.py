"""SCSI timeouts written into a fake sysfs: only sd* disks, only when different."""

from __future__ import annotations

from pathlib import Path

from waagent.diskd.scsi import ScsiTimeouts


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

    changed = ScsiTimeouts(tmp_path).apply(300)

    assert changed == ["sda"]
    assert (sda.read_text(), sdb.read_text(), loop.read_text()) == ("300", "300\n", "30\n")
    assert not nvme.exists()


def test_a_disk_without_a_timeout_file_is_skipped(tmp_path: Path) -> None:
    disk(tmp_path, "sdc", None)
    assert ScsiTimeouts(tmp_path).apply(300) == []


def test_no_block_directory_changes_nothing(tmp_path: Path) -> None:
    assert ScsiTimeouts(tmp_path).apply(300) == []
