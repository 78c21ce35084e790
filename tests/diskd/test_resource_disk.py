"""The resource disk end to end: real loop devices, diskd activated on a private bus at start.

Each case is a disk as a VM may find it; the assertions read the kernel's and blkid's truth
(mounts, options, superblocks, file contents), not only what diskd says.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.names import DISK
from waagent.diskd.resource_disk import README, README_TEXT
from waagent.diskd.scsi import RUNTIME_RULE
from waagent.diskd.swap import SWAPFILE

from .disks import (
    SWAP_HEADER_SLACK,
    LoopDisk,
    active_swap_bytes,
    dev_root,
    gen1_sysfs,
    gen2_sysfs,
    ntfs_typed,
    sh,
)
from .system import Diskd, config, start_on

pytestmark = pytest.mark.integration

Start = Callable[..., Diskd]
Disks = Callable[..., LoopDisk]


def fs_type(device: Path) -> str:
    return sh("blkid", "-p", "-o", "value", "-s", "TYPE", str(device), check=False).stdout.strip()


def mount_options(mount_point: Path) -> set[str]:
    out = sh("findmnt", "-n", "-o", "OPTIONS", "--mountpoint", str(mount_point)).stdout
    return set(out.strip().split(","))


def run_directly(system: Diskd) -> subprocess.CompletedProcess[str]:
    """diskd started by hand (not through the bus) on the system's disks: its refusal to start
    is its exit status and stderr."""
    return subprocess.run(
        system.env.service_argv(
            "diskd", "--sysfs-root", str(system.sysfs), "--dev-root", str(system.dev)
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_fresh_ntfs_typed_disk_is_formatted_mounted_with_the_options_and_gets_the_readme_and_swap(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(256))
    system = start_on(
        diskd, disk, tmp_path, {"ResourceDisk.EnableSwap": "y", "ResourceDisk.SwapSizeMB": "64"}
    )
    props = system.settled()
    assert props["State"] == "Mounted", props["LastError"]
    mount_point = system.mount_point
    assert props["Device"] == str(disk.device)
    assert props["MountPoint"] == str(mount_point)
    assert (props["Filesystem"], props["Mounted"]) == ("ext4", True)
    assert fs_type(disk.part(1)) == "ext4"
    assert sh("sfdisk", "--part-type", str(disk.device), "1").stdout.strip() == "83"
    assert {"nodev", "nosuid"} <= mount_options(mount_point)
    assert (mount_point / README).read_text() == README_TEXT
    swapfile = mount_point / SWAPFILE
    assert 0 <= (64 << 20) - active_swap_bytes(swapfile) <= SWAP_HEADER_SLACK
    st = os.stat(swapfile)
    assert (stat.S_IMODE(st.st_mode), st.st_size) == (0o600, 64 << 20)
    assert (props["SwapEnabled"], props["SwapSizeMB"]) == (True, 64)


def test_an_ext4_disk_holding_a_file_is_mounted_as_it_is_and_the_file_survives_byte_for_byte(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = loop_disks(128)
    disk.partition("label: dos\ntype=83\n")
    sh("mkfs.ext4", "-q", "-F", str(disk.part(1)))
    payload = os.urandom(300_000)
    staging = tmp_path / "staging"
    staging.mkdir()
    sh("mount", str(disk.part(1)), str(staging))
    (staging / "keep.bin").write_bytes(payload)
    sh("umount", str(staging))
    uuid_before = sh("blkid", "-p", "-o", "value", "-s", "UUID", str(disk.part(1))).stdout

    system = start_on(diskd, disk, tmp_path, {"ResourceDisk.Filesystem": "xfs"})
    props = system.settled()

    assert props["State"] == "Mounted", props["LastError"]
    assert props["Filesystem"] == "ext4"  # what is there, not what would be made
    kept = system.mount_point / "keep.bin"
    assert hashlib.sha256(kept.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert sh("blkid", "-p", "-o", "value", "-s", "UUID", str(disk.part(1))).stdout == uuid_before
    assert "formatting" not in system.log()


def test_an_ntfs_typed_partition_holding_ext4_is_never_formatted(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = loop_disks(128)
    disk.partition("label: dos\ntype=7\n")
    sh("mkfs.ext4", "-q", "-F", "-L", "precious", str(disk.part(1)))
    uuid_before = sh("blkid", "-p", "-o", "value", "-s", "UUID", str(disk.part(1))).stdout

    system = start_on(diskd, disk, tmp_path)
    props = system.settled()

    assert props["State"] == "Mounted", system.log()
    assert sh("blkid", "-p", "-o", "value", "-s", "UUID", str(disk.part(1))).stdout == uuid_before
    assert sh("sfdisk", "--part-type", str(disk.device), "1").stdout.strip() == "7"


def test_a_gpt_disk_with_three_empty_partitions_becomes_one_formatted_partition(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = loop_disks(256)
    disk.partition("label: gpt\n,60M,L\n,60M,L\n,,L\n")
    assert disk.part(3).exists()

    props = start_on(diskd, disk, tmp_path).settled()

    assert props["State"] == "Mounted", props["LastError"]
    table = sh("sfdisk", "--json", str(disk.device)).stdout
    assert '"label": "gpt"' in table
    assert table.count('"node"') == 1
    assert fs_type(disk.part(1)) == "ext4"
    assert not disk.part(3).exists()


def test_a_gpt_disk_with_three_partitions_one_holding_data_is_left_alone(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = loop_disks(256)
    disk.partition("label: gpt\n,60M,L\n,60M,L\n,,L\n")
    sh("mkfs.ext4", "-q", "-F", str(disk.part(2)))
    before = hashlib.sha256(disk.image.read_bytes()).hexdigest()

    system = start_on(diskd, disk, tmp_path)
    props = system.settled()

    assert props["State"] == "Failed"
    assert "partition 2 holds ext4" in props["LastError"]
    assert "never formatted" in props["LastError"]
    assert props["Mounted"] is False
    assert hashlib.sha256(disk.image.read_bytes()).hexdigest() == before


def test_a_disk_already_mounted_elsewhere_is_reused_where_it_is(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = loop_disks(128)
    disk.partition("label: dos\ntype=83\n")
    sh("mkfs.ext4", "-q", "-F", str(disk.part(1)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sh("mount", str(disk.part(1)), str(elsewhere))

    system = start_on(
        diskd, disk, tmp_path, {"ResourceDisk.EnableSwap": "y", "ResourceDisk.SwapSizeMB": "16"}
    )
    props = system.settled()

    assert props["State"] == "Mounted", props["LastError"]
    assert props["MountPoint"] == str(elsewhere)
    assert disk.mounts() == [str(elsewhere)]
    assert (elsewhere / README).read_text() == README_TEXT
    assert (elsewhere / SWAPFILE).stat().st_size == 16 << 20
    assert not system.mount_point.exists() or not os.listdir(system.mount_point)


def test_an_empty_disk_gets_a_linux_partition_and_the_configured_filesystem(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = loop_disks(350)

    props = start_on(diskd, disk, tmp_path, {"ResourceDisk.Filesystem": "xfs"}).settled()

    assert props["State"] == "Mounted", props["LastError"]
    assert (props["Filesystem"], fs_type(disk.part(1))) == ("xfs", "xfs")


def test_an_unknown_filesystem_in_the_config_stops_the_service_before_it_touches_the_disk(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    before = hashlib.sha256(disk.image.read_bytes()).hexdigest()
    system = start_on(diskd, disk, tmp_path, {"ResourceDisk.Filesystem": "zfs9"})

    reply = system.call("Activate")

    assert not reply.ok
    conf = system.env.sandbox.config_path
    line = next(
        n
        for n, text in enumerate(conf.read_text().splitlines(), 1)
        if text.startswith("ResourceDisk.Filesystem=")
    )
    direct = run_directly(system)
    assert direct.returncode == 78
    assert (
        f"refusing to start: {conf}:{line}: ResourceDisk.Filesystem=zfs9: expected one of "
        "ext2, ext3, ext4, xfs or btrfs"
    ) in direct.stderr
    assert hashlib.sha256(disk.image.read_bytes()).hexdigest() == before
    assert disk.mounts() == []


def test_a_mount_point_that_is_a_symlink_to_etc_is_refused_and_the_disk_left_untouched(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    before = hashlib.sha256(disk.image.read_bytes()).hexdigest()
    system = start_on(diskd, disk, tmp_path)
    etc = system.env.sandbox.path("/etc")
    etc_before = sorted(p.name for p in etc.iterdir())
    system.mount_point.parent.mkdir(parents=True, exist_ok=True)
    system.mount_point.symlink_to("/etc")

    props = system.settled()

    expected = (
        "ResourceDisk.MountPoint=/mnt/resource (resolved: /etc): /etc is a system directory; "
        "the resource disk is neither formatted nor mounted"
    )
    assert (props["State"], props["LastError"], props["Mounted"]) == ("Failed", expected, False)
    reply = system.call("Activate")
    assert not reply.ok and expected in reply.error
    assert hashlib.sha256(disk.image.read_bytes()).hexdigest() == before
    assert disk.mounts() == []
    assert sorted(p.name for p in etc.iterdir()) == etc_before


def test_a_system_directory_as_mount_point_stops_the_service_with_the_config_error(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    before = hashlib.sha256(disk.image.read_bytes()).hexdigest()
    system = start_on(diskd, disk, tmp_path, {"ResourceDisk.MountPoint": "/usr/local"})

    assert not system.call("Activate").ok
    direct = run_directly(system)
    assert direct.returncode == 78
    assert (
        "ResourceDisk.MountPoint=/usr/local: expected a mount point outside the system "
        "directories (/usr/local is inside /usr, which is a system directory)"
    ) in direct.stderr
    assert hashlib.sha256(disk.image.read_bytes()).hexdigest() == before
    assert disk.mounts() == []


def test_without_mount_options_in_the_config_the_disk_is_mounted_nodev_nosuid(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    settings = {k: v for k, v in config().items() if k != "ResourceDisk.MountOptions"}
    system = diskd(
        settings,
        sysfs=gen2_sysfs(tmp_path / "sys", disk.name),
        dev=dev_root(tmp_path / "dev", disk),
        disks=[disk],
    )
    props = system.settled()
    assert props["State"] == "Mounted", props["LastError"]
    assert {"nodev", "nosuid"} <= mount_options(system.mount_point)


def test_the_admins_own_mount_options_replace_the_default(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    system = start_on(diskd, disk, tmp_path, {"ResourceDisk.MountOptions": "noatime"})
    props = system.settled()
    assert props["State"] == "Mounted", props["LastError"]
    options = mount_options(system.mount_point)
    assert "noatime" in options
    assert not {"nodev", "nosuid"} & options


def test_without_a_resource_disk_the_state_says_so_and_the_service_goes_idle(
    diskd: Start, tmp_path: Path
) -> None:
    sysfs = tmp_path / "sys"
    gen2_sysfs(sysfs, "sdb")
    (next((sysfs / "devices").rglob("0:0:0:1"))).rename(sysfs / "unplugged")
    dev = tmp_path / "dev"
    dev.mkdir()
    system = diskd(config({"Services.IdleTimeout": "2"}), sysfs=sysfs, dev=dev)

    props = system.settled()

    assert (props["State"], props["LastError"], props["Device"]) == ("NoResourceDisk", "", "")
    wait_for(lambda: not name_has_owner(system.env.bus, DISK.name), timeout=20, what="idle exit")
    assert system.log().count("no resource disk found") == 1


def test_a_gen1_vm_finds_the_resource_disk_on_ide_port_1(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    sysfs = gen1_sysfs(tmp_path / "sys", disk.name)
    system = diskd(config(), sysfs=sysfs, dev=dev_root(tmp_path / "dev", disk), disks=[disk])

    props = system.settled()

    assert props["State"] == "Mounted", props["LastError"]
    assert props["Device"] == str(disk.device)


def test_the_udev_link_to_the_resource_disk_is_used_when_it_exists(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    dev = dev_root(tmp_path / "dev", disk)
    (dev / "disk" / "azure").mkdir(parents=True)
    (dev / "disk" / "azure" / "resource").symlink_to(f"../../{disk.name}")
    sysfs = tmp_path / "sys"
    sysfs.mkdir()  # no VMBus at all: only the link can find it

    props = diskd(config(), sysfs=sysfs, dev=dev, disks=[disk]).settled()

    assert props["State"] == "Mounted", props["LastError"]
    assert props["Device"] == str(disk.device)


def test_a_failing_command_shows_as_failed_with_its_own_message_and_the_service_still_answers(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    system = start_on(
        diskd, disk, tmp_path, {"ResourceDisk.MountOptions": "nodev,no_such_option_here"}
    )

    props = system.settled()

    assert props["State"] == "Failed"
    assert props["LastError"].startswith("mount failed: ")
    reply = system.call("Activate")
    assert not reply.ok
    assert "mount failed: " in reply.error
    assert system.props()["State"] == "Failed"


def test_activate_a_second_time_changes_nothing(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    system = start_on(diskd, disk, tmp_path)
    assert system.settled()["State"] == "Mounted"
    marker = system.mount_point / "written-after-boot"
    marker.write_text("still here")

    reply = system.call("Activate")

    assert reply.ok, reply.error
    assert marker.read_text() == "still here"
    assert disk.mounts() == [str(system.mount_point)]


def test_activate_is_for_root_only(diskd: Start, loop_disks: Disks, tmp_path: Path) -> None:
    disk = ntfs_typed(loop_disks(128))
    system = start_on(diskd, disk, tmp_path, {"ResourceDisk.Format": "n"})

    reply = system.call("Activate", user="nobody")

    assert "only root may call org.waagent.Disk1.Activate" in reply.error
    assert system.props()["State"] == "NotStarted"
    assert disk.mounts() == []


def test_the_service_sets_the_scsi_timeouts_at_start_even_without_managing_the_disk(
    diskd: Start, tmp_path: Path
) -> None:
    sysfs = gen2_sysfs(tmp_path / "sys", "sdb")
    timeouts = {}
    for name, value in (("sda", "30\n"), ("sdb", "300\n")):
        timeouts[name] = sysfs / "block" / name / "device" / "timeout"
        timeouts[name].parent.mkdir(parents=True)
        timeouts[name].write_text(value)
    dev = tmp_path / "dev"
    dev.mkdir()
    system = diskd(
        config({"ResourceDisk.Format": "n", "OS.RootDeviceScsiTimeout": "300"}),
        sysfs=sysfs,
        dev=dev,
    )

    system.props()

    assert timeouts["sda"].read_text() == "300"
    assert timeouts["sdb"].read_text() == "300\n"  # already right: not written
    # and the disks attached later get it from udev
    rule = system.env.sandbox.path(str(RUNTIME_RULE)).read_text()
    assert 'ATTR{device/timeout}="300"' in rule
