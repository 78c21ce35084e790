"""Fixtures shared by every test: real components, skipped with a reason when unavailable."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.dbus_daemon import PrivateBus
from tests.harness.environment import Environment
from tests.harness.packages import build_deb
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


# Fixtures that start a private bus (polkitd, services), by name, counted where a conftest.py
# defines them: a test module's own fixture of the same name is not meant (tests/fabric's `wire`
# is an address). A test module that starts a bus in a fixture of its own marks itself.
BUS_FIXTURES = frozenset({"env", "private_bus", "system", "activated", "wire"})
# Fixtures that need root for the machine itself: loop devices, mounts, useradd --root.
ROOT_FIXTURES = frozenset({"loop_disks", "machine", "bare_machine", "loop_dvd", "debian_package"})
SYSTEM_TESTS = Path(__file__).parent / "system"


def uses_fixture(item: pytest.Item, names: frozenset[str], *, in_conftest: bool) -> bool:
    """Does the test use (directly or through other fixtures) one of these fixtures?"""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in names & set(info.names_closure):
        defs = info.name2fixturedefs.get(name) or ()
        module = getattr(defs[-1].func, "__module__", "") if defs else ""
        if not in_conftest or module.endswith("conftest"):
            return True
    return False


def needs_root(item: pytest.Item) -> bool:
    """Root for other reasons than a bus: a root fixture, or a `skipif(... "needs root ...")`."""
    if uses_fixture(item, ROOT_FIXTURES, in_conftest=False):
        return True
    for mark in item.iter_markers("skipif"):
        reason = str(mark.kwargs.get("reason", ""))
        if reason.startswith("needs root"):
            return True
    return False


def mark_kind(item: pytest.Item) -> None:
    """Mark what a test needs, so `make unit` (-m "not integration and not system and not
    root") runs every other test as a user without a bus, and new tests need no thought."""
    if item.path.is_relative_to(SYSTEM_TESTS):
        item.add_marker(pytest.mark.system)
    if uses_fixture(item, BUS_FIXTURES, in_conftest=True):
        item.add_marker(pytest.mark.integration)
    if needs_root(item):
        item.add_marker(pytest.mark.root)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        mark_kind(item)
    integration = missing_for_integration()
    for item in items:
        if integration is not None and "integration" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=integration))
        elif os.geteuid() != 0 and "root" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs root"))


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


@pytest.fixture(scope="session")
def debian_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """`make deb` once per session: tests/packaging reads it, tests/system installs it."""
    where = tmp_path_factory.mktemp("deb")
    yield build_deb(where)
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def sandbox_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


__all__ = ["PYTHON"]
