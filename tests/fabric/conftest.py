"""Fixtures of the fabric's own tests: a fabric in a thread, a protocol client, a transport key."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.fabric import fabric_for
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric

from .helpers import Agentish, Transport


@pytest.fixture
def scenario() -> Scenario:
    """The scenario the `fabric` fixture serves (tests override it)."""
    return Scenario.default()


@pytest.fixture
def fabric(scenario: Scenario) -> Iterator[Fabric]:
    with fabric_for(None, scenario) as running:
        yield running


@pytest.fixture
def agent(fabric: Fabric) -> Iterator[Agentish]:
    client = Agentish(fabric)
    yield client
    client.close()


@pytest.fixture
def transport(tmp_path: Path) -> Transport:
    return Transport.create(tmp_path)


@pytest.fixture
def needs_openssl() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command (Debian package openssl)")
