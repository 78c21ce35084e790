"""Raw mode: a directory of captured documents served byte for byte (issue 3, item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.fabric import fabric_for
from waagent.fabric.scenario import Scenario, ScenarioError
from waagent.fabric.server import Fabric

from .helpers import H1, Agentish

CONTAINER = "11111111-2222-3333-4444-555555555555"
CONFIG_NAME = "captured.0.captured.0._vm.1.xml"
# Captured documents keep their quirks: a BOM, CRLF line ends, odd spacing, trailing blanks.
GOAL_STATE = (
    '\ufeff<?xml version="1.0" encoding="utf-8"?>\r\n<GoalState><Version>2012-11-30</Version>'
    "<Incarnation>7</Incarnation>\r\n<Container><ContainerId>" + CONTAINER + "</ContainerId>"
    "<RoleInstanceList><RoleInstance><InstanceId>x._vm</InstanceId><Configuration>"
    "<SharedConfig>http://168.63.129.16:80/machine/x/y?comp=config&amp;type=sharedConfig&amp;incarnation=7</SharedConfig>"
    "<ConfigName>" + CONFIG_NAME + "</ConfigName>"
    "</Configuration></RoleInstance></RoleInstanceList></Container></GoalState>  \r\n"
).encode("utf-8")
FILES = {
    "versions.xml": b"<Versions><Preferred><Version>2012-11-30</Version></Preferred></Versions>\r\n",
    "GoalState.xml": GOAL_STATE,
    "SharedConfig.xml": b"<SharedConfig  version='1.0.0.0'   />",
    "HostingEnvironmentConfig.xml": b"<HostingEnvironmentConfig/>\n\n",
    "ExtensionsConfig.xml": b'<Extensions version="1.0.0.0" goalStateIncarnation="7"></Extensions>',
    "Certificates.xml": b"<CertificateFile><Data>captured</Data></CertificateFile>",
    "VmSettings.json": b'{"hostGAPluginVersion": "1.0.8.133",  "extensionGoalStatesSource": "FastTrack"}',
    "imds.json": b'{"compute": {"vmId": "captured-vm"},   "network": {}}',
    "ovf-env.xml": b"<Environment>captured</Environment>",
    "manifests/Microsoft.OSTCExtensions_VMAccessForLinux_uswest_manifest.xml": b"<PluginVersionManifest/>",
    "packages/Microsoft.OSTCExtensions__VMAccessForLinux__1.5.11": b"PK\x05\x06" + bytes(18),
}


@pytest.fixture
def captured(tmp_path: Path) -> Path:
    for name, data in FILES.items():
        path = tmp_path / "captured" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return tmp_path / "captured"


@pytest.fixture
def raw_fabric(captured: Path) -> Iterator[Fabric]:
    with fabric_for(None, Scenario.raw(captured)) as fabric:
        yield fabric


@pytest.fixture
def raw(raw_fabric: Fabric) -> Iterator[Agentish]:
    client = Agentish(raw_fabric)
    yield client
    client.close()


def test_wireserver_documents_are_served_byte_for_byte(raw: Agentish) -> None:
    assert raw.get(f"{raw.wire}/?comp=versions").content == FILES["versions.xml"]
    assert raw.get(f"{raw.wire}/machine/?comp=goalstate", H1).content == GOAL_STATE
    documents = {
        "sharedConfig": "SharedConfig.xml",
        "hostingEnvironmentConfig": "HostingEnvironmentConfig.xml",
        "extensionsConfig": "ExtensionsConfig.xml",
    }
    for kind, name in documents.items():
        response = raw.get(
            f"{raw.wire}/machine/any/thing?comp=config&type={kind}&incarnation=7", H1
        )
        assert response.content == FILES[name]
    certificates = raw.get(
        f"{raw.wire}/machine/a/b?comp=certificates&incarnation=7",
        {**H1, "x-ms-guest-agent-public-x509-cert": _any_certificate()},
    )
    assert certificates.content == FILES["Certificates.xml"]


def test_a_missing_file_is_a_404(raw: Agentish) -> None:
    headers = {**H1, "x-ms-guest-agent-public-x509-cert": _any_certificate()}
    assert (
        raw.get(f"{raw.wire}/machine/a/b?comp=remoteaccess&incarnation=7", headers).status_code
        == 404
    )


def test_artifacts_are_found_by_the_last_segment_of_any_url(
    raw: Agentish, raw_fabric: Fabric
) -> None:
    name = "Microsoft.OSTCExtensions_VMAccessForLinux_uswest_manifest.xml"
    direct = raw.get(f"{raw.storage}/some/container/{name}?sv=1&sig=2")
    assert direct.content == FILES[f"manifests/{name}"]
    hgap = {
        "x-ms-version": "2015-09-01",
        "x-ms-containerid": CONTAINER,
        "x-ms-host-config-name": CONFIG_NAME,
        "x-ms-artifact-location": "https://umsa.blob.core.windows.net/x/Microsoft.OSTCExtensions__VMAccessForLinux__1.5.11",
    }
    package = raw.get(f"{raw.hgap}/extensionArtifact", hgap)
    assert package.content == FILES["packages/Microsoft.OSTCExtensions__VMAccessForLinux__1.5.11"]
    assert [r["kind"] for r in raw_fabric.records("artifact")] == ["manifest", "package"]


def test_hostgaplugin_checks_the_container_of_the_captured_goal_state(raw: Agentish) -> None:
    headers = {
        "x-ms-version": "2015-09-01",
        "x-ms-containerid": CONTAINER,
        "x-ms-host-config-name": CONFIG_NAME,
    }
    settings = raw.get(f"{raw.hgap}/vmSettings", headers)
    assert settings.content == FILES["VmSettings.json"]
    assert settings.headers["ETag"]
    stale = raw.get(f"{raw.hgap}/vmSettings", {**headers, "x-ms-containerid": "other"})
    assert stale.status_code == 400


def test_imds_and_ovf_env_come_from_the_directory(raw: Agentish, raw_fabric: Fabric) -> None:
    imds = raw.get(f"{raw.wire}/metadata/instance?api-version=2021-02-01", {"Metadata": "true"})
    assert imds.content == FILES["imds.json"]
    assert raw_fabric.ovf_env() == FILES["ovf-env.xml"].decode()


def test_raw_documents_cannot_be_changed(raw_fabric: Fabric) -> None:
    with pytest.raises(ValueError, match="raw mode"):
        raw_fabric.bump_incarnation()
    assert raw_fabric.info()["incarnation"] == 7


def test_raw_mode_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not a directory"):
        Scenario.raw(tmp_path / "missing")


def _any_certificate() -> str:
    import tempfile

    from .helpers import Transport

    with tempfile.TemporaryDirectory() as directory:
        return Transport.create(Path(directory)).header
