"""Putting the provisioner's pieces together (used by the service, the bench and the tests)."""

from __future__ import annotations

from pathlib import Path

from ..common.boot import current_boot_id
from ..common.classic_files import ClassicFiles
from ..common.clients.hostname import HostnameService
from ..common.clients.network import NetworkApi
from ..common.clients.systemd import Units, booted
from ..common.clients.wire import WireApi as Wire
from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.root import Root
from .boot_settings import BootSettings
from .cloud_init import CloudInitWaits
from .custom_data import CustomData
from .deprovision import Deprovisioner
from .flow import Provisioner
from .host_keys import HostKeys
from .hostname import Hostname
from .media import KernelMount, MediaReader
from .parts import Parts
from .remote_access import JitUsers
from .scvmm import Scvmm, TransientUnits
from .ssh_keys import SshKeys
from .sshd_config import SshdConfig
from .state import StateStore
from .sudoers import Sudoers
from .users import Users

# grub-mkconfig reads block devices and writes /boot: outside the provisioner's sandbox.
REGENERATE_IN_PID1 = (
    "systemd-run",
    "--wait",
    "--quiet",
    "--pipe",  # the command's own error message reaches ours
    "--collect",
    "--property=RuntimeMaxSec=300",  # its own limit, should our runner's timeout kill the client
    "--",
)


def build_provisioner(
    config: AgentConfig,
    root: Root,
    runner: CommandRunner,
    *,
    wire: Wire,
    units: Units,
    hostname_service: HostnameService | None,
    dev_root: Path,
    sysfs_root: Path,
    boot_id: str | None = None,
    waits: CloudInitWaits | None = None,
    transient: TransientUnits | None = None,
    network: NetworkApi | None = None,
) -> Provisioner:
    store = StateStore(root, config.lib_dir, boot_id or current_boot_id())
    users = Users(root, runner, config)
    sudoers = Sudoers(root, config.os_sudoers_dir)
    # A sandbox root never publishes: netd would renew the lease of the machine it runs on.
    hostname = Hostname(
        root, config.lib_dir, hostname_service, network=network if root.is_host else None
    )
    host_keys = HostKeys(
        root, runner, config.os_ssh_dir, config.provisioning_ssh_host_key_pair_type
    )
    sshd = SshdConfig(root, config.os_ssh_dir)
    parts = Parts(
        store=store,
        media=MediaReader(dev_root, KernelMount(root, runner, config.dvd_mount_point)),
        users=users,
        sudoers=sudoers,
        sshd=sshd,
        keys=SshKeys(root, config.os_home_dir, config.lib_dir),
        hostname=hostname,
        custom_data=CustomData(
            root,
            runner,
            config.lib_dir,
            decode=config.provisioning_decode_custom_data,
            execute=config.provisioning_execute_custom_data,
        ),
        host_keys=host_keys,
        deprovisioner=Deprovisioner(
            root,
            config,
            users=users,
            sudoers=sudoers,
            hostname=hostname,
            host_keys=host_keys,
            sshd=sshd,
            units=units,
            store=store,
        ),
        certificates=ClassicFiles(root, config.lib_dir),
        jit=JitUsers(config, users, sudoers, wire),
        scvmm=Scvmm(root, dev_root, transient) if config.detect_scvmm_env else None,
        boot=BootSettings(root, runner, config.lib_dir, REGENERATE_IN_PID1 if booted() else ()),
    )
    return Provisioner(
        config, root, parts, wire=wire, units=units, sysfs_root=sysfs_root, waits=waits
    )
