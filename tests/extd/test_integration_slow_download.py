"""A package that drips (a byte every few seconds) on both channels: wire's Download fails within
its budget, and extd reports the classic download error (1001) instead of waiting for hours."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.harness.environment import Environment
from waagent.common.names import WIRE
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric

from .system import PROBE, System, message, probe_extension

pytestmark = pytest.mark.integration

WIRE_ARGS = ("--request-deadline", "2", "--download-budget", "3")
DRIP = {"drip": 3}
DOWNLOAD_ERROR = 1001  # the classic PluginManifestDownloadError


@pytest.fixture
def scenario(scenario: Scenario) -> Scenario:
    return scenario.model_copy(update={"extensions": [probe_extension()]})


@pytest.fixture
def system(fabric: Fabric, env_config: dict[str, str]) -> Iterator[System]:
    """The whole system, wire with short deadlines (set before anything activates it)."""
    with Environment(config=env_config, endpoint=fabric.address) as environment:
        environment.make_activatable(WIRE, *WIRE_ARGS)
        yield System(environment, fabric)


def test_a_dripping_package_is_reported_as_a_download_failure(system: System) -> None:
    for endpoint in ("storage-package", "hgap-artifact"):
        system.fabric.program_faults(endpoint, [DRIP] * 50)
    started = time.monotonic()
    system.start()
    item = system.wait_entry(
        PROBE, lambda i: i["status"] == "NotReady" and i["code"] == DOWNLOAD_ERROR, timeout=60
    )
    print(f"\ndripping package: reported {DOWNLOAD_ERROR} after {time.monotonic() - started:.1f} s")
    print(f"message: {message(item)}")
    assert "Failed to download the package of" in message(item)
    assert "download budget is spent" in message(item)
    system.fabric.clear_faults()
    system.fabric.bump_incarnation()
    system.wait_entry(PROBE, lambda i: i["status"] == "Ready", timeout=60)
