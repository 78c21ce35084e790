"""SCVMM (DetectScvmmEnv=y, reference §10.7): the DVD's bootstrap runs, provisioning does not.

End to end: the fabric simulator builds an SCVMM DVD whose `install` script writes the
arguments it got to a file; the provisioner is bus-activated on a real bus with real wire, and
the fabric records whatever was reported. Without systemd on the bus the bootstrap runs in a
session of its own; the systemd path is checked with the unit the logic hands over.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from tests.harness.wait import wait_for
from waagent.common.clients.systemd_units import ServiceUnit
from waagent.common.root import Root
from waagent.fabric import ovf as fabric_ovf
from waagent.provisioner.scvmm import PRIVATE_DIR, RUNTIME_MAX, UNIT, Scvmm, copy_scvmm_media

from . import samples
from .system import passwd_entry
from .vm import simulated_vm

SCVMM_ON = {"DetectScvmmEnv": "y"}


def scvmm_dvd(dev: Path, record: Path) -> Path:
    return fabric_ovf.write_image(
        dev / "sr0", samples.ovf_env(), fabric_ovf.scvmm_files(str(record))
    )


@pytest.mark.integration
def test_an_scvmm_dvd_starts_its_bootstrap_and_nothing_is_provisioned(tmp_path: Path) -> None:
    record = tmp_path / "scvmm-args"
    with simulated_vm(tmp_path, config=SCVMM_ON, scvmm_record=str(record)) as vm:
        assert vm.wait_state("SCVMM", "Provisioned", "Failed") == "SCVMM"
        wait_for(record.exists, timeout=30, what="the SCVMM install script to run")
        private = vm.path(str(PRIVATE_DIR))
        assert record.read_text().splitlines() == ["-p", str(private)]
        mode = os.stat(private)
        assert (stat.S_IMODE(mode.st_mode), mode.st_uid) == (0o700, 0)
        assert sorted(p.name for p in private.iterdir()) == [
            "install",
            "linuxosconfiguration.xml",
            "ovf-env.xml",
        ]
        assert vm.prop("FailureReason") == ""
        assert passwd_entry(vm.root, samples.USER) is None
        assert not vm.path("/var/lib/waagent/provisioned").exists()
        assert vm.health() == []  # no Provisioning, no Ready at the fabric


@pytest.mark.integration
def test_without_detect_scvmm_env_an_scvmm_dvd_is_provisioned_as_usual(tmp_path: Path) -> None:
    record = tmp_path / "scvmm-args"
    with simulated_vm(tmp_path, scvmm_record=str(record)) as vm:
        assert vm.wait_state("Provisioned", "Failed", "SCVMM") == "Provisioned"
        assert passwd_entry(vm.root, samples.USER) is not None
        assert not record.exists()


def copied(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_a_plain_provisioning_dvd_is_not_scvmm(tmp_path: Path) -> None:
    out = tmp_path / "scvmm"
    assert copy_scvmm_media(samples.dvd(tmp_path, samples.ovf_env()), out) is None
    assert not out.exists()


def test_a_file_that_is_no_image_is_not_scvmm(tmp_path: Path) -> None:
    junk = tmp_path / "sr0"
    junk.write_bytes(b"\x00garbage" * 1000)
    assert copy_scvmm_media(junk, tmp_path / "scvmm") is None


def test_every_file_of_the_scvmm_dvd_is_copied_with_its_name_and_private_mode(
    tmp_path: Path,
) -> None:
    out = tmp_path / "scvmm"
    (out / "stale").mkdir(parents=True)  # from an earlier start: gone
    assert copy_scvmm_media(scvmm_dvd(tmp_path, Path("/tmp/r")), out) == 3
    files = copied(out)
    assert sorted(files) == ["install", "linuxosconfiguration.xml", "ovf-env.xml"]
    assert files["install"].startswith(b"#!/bin/bash\n")
    modes = {stat.S_IMODE(p.stat().st_mode) for p in [out, *out.iterdir()]}
    assert modes == {0o700}


class RecordingUnits:
    def __init__(self) -> None:
        self.started: list[tuple[str, ServiceUnit]] = []

    async def start_transient(self, name: str, unit: ServiceUnit, *, mode: str = "fail") -> None:
        self.started.append((name, unit))


@pytest.mark.root
def test_with_systemd_the_bootstrap_is_a_transient_unit_with_a_runtime_limit(
    tmp_path: Path,
) -> None:
    dev, root = tmp_path / "dev", tmp_path / "root"
    dev.mkdir()
    scvmm_dvd(dev, tmp_path / "never")
    units = RecordingUnits()
    how = asyncio.run(Scvmm(Root(root), dev, units).start_if_present())
    private = root / str(PRIVATE_DIR).lstrip("/")
    assert how == f"systemd unit {UNIT}"
    [(name, unit)] = units.started
    assert name == UNIT
    assert unit.argv == ("/bin/bash", str(private / "install"), "-p", str(private))
    assert (unit.runtime_max, unit.working_directory) == (RUNTIME_MAX, str(private))
    assert not (tmp_path / "never").exists()  # systemd would run it, not the provisioner


def test_without_an_scvmm_dvd_nothing_is_started(tmp_path: Path) -> None:
    samples.dvd(tmp_path / "dev", samples.ovf_env())
    units = RecordingUnits()
    scvmm = Scvmm(Root(tmp_path / "root"), tmp_path / "dev", units)
    assert asyncio.run(scvmm.start_if_present()) is None
    assert units.started == []
    assert not (tmp_path / "root" / str(PRIVATE_DIR).lstrip("/")).exists()


def test_a_plain_iso9660_scvmm_dvd_is_read_with_lower_case_names(tmp_path: Path) -> None:
    import io

    import pycdlib

    image = pycdlib.PyCdlib()
    image.new(interchange_level=3)
    for name, data in ((b"LINUXOSCONFIGURATION.XML;1", b"<x/>"), (b"INSTALL.;1", b"echo\n")):
        image.add_fp(io.BytesIO(data), len(data), "/" + name.decode())
    path = tmp_path / "sr0"
    image.write(str(path))
    image.close()
    assert copy_scvmm_media(path, tmp_path / "scvmm") == 2
    assert copied(tmp_path / "scvmm") == {"linuxosconfiguration.xml": b"<x/>", "install": b"echo\n"}


def test_an_scvmm_dvd_over_the_size_limit_is_not_copied_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from waagent.provisioner import scvmm

    monkeypatch.setattr(scvmm, "MAX_TOTAL", 100)
    assert copy_scvmm_media(scvmm_dvd(tmp_path, Path("/tmp/r")), tmp_path / "scvmm") is None
    assert not (tmp_path / "scvmm").exists()
    assert "holds linuxosconfiguration.xml but is not used" in caplog.text
    assert "(at most 100)" in caplog.text


def test_files_in_subdirectories_of_the_dvd_are_copied_too(tmp_path: Path) -> None:
    import io

    import pycdlib

    image = pycdlib.PyCdlib()
    image.new(interchange_level=3, joliet=3, rock_ridge="1.09", udf="2.60")
    image.add_directory("/PKGS", rr_name="pkgs", joliet_path="/pkgs", udf_path="/pkgs")
    files = {"linuxosconfiguration.xml": b"<x/>", "install": b"echo\n", "pkgs/agent.deb": b"!"}
    for name, data in files.items():
        iso_name = "/" + name.upper() + ("" if "." in name else ".") + ";1"
        image.add_fp(
            io.BytesIO(data),
            len(data),
            iso_name,
            rr_name=name.rsplit("/", 1)[-1],
            joliet_path=f"/{name}",
            udf_path=f"/{name}",
        )
    path = tmp_path / "sr0"
    image.write(str(path))
    image.close()
    out = tmp_path / "scvmm"
    assert copy_scvmm_media(path, out) == 3
    assert copied(out) == files
    assert stat.S_IMODE((out / "pkgs").stat().st_mode) == 0o700
