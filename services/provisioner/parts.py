"""The pieces of logic the provisioner drives, each working against the same root."""

from __future__ import annotations

from dataclasses import dataclass

from ..common.classic_files import ClassicFiles
from .boot_settings import BootSettings
from .custom_data import CustomData
from .deprovision import Deprovisioner
from .host_keys import HostKeys
from .hostname import Hostname
from .media import MediaReader
from .remote_access import JitUsers
from .scvmm import Scvmm
from .ssh_keys import SshKeys
from .sshd_config import SshdConfig
from .state import StateStore
from .sudoers import Sudoers
from .users import Users


@dataclass
class Parts:
    store: StateStore
    media: MediaReader
    users: Users
    sudoers: Sudoers
    sshd: SshdConfig
    keys: SshKeys
    hostname: Hostname
    custom_data: CustomData
    host_keys: HostKeys
    deprovisioner: Deprovisioner
    certificates: ClassicFiles
    jit: JitUsers
    boot: BootSettings
    scvmm: Scvmm | None = None  # DetectScvmmEnv=y only
