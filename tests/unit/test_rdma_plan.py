"""What waagent-rdma reads: SharedConfig's RDMA pair, KVP's IPoIB_Data, dat.conf's provider line,
and how netd finds an interface by the MAC (an IPoIB address is 20 bytes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from waagent.common.errors import Failed, InvalidArgs
from waagent.common.kvp import PoolContents, Record
from waagent.common.root import Root
from waagent.fabric import documents
from waagent.fabric.scenario import Identity
from waagent.netd.rdma_address import link_with
from waagent.rdma.dat_conf import updated, write_dat_conf
from waagent.rdma.plan import RdmaPair, build_plan, parse_ipoib, parse_shared_config
from waagent.rdma.setup import old_nd_driver

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<SharedConfig><Instances><Instance rdmaMacAddress="&lol2;" rdmaIPv4Address="1.2.3.4"/>
</Instances></SharedConfig>"""


def shared_config(**rdma: str) -> str:
    return documents.shared_config(Identity(**rdma), 1).decode()


def test_the_fabric_s_shared_config_gives_the_rdma_pair() -> None:
    xml = shared_config(rdma_mac_address="00155D33FF1A", rdma_ipv4_address="172.16.1.2")
    assert parse_shared_config(xml) == RdmaPair(mac="00:15:5d:33:ff:1a", address="172.16.1.2")


def test_shared_config_without_rdma_or_empty_gives_none() -> None:
    assert parse_shared_config(shared_config()) is None
    assert parse_shared_config("") is None


def test_shared_config_with_entities_is_refused() -> None:
    with pytest.raises(InvalidArgs, match="SharedConfig is not readable XML"):
        parse_shared_config(BOMB)


def test_a_bad_rdma_address_in_shared_config_is_named() -> None:
    xml = shared_config(rdma_mac_address="00155D33FF1A", rdma_ipv4_address="172.16.1.300")
    with pytest.raises(InvalidArgs, match="invalid IPv4 address '172.16.1.300'"):
        parse_shared_config(xml)


def test_ipoib_data_gives_its_pairs() -> None:
    assert parse_ipoib("NUMPAIRS:2|00155D33FF1A:172.16.1.2|00155D33FF1B:172.16.2.2") == (
        RdmaPair(mac="00:15:5d:33:ff:1a", address="172.16.1.2"),
        RdmaPair(mac="00:15:5d:33:ff:1b", address="172.16.2.2"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PAIRS:1|00155D33FF1A:172.16.1.2", "does not start with NUMPAIRS"),
        ("NUMPAIRS:2|00155D33FF1A:172.16.1.2", "says 2 pairs and holds 1"),
        ("NUMPAIRS:1|00155D33FF:172.16.1.2", "invalid MAC address '00155D33FF'"),
    ],
)
def test_bad_ipoib_data_is_named(text: str, message: str) -> None:
    with pytest.raises(InvalidArgs, match=message):
        parse_ipoib(text)


def test_network_direct_uses_shared_config_and_sr_iov_uses_ipoib_data() -> None:
    xml = shared_config(rdma_mac_address="00155D33FF1A", rdma_ipv4_address="172.16.1.2")
    ipoib = Record("IPoIB_Data", "NUMPAIRS:1|00155D33FF1B:172.16.2.2")
    nd = build_plan(PoolContents((Record("NdDriverVersion", "142.0"), ipoib)), xml)
    assert [p.address for p in nd.pairs] == ["172.16.1.2"]
    sr_iov = build_plan(PoolContents((ipoib,)), xml)
    assert [p.address for p in sr_iov.pairs] == ["172.16.2.2"]
    assert [p.address for p in build_plan(PoolContents(), xml).pairs] == ["172.16.1.2"]


def test_dat_conf_keeps_other_providers_and_the_line_s_tail() -> None:
    text = 'ofa-v2-mlx4_0-1 u2.0 nonthreadsafe default libdaploscm.so.2 dapl.2.0 "mlx4_0 1" ""\n'
    line = 'ofa-v2-ib0 u2.0 nonthreadsafe default libdaplofa.so.2 dapl.2.0 "{} 0" ""\n'
    assert updated(text + line.format("ib0"), "10.1.2.3") == text + line.format("10.1.2.3")
    assert updated(text, "10.1.2.3") == text + line.format("10.1.2.3")


def test_no_dat_conf_is_created_where_none_exists(tmp_path: Path) -> None:
    assert write_dat_conf(Root(tmp_path), "10.1.2.3") == []
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize(("version", "old"), [("4.0", True), ("3.5.1", True), ("142.0", False)])
def test_drivers_up_to_4_0_are_old(version: str, old: bool) -> None:
    assert old_nd_driver(version) is old


def test_an_ipoib_interface_is_found_by_the_last_six_bytes_of_its_address() -> None:
    ipoib = "80:00:02:08:fe:80:00:00:00:00:00:00:00:15:5d:ff:fd:33:ff:1a"
    listed = json.dumps([{"ifname": "eth0", "address": "00:0d:3a:2b:4c:5d", "mtu": 1500},
                         {"ifname": "ib0", "address": ipoib, "link_type": "infiniband"}])  # fmt: skip
    assert link_with(listed, "00155D33FF1A") is None
    assert link_with(listed, "5DFFFD33FF1A") == "ib0"
    assert link_with(listed, "00:0d:3a:2b:4c:5d") == "eth0"


def test_output_that_is_not_a_link_list_is_an_error() -> None:
    with pytest.raises(Failed, match="ip -j link show printed no link list"):
        link_with('{"ifname": "eth0"}', "00155D33FF1A")
