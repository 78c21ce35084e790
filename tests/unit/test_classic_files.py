from __future__ import annotations

import stat
from pathlib import Path

from waagent.common.classic_files import PLACEHOLDER, ClassicFiles
from waagent.common.models.goal_state import Certificate
from waagent.common.root import Root


def test_certificates_land_in_lib_dir_0600_under_their_thumbprint(tmp_path: Path) -> None:
    files = ClassicFiles(Root(tmp_path), "/var/lib/waagent")
    files.write_certificates(
        [
            Certificate(thumbprint="AB12", certificate_pem="CERT", private_key_pem="KEY"),
            Certificate(thumbprint="CD34", certificate_pem="CERT2"),
        ]
    )
    lib = tmp_path / "var/lib/waagent"
    assert stat.S_IMODE(lib.stat().st_mode) == 0o700
    assert (lib / "AB12.prv").read_text() == "KEY"
    assert stat.S_IMODE((lib / "AB12.prv").stat().st_mode) == 0o600
    assert (lib / "CD34.crt").read_text() == "CERT2"
    assert not (lib / "CD34.prv").exists()


def test_goal_state_files_are_the_classic_ones(tmp_path: Path) -> None:
    ClassicFiles(Root(tmp_path), "/var/lib/waagent").write_goal_state_files(
        "168.63.129.16", "<SharedConfig/>"
    )
    lib = tmp_path / "var/lib/waagent"
    assert (lib / "WireServerEndpoint").read_text() == "168.63.129.16"
    assert (lib / "Protocol").read_text() == "WireProtocol"
    assert (lib / "GoalState.1.xml").read_text() == PLACEHOLDER
    assert (lib / "SharedConfig.xml").read_text() == "<SharedConfig/>"
