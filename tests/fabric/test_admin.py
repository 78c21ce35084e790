"""The admin API and FabricClient: the Fabric's methods, the same from another process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.fabric import FabricProcess, fabric_for, fabric_process
from waagent.fabric.client import FabricClient, FabricClientError
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric

from .helpers import H1


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FabricProcess]:
    with fabric_process(tmp_path / "fabric", tmp_path / "root") as running:
        yield running


def wire(served: FabricProcess) -> str:
    return f"http://{served.address}:{served.info['wire_port']}"


def test_a_fabric_process_is_controlled_and_queried_through_the_client(
    served: FabricProcess,
) -> None:
    client = served.client
    client.program_faults("goalstate", [503])
    with httpx.Client(trust_env=False) as http:
        assert http.get(f"{wire(served)}/machine/?comp=goalstate", headers=H1).status_code == 503
        assert http.get(f"{wire(served)}/machine/?comp=goalstate", headers=H1).status_code == 200
        http.post(
            f"{wire(served)}/provisioning/health",
            content=b'{"state": "Ready"}',
            headers={"Content-Type": "application/json"},
        )
    (record,) = client.records("provisioning-health")
    assert record["state"] == "Ready"
    statuses = [r.status for r in client.requests() if r.endpoint == "goalstate"]
    assert statuses == [503, 200]
    assert client.bump_incarnation() == 2
    assert client.info()["incarnation"] == 2


def test_the_client_changes_extensions_like_the_in_process_methods(served: FabricProcess) -> None:
    client = served.client
    assert client.set_extension_settings("Fabric.Samples.Hello", public={"x": 1}) == 2
    assert client.set_extension_state("Fabric.Samples.Hello", "disabled") == 3
    assert client.update_extension("Fabric.Samples.Hello", "1.1.0") == 4
    assert client.add_extension("Contoso.More.Things", version="1.0") == 5
    assert client.remove_extension("Contoso.More.Things") == 6
    extensions = {e["name"]: e for e in client.info()["extensions"]}
    assert extensions["Fabric.Samples.Hello"] == {
        "name": "Fabric.Samples.Hello",
        "version": "1.1.0",
        "state": "disabled",
        "seq_no": 1,
    }


def test_client_errors_are_one_line_reasons(served: FabricProcess) -> None:
    with pytest.raises(FabricClientError, match="unknown fault endpoint 'nowhere'"):
        served.client.program_faults("nowhere", [500])
    with pytest.raises(FabricClientError, match="no extension"):
        served.client.remove_extension("Nope.Nope")


def test_the_client_reads_secrets_and_media(served: FabricProcess, tmp_path: Path) -> None:
    assert served.client.transport_certificate() is None
    (certificate,) = served.client.tenant_certificates().values()
    assert certificate["name"] == "tenant" and "PRIVATE KEY" in certificate["key"]
    assert "<wa:ProvisioningSection>" in served.client.ovf_env()
    image = served.client.write_ovf_image(tmp_path / "dvd.iso")
    assert Path(image).stat().st_size > 0


def test_the_process_writes_the_lease_and_goes_down_and_back(
    served: FabricProcess, tmp_path: Path
) -> None:
    lease = (tmp_path / "root" / "var/lib/dhcp/dhclient.eth0.leases").read_text()
    assert "option unknown-245" in lease
    served.client.go_down()
    with httpx.Client(trust_env=False) as http:
        with pytest.raises(httpx.ConnectError):
            http.get(f"{wire(served)}/?comp=versions")
        served.client.come_back()
        assert http.get(f"{wire(served)}/?comp=versions").status_code == 200


def test_an_in_process_fabric_serves_the_admin_api_on_tcp_too() -> None:
    from waagent.fabric.network import allocate_loopback

    address = allocate_loopback(ports=(9999,))
    with (
        fabric_for(None, Scenario.default(), admin=f"{address}:9999") as fabric,
        FabricClient(f"{address}:9999") as client,
    ):
        assert client.info()["address"] == fabric.address
        response = httpx.get(f"http://{address}:9999/api/records?kind=health", trust_env=False)
        assert response.json() == {"result": []}
        assert httpx.get(f"http://{address}:9999/api/go_down", trust_env=False).status_code == 405


def test_fabric_methods_and_client_methods_have_the_same_names() -> None:
    def public(cls: type) -> set[str]:
        return {
            name for name in vars(cls) if not name.startswith("_") and callable(getattr(cls, name))
        }

    shared = public(FabricClient) - {"close"}
    assert shared <= public(Fabric)
    from waagent.fabric.admin import OPERATIONS

    assert shared == OPERATIONS
