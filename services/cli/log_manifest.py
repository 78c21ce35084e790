"""What the log collector gathers (reference §10.13): the classic manifests, as data.

A manifest is a list of `(operation, argument)`: `echo` writes a line to the collector's own log
(results.txt), `ll` lists a directory there (`ls -alF`), `copy` adds the files a glob matches.
`$LIB_DIR`, `$LOG_DIR` (extension logs) and `$AGENT_LOG` are replaced from the configuration.
waagent adds wire's goal state history, which lives in wire's own directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from ..common.config import AgentConfig
from ..wire.files import STATE_DIR as WIRE_STATE_DIR

Manifest = Sequence[tuple[str, str]]

NORMAL: Manifest = (
    ("echo", "### Gathering logs ###"),
    ("ll", "/var/log"),
    ("ll", "$LIB_DIR"),
    ("ll", f"{WIRE_STATE_DIR}"),
    ("copy", "/etc/*-release"),
    ("copy", "/etc/HOSTNAME"),
    ("copy", "/etc/hostname"),
    ("copy", "/etc/waagent.conf"),
    ("copy", "$AGENT_LOG*"),
    ("copy", "/var/log/dmesg*"),
    ("copy", "/var/log/syslog*"),
    ("copy", "/var/log/auth*"),
    ("copy", "$LOG_DIR/*/*"),
    ("copy", "$LOG_DIR/*/*/*"),
    ("copy", "$LOG_DIR/custom-script/handler.log"),
    ("copy", "$LIB_DIR/ovf-env.xml"),
    ("copy", "$LIB_DIR/waagent_status.json"),
    ("copy", "$LIB_DIR/*/status/*.status"),
    ("copy", "$LIB_DIR/*/config/*.settings"),
    ("copy", "$LIB_DIR/*/config/HandlerState"),
    ("copy", "$LIB_DIR/*/config/HandlerStatus"),
    ("copy", "$LIB_DIR/error.json"),
    ("copy", "$LIB_DIR/history/*.zip"),
    ("copy", f"{WIRE_STATE_DIR}/history/*/*"),
)

FULL_EXTRA: Manifest = (
    ("echo", "### Gathering disk and boot configuration ###"),
    ("ll", "/etc/udev/rules.d"),
    ("ll", "/lib/udev/rules.d"),
    ("copy", "$LIB_DIR/provisioned"),
    ("copy", "/etc/fstab"),
    ("copy", "/etc/ssh/sshd_config"),
    ("copy", "/boot/grub*/grub.c*"),
    ("copy", "/boot/grub*/menu.lst"),
    ("copy", "/etc/default/grub"),
    ("echo", "### Gathering network configuration ###"),
    ("copy", "/etc/network/interfaces"),
    ("copy", "/etc/network/interfaces.d/*"),
    ("copy", "/etc/netplan/*.yaml"),
    ("copy", "/etc/sysconfig/network-scripts/ifcfg-*"),
    ("copy", "/etc/sysconfig/network-scripts/route-*"),
    ("copy", "/etc/sysconfig/network/ifcfg-*"),
    ("copy", "/etc/sysconfig/network/routes"),
    ("copy", "/etc/resolv.conf"),
    ("copy", "/run/systemd/resolve/resolv.conf"),
    ("copy", "/run/resolvconf/resolv.conf"),
    ("copy", "/etc/nsswitch.conf"),
    ("copy", "/etc/sysconfig/iptables"),
    ("copy", "/etc/sysconfig/SuSEfirewall2"),
    ("copy", "/etc/ufw/ufw.conf"),
    ("copy", "/var/lib/dhcp/dhclient*.lease*"),
    ("copy", "/var/lib/dhclient/*.lease*"),
    ("copy", "/var/lib/NetworkManager/*.lease"),
    ("copy", "/var/lib/wicked/lease*"),
    ("echo", "### Gathering system logs ###"),
    ("copy", "/var/log/rsyslog*"),
    ("copy", "/var/log/messages*"),
    ("copy", "/var/log/kern*"),
    ("copy", "/var/log/dpkg*"),
    ("copy", "/var/log/yum*"),
    ("copy", "/var/log/cloud-init*"),
    ("copy", "/var/log/boot*"),
    ("copy", "/var/log/secure*"),
    ("copy", "$LOG_DIR/run-command/handler.log"),
    ("copy", "$LIB_DIR/SharedConfig.xml"),
    ("copy", "$LIB_DIR/ManagedIdentity-*.json"),
)

FULL: Manifest = (*NORMAL, *FULL_EXTRA)

# Collected first, so the caps never crowd them out.
MUST_COLLECT = (
    "$AGENT_LOG",
    "$AGENT_LOG.*",
    "$LIB_DIR/waagent_status.json",
    "$LIB_DIR/history/*.zip",
    f"{WIRE_STATE_DIR}/history/*/*",
    "$LOG_DIR/*/*",
    "$LOG_DIR/*/*/*",
)


def variables(config: AgentConfig) -> dict[str, str]:
    return {
        "$LIB_DIR": config.lib_dir,
        "$LOG_DIR": config.extension_log_dir,
        "$AGENT_LOG": config.logs_file,
    }


def expand(text: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(name, value.rstrip("/"))
    return text


def must_collect(inner: str, values: Mapping[str, str]) -> bool:
    return any(fnmatchcase(inner, expand(pattern, values)) for pattern in MUST_COLLECT)
