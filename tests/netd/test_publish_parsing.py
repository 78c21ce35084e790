"""The pure parts of hostname publishing: `ip -j` output as iproute2 prints it, and the event."""

from __future__ import annotations

import asyncio

import pytest

from waagent.common.commands import Completed
from waagent.common.errors import Failed
from waagent.common.models.events import agent_event
from waagent.netd.publish import Publisher, ifindex_of, route_dev
from waagent.netd.telemetry import HOSTNAME_PUBLISHING

# `ip -j route show default` on an Azure VM with two NICs (iproute2 6.1), and without metrics.
TWO_DEFAULTS = (
    '[{"dst":"default","gateway":"10.0.1.1","dev":"eth1","protocol":"dhcp","prefsrc":"10.0.1.5",'
    '"metric":200,"flags":[]},{"dst":"default","gateway":"10.0.0.1","dev":"eth0",'
    '"protocol":"dhcp","prefsrc":"10.0.0.4","metric":100,"flags":[]}]'
)
NO_METRIC = '[{"dst":"default","gateway":"192.0.2.1","dev":"ens3","flags":[]}]'
LINK = (
    '[{"ifindex":2,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,'
    '"qdisc":"mq","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,'
    '"link_type":"ether","address":"00:0d:3a:12:34:56","broadcast":"ff:ff:ff:ff:ff:ff"}]'
)


# `ip -j route get 168.63.129.16` where the lease has classless routes only (no default route).
WIRESERVER_ROUTE = (
    '[{"dst":"168.63.129.16","gateway":"10.0.0.1","dev":"eth0","prefsrc":"10.0.0.4",'
    '"flags":[],"uid":0,"cache":[]}]'
)


def test_the_route_with_the_lowest_metric_names_the_interface() -> None:
    assert route_dev(TWO_DEFAULTS) == "eth0"
    assert route_dev(NO_METRIC) == "ens3"
    assert route_dev(WIRESERVER_ROUTE, "168.63.129.16") == "eth0"


@pytest.mark.parametrize("text", ["", "[]", '[{"dst":"10.0.0.0/24","dev":"eth0"}]'])
def test_no_default_route_is_none(text: str) -> None:
    assert route_dev(text) is None


@pytest.mark.parametrize("text", ["not json", '{"dst": "default"}', '[{"dst": 5}]'])
def test_output_that_is_not_a_route_list_is_refused(text: str) -> None:
    with pytest.raises(Failed, match="not a route list"):
        route_dev(text)


def test_the_ifindex_comes_from_ip_link() -> None:
    assert ifindex_of(LINK, "eth0") == 2
    with pytest.raises(Failed, match="eth1 is gone"):
        ifindex_of(LINK, "eth1")
    with pytest.raises(Failed, match="not a link list"):
        ifindex_of('[{"ifindex": "2"}]', "eth0")


def test_the_event_has_the_classic_extension_event_shape() -> None:
    event = agent_event(HOSTNAME_PUBLISHING, False, "Error while publishing the hostname: x")
    assert event.event_id == 1
    assert event.parameters["Operation"] == "HostnamePublishing"
    assert event.parameters["OperationSuccess"] is False
    assert set(event.parameters) == {
        "Name", "Version", "Operation", "OperationSuccess", "Message", "Duration",
        "ExtensionType", "IsInternal",
    }  # fmt: skip


class IfupdownHost:
    """The commands of a host where ifupdown manages eth0 (as `ifquery --state` prints it), or
    where ifupdown is missing (what the runner returns for a program it cannot start)."""

    def __init__(self, ifupdown: bool) -> None:
        self.ifupdown = ifupdown
        self.argvs: list[list[str]] = []

    async def run(self, argv: list[str], **_: object) -> Completed:
        self.argvs.append(list(argv))
        if argv[:3] == ["ip", "-j", "route"]:
            return Completed(argv, 0, TWO_DEFAULTS, "")
        if argv[:3] == ["ip", "-j", "link"]:
            return Completed(argv, 0, LINK, "")
        if argv[0] == "ifquery":
            if not self.ifupdown:
                return Completed(argv, 127, "", "cannot run ifquery: No such file or directory")
            return Completed(argv, 0, "eth0=eth0\n", "")
        return Completed(argv, 0, "", "")


def test_where_ifupdown_manages_the_link_it_is_restarted_by_ifdown_and_ifup() -> None:
    host = IfupdownHost(ifupdown=True)
    publication = asyncio.run(Publisher(host, []).publish("vm1"))  # type: ignore[arg-type]
    assert publication.method == "ifupdown" and publication.interface == "eth0"
    assert host.argvs[-2:] == [["ifdown", "eth0"], ["ifup", "eth0"]]


def test_without_ifupdown_nothing_touches_the_link() -> None:
    host = IfupdownHost(ifupdown=False)
    with pytest.raises(Failed, match="no DHCP client waagent can ask manages eth0"):
        asyncio.run(Publisher(host, []).publish("vm1"))  # type: ignore[arg-type]
    assert not [a for a in host.argvs if a[0] in ("ifdown", "ifup") or a[:2] == ["ip", "link"]]
