"""/etc/waagent.conf: the classic `key=value` syntax, validated once by a pydantic model.

The parser yields `(key, raw value, file, line)`; the model, whose aliases are the classic keys,
validates every value at once. A bad value is an error naming file, line, key, value and what is
allowed. Nothing falls back to a default silently (the classic `conf.get_int` did).
"""

from __future__ import annotations

import difflib
import logging
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from . import system_dirs
from .errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_PATH = Path("/etc/waagent.conf")

# Keys that older agents knew; they are accepted with a warning and otherwise ignored.
REMOVED_KEYS: Mapping[str, str] = {
    "Provisioning.Enabled": "removed in 2.2.45; use Provisioning.Agent",
    "Provisioning.UseCloudInit": "removed; use Provisioning.Agent=cloud-init",
}


def _switch(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.lower()
        if lowered == "y":
            return True
        if lowered == "n":
            return False
        raise ValueError("y or n")
    return value


def _absolute_path(value: Any) -> Any:
    if isinstance(value, str) and not value.startswith("/"):
        raise ValueError("an absolute path")
    return value


def _mount_point(value: str) -> str:
    why = system_dirs.refusal(value)
    if why is not None:
        raise ValueError(f"a mount point outside the system directories ({why})")
    return value


Switch = Annotated[bool, BeforeValidator(_switch)]
AbsPath = Annotated[str, BeforeValidator(_absolute_path)]
Seconds = Annotated[int, Field(ge=0)]


def _opt(alias: str, default: Any, **kw: Any) -> Any:
    return Field(default, alias=alias, **kw)


class AgentConfig(BaseModel):
    """Every option of the classic agent (reference §11.2), plus the few waagent adds.

    Attribute names are snake_case; the aliases are the classic keys.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # ---- switches ----
    extensions_enabled: Switch = _opt("Extensions.Enabled", True)
    extensions_wait_for_cloud_init: Switch = _opt("Extensions.WaitForCloudInit", False)
    provisioning_allow_reset_sys_user: Switch = _opt("Provisioning.AllowResetSysUser", False)
    provisioning_regenerate_ssh_host_key_pair: Switch = _opt(
        "Provisioning.RegenerateSshHostKeyPair", False
    )
    provisioning_delete_root_password: Switch = _opt("Provisioning.DeleteRootPassword", False)
    provisioning_decode_custom_data: Switch = _opt("Provisioning.DecodeCustomData", False)
    provisioning_execute_custom_data: Switch = _opt("Provisioning.ExecuteCustomData", False)
    provisioning_monitor_host_name: Switch = _opt("Provisioning.MonitorHostName", False)
    resource_disk_format: Switch = _opt("ResourceDisk.Format", False)
    resource_disk_enable_swap: Switch = _opt("ResourceDisk.EnableSwap", False)
    resource_disk_enable_swap_encryption: Switch = _opt("ResourceDisk.EnableSwapEncryption", False)
    logs_verbose: Switch = _opt("Logs.Verbose", False)
    logs_console: Switch = _opt("Logs.Console", True)
    logs_collect: Switch = _opt("Logs.Collect", True)
    os_allow_http: Switch = _opt("OS.AllowHTTP", False)
    os_enable_firewall: Switch = _opt("OS.EnableFirewall", True)
    os_enable_fips: Switch = _opt("OS.EnableFIPS", False)
    os_enable_rdma: Switch = _opt("OS.EnableRDMA", False)
    os_update_rdma_driver: Switch = _opt("OS.UpdateRdmaDriver", False)
    os_check_rdma_driver: Switch = _opt("OS.CheckRdmaDriver", False)
    detect_scvmm_env: Switch = _opt("DetectScvmmEnv", False)
    auto_update_enabled: Switch = _opt("AutoUpdate.Enabled", True)
    # Classic: defaults to AutoUpdate.Enabled when absent (None here means "follow it").
    auto_update_update_to_latest_version: Switch | None = _opt(
        "AutoUpdate.UpdateToLatestVersion", None
    )
    enable_over_provisioning: Switch = _opt("EnableOverProvisioning", True)
    monitor_network_configuration_changes: Switch = _opt(
        "Monitor.NetworkConfigurationChanges", False
    )
    cgroups_enabled: Switch = _opt("CGroups.Enabled", True)
    debug_cgroup_log_metrics: Switch = _opt("Debug.CgroupLogMetrics", False)
    debug_cgroup_disable_on_process_check_failure: Switch = _opt(
        "Debug.CgroupDisableOnProcessCheckFailure", True
    )
    debug_cgroup_disable_on_quota_check_failure: Switch = _opt(
        "Debug.CgroupDisableOnQuotaCheckFailure", True
    )
    debug_enable_agent_memory_usage_check: Switch = _opt("Debug.EnableAgentMemoryUsageCheck", False)
    debug_enable_fast_track: Switch = _opt("Debug.EnableFastTrack", True)
    debug_enable_ga_versioning: Switch = _opt("Debug.EnableGAVersioning", True)
    debug_enable_cgroup_v2_resource_limiting: Switch = _opt(
        "Debug.EnableCgroupV2ResourceLimiting", False
    )
    debug_enable_extension_policy: Switch = _opt("Debug.EnableExtensionPolicy", False)
    debug_enable_signature_validation: Switch = _opt("Debug.EnableSignatureValidation", False)
    debug_enable_rsm_downgrade: Switch = _opt("Debug.EnableRsmDowngrade", False)

    # ---- strings ----
    lib_dir: AbsPath = _opt("Lib.Dir", "/var/lib/waagent")
    dvd_mount_point: AbsPath = _opt("DVD.MountPoint", "/mnt/cdrom/secure")
    pid_file: AbsPath = _opt("Pid.File", "/var/run/waagent.pid")
    extension_log_dir: AbsPath = _opt("Extension.LogDir", "/var/log/azure")
    os_openssl_path: AbsPath = _opt("OS.OpensslPath", "/usr/bin/openssl")
    os_ssh_dir: AbsPath = _opt("OS.SshDir", "/etc/ssh")
    os_home_dir: AbsPath = _opt("OS.HomeDir", "/home")
    os_password_path: AbsPath = _opt("OS.PasswordPath", "/etc/shadow")
    os_sudoers_dir: AbsPath = _opt("OS.SudoersDir", "/etc/sudoers.d")
    provisioning_agent: Literal["auto", "waagent", "cloud-init", "disabled"] = _opt(
        "Provisioning.Agent", "auto"
    )
    provisioning_ssh_host_key_pair_type: Literal["rsa", "dsa", "ecdsa", "ed25519", "auto"] = _opt(
        "Provisioning.SshHostKeyPairType", "rsa"
    )
    provisioning_password_crypt_id: Literal["1", "5", "6"] = _opt(
        "Provisioning.PasswordCryptId", "6"
    )
    http_proxy_host: str | None = _opt("HttpProxy.Host", None)
    resource_disk_mount_point: Annotated[AbsPath, AfterValidator(_mount_point)] = _opt(
        "ResourceDisk.MountPoint", "/mnt/resource"
    )
    # Not the classic None: a scratch disk anyone may write to needs no devices or setuid.
    resource_disk_mount_options: str | None = _opt("ResourceDisk.MountOptions", "nodev,nosuid")
    # New in waagent: the resource disk's device for hosts where detection cannot find it.
    resource_disk_device: AbsPath | None = _opt("ResourceDisk.Device", None)
    resource_disk_filesystem: Literal["ext2", "ext3", "ext4", "xfs", "btrfs"] = _opt(
        "ResourceDisk.Filesystem", "ext3"
    )
    auto_update_ga_family: str = _opt("AutoUpdate.GAFamily", "Prod")
    policy_policy_file_path: AbsPath = _opt("Policy.PolicyFilePath", "/etc/waagent_policy.json")
    protocol_endpoint_discovery: str = _opt("Protocol.EndpointDiscovery", "dhcp")
    # New in waagent: where IMDS answers (tests and unusual hosts point it elsewhere).
    protocol_imds_endpoint: str = _opt("Protocol.ImdsEndpoint", "169.254.169.254")

    # ---- integers ----
    extensions_goal_state_period: Annotated[int, Field(ge=1)] = _opt(
        "Extensions.GoalStatePeriod", 6
    )
    # Classic: defaults to GoalStatePeriod when absent.
    extensions_initial_goal_state_period: Annotated[int, Field(ge=1)] | None = _opt(
        "Extensions.InitialGoalStatePeriod", None
    )
    # Classic read this as a switch, so numbers were ignored; here it is the number it looks like.
    extensions_wait_for_cloud_init_timeout: Seconds = _opt(
        "Extensions.WaitForCloudInitTimeout", 3600
    )
    os_enable_firewall_period: Seconds = _opt("OS.EnableFirewallPeriod", 300)
    os_remove_persistent_net_rules_period: Seconds = _opt("OS.RemovePersistentNetRulesPeriod", 30)
    os_root_device_scsi_timeout: Annotated[int, Field(ge=1)] | None = _opt(
        "OS.RootDeviceScsiTimeout", None
    )
    os_root_device_scsi_timeout_period: Seconds = _opt("OS.RootDeviceScsiTimeoutPeriod", 30)
    os_monitor_dhcp_client_restart_period: Seconds = _opt("OS.MonitorDhcpClientRestartPeriod", 30)
    os_ssh_client_alive_interval: Seconds = _opt("OS.SshClientAliveInterval", 180)
    provisioning_monitor_host_name_period: Seconds = _opt("Provisioning.MonitorHostNamePeriod", 30)
    provisioning_password_crypt_salt_length: Annotated[int, Field(ge=1, le=16)] = _opt(
        "Provisioning.PasswordCryptSaltLength", 10
    )
    http_proxy_port: Annotated[int, Field(ge=1, le=65535)] | None = _opt("HttpProxy.Port", None)
    resource_disk_swap_size_mb: Annotated[int, Field(ge=0)] = _opt("ResourceDisk.SwapSizeMB", 0)
    autoupdate_frequency: Seconds = _opt("Autoupdate.Frequency", 3600)
    logs_collect_period: Seconds = _opt("Logs.CollectPeriod", 3600)
    debug_cgroup_check_period: Seconds = _opt("Debug.CgroupCheckPeriod", 300)
    debug_agent_cpu_quota: Annotated[int, Field(ge=1)] = _opt("Debug.AgentCpuQuota", 50)
    debug_agent_cpu_throttled_time_threshold: Seconds = _opt(
        "Debug.AgentCpuThrottledTimeThreshold", 120
    )
    debug_agent_memory_quota: Annotated[int, Field(ge=0)] = _opt("Debug.AgentMemoryQuota", 31457280)
    debug_etp_collection_period: Seconds = _opt("Debug.EtpCollectionPeriod", 300)
    debug_auto_update_hotfix_frequency: Seconds = _opt("Debug.AutoUpdateHotfixFrequency", 14400)
    debug_auto_update_normal_frequency: Seconds = _opt("Debug.AutoUpdateNormalFrequency", 86400)
    # The classic code reads these names although its table lists the two above.
    debug_self_update_hotfix_frequency: Seconds = _opt("Debug.SelfUpdateHotfixFrequency", 14400)
    debug_self_update_regular_frequency: Seconds = _opt("Debug.SelfUpdateRegularFrequency", 86400)
    debug_firewall_rules_log_period: Seconds = _opt("Debug.FirewallRulesLogPeriod", 86400)
    debug_log_collector_initial_delay: Seconds = _opt("Debug.LogCollectorInitialDelay", 300)

    # ---- extension commands (new in waagent; docs/extensions.md) ----
    # Classic timeouts of the handler commands, in seconds (tests shorten them).
    extensions_install_timeout: Annotated[int, Field(ge=1)] = _opt("Extensions.InstallTimeout", 900)
    extensions_enable_timeout: Annotated[int, Field(ge=1)] = _opt("Extensions.EnableTimeout", 300)
    extensions_disable_timeout: Annotated[int, Field(ge=1)] = _opt("Extensions.DisableTimeout", 900)
    extensions_uninstall_timeout: Annotated[int, Field(ge=1)] = _opt(
        "Extensions.UninstallTimeout", 300
    )
    extensions_update_timeout: Annotated[int, Field(ge=1)] = _opt("Extensions.UpdateTimeout", 900)
    # How long an extension waits for the extensions it depends on (classic: 90 minutes).
    extensions_dependency_timeout: Annotated[int, Field(ge=1)] = _opt(
        "Extensions.DependencyTimeout", 5400
    )
    # Limits of each extension's slice when systemd runs the commands (None: no limit); a
    # handler's own resourceLimits.cpuQuotaPercentage takes precedence for the CPU.
    extensions_cpu_quota: Annotated[int, Field(ge=1)] | None = _opt("Extensions.CPUQuota", None)
    extensions_memory_limit_mb: Annotated[int, Field(ge=1)] | None = _opt(
        "Extensions.MemoryLimitMB", None
    )

    # ---- new in waagent (documented in docs/architecture.md, Configuration) ----
    # Seconds without calls and work after which a bus-activated service exits (0 = never).
    services_idle_timeout: Seconds = _opt("Services.IdleTimeout", 30)
    # Seconds between uploads of an unchanged status blob (a change is uploaded at once). The
    # classic agent uploaded every goal-state period; set 6 for that.
    status_refresh_period: Annotated[int, Field(ge=1)] = _opt("Status.RefreshPeriod", 60)
    logs_file: AbsPath = _opt("Logs.File", "/var/log/waagent.log")

    @property
    def update_to_latest_version(self) -> bool:
        if self.auto_update_update_to_latest_version is None:
            return self.auto_update_enabled
        return self.auto_update_update_to_latest_version

    @property
    def initial_goal_state_period(self) -> int:
        return self.extensions_initial_goal_state_period or self.extensions_goal_state_period


def known_keys() -> list[str]:
    return sorted(f.alias for f in AgentConfig.model_fields.values() if f.alias is not None)


@dataclass(frozen=True)
class Entry:
    """One `key=value` line as written, before validation."""

    key: str
    value: str
    file: str
    line: int


def parse_lines(text: str, file: str) -> list[Entry]:
    """Classic syntax: `#` starts a comment, a value is cut at the first `#`, quotes stripped."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            log.warning("%s:%d: ignored, not a key=value line: %r", file, number, line[:80])
            continue
        key, _, value = line.partition("=")
        value = value.split("#", 1)[0].strip().strip('"').strip()
        entries.append(Entry(key.strip(), value, file, number))
    return entries


@dataclass(frozen=True)
class LoadedConfig:
    """The validated model, with the unknown keys kept (and warned about) as written."""

    config: AgentConfig
    unknown: Mapping[str, str]
    path: str


def _bounds(alias: str) -> tuple[Any, Any]:
    """The ge/le constraints declared for a key, wherever they sit in its annotation."""
    lo = hi = None
    field = next((f for f in AgentConfig.model_fields.values() if f.alias == alias), None)
    todo: list[Any] = [] if field is None else [*field.metadata, field.annotation]
    while todo:
        item = todo.pop()
        lo = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else lo
        hi = getattr(item, "le", None) if getattr(item, "le", None) is not None else hi
        todo += list(getattr(item, "metadata", None) or []) + list(typing.get_args(item))
    return lo, hi


def _expected(error: Mapping[str, Any], alias: str) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return "one of " + str(ctx.get("expected", "")).replace("'", "")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "an integer"
    if kind in ("greater_than_equal", "less_than_equal"):
        lo, hi = _bounds(alias)
        if lo is not None and hi is not None:
            return f"an integer from {lo} to {hi}"
        return f"an integer >= {lo}" if lo is not None else f"an integer <= {hi}"
    return str(error["msg"])


def validate_entries(entries: Iterable[Entry], path: str) -> LoadedConfig:
    """Validate classic entries into an AgentConfig; every bad line is reported at once."""
    known = set(known_keys())
    lower_known = {k.lower(): k for k in known}
    values: dict[str, str] = {}
    where: dict[str, Entry] = {}
    unknown: dict[str, str] = {}
    for entry in entries:
        if entry.key in known:
            if entry.key in where:
                log.warning(
                    "%s:%d: %s set again (first set on line %d); the last one wins",
                    entry.file,
                    entry.line,
                    entry.key,
                    where[entry.key].line,
                )
            where[entry.key] = entry
            if entry.value == "None":
                # The classic keyword for "unset": the built-in default applies.
                values.pop(entry.key, None)
            else:
                values[entry.key] = entry.value
            continue
        unknown[entry.key] = entry.value
        hint = REMOVED_KEYS.get(entry.key)
        if hint is None:
            close = lower_known.get(entry.key.lower()) or next(
                iter(difflib.get_close_matches(entry.key, known, n=1)), None
            )
            hint = f"unknown key (did you mean {close}?)" if close else "unknown key"
        log.warning("%s:%d: %s: %s; kept but not used", entry.file, entry.line, entry.key, hint)
    try:
        config = AgentConfig.model_validate(values)
    except ValidationError as exc:
        problems: list[tuple[int, str]] = []
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else "?"
            bad = where.get(key)
            location = f"{bad.file}:{bad.line}" if bad else path
            shown = bad.value if bad else "?"
            line = bad.line if bad else 0
            problems.append((line, f"{location}: {key}={shown}: expected {_expected(error, key)}"))
        raise ConfigError([text for _, text in sorted(problems)]) from None
    return LoadedConfig(config, unknown, path)


def load(path: Path | str = DEFAULT_PATH) -> LoadedConfig:
    """Read and validate a waagent.conf. A missing or unreadable file is an error, as classic."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: configuration is not UTF-8 text") from None
    return validate_entries(parse_lines(text, str(path)), str(path))


def format_value(value: object) -> str:
    return "None" if value is None else str(value)


def show(loaded: LoadedConfig) -> list[str]:
    """The effective configuration as classic `Key = Value` lines, sorted by key."""
    data = loaded.config.model_dump(by_alias=True)
    lines = [f"{key} = {format_value(data[key])}" for key in sorted(data)]
    lines += [f"{key} = {value}  # unknown key" for key, value in sorted(loaded.unknown.items())]
    return lines
