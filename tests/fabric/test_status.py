"""Status blobs: BlockBlob and PageBlob, through HostGAPlugin and directly (reference §4.4, §5.3)."""

from __future__ import annotations

import pytest

from tests.harness.fabric import fabric_for
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric

from .helpers import Agentish, status_document


@pytest.mark.parametrize("blob_type", ["BlockBlob", "PageBlob"])
def test_status_through_hostgaplugin_is_decoded_and_recorded(
    agent: Agentish, fabric: Fabric, blob_type: str
) -> None:
    document = status_document(f"through HGAP as {blob_type}")
    responses = agent.put_status_through_hgap(document, blob_type)
    assert [r.status_code for r in responses] == [200] * len(responses)
    (record,) = fabric.records("status")
    assert record["channel"] == "hostgaplugin"
    assert record["blob_type"] == blob_type
    assert record["document"] == document
    assert record["error"] is None
    assert record["raw_length"] % (512 if blob_type == "PageBlob" else 1) == 0


@pytest.mark.parametrize("blob_type", ["BlockBlob", "PageBlob"])
def test_direct_status_upload_is_created_and_recorded(
    agent: Agentish, fabric: Fabric, blob_type: str
) -> None:
    document = status_document(f"direct as {blob_type}")
    responses = agent.put_status_direct(document, blob_type)
    assert [r.status_code for r in responses] == [201] * len(responses)
    (record,) = fabric.records("status")
    assert (record["channel"], record["blob_type"], record["document"]) == (
        "direct",
        blob_type,
        document,
    )


def test_the_scenario_chooses_the_status_blob_type() -> None:
    with fabric_for(
        None, Scenario.default().model_copy(update={"status_blob_type": "PageBlob"})
    ) as fabric:
        agent = Agentish(fabric)
        assert agent.status_blob()[1] == "PageBlob"
        agent.close()


def test_status_blobs_refuse_urls_without_a_sas_signature(agent: Agentish, fabric: Fabric) -> None:
    url, _ = agent.status_blob()
    response = agent.http.put(
        url.split("?")[0], content=b"{}", headers={"x-ms-blob-type": "BlockBlob"}
    )
    assert response.status_code == 403
    assert "AuthenticationFailed" in response.text
    assert fabric.records("status") == []


def test_page_writes_must_be_aligned_and_follow_a_create(agent: Agentish, fabric: Fabric) -> None:
    url, _ = agent.status_blob()
    page = {"x-ms-range": "bytes=0-511", "x-ms-page-write": "update"}
    assert agent.http.put(url + "&comp=page", content=b" " * 512, headers=page).status_code == 404
    agent.http.put(
        url, content=b"", headers={"x-ms-blob-type": "PageBlob", "x-ms-blob-content-length": "1024"}
    )
    crooked = {**page, "x-ms-range": "bytes=1-512"}
    assert (
        agent.http.put(url + "&comp=page", content=b" " * 512, headers=crooked).status_code == 400
    )
    assert fabric.records("status") == []


def test_a_status_blob_that_is_not_json_is_recorded_with_its_error(
    agent: Agentish, fabric: Fabric
) -> None:
    url, _ = agent.status_blob()
    assert (
        agent.http.put(
            url, content=b"not json", headers={"x-ms-blob-type": "BlockBlob"}
        ).status_code
        == 201
    )
    (record,) = fabric.records("status")
    assert record["document"] is None
    assert "not JSON" in record["error"]


def test_hostgaplugin_status_needs_the_current_container(agent: Agentish, fabric: Fabric) -> None:
    headers = {**agent.hgap_headers(), "x-ms-containerid": "00000000-0000-0000-0000-000000000000"}
    response = agent.http.put(f"{agent.hgap}/status", content=b"{}", headers=headers)
    assert response.status_code == 400
    assert "InvalidContainerConfiguration" in response.text
    assert fabric.records("status") == []
