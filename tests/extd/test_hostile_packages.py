"""Packages whose symlinks lead out of the handler directory through other symlinks (issue 12):
served byte for byte by the fabric, unpacked by the real extd as root in a sandbox root."""

from __future__ import annotations

from pathlib import Path

import pytest

from waagent.fabric.scenario import Scenario

from .hostile import failed, make_zip, serve_package, symlink_escapes, with_sample
from .system import PROBE, PROBE_DIR, System, message, probe_extension

pytestmark = pytest.mark.integration

GOOD = "Waagent.Test.First"
MANIFEST = (PROBE_DIR / "HandlerManifest.json").read_bytes()


@pytest.fixture
def scenario(scenario: Scenario) -> Scenario:
    return with_sample(scenario, probe_extension(), probe_extension(GOOD))


@pytest.fixture
def cron(system: System) -> Path:
    """`<root>/etc/cron.d`, where every one of the packages aims."""
    path = system.env.sandbox.path("/etc/cron.d")
    path.mkdir(parents=True)
    return path


def written_outside(system: System) -> list[Path]:
    """Files of the sandbox root holding a manifest, except the good handler's own."""
    good = system.handler_dir(GOOD, "1.0.0")
    return [
        path
        for path in system.env.sandbox.root.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and not path.is_relative_to(good)
        and path.read_bytes() == MANIFEST
    ]


@pytest.mark.parametrize("variant", sorted(symlink_escapes()))
def test_a_package_with_a_symlink_leading_out_fails_alone_and_writes_nothing_outside(
    system: System, cron: Path, variant: str
) -> None:
    serve_package(system, PROBE, make_zip(symlink_escapes()[variant]))
    system.start()
    item = failed(system, PROBE, 1005)
    assert message(item).startswith("unsafe package: ")
    system.wait_extension_status(GOOD, "success", seq=0)
    system.wait_goal_state("Success")
    assert list(cron.iterdir()) == []
    assert written_outside(system) == []
    assert not system.handler_dir(PROBE, "1.0.0").exists()
    assert list(system.lib_dir.glob(".*unpacking*")) == []
