"""sshd settings: the classic edit of sshd_config itself, checked with the real `sshd -T`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from waagent.common.errors import NotFound
from waagent.common.root import Root
from waagent.provisioner.sshd_config import (
    OLD_DROP_IN_HEADER,
    SshdConfig,
    edit_in_place,
    settings,
)

from .sshd import effective, host_key, require_sshd
from .system import SSHD_CONFIG_CLASSIC

VALUES = settings(disable_password=True, client_alive_interval=120)
ALLOW = settings(disable_password=False, client_alive_interval=120)


def sandbox(tmp_path: Path, text: str, drop_ins: dict[str, str] | None = None) -> Path:
    ssh = tmp_path / "etc/ssh"
    (ssh / "sshd_config.d").mkdir(parents=True)
    (ssh / "sshd_config").write_text(text)
    for name, body in (drop_ins or {}).items():
        (ssh / "sshd_config.d" / name).write_text(body)
    return ssh


def apply(tmp_path: Path, values: dict[str, str] = VALUES) -> Path:
    return Path(SshdConfig(Root(tmp_path), "/etc/ssh").apply(values))


def set_like_an_extension(ssh: Path, keyword: str, value: str) -> None:
    """What VMAccess does: replace the first line setting the keyword, else append one."""
    lines = (ssh / "sshd_config").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.split()[:1] == [keyword]:
            lines[i] = f"{keyword} {value}"
            break
    else:
        lines.append(f"{keyword} {value}")
    (ssh / "sshd_config").write_text("\n".join(lines) + "\n")


# ---- the real sshd on Debian's default sshd_config ----


@pytest.mark.root  # sshd -T runs in a mount namespace
def test_on_debian_sshd_refuses_passwords_after_provisioning(tmp_path: Path) -> None:
    ssh = sandbox(tmp_path, require_sshd())
    assert apply(tmp_path) == Path("/etc/ssh/sshd_config")
    seen = effective(tmp_path, host_key(tmp_path))
    assert (
        seen["passwordauthentication"],
        seen["kbdinteractiveauthentication"],
        seen["clientaliveinterval"],
    ) == ("no", "no", "120")
    assert list((ssh / "sshd_config.d").iterdir()) == []


@pytest.mark.root  # sshd -T runs in a mount namespace
def test_an_extension_editing_sshd_config_later_wins(tmp_path: Path) -> None:
    ssh = sandbox(tmp_path, require_sshd())
    apply(tmp_path)
    set_like_an_extension(ssh, "PasswordAuthentication", "yes")
    assert effective(tmp_path, host_key(tmp_path))["passwordauthentication"] == "yes"


@pytest.mark.root  # sshd -T runs in a mount namespace
def test_allowing_passwords_replaces_debians_kbd_interactive_line(tmp_path: Path) -> None:
    ssh = sandbox(tmp_path, require_sshd())
    apply(tmp_path, ALLOW)
    text = (ssh / "sshd_config").read_text()
    assert "KbdInteractiveAuthentication yes\n" in text
    assert "ChallengeResponseAuthentication" not in text
    seen = effective(tmp_path, host_key(tmp_path))
    assert (seen["passwordauthentication"], seen["kbdinteractiveauthentication"]) == ("yes", "yes")


@pytest.mark.root  # sshd -T runs in a mount namespace
def test_a_conflicting_image_drop_in_is_overridden_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cloud_init = "PasswordAuthentication yes\n"
    ssh = sandbox(tmp_path, require_sshd(), {"50-cloud-init.conf": cloud_init})
    with caplog.at_level(logging.WARNING):
        apply(tmp_path)
    assert effective(tmp_path, host_key(tmp_path))["passwordauthentication"] == "no"
    assert "/etc/ssh/sshd_config.d/50-cloud-init.conf sets PasswordAuthentication yes" in (
        caplog.text
    )
    assert (ssh / "sshd_config.d/50-cloud-init.conf").read_text() == cloud_init
    lines = (ssh / "sshd_config").read_text().splitlines()
    include = lines.index("Include /etc/ssh/sshd_config.d/*.conf")
    assert lines[include - 1] == "PasswordAuthentication no"
    # Still the one line an extension edits.
    set_like_an_extension(ssh, "PasswordAuthentication", "yes")
    assert effective(tmp_path, host_key(tmp_path))["passwordauthentication"] == "yes"


def test_an_agreeing_drop_in_leaves_the_classic_edit(tmp_path: Path) -> None:
    ssh = sandbox(tmp_path, require_sshd(), {"60-hardening.conf": "PasswordAuthentication no\n"})
    apply(tmp_path)
    lines = (ssh / "sshd_config").read_text().splitlines()
    assert lines.index("Include /etc/ssh/sshd_config.d/*.conf") < len(lines) - 2
    # Debian's own KbdInteractiveAuthentication line already says no: it is the alias's line.
    assert lines[-2:] == ["PasswordAuthentication no", "ClientAliveInterval 120"]


@pytest.mark.root  # sshd -T runs in a mount namespace
def test_the_drop_in_of_earlier_versions_is_removed(tmp_path: Path) -> None:
    old = f"{OLD_DROP_IN_HEADER}\nPasswordAuthentication yes\nClientAliveInterval 9\n"
    ssh = sandbox(tmp_path, require_sshd(), {"10-waagent.conf": old})
    apply(tmp_path)
    assert not (ssh / "sshd_config.d/10-waagent.conf").exists()
    seen = effective(tmp_path, host_key(tmp_path))
    assert (seen["passwordauthentication"], seen["clientaliveinterval"]) == ("no", "120")


def test_a_10_waagent_conf_not_written_by_waagent_is_kept(tmp_path: Path) -> None:
    ssh = sandbox(tmp_path, "UsePAM yes\n", {"10-waagent.conf": "# mine\nX11Forwarding no\n"})
    apply(tmp_path)
    assert (ssh / "sshd_config.d/10-waagent.conf").read_text() == "# mine\nX11Forwarding no\n"


def test_a_second_run_changes_nothing_and_the_mode_and_owner_stay(tmp_path: Path) -> None:
    ssh = sandbox(tmp_path, require_sshd(), {"50-cloud-init.conf": "PasswordAuthentication yes\n"})
    (ssh / "sshd_config").chmod(0o600)
    os.chown(ssh / "sshd_config", 65534, 65534)
    apply(tmp_path)
    first = (ssh / "sshd_config").read_text()
    inode = (ssh / "sshd_config").stat().st_ino
    apply(tmp_path)
    st = (ssh / "sshd_config").stat()
    assert (ssh / "sshd_config").read_text() == first
    assert st.st_ino == inode  # not even rewritten
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 65534, 65534)


# ---- the classic edit, line by line ----


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


def test_the_alias_line_keeps_its_name() -> None:
    lines = ["KbdInteractiveAuthentication yes", "UsePAM yes"]
    assert edit_in_place(lines, {"ChallengeResponseAuthentication": "no"}) == [
        "KbdInteractiveAuthentication no",
        "UsePAM yes",
    ]


def test_a_match_all_line_ends_the_match_block() -> None:
    lines = ["Match User a", "  X11Forwarding no", "Match all", "ClientAliveInterval 5"]
    assert edit_in_place(lines, {"ClientAliveInterval": "180"})[3] == "ClientAliveInterval 180"


def test_without_a_match_block_a_missing_keyword_is_appended() -> None:
    assert edit_in_place(["UsePAM yes"], {"ClientAliveInterval": "180"}) == [
        "UsePAM yes",
        "ClientAliveInterval 180",
    ]


def test_no_sshd_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="sshd_config does not exist"):
        SshdConfig(Root(tmp_path), "/etc/ssh").apply(VALUES)
