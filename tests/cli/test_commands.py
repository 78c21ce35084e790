"""The commands that need no bus: help, version, the unsupported ones, argument errors."""

from __future__ import annotations

import os
import platform
import subprocess
import tempfile
from pathlib import Path

from tests.harness.paths import PYTHON
from tests.harness.users import as_user
from waagent import AGENT_VERSION, __version__


def waagent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "waagent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/socket"},
    )


def test_version_keeps_the_classic_first_lines_and_names_the_protocols() -> None:
    result = waagent("-version")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"WALinuxAgent-{AGENT_VERSION} running on ")
    assert lines[1] == f"Python: {platform.python_version()}"
    assert lines[2] == f"Goal state agent: {AGENT_VERSION}"
    assert lines[3] == f"waagent {__version__}"
    assert lines[4] == (
        "Protocols: WireServer 2012-11-30, HostGAPlugin 2015-09-01, extension handler protocol 1.0"
    )


def test_help_lists_every_command() -> None:
    result = waagent("-help")
    assert result.returncode == 0
    for word in ("-daemon", "-start", "-collect-logs", "-full", "status", "-root:", "-verbose"):
        assert word in result.stdout


def test_serialconsole_on_a_sandbox_tree_edits_it_once_and_off_restores_it(tmp_path: Path) -> None:
    grub = tmp_path / "etc/default/grub"
    grub.parent.mkdir(parents=True)
    original = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'
    grub.write_text(original)
    dry = waagent("-serialconsole", "-dry-run", f"-root:{tmp_path}")
    assert dry.returncode == 0, dry.stderr
    assert '+GRUB_CMDLINE_LINUX_DEFAULT="quiet console=ttyS0 earlyprintk=ttyS0"' in dry.stdout
    assert "would change /etc/default/grub" in dry.stdout
    assert grub.read_text() == original
    first = waagent("-serialconsole", f"-root:{tmp_path}")
    assert first.returncode == 0, first.stderr
    assert "changed /etc/default/grub" in first.stdout
    assert "GRUB configuration: skipped: " in first.stdout
    assert grub.read_text().startswith('GRUB_CMDLINE_LINUX_DEFAULT="quiet console=ttyS0 earlyp')
    second = waagent("-serialconsole", f"-root:{tmp_path}")
    assert (second.returncode, second.stdout) == (
        0,
        "console=ttyS0 earlyprintk=ttyS0: already on the kernel command line\n",
    )
    off = waagent("-serialconsole=off", f"-root:{tmp_path}")
    assert off.returncode == 0, off.stderr
    assert grub.read_text() == original


def test_serialconsole_with_an_unknown_value_is_a_usage_error() -> None:
    result = waagent("-serialconsole=maybe")
    assert result.returncode == 1
    assert result.stderr.startswith("waagent: -serialconsole=maybe: expected")


def test_a_configuration_path_that_does_not_exist_is_an_error_with_the_usage(
    tmp_path: Path,
) -> None:
    result = waagent("-daemon", f"-configuration-path:{tmp_path}/missing.conf")
    assert result.returncode == 1
    assert result.stderr.startswith(f"waagent: configuration file {tmp_path}/missing.conf does not")
    assert "Usage: waagent" in result.stderr


def test_show_configuration_reads_the_configuration_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/waagent.conf").write_text("ResourceDisk.SwapSizeMB=2048\n")
    result = waagent("-show-configuration", f"-root:{tmp_path}")
    assert result.returncode == 0, result.stderr
    assert "ResourceDisk.SwapSizeMB = 2048" in result.stdout.splitlines()


def test_status_without_a_system_bus_says_so() -> None:
    result = waagent("status")
    assert result.returncode == 1
    assert result.stderr.startswith("waagent: cannot reach the system bus: ")


def test_the_daemon_refuses_to_run_as_another_user_than_root() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        os.chmod(root, 0o755)  # readable by the user the daemon is tried as
        (root / "etc").mkdir(mode=0o755)
        (root / "etc/waagent.conf").write_text("")
        argv = [PYTHON, "-m", "waagent.cli", "-daemon", f"-root:{root}"]
        if os.geteuid() == 0:
            argv = [*as_user("nobody"), *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "waagent: -daemon and -start must run as root (the services run as root and waagent-wire)\n"
    )


def test_a_root_directory_that_does_not_exist_is_an_error_with_the_usage(tmp_path: Path) -> None:
    result = waagent("-daemon", f"-root:{tmp_path}/missing")
    assert result.returncode == 1
    assert result.stderr.startswith(f"waagent: root directory {tmp_path}/missing does not exist\n")
    assert "Usage: waagent" in result.stderr
