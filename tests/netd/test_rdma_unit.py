"""waagent-rdma.service: within its exposure budget, CAP_SYS_MODULE and nothing else, pulled in
by waagent.target after provisioning and wire."""

from __future__ import annotations

import configparser
import shutil
from pathlib import Path

import pytest

from .test_units import UNITS, exposure, unit

BUDGET = 2.0


def rdma_unit() -> configparser.ConfigParser:
    return unit("waagent-rdma.service.in")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_rdma_unit_is_within_its_exposure_budget(tmp_path: Path) -> None:
    assert exposure("waagent-rdma", tmp_path) <= BUDGET


def test_the_rdma_unit_may_load_modules_and_nothing_else() -> None:
    service = rdma_unit()["Service"]
    assert service["CapabilityBoundingSet"].split() == ["CAP_SYS_MODULE"]
    assert service["PrivateNetwork"] == "yes"
    assert service["Type"] == "oneshot"


def test_the_rdma_unit_runs_after_provisioning_and_wire_from_waagent_target() -> None:
    after = rdma_unit()["Unit"]["After"].split()
    assert {"waagent-provisioner.service", "waagent-wire.service"} <= set(after)
    target = (UNITS / "waagent.target").read_text()
    assert "Wants=waagent-rdma.service" in target.splitlines()
