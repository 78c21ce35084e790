"""The hostname (reference §6.6): set it, and publish it through the DHCP client configuration.

Setting goes through `org.freedesktop.hostname1` when it is on the bus (it writes /etc/hostname
and the kernel's name itself). Without it, `<root>/etc/hostname` is written and the kernel's
hostname is set with sethostname(2), but only when the root is `/`: a sandbox root never
changes the name of the machine it runs on.

Publishing writes `send host-name "<name>";` into the dhclient configurations that exist and
records `<Lib.Dir>/published_hostname`. The DHCP renewal (classic bounced the interface) is left
to the network stack: systemd-networkd and NetworkManager send the current hostname on their
own next request.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable
from pathlib import PurePosixPath

from ..common.clients.hostname import HostnameService
from ..common.errors import InvalidArgs
from ..common.root import Root

log = logging.getLogger(__name__)

LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_HOSTNAME = 64  # the kernel's HOST_NAME_MAX
DHCLIENT_CONFS = ("/etc/dhcp/dhclient.conf", "/etc/dhcp3/dhclient.conf", "/etc/dhclient.conf")
PUBLISHED = "published_hostname"
DEPROVISIONED_NAME = "localhost.localdomain"


class HostnameError(InvalidArgs):
    pass


def validate_hostname(name: str) -> None:
    """RFC 1123 labels of letters, digits and inner hyphens, at most 64 characters in all."""
    shown = name[:80]
    if not name or len(name) > MAX_HOSTNAME:
        raise HostnameError(f"invalid hostname {shown!r}: 1 to {MAX_HOSTNAME} characters")
    for label in name.split("."):
        if not LABEL.fullmatch(label):
            raise HostnameError(
                f"invalid hostname {shown!r}: labels of letters, digits and inner '-', "
                "separated by single dots"
            )


def _sends_name(line: str, name: str) -> bool:
    stripped = line.strip()
    return stripped.startswith("send host-name") and (
        f'"{name}"' in stripped or "gethostname()" in stripped
    )


class Hostname:
    def __init__(
        self,
        root: Root,
        lib_dir: str,
        service: HostnameService | None,
        kernel: Callable[[str], None] = socket.sethostname,
    ) -> None:
        self.root = root
        self.lib_dir = PurePosixPath(lib_dir)
        self.service = service
        self.kernel = kernel

    async def set(self, name: str) -> str:
        """Set the static and the kernel hostname; returns how it was done."""
        if self.service is not None and await self.service.set_hostname(name):
            log.info("hostname set to %s through org.freedesktop.hostname1", name)
            return "hostname1"
        if self.root.read_text("/etc/hostname") != f"{name}\n":
            self.root.write_atomic("/etc/hostname", f"{name}\n", mode=0o644)
        if self.root.is_host:
            self.kernel(name)
            log.info("hostname set to %s (/etc/hostname and sethostname)", name)
        else:
            log.info("hostname %s written to %s; the kernel's is left alone", name, self.root)
        return "files"

    def configure_dhcp(self, name: str) -> list[str]:
        """Make each existing dhclient configuration send `name`; returns those changed."""
        changed = []
        for path in DHCLIENT_CONFS:
            text = self.root.read_text(path)
            if text is None:
                continue
            lines = text.splitlines()
            if any(_sends_name(line, name) for line in lines):
                continue
            kept = [line for line in lines if not line.strip().startswith("send host-name")]
            kept.append(f'send host-name "{name}";')
            self.root.write_atomic(path, "\n".join(kept) + "\n", mode=0o644)
            changed.append(path)
        return changed

    def publish(self, name: str) -> None:
        self.configure_dhcp(name)
        self.root.makedirs(self.lib_dir, 0o700)
        self.root.write_atomic(self.lib_dir / PUBLISHED, name, mode=0o644)
