"""The DHCP routes units: an event (a lease written) starts the apply; the unit holds only
CAP_NET_ADMIN and stays within the exposure budget."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from waagent.common.dhcp_leases import LEASE_DIRECTORIES

from . import test_units
from .test_units import UNITS, unit

NAME = "waagent-dhcp-routes"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_routes_unit_is_within_the_exposure_budget(tmp_path: Path) -> None:
    test_units.test_each_netd_unit_is_within_its_exposure_budget(NAME, tmp_path)


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
