"""waagent-azure-disk, the program 66-azure-storage.rules imports: the /dev/disk/azure name of
a disk or partition from a sysfs tree laid out as Hyper-V's (Gen1 IDE, Gen2 and data-disk SCSI
controllers), with the attribute values the kernel gives there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from waagent.diskd.azure_disk import azure_name
from waagent.diskd.detect import vmbus_resource_disk

from .disks import gen1_sysfs, gen2_sysfs, scsi_disk, vmbus_device

GEN2 = "f8b3781a-1e82-4818-a1c3-63d806ec15bb"


def devpath(sysfs: Path, name: str) -> str:
    """udev's %p of the block device `name` (a partition, `sdb1`, is made below its disk)."""
    disks = {p.name: p for p in (sysfs / "devices").rglob("*") if p.parent.name == "block"}
    found = disks.get(name)
    if found is None:
        found = disks[name.rstrip("0123456789")] / name
        found.mkdir()
    return "/" + str(found.relative_to(sysfs))


def data_controller(sysfs: Path, letter: str) -> Path:
    guid = f"f8b3781{letter}-1e82-4818-a1c3-63d806ec15bb"
    return vmbus_device(sysfs, guid, "{" + guid + "}")


@pytest.mark.parametrize(("disk", "name"), [("sda", "root"), ("sdb", "resource")])
def test_gen1_names_come_from_the_ide_controllers(tmp_path: Path, disk: str, name: str) -> None:
    sysfs = gen1_sysfs(tmp_path, "sdb")
    assert azure_name(sysfs, devpath(sysfs, disk)) == name


@pytest.mark.parametrize(("disk", "name"), [("sda", "root"), ("sdb", "resource"), ("sr0", None)])
def test_gen2_scsi0_lun_0_is_root_1_resource_and_the_dvd_gets_no_name(
    tmp_path: Path, disk: str, name: str | None
) -> None:
    sysfs = gen2_sysfs(tmp_path, "sdb")
    assert azure_name(sysfs, devpath(sysfs, disk)) == name


def test_a_partition_is_named_after_its_disk(tmp_path: Path) -> None:
    sysfs = gen2_sysfs(tmp_path, "sdb")
    assert azure_name(sysfs, devpath(sysfs, "sdb1")) == "resource"


@pytest.mark.parametrize(("letter", "number"), [("b", 1), ("c", 2), ("d", 3)])
def test_data_disks_are_named_by_controller_and_lun(
    tmp_path: Path, letter: str, number: int
) -> None:
    scsi_disk(data_controller(tmp_path, letter), 3, 12, "sdf")
    assert azure_name(tmp_path, devpath(tmp_path, "sdf")) == f"scsi{number}/lun12"


def test_a_data_disk_at_lun_3_of_scsi0_keeps_its_lun_name(tmp_path: Path) -> None:
    sysfs = gen2_sysfs(tmp_path, "sdb")
    scsi_disk(next((sysfs / "devices").rglob(GEN2)), 0, 3, "sdd")
    assert azure_name(sysfs, devpath(sysfs, "sdd")) == "scsi0/lun3"


def test_a_disk_on_any_other_vmbus_device_gets_no_name(tmp_path: Path) -> None:
    other = "f8b3781e-1e82-4818-a1c3-63d806ec15bb"  # not one of the four controllers
    scsi_disk(vmbus_device(tmp_path, other, "{" + other + "}"), 0, 0, "sdg")
    assert azure_name(tmp_path, devpath(tmp_path, "sdg")) is None


def test_a_disk_outside_vmbus_gets_no_name(tmp_path: Path) -> None:
    loop = tmp_path / "devices" / "virtual" / "block" / "loop0"
    loop.mkdir(parents=True)
    assert azure_name(tmp_path, "/devices/virtual/block/loop0") is None
    assert azure_name(tmp_path, "/devices/nowhere/block/sdz") is None


@pytest.mark.parametrize("generation", [gen1_sysfs, gen2_sysfs])
def test_the_resource_link_leads_where_diskd_s_vmbus_walk_finds_the_disk(
    tmp_path: Path, generation: object
) -> None:
    sysfs = generation(tmp_path, "sdc")  # type: ignore[operator]
    found = vmbus_resource_disk(sysfs)
    named = [d for d in ("sda", "sdc") if azure_name(sysfs, devpath(sysfs, d)) == "resource"]
    assert named == [found] == ["sdc"]


def test_the_program_prints_a_udev_property_or_nothing(tmp_path: Path) -> None:
    sysfs = gen2_sysfs(tmp_path, "sdb")

    def run(path: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "waagent.diskd.azure_disk", "--sysfs-root", str(sysfs), path]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    named = run(devpath(sysfs, "sdb1"))
    assert (named.returncode, named.stdout, named.stderr) == (
        0,
        "WAAGENT_AZURE_DISK=resource\n",
        "",
    )
    dvd = run(devpath(sysfs, "sr0"))
    assert (dvd.returncode, dvd.stdout) == (0, "")
