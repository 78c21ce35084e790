"""sshd settings: a drop-in when sshd_config includes it first, else the classic edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from waagent.common.errors import NotFound
from waagent.common.root import Root
from waagent.provisioner.sshd_config import SshdConfig, edit_in_place, settings

from .system import SSHD_CONFIG_CLASSIC

VALUES = settings(disable_password=True, client_alive_interval=120)


def apply(tmp_path: Path, text: str) -> tuple[str, Path]:
    ssh = tmp_path / "etc/ssh"
    ssh.mkdir(parents=True)
    (ssh / "sshd_config").write_text(text)
    written = SshdConfig(Root(tmp_path), "/etc/ssh").apply(VALUES)
    return str(written), ssh


def test_an_include_of_the_drop_in_directory_gets_a_drop_in(tmp_path: Path) -> None:
    written, ssh = apply(tmp_path, "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n")
    assert written == "/etc/ssh/sshd_config.d/10-waagent.conf"
    assert (ssh / "sshd_config.d/10-waagent.conf").read_text().splitlines()[1:] == [
        "PasswordAuthentication no",
        "ChallengeResponseAuthentication no",
        "ClientAliveInterval 120",
    ]
    assert (
        ssh / "sshd_config"
    ).read_text() == "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n"


def test_a_relative_include_counts_from_the_ssh_directory(tmp_path: Path) -> None:
    assert apply(tmp_path, "include sshd_config.d/*.conf\n")[0].endswith("10-waagent.conf")


def test_an_include_inside_a_match_block_does_not_count(tmp_path: Path) -> None:
    written, ssh = apply(tmp_path, "Match User x\n  Include /etc/ssh/sshd_config.d/*.conf\n")
    assert written == "/etc/ssh/sshd_config"
    assert not (ssh / "sshd_config.d").exists()


def test_a_setting_before_the_include_would_win_so_the_file_is_edited(tmp_path: Path) -> None:
    text = "PasswordAuthentication yes\nInclude /etc/ssh/sshd_config.d/*.conf\n"
    written, ssh = apply(tmp_path, text)
    assert written == "/etc/ssh/sshd_config"
    assert (ssh / "sshd_config").read_text().splitlines()[0] == "PasswordAuthentication no"


def test_the_classic_edit_replaces_outside_match_and_inserts_before_it() -> None:
    edited = edit_in_place(SSHD_CONFIG_CLASSIC.splitlines(), VALUES)
    assert edited == [
        "#PasswordAuthentication yes",
        "PasswordAuthentication no",
        "ChallengeResponseAuthentication no",
        "UsePAM yes",
        "Subsystem\tsftp\t/usr/lib/openssh/sftp-server",
        "ClientAliveInterval 120",
        "Match User backup",
        "    PasswordAuthentication no",
    ]


def test_a_match_all_line_ends_the_match_block() -> None:
    lines = ["Match User a", "  X11Forwarding no", "Match all", "ClientAliveInterval 5"]
    assert edit_in_place(lines, {"ClientAliveInterval": "180"})[3] == "ClientAliveInterval 180"


def test_without_a_match_block_a_missing_keyword_is_appended() -> None:
    assert edit_in_place(["UsePAM yes"], {"ClientAliveInterval": "180"}) == [
        "UsePAM yes",
        "ClientAliveInterval 180",
    ]


def test_the_classic_edit_is_idempotent_and_keeps_the_file_mode(tmp_path: Path) -> None:
    _, ssh = apply(tmp_path, SSHD_CONFIG_CLASSIC)
    first = (ssh / "sshd_config").read_text()
    (ssh / "sshd_config").chmod(0o600)
    SshdConfig(Root(tmp_path), "/etc/ssh").apply(VALUES)
    assert (ssh / "sshd_config").read_text() == first
    assert (ssh / "sshd_config").stat().st_mode & 0o777 == 0o600


def test_no_sshd_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="sshd_config does not exist"):
        SshdConfig(Root(tmp_path), "/etc/ssh").apply(VALUES)
