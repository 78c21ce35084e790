from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.paths import SAMPLE_CONFIG
from waagent.common import config
from waagent.common.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waagent.conf"
    path.write_text(text)
    return path


def test_sample_config_equals_the_documented_defaults() -> None:
    loaded = config.load(SAMPLE_CONFIG)
    assert loaded.config == config.AgentConfig()
    assert loaded.unknown == {}


def test_sample_config_mentions_every_known_key() -> None:
    text = SAMPLE_CONFIG.read_text()
    for key in config.known_keys():
        assert f"\n{key}=" in text or f"\n# {key}=" in text, key


def test_classic_syntax_comments_quotes_and_switches(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# comment\n"
        "ResourceDisk.Format=Y   # trailing comment\n"
        'ResourceDisk.MountPoint="/mnt/data"\n'
        "Logs.Verbose=n\n"
        "ResourceDisk.SwapSizeMB = 2048\n"
        "not a setting\n",
    )
    cfg = config.load(path).config
    assert cfg.resource_disk_format is True
    assert cfg.resource_disk_mount_point == "/mnt/data"
    assert cfg.logs_verbose is False
    assert cfg.resource_disk_swap_size_mb == 2048


def test_none_keyword_means_the_built_in_default(tmp_path: Path) -> None:
    path = write(tmp_path, "OS.OpensslPath=None\nHttpProxy.Host=None\n")
    cfg = config.load(path).config
    assert cfg.os_openssl_path == "/usr/bin/openssl"
    assert cfg.http_proxy_host is None


def test_duplicate_keys_last_one_wins_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "Extensions.GoalStatePeriod=10\nExtensions.GoalStatePeriod=20\n")
    with caplog.at_level(logging.WARNING):
        cfg = config.load(path).config
    assert cfg.extensions_goal_state_period == 20
    assert "set again (first set on line 1)" in caplog.text


def test_unknown_keys_are_kept_and_warned_about_with_a_suggestion(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "Foo.Bar=1\nextensions.enabled=n\nProvisioning.Enabled=y\n")
    with caplog.at_level(logging.WARNING):
        loaded = config.load(path)
    assert loaded.unknown == {
        "Foo.Bar": "1",
        "extensions.enabled": "n",
        "Provisioning.Enabled": "y",
    }
    assert loaded.config.extensions_enabled is True
    assert "did you mean Extensions.Enabled?" in caplog.text
    assert "removed in 2.2.45" in caplog.text


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ("ResourceDisk.SwapSizeMB=lots", "an integer"),
        ("ResourceDisk.SwapSizeMB=-1", "an integer >= 0"),
        ("Provisioning.PasswordCryptId=9", "one of 1, 5 or 6"),
        ("ResourceDisk.Format=maybe", "y or n"),
        ("Lib.Dir=var/lib/waagent", "an absolute path"),
        ("HttpProxy.Port=70000", "an integer from 1 to 65535"),
        ("ResourceDisk.Filesystem=zfs9", "one of ext2, ext3, ext4, xfs or btrfs"),
        ("Provisioning.Agent=puppet", "one of auto, waagent, cloud-init or disabled"),
    ],
)
def test_a_bad_value_names_file_line_key_value_and_what_is_allowed(
    tmp_path: Path, line: str, allowed: str
) -> None:
    path = write(tmp_path, "# first\n" + line + "\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert info.value.problems == [f"{path}:2: {line}: expected {allowed}"]


def test_every_bad_line_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    path = write(tmp_path, "Provisioning.PasswordCryptId=9\nResourceDisk.SwapSizeMB=lots\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert [p.split(": ")[0] for p in info.value.problems] == [f"{path}:1", f"{path}:2"]


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        config.load(tmp_path / "absent.conf")


def test_derived_defaults_follow_their_classic_sources(tmp_path: Path) -> None:
    cfg = config.load(
        write(tmp_path, "AutoUpdate.Enabled=n\nExtensions.GoalStatePeriod=9\n")
    ).config
    assert cfg.update_to_latest_version is False
    assert cfg.initial_goal_state_period == 9


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "waagent.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_show_configuration_prints_every_key_in_classic_form() -> None:
    result = run_cli("-show-configuration", f"-configuration-path:{SAMPLE_CONFIG}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    keys = [line.split(" = ")[0] for line in lines]
    assert keys == sorted(config.known_keys())
    assert "Extensions.Enabled = True" in lines
    assert "ResourceDisk.Filesystem = ext3" in lines
    assert "HttpProxy.Host = None" in lines


def test_show_configuration_on_a_bad_file_exits_non_zero_with_file_and_line(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "Logs.Verbose=y\nResourceDisk.SwapSizeMB=lots\n")
    result = run_cli("--show-configuration", f"-configuration-path:{path}")
    assert result.returncode == 1
    assert f"{path}:2: ResourceDisk.SwapSizeMB=lots: expected an integer" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("mount_point", "why"),
    [
        ("/", "/ is a system directory"),
        ("/etc", "/etc is a system directory"),
        ("/var/", "/var is a system directory"),
        ("/home", "/home is a system directory"),
        ("/mnt/../usr", "/usr is a system directory"),
        ("/usr/local", "/usr/local is inside /usr, which is a system directory"),
        ("/lib64/x", "/lib64/x is inside /lib64, which is a system directory"),
    ],
)
def test_a_system_directory_is_refused_as_the_resource_disk_mount_point(
    tmp_path: Path, mount_point: str, why: str
) -> None:
    path = write(tmp_path, f"ResourceDisk.MountPoint={mount_point}\n")
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    assert str(raised.value) == (
        f"{path}:1: ResourceDisk.MountPoint={mount_point}: "
        f"expected a mount point outside the system directories ({why})"
    )


@pytest.mark.parametrize("mount_point", ["/mnt", "/mnt/resource", "/var/lib/docker", "/data"])
def test_ordinary_mount_points_are_accepted(tmp_path: Path, mount_point: str) -> None:
    path = write(tmp_path, f"ResourceDisk.MountPoint={mount_point}\n")
    assert config.load(path).config.resource_disk_mount_point == mount_point


def test_mount_options_default_to_nodev_nosuid_and_an_admins_list_replaces_them(
    tmp_path: Path,
) -> None:
    assert config.AgentConfig().resource_disk_mount_options == "nodev,nosuid"
    unset = write(tmp_path, "ResourceDisk.MountOptions=None\n")
    assert config.load(unset).config.resource_disk_mount_options == "nodev,nosuid"
    own = write(tmp_path, "ResourceDisk.MountOptions=noatime\n")
    assert config.load(own).config.resource_disk_mount_options == "noatime"


@pytest.mark.parametrize(
    "argv",
    [
        ["waagent.netd", "--setup-firewall"],
        ["waagent.netd", "--apply-dhcp-routes"],
        ["waagent.rdma"],
    ],
    ids=["netd firewall at boot", "netd dhcp routes", "rdma"],
)
def test_a_one_shot_program_refuses_a_bad_configuration_as_the_services_do(
    tmp_path: Path, argv: list[str]
) -> None:
    """The boot programs read the configuration through the services' own start: the same exit
    status (78, EX_CONFIG, which systemd shows as a configuration error), the same message, and
    nothing done (no log file appears in the root)."""
    config = tmp_path / "etc/waagent.conf"
    config.parent.mkdir()
    config.write_text("Logs.Verbose=y\nResourceDisk.SwapSizeMB=lots\n")
    result = subprocess.run(
        [sys.executable, "-m", *argv, "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78, result.stderr
    assert f"refusing to start: {config}:2: ResourceDisk.SwapSizeMB=lots" in result.stderr
    assert not (tmp_path / "var/log/waagent.log").exists()
