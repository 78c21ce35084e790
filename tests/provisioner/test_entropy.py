"""waagent-entropy: the OEM0 table of a sandbox sysfs into a target file, and its unit's sandbox."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.paths import PYTHON, REPO
from waagent.provisioner.entropy import TABLE

UNIT = REPO / "systemd" / "units" / "waagent-entropy.service.in"
BUDGET = 1.0
# A Hyper-V OEM0 table: the ACPI header, then the host's random bytes.
OEM0 = b"OEM0" + (100).to_bytes(4, "little") + b"\x01\x00VRTUALMICROSFT" + os.urandom(78)


def entropy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "waagent.provisioner.entropy", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_table_is_written_to_the_target_and_said_to_be_uncredited(tmp_path: Path) -> None:
    table = tmp_path / "sys" / TABLE
    table.parent.mkdir(parents=True)
    table.write_bytes(OEM0)
    table.chmod(0o400)
    target = tmp_path / "random"
    target.write_bytes(b"")
    result = entropy("--sysfs-root", str(tmp_path / "sys"), "--target", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == OEM0
    assert f"{len(OEM0)} bytes of" in result.stderr and "(not credited)" in result.stderr


def test_without_the_table_nothing_is_written(tmp_path: Path) -> None:
    target = tmp_path / "random"
    target.write_bytes(b"")
    result = entropy("--sysfs-root", str(tmp_path), "--target", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == b""
    assert "not a Hyper-V guest" in result.stderr


def test_a_target_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    table = tmp_path / "sys" / TABLE
    table.parent.mkdir(parents=True)
    table.write_bytes(OEM0)
    result = entropy("--sysfs-root", str(tmp_path / "sys"), "--target", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "could not feed" in result.stderr
    assert not (tmp_path / "nope").exists()


def test_the_unit_has_no_capability_and_runs_only_where_the_table_exists() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    assert parser["Unit"]["ConditionPathExists"] == "/sys/firmware/acpi/tables/OEM0"
    assert parser["Service"]["CapabilityBoundingSet"] == ""
    assert parser["Service"]["PrivateDevices"] == "yes"  # /dev/random stays, disks go


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_unit_is_within_its_exposure_budget(tmp_path: Path) -> None:
    unit = tmp_path / "waagent-entropy.service"
    unit.write_text(
        UNIT.read_text()
        .replace("@LIBEXECDIR@", "/usr/libexec/waagent")
        .replace("@DOCDIR@", "/usr/share/doc/waagent")
    )
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert score, result.stdout + result.stderr
    print(f"\n  waagent-entropy.service exposure {score.group(1)} (budget {BUDGET})")
    assert float(score.group(1)) <= BUDGET
