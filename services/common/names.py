"""Bus names, object paths and polkit action ids: the one place D-Bus names are spelled."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BusName:
    """A service: bus name = interface name, object path mirrors it (hostnamed style).

    `program` is the short name used for the Python module, the log and the unit.
    """

    name: str
    program: str = ""

    @property
    def path(self) -> str:
        return "/" + self.name.replace(".", "/")

    @property
    def interface(self) -> str:
        return self.name


WIRE = BusName("org.waagent.Wire1", "wire")
PROVISIONER = BusName("org.waagent.Provisioner1", "provisioner")
DISK = BusName("org.waagent.Disk1", "diskd")
EXTENSIONS = BusName("org.waagent.Extensions1", "extd")
NETWORK = BusName("org.waagent.Network1", "netd")

SERVICES = {s.program: s for s in (WIRE, PROVISIONER, DISK, EXTENSIONS, NETWORK)}

# The system user the wire service runs as; the other services run as root.
WIRE_USER = "waagent-wire"

ACTION_DEPROVISION = "org.waagent.deprovision"
ACTION_DEPROVISION_USER = "org.waagent.deprovision-user"
ACTION_MANAGE_SWAP = "org.waagent.manage-swap"
ACTION_MANAGE_EXTENSIONS = "org.waagent.manage-extensions"
ACTION_COLLECT_LOGS = "org.waagent.collect-logs"
ACTION_SERIAL_CONSOLE = "org.waagent.serial-console"

POLKIT = BusName("org.freedesktop.PolicyKit1")
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"
POLKIT_INTERFACE = "org.freedesktop.PolicyKit1.Authority"

HOSTNAME = BusName("org.freedesktop.hostname1")
NETWORKD = BusName("org.freedesktop.network1")
NETWORK_MANAGER = BusName("org.freedesktop.NetworkManager")

SYSTEMD = BusName("org.freedesktop.systemd1")
SYSTEMD_PATH = "/org/freedesktop/systemd1"
SYSTEMD_MANAGER = "org.freedesktop.systemd1.Manager"
