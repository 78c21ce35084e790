"""Every unit of the agent's own processes carries CPU and memory limits, sized above the peaks
bench/service_peaks.py measured (docs/architecture.md, "Limits of the agent's own units")."""

from __future__ import annotations

import configparser

import pytest

from tests.harness.paths import REPO

UNITS = REPO / "systemd" / "units"
# Peak resident memory measured by bench/service_peaks.py (MiB, max of 3 runs, 2026-12-06),
# plus the largest child each runs (ssh-keygen -t rsa / mkfs.ext4 of 256 GiB: 13.6 MiB).
PEAKS = {
    "waagent-wire": 339.1,  # a log bundle of the largest size wire accepts (idle: 47)
    "waagent-wirepoll": 23.0 + 5.0,  # bench/wire_idle.py's idle RSS, with dbus-send's waking
    "waagent-provisioner": 54.7 + 13.6,
    "waagent-extd": 41.6,
    "waagent-diskd": 38.2 + 13.6,
    "waagent-netd": 37.6,
    "waagent-network-setup": 37.6,
    "waagent-firewall-refresh": 37.6,
    "waagent-entropy": 17.5,
    # Not in service_peaks.py yet: netd_routes.py's peak, and the import peaks of the entry points
    # (what these short runs are made of); the collector's page cache is classic's 155 MiB.
    "waagent-dhcp-routes": 38.1,
    "waagent-nic-names": 31.6,
    "waagent-rdma": 39.4,
    "waagent-logcollector": 39.2,
}
SUFFIX = {"K": 1 / 1024, "M": 1, "G": 1024}


def mib(value: str) -> float:
    return float(value[:-1]) * SUFFIX[value[-1]]


def service(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / f"{name}.service.in").read_text())
    return parser["Service"]


def test_every_service_unit_is_in_the_table() -> None:
    assert sorted(p.name.removesuffix(".service.in") for p in UNITS.glob("*.service.in")) == (
        sorted(PEAKS)
    )


@pytest.mark.parametrize("name", sorted(PEAKS))
def test_each_unit_is_limited_above_its_measured_peak(name: str) -> None:
    section = service(name)
    quota = int(section["CPUQuota"].removesuffix("%"))
    assert 0 < quota <= 100
    high, hard = mib(section["MemoryHigh"]), mib(section["MemoryMax"])
    # MemoryHigh throttles before MemoryMax kills; both leave headroom over the measured peak.
    assert PEAKS[name] * 1.15 <= high < hard
