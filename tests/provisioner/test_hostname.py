"""The hostname: validated, set through hostnamed or files, published through dhclient."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from waagent.common.bus.client import ServiceUnavailable
from waagent.common.root import Root
from waagent.provisioner.hostname import Hostname, HostnameError, validate_hostname

from .fakes import FakeHostnamed


@pytest.mark.parametrize("name", ["vm", "my-vm-01", "a.b.c", "X" * 63, "1numeric"])
def test_valid_hostnames_pass(name: str) -> None:
    validate_hostname(name)


@pytest.mark.parametrize("name", ["", "a_b", "-a", "a-", "a..b", ".a", "a.", "a b", "é", "a" * 65])
def test_invalid_hostnames_are_refused(name: str) -> None:
    with pytest.raises(HostnameError, match="invalid hostname"):
        validate_hostname(name)


def hostname(tmp_path: Path, service: FakeHostnamed | None = None) -> tuple[Hostname, list[str]]:
    calls: list[str] = []
    (tmp_path / "etc").mkdir(exist_ok=True)
    return Hostname(Root(tmp_path), "/var/lib/waagent", service, kernel=calls.append), calls


def test_a_sandbox_root_gets_etc_hostname_and_never_the_kernel_s_name(tmp_path: Path) -> None:
    setter, kernel = hostname(tmp_path)
    assert asyncio.run(setter.set("newname")) == "files"
    assert (tmp_path / "etc/hostname").read_text() == "newname\n"
    assert kernel == []


def test_hostnamed_on_the_bus_does_it_all(tmp_path: Path) -> None:
    service = FakeHostnamed(present=True)
    setter, kernel = hostname(tmp_path, service)
    assert asyncio.run(setter.set("newname")) == "hostname1"
    assert service.names == ["newname"]
    assert not (tmp_path / "etc/hostname").exists() and kernel == []


def test_dhclient_is_made_to_send_the_name_replacing_another(tmp_path: Path) -> None:
    setter, _ = hostname(tmp_path)
    conf = tmp_path / "etc/dhcp/dhclient.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('request routers;\nsend host-name "old";\n#send host-name "x";\n')
    assert not asyncio.run(setter.publish("newname"))  # no netd for a sandbox root
    assert conf.read_text() == 'request routers;\n#send host-name "x";\nsend host-name "newname";\n'
    assert (tmp_path / "var/lib/waagent/published_hostname").read_text() == "newname"
    assert setter.configure_dhcp("newname") == []  # already sends it


def test_only_existing_dhclient_configurations_are_touched(tmp_path: Path) -> None:
    setter, _ = hostname(tmp_path)
    assert setter.configure_dhcp("newname") == []
    assert list((tmp_path / "etc").iterdir()) == []


class Netd:
    """Network1.PublishHostname as the provisioner sees it: counted, or failing."""

    def __init__(self, error: Exception | None = None) -> None:
        self.published = 0
        self.error = error

    async def start(self) -> None:
        pass

    async def publish_hostname(self) -> None:
        self.published += 1
        if self.error is not None:
            raise self.error


def keeper(tmp_path: Path, current: str, netd: Netd) -> Hostname:
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc/hostname").write_text("provisioned\n")
    return Hostname(
        Root(tmp_path), "/var/lib/waagent", None, kernel=lambda _: None, network=netd,
        current=lambda: current,
    )  # fmt: skip


def record(tmp_path: Path) -> str:
    return (tmp_path / "var/lib/waagent/published_hostname").read_text()


def test_publishing_asks_netd_after_the_files_and_a_failure_is_not_raised(tmp_path: Path) -> None:
    netd = Netd()
    assert asyncio.run(keeper(tmp_path, "vm", netd).publish("vm"))
    assert netd.published == 1 and record(tmp_path) == "vm"
    failing = Netd(ServiceUnavailable("org.waagent.Network1", "not installed"))
    assert not asyncio.run(keeper(tmp_path, "vm", failing).publish("vm"))
    assert failing.published == 1


def test_a_changed_name_is_set_again_and_published_the_same_name_is_left_alone(
    tmp_path: Path,
) -> None:
    netd = Netd()
    (tmp_path / "var/lib/waagent").mkdir(parents=True)
    (tmp_path / "var/lib/waagent/published_hostname").write_text("provisioned")
    assert asyncio.run(keeper(tmp_path, "provisioned", netd).keep()) is None
    assert netd.published == 0
    # `hostname renamed` changed only the kernel's name: /etc/hostname follows, as classic.
    assert asyncio.run(keeper(tmp_path, "renamed", netd).keep()) == "renamed"
    assert (tmp_path / "etc/hostname").read_text() == "renamed\n"
    assert record(tmp_path) == "renamed" and netd.published == 1


def test_the_first_record_is_cloud_init_s_name_else_the_current_one(tmp_path: Path) -> None:
    netd = Netd()
    set_hostname = tmp_path / "var/lib/cloud/data/set-hostname"
    set_hostname.parent.mkdir(parents=True)
    set_hostname.write_text('{"fqdn": "ci.example.com", "hostname": "ci"}')
    assert asyncio.run(keeper(tmp_path, "changed", netd).keep()) == "changed"
    assert netd.published == 1

    other = tmp_path / "other"
    other.mkdir()
    assert asyncio.run(keeper(other, "current", netd).keep()) is None
    assert record(other) == "current" and netd.published == 1


def test_a_name_that_is_not_a_valid_hostname_is_not_published(tmp_path: Path) -> None:
    netd = Netd()
    (tmp_path / "var/lib/waagent").mkdir(parents=True)
    (tmp_path / "var/lib/waagent/published_hostname").write_text("vm")
    assert asyncio.run(keeper(tmp_path, "bad_name", netd).keep()) is None
    assert netd.published == 0 and record(tmp_path) == "vm"


def test_cloud_init_s_record_that_is_not_json_is_ignored(tmp_path: Path) -> None:
    netd = Netd()
    set_hostname = tmp_path / "var/lib/cloud/data/set-hostname"
    set_hostname.parent.mkdir(parents=True)
    set_hostname.write_text("not json")
    assert asyncio.run(keeper(tmp_path, "vm", netd).keep()) is None
    assert record(tmp_path) == "vm"
