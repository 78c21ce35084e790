"""IMDS: /metadata/instance needs `Metadata: true` and describes compute, osProfile, network (§4.6)."""

from __future__ import annotations

from waagent.fabric.server import Fabric
from waagent.wire.imds import API_VERSION

from .helpers import Agentish

INSTANCE = "/metadata/instance?api-version=2021-02-01"
METADATA = {"Metadata": "true"}


def test_imds_refuses_requests_without_the_metadata_header(agent: Agentish) -> None:
    response = agent.get(f"{agent.wire}{INSTANCE}")
    assert response.status_code == 400
    assert "metadata header" in response.json()["error"].lower()


def test_imds_refuses_requests_without_an_api_version(agent: Agentish) -> None:
    assert agent.get(f"{agent.wire}/metadata/instance", METADATA).status_code == 400


def test_imds_describes_the_vm_its_admin_and_keys(agent: Agentish, fabric: Fabric) -> None:
    document = agent.get(f"{agent.wire}{INSTANCE}", METADATA).json()
    identity, provisioning = fabric.scenario.identity, fabric.scenario.provisioning
    compute = document["compute"]
    assert compute["vmId"] == identity.vm_id
    assert compute["location"] == identity.location
    assert compute["subscriptionId"] == identity.subscription_id
    assert compute["vmSize"] == identity.vm_size
    assert compute["osProfile"] == {
        "adminUsername": provisioning.user_name,
        "computerName": identity.hostname,
        "disablePasswordAuthentication": "true",
    }
    (key,) = provisioning.ssh_public_keys
    assert compute["publicKeys"] == [{"keyData": key.value, "path": key.path}]
    interface = document["network"]["interface"][0]
    assert interface["ipv4"]["ipAddress"][0]["privateIpAddress"] == identity.private_ip
    assert interface["macAddress"] == identity.mac_address


def test_imds_serves_subtrees_and_text_leaves(agent: Agentish, fabric: Fabric) -> None:
    compute = agent.get(f"{agent.wire}/metadata/instance/compute?api-version=2021-02-01", METADATA)
    assert compute.json()["vmId"] == fabric.scenario.identity.vm_id
    leaf = agent.get(
        f"{agent.wire}/metadata/instance/compute/vmId?api-version=2021-02-01&format=text", METADATA
    )
    assert leaf.text == fabric.scenario.identity.vm_id
    missing = agent.get(
        f"{agent.wire}/metadata/instance/compute/nothing?api-version=2021-02-01", METADATA
    )
    assert missing.status_code == 404


def test_imds_requests_are_recorded_under_the_imds_endpoint(
    agent: Agentish, fabric: Fabric
) -> None:
    agent.get(f"{agent.wire}{INSTANCE}", METADATA)
    assert fabric.requests()[-1].endpoint == "imds"


def test_imds_answers_by_api_version_without_fields_newer_than_it(agent: Agentish) -> None:
    """osProfile came in 2020-07-15 (disablePasswordAuthentication in 2020-10-01), publicKeys in
    2018-04-02, resourceId in 2019-03-11: an older version does not see them."""
    newer = agent.get(f"{agent.wire}{INSTANCE}", METADATA).json()["compute"]
    older = agent.get(f"{agent.wire}/metadata/instance?api-version=2018-02-01", METADATA).json()[
        "compute"
    ]
    assert {"osProfile", "publicKeys", "resourceId", "azEnvironment"} <= set(newer)
    assert not {"osProfile", "publicKeys", "resourceId", "azEnvironment"} & set(older)
    assert older["vmId"] == newer["vmId"]
    middle = agent.get(
        f"{agent.wire}/metadata/instance/compute/osProfile?api-version=2020-07-15", METADATA
    ).json()
    assert set(middle) == {"adminUsername", "computerName"}
    withheld = agent.get(
        f"{agent.wire}/metadata/instance/compute/resourceId?api-version=2019-02-01", METADATA
    )
    assert withheld.status_code == 404


def test_imds_refuses_an_unknown_api_version_listing_the_newest(agent: Agentish) -> None:
    unknown = agent.get(f"{agent.wire}/metadata/instance?api-version=2019-13-45", METADATA)
    assert unknown.status_code == 400
    assert "api-version is invalid" in unknown.json()["error"]
    missing = agent.get(f"{agent.wire}/metadata/instance", METADATA).json()
    assert "api-version was not specified" in missing["error"]
    assert len(missing["newest-versions"]) == 3
    newest = missing["newest-versions"][0]
    assert agent.get(f"{agent.wire}/metadata/instance?api-version={newest}", METADATA).is_success


def test_the_agents_own_imds_api_version_is_one_imds_takes(agent: Agentish) -> None:
    url = f"{agent.wire}/metadata/instance?api-version={API_VERSION}"
    assert agent.get(url, METADATA).status_code == 200
