"""A booted VM for the system tests: the image in a container with the agent installed, the
fabric simulator at 168.63.129.16 in a network namespace, the OVF image as /dev/sr0.

With `dhcp=True` the VM's interface has no static address: systemd-networkd in the VM gets its
lease (10.0.0.4/24, option 245, option 121 routes) from the fabric's DHCP server, whose records
(`vm.fabric.client.records("dhcp")`) show the host name and FQDN the VM sent."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.harness.fabric import FabricProcess, fabric_process
from tests.harness.wait import wait_for
from tests.system.container import Container, container
from waagent.fabric.network import FabricNetwork
from waagent.fabric.scenario import Scenario


@dataclass
class Vm:
    box: Container
    fabric: FabricProcess
    scenario: Scenario
    interface: str = ""  # the VM's side of the veth
    netns: str = ""  # the VM's network namespace, seen from the host too

    def run(self, *argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.box.run(argv, user=user)

    def busctl(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("busctl", "--json=short", *args, user=user)

    def prop(self, name: str, prop: str) -> object:
        path = "/" + name.replace(".", "/")
        out = self.busctl("get-property", name, path, name, prop)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["data"]

    def monotonic(self, unit: str, prop: str = "InactiveExitTimestampMonotonic") -> float | None:
        """A timestamp property of `unit` in seconds of the monotonic clock (None: never)."""
        value = self.run("systemctl", "show", "-P", prop, unit).stdout.strip()
        return int(value) / 1e6 if value.isdigit() and int(value) > 0 else None

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """`systemctl show` of the unit's properties."""
        argv = ["systemctl", "show", unit] + [f"--property={p}" for p in props]
        lines = self.run(*argv).stdout.splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def handler_status(self, handler: str, since: int = 0) -> dict[str, object] | None:
        """The newest handler status the fabric received for `handler` (records from `since`)."""
        for record in reversed(self.fabric.client.records("status")[since:]):
            aggregate = record["document"]["aggregateStatus"]
            for status in aggregate.get("handlerAggregateStatus", []):
                if status["handlerName"] == handler:
                    return status  # type: ignore[no-any-return]
        return None


# The VM side of the veth (named wv<pid>x<n> by FabricNetwork), configured by DHCP.
NETWORKD_FILE = "/etc/systemd/network/10-waagent-vm.network"
NETWORKD_CONFIG = """[Match]
Name=wv*

[Network]
DHCP=ipv4

[DHCPv4]
SendHostname=yes
"""


def enable_networkd(box: Container) -> None:
    """systemd-networkd (shipped in the systemd package) manages the VM's interface by DHCP."""
    path = box.path(NETWORKD_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(NETWORKD_CONFIG)
    subprocess.run(
        ["systemctl", f"--root={box.rootfs}", "enable", "systemd-networkd.service"],
        check=True,
        timeout=60,
        capture_output=True,
    )


@contextlib.contextmanager
def booted_vm(
    config: dict[str, str],
    before_boot: Callable[[Container], None] | None = None,
    *,
    dhcp: bool = False,
    scenario: Scenario | None = None,
    deb: Path | None = None,
) -> Iterator[Vm]:
    """Prepare (make install, or `apt install` of `deb`), configure, boot; everything stopped
    and removed afterwards."""
    scenario = scenario or Scenario.default()
    work = Path(tempfile.mkdtemp(prefix="waagent-system-", dir="/var/tmp"))
    try:
        with (
            FabricNetwork(dhcp=dhcp) as net,
            fabric_process(
                work / "fabric",
                None,
                scenario,
                address=net.wireserver,
                extra_args=["--imds-listen", net.imds]
                + (["--dhcp-interface", net.fabric_veth] if dhcp else []),
                popen=net.popen_in_fabric,
            ) as fabric,
            container(work) as box,
        ):
            ovf = work / "ovf.iso"
            fabric.client.write_ovf_image(str(ovf))
            box.prepare(config, deb)
            if dhcp:
                enable_networkd(box)
            if before_boot is not None:
                before_boot(box)
            # A shared, loaded machine can take a while to boot the container.
            box.boot(netns=net.vm_ns, binds_ro=[(ovf, "/dev/sr0")], timeout=300)
            yield Vm(box, fabric, scenario, net.vm_veth, net.vm_ns)
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False, timeout=120)


@contextlib.contextmanager
def provisioned_vm(config: dict[str, str]) -> Iterator[Vm]:
    """A booted VM, once provisioning has reported Ready."""
    with booted_vm(config) as booted:
        wait_for(
            lambda: any(r["state"] == "Ready" for r in booted.fabric.client.records("health")),
            timeout=120,
            what="provisioning to report Ready",
        )
        yield booted
