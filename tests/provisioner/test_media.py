"""Finding the DVD and reading ovf-env.xml in user space; the kernel mount as the fallback."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pycdlib
import pytest

from tests.diskd.runners import RecordingRunner
from waagent.common.root import Root
from waagent.provisioner import media
from waagent.provisioner.media import KernelMount, MediaError, MediaReader, NoMedia

from . import samples

DOCUMENT = b"<Environment>the document</Environment>"


def iso9660_only(path: Path, name: str = "/OVF_ENV.XML;1") -> Path:
    image = pycdlib.PyCdlib()
    image.new(interchange_level=1)
    image.add_fp(io.BytesIO(DOCUMENT), len(DOCUMENT), name)
    image.write(str(path))
    image.close()
    return path


class NoKernel:
    async def read(self, device: Path) -> bytes:
        raise MediaError("no kernel here")


def read(dev: Path) -> media.Media:
    return asyncio.run(MediaReader(dev, NoKernel()).read())


def test_the_udf_file_of_the_fabric_s_image_is_read(tmp_path: Path) -> None:
    samples.dvd(tmp_path, DOCUMENT)
    found = read(tmp_path)
    assert (found.data, found.how, found.device.name) == (DOCUMENT, "udf", "sr0")


def test_a_plain_iso9660_image_is_read(tmp_path: Path) -> None:
    iso9660_only(tmp_path / "sr0")
    assert read(tmp_path).how == "iso9660"


def test_devices_are_tried_in_the_classic_pattern_order(tmp_path: Path) -> None:
    for name in ("vdb", "cdrom0", "sda", "sr1", "loop0"):
        (tmp_path / name).touch()
    assert [p.name for p in media.candidates(tmp_path)] == ["sr1", "cdrom0", "vdb"]


def test_a_data_disk_matching_the_pattern_does_not_hide_the_dvd(tmp_path: Path) -> None:
    (tmp_path / "vdb").write_bytes(b"\0" * 4096)  # virtio data disk, not a DVD
    samples.dvd(tmp_path, DOCUMENT, name="vdc")
    assert read(tmp_path).device.name == "vdc"


def test_no_device_says_what_was_seen(tmp_path: Path) -> None:
    (tmp_path / "null").touch()
    with pytest.raises(NoMedia, match="seen: null"):
        read(tmp_path)


def test_an_image_without_ovf_env_is_unreadable(tmp_path: Path) -> None:
    iso9660_only(tmp_path / "sr0", name="/OTHER.TXT;1")
    with pytest.raises(MediaError, match="holds no ovf-env.xml"):
        read(tmp_path)


def test_the_kernel_is_asked_only_when_user_space_reading_fails(tmp_path: Path) -> None:
    (tmp_path / "sr0").write_bytes(b"\0" * 4096)

    devices: list[str] = []

    class Kernel:
        async def read(self, device: Path) -> bytes:
            devices.append(device.name)
            return DOCUMENT

    found = asyncio.run(MediaReader(tmp_path, Kernel()).read())
    assert (found.data, found.how, devices) == (DOCUMENT, "kernel mount", ["sr0"])


def test_the_kernel_mount_is_read_only_and_undone(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    runner = RecordingRunner(ok=["mount", "umount"])
    mount_point = root / "mnt/cdrom/secure"

    async def mounted() -> bytes:
        reader = KernelMount(Root(root), runner, "/mnt/cdrom/secure")
        original = reader._mount

        async def mount_and_fill(device: Path, target: Path) -> None:
            await original(device, target)
            (target / "ovf-env.xml").write_bytes(DOCUMENT)  # what the mounted DVD shows

        reader._mount = mount_and_fill  # type: ignore[method-assign]
        return await reader.read(tmp_path / "sr0")

    assert asyncio.run(mounted()) == DOCUMENT
    assert runner.calls == [
        (
            "mount",
            "-o",
            "ro,nodev,nosuid,noexec",
            "-t",
            "udf,iso9660",
            str(tmp_path / "sr0"),
            str(mount_point),
        ),
        ("umount", str(mount_point)),
    ]


def test_a_failed_kernel_mount_says_why_and_leaves_no_directory(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    runner = RecordingRunner(fail={"mount": "mount: /x: unknown filesystem type 'udf'."})
    with pytest.raises(MediaError, match="unknown filesystem type"):
        asyncio.run(KernelMount(Root(root), runner, "/mnt/cdrom/secure").read(tmp_path / "sr0"))
    assert list(root.iterdir()) == []


@pytest.fixture
def loop_dvd(tmp_path: Path) -> Iterator[Path]:
    """The fabric's image attached read-only to a real loop device, detached at the end."""
    if (
        os.geteuid() != 0
        or shutil.which("losetup") is None
        or not Path("/dev/loop-control").exists()
    ):
        pytest.skip("needs root and loop devices")
    image = samples.dvd(tmp_path / "images", DOCUMENT)
    device = subprocess.run(
        ["losetup", "--find", "--show", "--read-only", str(image)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        yield Path(device)
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_the_dvd_is_read_from_a_real_block_device(tmp_path: Path, loop_dvd: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    os.mknod(dev / "sr0", 0o600 | 0o060000, os.stat(loop_dvd).st_rdev)
    found = read(dev)
    assert found.how == "udf"
    assert (
        found.data == samples.ovf_env().replace(b"", b"")[: len(found.data)]
        or b"<Environment" in found.data
    )
    assert media.mounted_at(dev / "sr0") is None
