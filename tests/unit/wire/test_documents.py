from __future__ import annotations

import pytest

from waagent.wire import documents
from waagent.wire.errors import MalformedDocument

GOAL_STATE = b"""<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="goalstate10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>3</Incarnation>
  <Machine><ExpectedState>Started</ExpectedState></Machine>
  <Container>
    <ContainerId>c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2</ContainerId>
    <RoleInstanceList>
      <RoleInstance>
        <InstanceId>b61f93d0-e1ed-40b2-b067-22c243233448.MachineRole_IN_0</InstanceId>
        <State>Started</State>
        <Configuration>
          <HostingEnvironmentConfig>http://168.63.129.16:80/machine/c6d5/b61f?comp=config&amp;type=hostingEnvironmentConfig&amp;incarnation=3</HostingEnvironmentConfig>
          <SharedConfig>http://168.63.129.16:80/machine/c6d5/b61f?comp=config&amp;type=sharedConfig&amp;incarnation=3</SharedConfig>
          <ExtensionsConfig>http://168.63.129.16:80/machine/c6d5/b61f?comp=config&amp;type=extensionsConfig&amp;incarnation=3</ExtensionsConfig>
          <FullConfig>http://168.63.129.16:80/machine/c6d5/b61f?comp=config&amp;type=fullConfig&amp;incarnation=3</FullConfig>
          <Certificates>http://168.63.129.16:80/machine/c6d5/b61f?comp=certificates&amp;incarnation=3</Certificates>
          <ConfigName>b61f93d0.0.b61f93d0.1._canonical.1.xml</ConfigName>
        </Configuration>
      </RoleInstance>
    </RoleInstanceList>
  </Container>
</GoalState>"""

EXTENSIONS = b"""<Extensions version="1.0.0.0" goalStateIncarnation="3">
  <GuestAgentExtension xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
    <GAFamilies><GAFamily><Name>Prod</Name><Uris><Uri>http://s/ga_manifest.xml</Uri></Uris></GAFamily></GAFamilies>
  </GuestAgentExtension>
  <RequiredFeatures><RequiredFeature><Name>MultipleExtensionsPerHandler</Name></RequiredFeature></RequiredFeatures>
  <StatusUploadBlob statusBlobType="PageBlob">https://acct.blob.core.windows.net/vhds/status?sv=2017&amp;sig=SECRET</StatusUploadBlob>
  <Plugins>
    <Plugin name="OSTCExtensions.ExampleHandlerLinux" version="1.0.0" location="http://s/m1.xml" failoverlocation="http://s/m2.xml" state="enabled" autoUpgrade="false" encodedSignature="c2ln">
      <additionalLocations><additionalLocation>http://s/m3.xml</additionalLocation></additionalLocations>
    </Plugin>
    <Plugin name="Microsoft.CPlat.Core.RunCommandHandlerLinux" version="1.2.0" location="http://s/rc.xml" state="enabled"/>
  </Plugins>
  <PluginSettings>
    <Plugin name="OSTCExtensions.ExampleHandlerLinux" version="1.0.0">
      <DependsOn dependencyLevel="1"><DependsOnExtension handler="Other.Handler"/></DependsOn>
      <RuntimeSettings seqNo="4">{"runtimeSettings":[{"handlerSettings":{"protectedSettingsCertThumbprint":"F6AB","protectedSettings":"MIIBsecret","publicSettings":{"foo":"bar"}}}]}</RuntimeSettings>
    </Plugin>
    <Plugin name="Microsoft.CPlat.Core.RunCommandHandlerLinux" version="1.2.0">
      <DependsOn dependencyLevel="2" name="second"><DependsOnExtension extension="first" handler="Microsoft.CPlat.Core.RunCommandHandlerLinux"/></DependsOn>
      <ExtensionRuntimeSettings seqNo="2" name="first" state="enabled">{"runtimeSettings":[]}</ExtensionRuntimeSettings>
      <ExtensionRuntimeSettings seqNo="3" name="second">{"runtimeSettings":[]}</ExtensionRuntimeSettings>
    </Plugin>
  </PluginSettings>
  <InVMGoalStateMetaData inSvdSeqNo="10" createdOnTicks="637726657706205217" activityId="a1" correlationId="c1"/>
</Extensions>"""


def test_the_goal_state_gives_identity_and_document_urls() -> None:
    doc = documents.parse_goal_state(GOAL_STATE)
    assert doc.incarnation == "3"
    assert doc.container_id == "c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2"
    assert doc.role_instance_id.endswith("MachineRole_IN_0")
    assert doc.role_config_name.startswith("b61f93d0.0.")
    assert doc.extensions_config_url.endswith("type=extensionsConfig&incarnation=3")
    assert doc.certificates_url.endswith("comp=certificates&incarnation=3")


def test_a_goal_state_without_role_instance_is_the_transient_case() -> None:
    broken = (
        GOAL_STATE.replace(b"RoleInstanceList", b"Nothing")
        .replace(b"<RoleInstance>", b"<X>")
        .replace(b"</RoleInstance>", b"</X>")
    )
    with pytest.raises(documents.MissingRoleInstance):
        documents.parse_goal_state(broken)


def test_a_goal_state_without_incarnation_is_malformed() -> None:
    with pytest.raises(MalformedDocument, match="no Incarnation"):
        documents.parse_goal_state(GOAL_STATE.replace(b"<Incarnation>3</Incarnation>", b""))


def test_entity_expansion_is_refused() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><GoalState><Incarnation>&b;</Incarnation></GoalState>"""
    with pytest.raises(MalformedDocument, match="refused"):
        documents.parse_goal_state(bomb)


def test_external_entities_are_refused() -> None:
    xxe = b"""<?xml version="1.0"?><!DOCTYPE g [<!ENTITY x SYSTEM "file:///etc/shadow">]><GoalState><Incarnation>&x;</Incarnation></GoalState>"""
    with pytest.raises(MalformedDocument, match="refused"):
        documents.parse_goal_state(xxe)


def test_malformed_xml_names_the_document() -> None:
    with pytest.raises(MalformedDocument, match="GoalState is not well-formed XML"):
        documents.parse_goal_state(b"<GoalState><Incarnation>3</GoalState")


def test_a_utf8_bom_is_accepted() -> None:
    assert documents.parse_goal_state(b"\xef\xbb\xbf" + GOAL_STATE).incarnation == "3"


def test_hosting_environment_gives_instance_role_and_deployment() -> None:
    xml = b"""<HostingEnvironmentConfig version="1.0.0.0"><Deployment name="db00a7755a5e4e8a8fe4b19bc3b330c3" guid="{x}" incarnation="2"><Service name="S" guid="{y}"/></Deployment><Incarnation number="1" instance="MachineRole_IN_0" guid="{z}"/><Role guid="{r}" name="MachineRole" hostingEnvironmentVersion="1"/></HostingEnvironmentConfig>"""
    env = documents.parse_hosting_environment(xml)
    assert env == documents.HostingEnvironment(
        "MachineRole_IN_0", "MachineRole", "db00a7755a5e4e8a8fe4b19bc3b330c3"
    )


def test_extensions_config_keeps_what_extd_needs_to_validate() -> None:
    egs = documents.parse_extensions_config(EXTENSIONS, "3")
    assert egs.id == "incarnation_3" and egs.svd_seq_no == "3"
    assert egs.status_upload_blob is not None
    assert egs.status_upload_blob.blob_type == "PageBlob"
    assert egs.status_upload_blob.url.endswith("sv=2017&sig=SECRET")
    assert egs.required_features == ("MultipleExtensionsPerHandler",)
    assert egs.created_on_ticks == 637726657706205217
    assert egs.ga_families[0].uris == ("http://s/ga_manifest.xml",)
    example, runcommand = egs.plugins
    assert runcommand.name == "Microsoft.CPlat.Core.RunCommandHandlerLinux"
    assert example.manifest_uris == ["http://s/m1.xml", "http://s/m2.xml", "http://s/m3.xml"]
    assert example.encoded_signature == "c2ln"
    single, multi = egs.plugin_settings
    assert single.runtime_settings[0].seq_no == 4
    assert single.runtime_settings[0].public_settings == {"foo": "bar"}
    assert single.depends_on[0].level == "1"
    assert single.depends_on[0].extensions[0].handler == "Other.Handler"
    assert [s.name for s in multi.extension_runtime_settings] == ["first", "second"]
    assert multi.extension_runtime_settings[1].state is None
    assert multi.depends_on[0].name == "second"


def test_the_public_copy_has_handlers_versions_states_and_sequence_numbers_only() -> None:
    full = documents.parse_extensions_config(EXTENSIONS, "3")
    public = full.public()
    text = public.model_dump_json()
    for secret in ("SECRET", "MIIBsecret", "publicSettings", "foo", "http", "c2ln"):
        assert secret not in text, secret
    assert [(p.name, p.version, p.state) for p in public.plugins] == [
        (p.name, p.version, p.state) for p in full.plugins
    ]
    single, multi = public.plugin_settings
    first = single.runtime_settings[0]
    assert (first.seq_no, first.public_settings, first.protected_settings) == (4, None, None)
    assert [(s.name, s.seq_no, s.state) for s in multi.extension_runtime_settings] == [
        ("first", 2, "enabled"),
        ("second", 3, None),
    ]
    assert public.status_upload_blob is None and public.ga_families[0].uris == ()
    assert (public.id, public.svd_seq_no) == (full.id, full.svd_seq_no)


def test_a_goal_state_without_extensions_config_has_no_status_blob() -> None:
    egs = documents.empty_extensions_goal_state("7")
    assert (egs.id, egs.status_upload_blob, egs.plugins) == ("incarnation_7", None, ())


def test_versions_must_include_the_wire_protocol() -> None:
    assert documents.supports_protocol(
        b"<Versions><Preferred><Version>2012-11-30</Version></Preferred><Supported><Version>2010-12-15</Version></Supported></Versions>"
    )
    assert not documents.supports_protocol(
        b"<Versions><Preferred><Version>2010-12-15</Version></Preferred></Versions>"
    )
