"""A service refuses to start on a bad configuration rather than guess."""

from __future__ import annotations

import subprocess

import pytest

from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from waagent.common.names import WIRE

pytestmark = pytest.mark.integration


@pytest.fixture
def env_config() -> dict[str, str]:
    return {"ResourceDisk.SwapSizeMB": "lots"}


def test_a_service_with_a_bad_configuration_refuses_to_start(env: Environment) -> None:
    reply = env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Ping")
    assert not reply.ok
    assert "exited with status 78" in reply.error or "ChildExited" in reply.error
    result = subprocess.run(
        env.service_argv("wire"),
        capture_output=True,
        text=True,
        timeout=30,
        env=env.bus.env(),
        check=False,
    )
    assert result.returncode == 78
    assert f"{env.sandbox.config_path}:" in result.stderr
    assert "ResourceDisk.SwapSizeMB=lots: expected an integer" in result.stderr
    assert PYTHON
