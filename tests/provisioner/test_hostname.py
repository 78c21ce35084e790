"""The hostname: validated, set through hostnamed or files, published through dhclient."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

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
    setter.publish("newname")
    assert conf.read_text() == 'request routers;\n#send host-name "x";\nsend host-name "newname";\n'
    assert (tmp_path / "var/lib/waagent/published_hostname").read_text() == "newname"
    assert setter.configure_dhcp("newname") == []  # already sends it


def test_only_existing_dhclient_configurations_are_touched(tmp_path: Path) -> None:
    setter, _ = hostname(tmp_path)
    assert setter.configure_dhcp("newname") == []
    assert list((tmp_path / "etc").iterdir()) == []
