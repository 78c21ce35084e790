"""What the daemon gives each service: its command line, and the state tmpfiles would make."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from waagent.common.config import AgentConfig
from waagent.common.root import Root
from waagent.daemon.launch import DaemonSettings, service_argv
from waagent.daemon.run import prepare_state


def test_services_get_the_root_resident_and_verbose_options_and_look_for_the_kernel_inside_the_root(
    tmp_path: Path,
) -> None:
    settings = DaemonSettings(Root(tmp_path), tmp_path / "etc/waagent.conf", AgentConfig())
    diskd = service_argv("diskd", settings)
    assert diskd[diskd.index("--sysfs-root") + 1] == str(tmp_path / "sys")
    assert diskd[diskd.index("--dev-root") + 1] == str(tmp_path / "dev")
    wire = service_argv("wire", settings)
    assert wire[wire.index("--route-table") + 1] == str(tmp_path / "proc/net/route")
    assert "--no-idle-exit" in wire
    verbose = DaemonSettings(Root(tmp_path), tmp_path / "w.conf", AgentConfig(), verbose=True)
    assert "--verbose" in service_argv("provisioner", verbose)
    assert "--verbose" not in diskd
    host = service_argv(
        "diskd", DaemonSettings(Root("/"), Path("/etc/waagent.conf"), AgentConfig())
    )
    assert "--sysfs-root" not in host


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown to another user)")
def test_the_daemon_prepares_what_tmpfiles_would_have(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    prepare_state(Root(tmp_path), AgentConfig(), nobody)
    assert (tmp_path / "var/lib/waagent").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "var/log/azure").is_dir()
    wire_dir = (tmp_path / "var/lib/waagent-wire").stat()
    assert (wire_dir.st_uid, wire_dir.st_mode & 0o777) == (nobody.pw_uid, 0o700)
    log = (tmp_path / "var/log/waagent.log").stat()
    assert (log.st_uid, log.st_gid, log.st_mode & 0o777) == (0, nobody.pw_gid, 0o664)
