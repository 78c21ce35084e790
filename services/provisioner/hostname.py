"""The hostname (reference §6.6): set it, publish it, and keep it published.

Setting goes through `org.freedesktop.hostname1` when it is on the bus (it writes /etc/hostname
and the kernel's name itself). Without it, `<root>/etc/hostname` is written and the kernel's
hostname is set with sethostname(2), but only when the root is `/`: a sandbox root never
changes the name of the machine it runs on.

Publishing writes `send host-name "<name>";` into the dhclient configurations that exist,
records `<Lib.Dir>/published_hostname`, and asks netd (`Network1.PublishHostname`) to make the
DHCP server receive the name: the DHCP client's bus API, else ifupdown's ifdown/ifup
(netd/publish.py). Again only when the root is `/`. A failure is logged (netd sends the
HostnamePublishing event); it fails neither provisioning nor the caller.

Keeping it published (`Provisioning.MonitorHostName`, `keep`): wire sees the kernel's name
change (wire/hostname_watch.py) and calls KeepHostname; a name that differs from the record is
set again the classic way (so /etc/hostname follows a `hostname x`) and published.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, ValidationError

from ..common.clients.hostname import HostnameService
from ..common.clients.network import NetworkApi
from ..common.errors import InvalidArgs, WaagentError
from ..common.root import Root

log = logging.getLogger(__name__)

LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MAX_HOSTNAME = 64  # the kernel's HOST_NAME_MAX
DHCLIENT_CONFS = ("/etc/dhcp/dhclient.conf", "/etc/dhcp3/dhclient.conf", "/etc/dhclient.conf")
PUBLISHED = "published_hostname"
DEPROVISIONED_NAME = "localhost.localdomain"
# What cloud-init last set (classic starts its record from it when there is none yet).
CLOUD_INIT_SET_HOSTNAME = "/var/lib/cloud/data/set-hostname"


class CloudInitHostname(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    hostname: str


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
        network: NetworkApi | None = None,
        current: Callable[[], str] = socket.gethostname,
    ) -> None:
        self.root = root
        self.lib_dir = PurePosixPath(lib_dir)
        self.service = service
        self.kernel = kernel
        self.network = network
        self.current = current

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

    def record(self) -> str | None:
        text = self.root.read_text(self.lib_dir / PUBLISHED)
        return None if text is None else text.strip()

    def _write_record(self, name: str) -> None:
        self.root.makedirs(self.lib_dir, 0o700)
        self.root.write_atomic(self.lib_dir / PUBLISHED, name, mode=0o644)

    async def prepare_publish(self) -> None:
        """Start netd while the name is being set (its start is most of a publication)."""
        if self.network is None:
            return
        try:
            await self.network.start()
        except WaagentError as exc:  # publish() tries again and says why
            log.debug("netd not started ahead: %s", exc.message)

    async def publish(self, name: str) -> bool:
        """Configure the DHCP clients, record the name, have netd send it; False if netd could
        not (the reason is logged, and in netd's PublishError)."""
        self.configure_dhcp(name)
        self._write_record(name)
        if self.network is None:  # a sandbox root (build.py)
            log.info("hostname %s recorded; not published from a sandbox root", name)
            return False
        try:
            await self.network.publish_hostname()
        except WaagentError as exc:
            log.warning("hostname %s not published: %s", name, exc.message)
            return False
        return True

    def _first_record(self, current: str) -> str:
        """The record classic starts from: cloud-init's last name, else the current one."""
        text = self.root.read_text(CLOUD_INIT_SET_HOSTNAME)
        name = current
        if text:
            try:
                name = CloudInitHostname.model_validate_json(text).hostname
            except ValidationError:
                log.warning("%s is not cloud-init's JSON; ignoring it", CLOUD_INIT_SET_HOSTNAME)
        self._write_record(name)
        return name

    async def keep(self) -> str | None:
        """Set and publish the current name when it is not the one last published; returns the
        name published (None when nothing was to be done)."""
        current = self.current()
        recorded = self.record()
        if recorded is None:
            recorded = self._first_record(current)
        if current == recorded:
            return None
        try:
            validate_hostname(current)
        except HostnameError as exc:
            log.warning("hostname changed, not published: %s", exc.message)
            return None
        log.info("hostname changed: %s -> %s; publishing it", recorded, current)
        await self.set(current)
        await self.publish(current)
        return current
