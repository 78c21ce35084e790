"""Which system bus `waagent -daemon` uses, and the dbus-daemon it starts when there is none.

The system bus is the one `DBUS_SYSTEM_BUS_ADDRESS` names, else the standard socket. When it does
not accept connections, the supervisor runs a dbus-daemon of its own with the project's bus
policy files, listening where the environment said (a `unix:path=` address) or on the standard
socket inside the root, so `waagent status` and `busctl` find it as the system bus.

The private bus activates only the agent's own services, from the directory the supervisor
writes (activation.py), never the host's activation files: those could start host services
(hostnamed would rename the machine) from a sandbox. It keeps running as root, since it starts
the services that run as root.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..common import minibus
from ..common.minibus import unix_path
from ..common.names import WIRE
from ..common.root import Root
from ..common.xml_text import escape

ENV_VAR = "DBUS_SYSTEM_BUS_ADDRESS"
STANDARD_SOCKET = "/run/dbus/system_bus_socket"
CONNECT_TIMEOUT = 2.0
# Where our policy files are installed (the distribution's and the admin's bus policy
# directories), and where they are in a source checkout.
INSTALLED_POLICY_DIRS = (Path("/usr/share/dbus-1/system.d"), Path("/etc/dbus-1/system.d"))
SOURCE_POLICY_DIR = Path(__file__).resolve().parents[2] / "dbus" / "policy"

# Debian's system bus defaults: nobody owns a name or calls a method unless a policy file says
# so. The tests' private bus (tests/harness/dbus_daemon.py) uses the same.
DEFAULT_POLICY = """  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
"""

CONFIG_TEMPLATE = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- The system bus of `waagent -daemon` on a host that has none. Written at each start. -->
<busconfig>
  <type>system</type>
{user}  <auth>EXTERNAL</auth>
  <listen>unix:path={socket}</listen>
{default_policy}{includes}{extra}</busconfig>
"""

# Without the waagent-wire user, wire runs as root, which its policy file does not allow.
ROOT_OWNS_WIRE = f"""  <policy user="root">
    <allow own="{WIRE.name}"/>
  </policy>
"""


def address_for(path: Path | str) -> str:
    return f"unix:path={path}"


async def accepts(address: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """True when a bus answers at `address` (a connection and the Hello exchange)."""
    return await minibus.accepts(address, timeout)


@dataclass(frozen=True)
class BusPlan:
    """The bus to use: `address`, and `socket` when we must start a dbus-daemon there."""

    address: str
    socket: Path | None = None

    @property
    def own(self) -> bool:
        return self.socket is not None


async def plan(environ: dict[str, str] | os._Environ[str], root: Root) -> BusPlan:
    named = environ.get(ENV_VAR)
    address = named or address_for(STANDARD_SOCKET)
    if await accepts(address):
        return BusPlan(address)
    path = unix_path(named) if named else None
    socket_path = Path(path) if path else root.resolve(STANDARD_SOCKET)
    return BusPlan(address_for(socket_path), socket_path)


def policy_dirs(
    candidates: Iterable[Path] = (*INSTALLED_POLICY_DIRS, SOURCE_POLICY_DIR),
) -> list[Path]:
    return [d for d in candidates if d.is_dir()]


def config_text(
    socket_path: Path,
    directories: Sequence[Path],
    *,
    root_owns_wire: bool,
    user: str | None = None,
    activation: str = "",
) -> str:
    """`user`: the one the daemon drops to once the socket is open; `activation`: the lines
    naming the service directory (activation.servicedir_config)."""
    includes = "".join(f"  <includedir>{escape(str(d))}</includedir>\n" for d in directories)
    return CONFIG_TEMPLATE.format(
        default_policy=DEFAULT_POLICY,
        user=f"  <user>{escape(user)}</user>\n" if user else "",
        socket=escape(str(socket_path)),
        includes=includes,
        extra=activation + (ROOT_OWNS_WIRE if root_owns_wire else ""),
    )


def daemon_argv(config_path: Path) -> list[str]:
    return ["dbus-daemon", f"--config-file={config_path}", "--nofork", "--nopidfile"]


def write_config(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o644)


def remove(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
