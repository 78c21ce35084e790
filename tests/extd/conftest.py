"""Fixtures of extd's tests: a fabric serving the scenario, and the whole system around it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from waagent.fabric.scenario import CertificateSpec, Scenario
from waagent.fabric.server import Fabric

from .system import System


@pytest.fixture
def scenario() -> Scenario:
    """What the fabric serves (tests override it): a VM with one tenant certificate."""
    return Scenario(certificates=[CertificateSpec(name="tenant")])


@pytest.fixture
def env_config() -> dict[str, str]:
    """Short command timeouts, a quick goal-state poll, a short idle time."""
    return {
        "Extensions.GoalStatePeriod": "2",
        "Extensions.EnableTimeout": "20",
        "Extensions.InstallTimeout": "20",
        "Extensions.DisableTimeout": "20",
        "Extensions.UninstallTimeout": "20",
        "Extensions.UpdateTimeout": "20",
        "Services.IdleTimeout": "3",
    }


@pytest.fixture
def fabric(scenario: Scenario) -> Iterator[Fabric]:
    with fabric_for(None, scenario) as running:
        yield running


@pytest.fixture
def system(fabric: Fabric, env_config: dict[str, str]) -> Iterator[System]:
    with Environment(config=env_config, endpoint=fabric.address) as environment:
        yield System(environment, fabric)
