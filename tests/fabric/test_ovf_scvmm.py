"""An SCVMM DVD (reference §10.7): the OVF image plus linuxosconfiguration.xml and an `install`
bootstrap that records how it was started (issue 16, item 3)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pycdlib

from tests.harness.fabric import fabric_for
from waagent.fabric.ovf import SCVMM_CONFIG, SCVMM_INSTALL, scvmm_files
from waagent.fabric.scenario import Scenario


def scvmm_scenario(record: str | None) -> Scenario:
    default = Scenario.default()
    provisioning = default.provisioning.model_copy(update={"scvmm_record": record})
    return default.model_copy(update={"provisioning": provisioning})


def names(image: Path) -> dict[str, list[str]]:
    """The root directory's file names in each view of the image."""
    reader = pycdlib.PyCdlib()
    reader.open(str(image))
    try:
        views = {"udf": "udf_path", "joliet": "joliet_path", "rr": "rr_path", "iso": "iso_path"}
        found = {}
        for label, view in views.items():
            _, _, files = next(reader.walk(**{view: "/"}))
            found[label] = sorted(files)
        return found
    finally:
        reader.close()


def read(image: Path, udf_path: str) -> bytes:
    reader = pycdlib.PyCdlib()
    reader.open(str(image))
    try:
        out = io.BytesIO()
        reader.get_file_from_iso_fp(out, udf_path=udf_path)
        return out.getvalue()
    finally:
        reader.close()


def test_the_scvmm_dvd_holds_its_files_in_every_view(tmp_path: Path) -> None:
    with fabric_for(None, scvmm_scenario("/var/tmp/args")) as fabric:
        image = Path(fabric.write_ovf_image(tmp_path / "ovf.iso"))
        assert read(image, "/ovf-env.xml").decode() == fabric.ovf_env()
    found = names(image)
    for view in ("udf", "joliet", "rr"):
        assert found[view] == ["install", "linuxosconfiguration.xml", "ovf-env.xml"], view
    assert found["iso"] == ["INSTALL.;1", "LINUXOSCONFIGURATION.XML;1", "OVF_ENV.XML;1"]
    assert read(image, f"/{SCVMM_INSTALL}") == scvmm_files("/var/tmp/args")[SCVMM_INSTALL]
    assert read(image, f"/{SCVMM_CONFIG}").startswith(b"<?xml")


def test_a_plain_scenario_has_no_scvmm_files(tmp_path: Path) -> None:
    with fabric_for(None, scvmm_scenario(None)) as fabric:
        image = Path(fabric.write_ovf_image(tmp_path / "ovf.iso"))
    assert names(image)["udf"] == ["ovf-env.xml"]


def test_the_install_script_records_its_arguments(tmp_path: Path) -> None:
    record = tmp_path / "it's recorded"  # a quote in the path stays one word
    script = tmp_path / "install"
    script.write_bytes(scvmm_files(str(record))[SCVMM_INSTALL])
    subprocess.run(["/bin/bash", str(script), "-p", "/run/waagent/scvmm"], check=True, timeout=30)
    assert record.read_text() == "-p\n/run/waagent/scvmm\n"
    assert Path(f"{record}.cgroup").exists()


def test_the_offline_command_builds_the_scvmm_dvd(tmp_path: Path) -> None:
    scenario = tmp_path / "vm.toml"
    scenario.write_text('[provisioning]\nscvmm_record = "/var/tmp/args"\n')
    image = tmp_path / "ovf.iso"
    from waagent.fabric.__main__ import main

    assert main(["ovf-image", "--scenario", str(scenario), "--output", str(image)]) == 0
    assert "install" in names(image)["udf"]
