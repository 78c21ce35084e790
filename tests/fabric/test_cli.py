"""waagent-fabric on the command line: serve, offline media, scenario checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness.paths import PYTHON


def waagent_fabric(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "waagent.fabric", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ovf_image_writes_a_udf_image_offline(tmp_path: Path) -> None:
    result = waagent_fabric("ovf-image", "--output", str(tmp_path / "ovf.iso"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ovf.iso").read_bytes()[32769:32774] == b"CD001"


def test_ovf_env_prints_the_document() -> None:
    result = waagent_fabric("ovf-env")
    assert result.returncode == 0
    assert "<UserName>azureuser</UserName>" in result.stdout


def test_a_bad_scenario_is_refused_with_one_line_and_exit_64(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[identity]\nincarnation = -1\n")
    result = waagent_fabric("check", str(bad))
    assert result.returncode == 64
    assert result.stderr.count("\n") == 1
    assert "identity.incarnation" in result.stderr


def test_serve_says_why_it_cannot_listen(tmp_path: Path) -> None:
    result = waagent_fabric(
        "serve",
        "--listen",
        "192.0.2.250",
        "--wire-port",
        "0",
        "--hgap-port",
        "0",
        "--storage-port",
        "0",
    )
    assert result.returncode == 69
    assert "cannot listen on 192.0.2.250" in result.stderr
