"""`waagent -setup-firewall=<ip>`: parsed with its address, refused without one or with a bad
one, and run in the process by root when no bus answers (early boot, no dbus)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.paths import PYTHON, SAMPLE_CONFIG
from waagent.cli.args import parse

from .conftest import NOBODY, write_passwd
from .netns import VmNetwork, missing_for_netns

NO_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/system_bus_socket"}


def waagent(
    *args: str, root: Path, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, PYTHON, "-m", "waagent.cli", *args, f"-root:{root}"],
        env={**os.environ, **NO_BUS, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def readable() -> Iterator[Path]:
    """A directory other users can read (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="netd-cli-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def a_root(tmp_path: Path, wire_uid: int | None = None) -> Path:
    root = tmp_path / "root"
    write_passwd(root, wire_uid)
    (root / "etc/waagent.conf").write_text(SAMPLE_CONFIG.read_text())
    return root


def test_the_classic_verb_keeps_its_address() -> None:
    inv = parse(["-setup-firewall=168.63.129.16"])
    assert (inv.command, inv.endpoint) == ("setup-firewall", "168.63.129.16")
    assert parse(["--setup-firewall=10.0.0.1", "-verbose"]).endpoint == "10.0.0.1"


def test_a_bad_address_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = waagent("-setup-firewall=168.63.129.300", root=a_root(tmp_path))
    assert result.returncode == 1
    assert "invalid WireServer endpoint '168.63.129.300'" in result.stderr


@pytest.mark.skipif(missing_for_netns() is not None, reason=missing_for_netns() or "")
def test_without_a_bus_root_sets_the_rules_up_in_the_process(
    vm: VmNetwork, wire_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    root = a_root(tmp_path, wire_user.pw_uid)
    netns = ("ip", "netns", "exec", vm.network.vm_ns)
    result = waagent("-setup-firewall=168.63.129.16", root=root, prefix=netns)
    assert result.returncode == 0, result.stderr
    assert vm.nft_tables() == ["waagent"]
    assert not vm.connects(NOBODY)
    assert vm.connects(wire_user.pw_uid)


@pytest.mark.skipif(missing_for_netns() is not None, reason=missing_for_netns() or "")
def test_without_a_bus_a_user_is_told_it_needs_root(vm: VmNetwork, readable: Path) -> None:
    root = a_root(readable)
    nobody = ("ip", "netns", "exec", vm.network.vm_ns, "setpriv", f"--reuid={NOBODY}",
              f"--regid={NOBODY}", "--clear-groups")  # fmt: skip
    result = waagent("-setup-firewall=168.63.129.16", root=root, prefix=nobody)
    assert result.returncode == 1
    assert "needs root" in result.stderr
    assert vm.nft_tables() == []
