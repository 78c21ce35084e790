"""Fixtures shared by every test: real components, skipped with a reason when unavailable."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.dbus_daemon import PrivateBus
from tests.harness.environment import Environment
from tests.harness.paths import PYTHON, REPO, TEST_DATA
from tests.harness.polkitd import POLKITD

PROBE_POLICY = TEST_DATA / "org.waagent.Probe1.conf"
PROBE_ACTION = TEST_DATA / "org.waagent.probe.policy"
PROBE_SCRIPT = REPO / "tests" / "harness" / "probe_service.py"


def missing_for_integration() -> str | None:
    if os.geteuid() != 0:
        return "needs root (private dbus-daemon, polkitd in a mount namespace, setpriv)"
    for tool in ("dbus-daemon", "busctl", "setpriv", "unshare", "useradd"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    if not POLKITD.exists():
        return f"needs polkitd ({POLKITD})"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing_for_integration()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def env_config() -> dict[str, str]:
    """Configuration overrides for the sandbox's waagent.conf (tests override this fixture)."""
    return {}


@pytest.fixture
def env(env_config: dict[str, str]) -> Iterator[Environment]:
    """A private system: bus with our policies, polkitd, sandbox root, activatable services."""
    environment = Environment(
        config=env_config,
        extra_policies=[PROBE_POLICY],
        extra_actions=[PROBE_ACTION],
    )
    with environment:
        environment.bus.add_service(
            "org.waagent.Probe1", environment.service_argv_script(PROBE_SCRIPT)
        )
        yield environment


@pytest.fixture
def private_bus(tmp_path: Path) -> Iterator[PrivateBus]:
    """A bare private system bus (the repository's policies, no polkitd, no services)."""
    bus = PrivateBus(tmp_path / "bus")
    bus.workdir.mkdir()
    bus.start()
    try:
        yield bus
    finally:
        bus.stop()


@pytest.fixture
def sandbox_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


__all__ = ["PYTHON"]
