"""The DHCP routes units: an event (a lease written) starts the apply; the unit holds only
CAP_NET_ADMIN and stays within the exposure budget."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from waagent.common.dhcp_leases import LEASE_DIRECTORIES

from .test_units import BUDGET, UNITS, rendered, unit

NAME = "waagent-dhcp-routes"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_routes_unit_is_within_the_exposure_budget(tmp_path: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(rendered(NAME, tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert score, result.stdout + result.stderr
    print(f"\n  {NAME}.service exposure {score.group(1)} (budget {BUDGET})")
    assert float(score.group(1)) <= BUDGET


def test_the_routes_unit_holds_only_cap_net_admin_and_runs_netd_once() -> None:
    service = unit(f"{NAME}.service.in")["Service"]
    assert service["CapabilityBoundingSet"].split() == ["CAP_NET_ADMIN"]
    assert "AF_NETLINK" in service["RestrictAddressFamilies"].split()
    assert service["Type"] == "oneshot" and "RemainAfterExit" not in service
    assert service["ExecStart"].endswith("waagent-netd --apply-dhcp-routes")


def test_every_lease_directory_is_watched_and_the_target_wants_both() -> None:
    text = (UNITS / f"{NAME}.path").read_text()
    watched = re.findall(r"^PathChanged=(\S+)$", text, re.M)
    assert sorted(watched) == sorted(LEASE_DIRECTORIES)
    assert re.search(rf"^Unit={NAME}.service$", text, re.M)
    target = (UNITS / "waagent.target").read_text()
    assert f"{NAME}.service" in target and f"{NAME}.path" in target
    assert "OnUnitActiveSec" not in text and not (UNITS / f"{NAME}.timer").exists()
