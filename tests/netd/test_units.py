"""netd's units: each within the exposure budget (systemd-analyze security --offline, 0-10), the
boot unit ordered before the network, the endpoint watched, the bus activation handed to systemd."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.paths import REPO

UNITS = REPO / "systemd" / "units"
BUDGET = 2.5
SERVICES = ["waagent-netd", "waagent-network-setup", "waagent-firewall-refresh"]


def rendered(name: str, into: Path) -> Path:
    text = (UNITS / f"{name}.service.in").read_text()
    text = text.replace("@LIBEXECDIR@", "/usr/libexec/waagent").replace(
        "@DOCDIR@", "/usr/share/doc/waagent"
    )
    path = into / f"{name}.service"
    path.write_text(text)
    return path


def exposure(name: str, into: Path) -> float:
    """systemd-analyze security's overall score of the rendered unit (printed, for the record)."""
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(rendered(name, into))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert score, result.stdout + result.stderr
    print(f"\n  {name}.service exposure {score.group(1)}")
    return float(score.group(1))


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("name", SERVICES)
def test_each_netd_unit_is_within_its_exposure_budget(name: str, tmp_path: Path) -> None:
    assert exposure(name, tmp_path) <= BUDGET


@pytest.mark.parametrize("name", SERVICES)
def test_each_netd_unit_holds_only_the_network_capabilities(name: str) -> None:
    service = unit(f"{name}.service.in")["Service"]
    assert service["CapabilityBoundingSet"].split() == ["CAP_NET_ADMIN", "CAP_NET_RAW"]


def test_the_boot_unit_runs_before_the_network_without_the_bus() -> None:
    boot = unit("waagent-network-setup.service.in")
    assert boot["Unit"]["DefaultDependencies"] == "no"
    assert "network-pre.target" in boot["Unit"]["Before"].split()
    assert boot["Unit"]["Wants"] == "network-pre.target"
    assert "dbus.service" not in boot["Unit"].get("After", "")
    assert boot["Service"]["ExecStart"].endswith("waagent-netd --setup-firewall")
    # put back after nftables.service flushes the rule set (start, restart, reload)
    assert boot["Unit"]["PartOf"] == boot["Unit"]["ReloadPropagatedFrom"] == "nftables.service"
    assert boot["Service"]["ExecReload"] == boot["Service"]["ExecStart"]


def test_a_new_endpoint_runs_the_setup_again() -> None:
    path = unit("waagent-firewall-refresh.path")["Path"]
    assert path["PathChanged"] == "/var/lib/waagent/WireServerEndpoint"
    refresh = unit(f"{path['Unit']}.in")["Service"]
    assert refresh["ExecStart"] == unit("waagent-network-setup.service.in")["Service"]["ExecStart"]
    assert "RemainAfterExit" not in refresh  # a oneshot that can run again


def test_the_bus_activation_hands_over_to_systemd() -> None:
    text = (UNITS / "org.waagent.Network1.service").read_text()
    assert "Exec=/bin/false" in text and "SystemdService=waagent-netd.service" in text
    assert "BusName=org.waagent.Network1" in (UNITS / "waagent-netd.service.in").read_text()
