"""Finding the resource disk in a sysfs tree laid out like Hyper-V's (Gen1 and Gen2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from waagent.common.errors import NotFound
from waagent.diskd.detect import DiskFinder, vmbus_resource_disk

from .disks import gen1_sysfs, gen2_sysfs, scsi_disk, vmbus_device


def test_gen1_the_resource_disk_is_the_one_on_ide_port_1(tmp_path: Path) -> None:
    assert vmbus_resource_disk(gen1_sysfs(tmp_path, "sdb")) == "sdb"


def test_gen2_the_resource_disk_is_lun_1_of_the_os_disk_controller(tmp_path: Path) -> None:
    assert vmbus_resource_disk(gen2_sysfs(tmp_path, "sdb")) == "sdb"


def test_gen2_lun_11_is_not_lun_1(tmp_path: Path) -> None:
    controller = vmbus_device(
        tmp_path, "f8b3781a-1e82-4818-a1c3-63d806ec15bb", "{f8b3781a-1e82-4818-a1c3-63d806ec15bb}"
    )
    scsi_disk(controller, 0, 0, "sda")
    scsi_disk(controller, 0, 11, "sdl")
    assert vmbus_resource_disk(tmp_path) is None


def test_older_kernels_name_the_block_directory_block_colon_name(tmp_path: Path) -> None:
    device = vmbus_device(tmp_path, "00000000-0001-aaaa", "{00000000-0001-aaaa-0000-000000000000}")
    (device / "host1" / "target1:0:0" / "1:0:0:0" / "block:sdc").mkdir(parents=True)
    assert vmbus_resource_disk(tmp_path) == "sdc"


def test_data_disk_controllers_are_not_the_resource_disk(tmp_path: Path) -> None:
    controller = vmbus_device(
        tmp_path, "f8b3781b-1e82-4818-a1c3-63d806ec15bb", "{f8b3781b-1e82-4818-a1c3-63d806ec15bb}"
    )
    scsi_disk(controller, 1, 1, "sdd")
    assert vmbus_resource_disk(tmp_path) is None


def test_no_vmbus_means_no_resource_disk(tmp_path: Path) -> None:
    assert vmbus_resource_disk(tmp_path) is None


def test_the_walk_does_not_follow_symlinks_back_up_the_tree(tmp_path: Path) -> None:
    sysfs = gen2_sysfs(tmp_path, "sdb")
    controller = next((sysfs / "devices").rglob("f8b3781a-*"))
    os.symlink("../../..", controller / "subsystem")
    assert vmbus_resource_disk(sysfs) == "sdb"


@pytest.fixture
def block_node() -> Path:
    """A block device node that exists on every Linux machine with loop support."""
    node = Path("/dev/loop0")
    if not node.exists():
        pytest.skip("needs /dev/loop0")
    return node


def test_the_configured_device_wins_and_is_looked_up_in_the_dev_root(
    tmp_path: Path, block_node: Path
) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "mydisk").symlink_to(block_node)
    finder = DiskFinder(gen2_sysfs(tmp_path / "sys", "sdb"), dev, "/dev/mydisk")
    assert finder.find() == block_node


def test_a_configured_device_that_is_no_block_device_is_a_clear_error(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "notadisk").write_text("")
    with pytest.raises(NotFound, match="ResourceDisk.Device=/dev/notadisk is not a block device"):
        DiskFinder(tmp_path, dev, "/dev/notadisk").find()


def test_the_udev_link_comes_before_the_vmbus_walk(tmp_path: Path, block_node: Path) -> None:
    dev = tmp_path / "dev"
    (dev / "disk" / "azure").mkdir(parents=True)
    (dev / "loop0").symlink_to(block_node)
    (dev / "disk" / "azure" / "resource").symlink_to("../../loop0")
    finder = DiskFinder(gen2_sysfs(tmp_path / "sys", "sdzz"), dev)
    assert finder.find() == block_node


def test_a_walk_result_without_a_node_is_a_clear_error(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    with pytest.raises(NotFound, match="the resource disk sdb has no block device node"):
        DiskFinder(gen2_sysfs(tmp_path / "sys", "sdb"), dev).find()
