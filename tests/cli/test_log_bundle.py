"""The log bundle built on a sandbox root: manifests, caps, order, and no secrets."""

from __future__ import annotations

import asyncio
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from waagent.cli import log_manifest
from waagent.cli.log_bundle import (
    ARCHIVE_CAP,
    REDACTED,
    RESULTS_NAME,
    Bundle,
    Caps,
    LogCollector,
)
from waagent.common.commands import Runner
from waagent.common.config import AgentConfig
from waagent.common.errors import Failed
from waagent.common.root import Root

KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
EXT = "Microsoft.Azure.Extensions.CustomScript"
# Symlink ownership decides whether one is followed; making them for root or another user needs root.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (symlinks owned by others)")


def write(root: Path, inner: str, data: str | bytes, mode: int = 0o644) -> Path:
    path = root / inner.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def build(
    root: Path, manifest: log_manifest.Manifest = log_manifest.NORMAL, caps: Caps | None = None
) -> tuple[Bundle, dict[str, bytes]]:
    out = io.BytesIO()
    collector = LogCollector(Root(root), AgentConfig(), Runner(), caps)
    bundle = asyncio.run(collector.build(manifest, out))
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    assert bundle.size == len(out.getvalue())
    return bundle, contents


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "/var/log/waagent.log", "agent log line\n")
    write(tmp_path, "/var/log/syslog", "kernel: hello\n")
    write(tmp_path, "/etc/waagent.conf", "Logs.Verbose=n\n")
    write(tmp_path, f"/var/log/azure/{EXT}/handler.log", "handler enabled\n")
    write(tmp_path, f"/var/lib/waagent/{EXT}-2.1.10/status/0.status", '[{"status": {}}]')
    return tmp_path


def test_the_normal_manifest_collects_logs_config_and_extension_files(root: Path) -> None:
    bundle, contents = build(root)
    assert contents["var/log/waagent.log"] == b"agent log line\n"
    assert {
        "etc/waagent.conf",
        "var/log/syslog",
        f"var/log/azure/{EXT}/handler.log",
        f"var/lib/waagent/{EXT}-2.1.10/status/0.status",
        RESULTS_NAME,
    } <= set(contents)
    assert set(bundle.files) == set(contents) - {RESULTS_NAME}


def test_results_hold_the_directory_listings_and_what_was_added(root: Path) -> None:
    _, contents = build(root)
    results = contents[RESULTS_NAME].decode()
    assert "ll /var/log\n" in results
    assert "waagent.log" in results.split("ll /var/log\n", 1)[1]
    assert "added var/log/waagent.log (15 bytes)" in results


def test_the_full_manifest_adds_system_configuration(root: Path) -> None:
    write(root, "/etc/fstab", "UUID=x / ext4 defaults 0 1\n")
    write(root, "/etc/ssh/sshd_config", "PasswordAuthentication no\n")
    _, normal = build(root)
    _, full = build(root, log_manifest.FULL)
    assert "etc/fstab" not in normal
    assert {"etc/fstab", "etc/ssh/sshd_config"} <= set(full)


def test_a_file_over_the_cap_is_kept_as_its_tail(root: Path) -> None:
    write(root, "/var/log/syslog", "a" * 500 + "b" * 100)
    bundle, contents = build(root, caps=Caps(file=100))
    assert "var/log/syslog" not in contents
    assert contents["truncated_var_log_syslog"] == b"b" * 100
    assert bundle.truncated == ["truncated_var_log_syslog"]


def test_a_compressed_file_over_the_cap_is_left_out(root: Path) -> None:
    write(root, "/var/log/syslog.2.gz", os.urandom(300))
    bundle, contents = build(root, caps=Caps(file=100))
    assert not any("syslog.2.gz" in name for name in contents)
    assert "compressed" in bundle.left_out["/var/log/syslog.2.gz"]


def test_the_agent_log_goes_first_when_the_total_cap_is_reached(root: Path) -> None:
    write(root, "/etc/os-release", "x" * 90)  # listed before the agent log in the manifest
    write(root, "/var/log/waagent.log", "y" * 90)
    bundle, contents = build(root, caps=Caps(file=100, total=100))
    assert contents["var/log/waagent.log"] == b"y" * 90
    assert "etc/os-release" not in contents
    assert "total" in bundle.left_out["/etc/os-release"]


def test_nothing_more_goes_in_once_the_archive_could_pass_what_wire_accepts(root: Path) -> None:
    for n in range(5):
        write(root, f"/var/log/syslog.{n}", os.urandom(200))  # incompressible
    bundle, _ = build(root, caps=Caps(file=300, archive=4000, reserve=3000))
    full = [path for path, why in bundle.left_out.items() if why == "the archive is full"]
    assert full
    assert bundle.size <= 4000


def test_the_archive_cap_is_what_wire_accepts() -> None:
    from waagent.wire.log_upload import MAX_LOG_BUNDLE

    assert ARCHIVE_CAP == MAX_LOG_BUNDLE


def test_private_keys_are_left_out_by_name_and_by_content(root: Path) -> None:
    write(root, f"/var/log/azure/{EXT}/cert.prv", KEY, 0o600)
    write(root, f"/var/log/azure/{EXT}/client.key", KEY, 0o600)
    write(root, f"/var/log/azure/{EXT}/extension.log", "starting\n" + KEY + "done\n")
    bundle, contents = build(root)
    assert not [name for name, data in contents.items() if b"PRIVATE KEY" in data]
    assert bundle.left_out[f"/var/log/azure/{EXT}/cert.prv"] == "a private key"
    assert bundle.left_out[f"/var/log/azure/{EXT}/extension.log"] == "it holds a private key"


def test_a_key_split_across_read_chunks_is_still_found(root: Path) -> None:
    from waagent.cli.log_bundle import CHUNK

    text = "x" * (CHUNK - 5) + KEY
    write(root, f"/var/log/azure/{EXT}/big.log", text)
    bundle, contents = build(root, caps=Caps(file=4 * CHUNK))
    assert f"var/log/azure/{EXT}/big.log" not in contents
    assert bundle.left_out[f"/var/log/azure/{EXT}/big.log"] == "it holds a private key"


def test_protected_settings_are_redacted_and_public_settings_kept(root: Path) -> None:
    settings = {
        "runtimeSettings": [
            {
                "handlerSettings": {
                    "protectedSettingsCertThumbprint": "ABCDEF",
                    "protectedSettings": "MIIB...encrypted==",
                    "publicSettings": {"commandToExecute": "echo hi"},
                }
            }
        ]
    }
    write(root, f"/var/lib/waagent/{EXT}-2.1.10/config/0.settings", json.dumps(settings))
    _, contents = build(root)
    collected = json.loads(contents[f"var/lib/waagent/{EXT}-2.1.10/config/0.settings"])
    handler = collected["runtimeSettings"][0]["handlerSettings"]
    assert handler["protectedSettings"] == REDACTED
    assert handler["publicSettings"] == {"commandToExecute": "echo hi"}
    assert handler["protectedSettingsCertThumbprint"] == "ABCDEF"


def test_settings_that_are_not_json_are_left_out(root: Path) -> None:
    write(root, f"/var/lib/waagent/{EXT}-2.1.10/config/1.settings", "protectedSettings=secret")
    bundle, contents = build(root)
    assert f"var/lib/waagent/{EXT}-2.1.10/config/1.settings" not in contents
    assert "not JSON" in bundle.left_out[f"/var/lib/waagent/{EXT}-2.1.10/config/1.settings"]


@needs_root
def test_a_symlink_owned_by_root_is_followed_inside_the_root(root: Path) -> None:
    write(root, "/usr/lib/os-release", "ID=debian\n")
    (root / "etc/os-release").symlink_to("/usr/lib/os-release")  # absolute: inside the root
    _, contents = build(root)
    assert contents["etc/os-release"] == b"ID=debian\n"


@needs_root
def test_a_symlink_a_user_planted_in_a_log_directory_is_not_followed(root: Path) -> None:
    write(root, "/etc/shadow", "root:$6$hash:19000::::::\n", 0o640)
    link = root / "var/log/syslog.1"
    link.symlink_to("/etc/shadow")
    os.lchown(link, 65534, 65534)
    bundle, contents = build(root)
    assert not [name for name, data in contents.items() if b"$6$hash" in data]
    assert bundle.left_out["/var/log/syslog.1"] == "a symlink not owned by root"


@needs_root
def test_collection_gives_up_after_eight_unreadable_files(root: Path) -> None:
    for n in range(8):
        (root / f"var/log/syslog.{n}").symlink_to(f"/nowhere/{n}")
    with pytest.raises(Failed, match="gave up after 8 errors"):
        build(root)
