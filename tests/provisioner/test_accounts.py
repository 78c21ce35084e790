"""Users, sudoers and custom data pieces on their own."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from waagent.common.root import Root
from waagent.provisioner.custom_data import CustomData
from waagent.provisioner.sudoers import Sudoers
from waagent.provisioner.users import Users

from .machine import Machine, config


def test_a_sudoers_directory_that_had_to_be_made_is_included(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/sudoers").write_text("root ALL=(ALL) ALL\n")
    sudoers = Sudoers(Root(tmp_path), "/etc/sudoers.d")
    assert sudoers.grant("bob", with_password=False)
    assert not sudoers.grant("bob", with_password=False)
    assert (
        tmp_path / "etc/sudoers"
    ).read_text() == "root ALL=(ALL) ALL\n\n#includedir /etc/sudoers.d\n"
    assert (tmp_path / "etc/sudoers.d/waagent").read_text() == "bob ALL=(ALL) NOPASSWD: ALL\n"


def test_an_existing_user_is_not_created_again(machine: Machine) -> None:
    users = Users(Root(machine.root), machine.runner, config())
    first = asyncio.run(users.ensure("alice"))
    second = asyncio.run(users.ensure("alice"))
    assert first == second
    assert [c[0] for c in machine.runner.calls] == ["useradd"]


def test_a_home_lost_after_useradd_is_made_again(machine: Machine) -> None:
    users = Users(Root(machine.root), machine.runner, config())
    account = asyncio.run(users.ensure("alice"))
    machine.path("/home/alice/.profile").unlink()
    machine.path("/home/alice").rmdir()
    asyncio.run(users.ensure("alice"))
    st = os.stat(machine.path("/home/alice"))
    assert (st.st_uid, st.st_gid) == (account.uid, account.gid)


def test_locking_root_twice_changes_the_file_once(machine: Machine) -> None:
    users = Users(Root(machine.root), machine.runner, config())
    assert users.lock_root_password()
    assert not users.lock_root_password()


def test_a_failing_custom_data_script_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.diskd.runners import RecordingRunner

    custom = CustomData(
        Root(tmp_path), RecordingRunner(), "/var/lib/waagent", decode=True, execute=True
    )
    custom.save(b"#!/bin/sh\necho broken >&2\nexit 3\n")
    asyncio.run(custom.run())
    assert "custom data exited with 3: broken" in caplog.text
    assert (tmp_path / "var/lib/waagent/CustomData").stat().st_mode & 0o777 == 0o700


def test_a_custom_data_script_that_hangs_is_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.diskd.runners import RecordingRunner

    custom = CustomData(
        Root(tmp_path),
        RecordingRunner(),
        "/var/lib/waagent",
        decode=True,
        execute=True,
        timeout=0.5,
    )
    custom.save(b"#!/bin/sh\nsleep 30\n")
    asyncio.run(custom.run())
    assert "did not finish within 0.5 s" in caplog.text
