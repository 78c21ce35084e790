"""ovf-env.xml: parsed like classic (namespace-aware, first descendant), saved redacted."""

from __future__ import annotations

import logging

import pytest

from waagent.provisioner import ovf
from waagent.provisioner.ovf import OvfError

from . import samples


def test_every_field_of_a_full_document_is_read() -> None:
    cert = samples.tenant()
    key = samples.ssh_key()
    data = ovf.parse(
        samples.ovf_env(
            hostname="myvm",
            password="pw!<&>",
            ssh_public_keys=[
                samples.SshPublicKey(path="$HOME/azureuser/.ssh/authorized_keys", value=key),
                samples.SshPublicKey(
                    path="/home/azureuser/.ssh/authorized_keys", certificate="tenant"
                ),
            ],
            key_pairs=[samples.KeyPair(path="/home/azureuser/.ssh/id_rsa", certificate="tenant")],
            custom_data="#cloud-config\n",
            disable_ssh_password_authentication=False,
            provision_guest_agent=False,
            certificates=[cert],
        )
    )
    assert (data.source, data.hostname, data.username) == ("ovf", "myvm", "azureuser")
    assert data.password is not None and data.password.get_secret_value() == "pw!<&>"
    assert data.disable_ssh_password_authentication is False
    assert [(k.path, k.value, k.fingerprint) for k in data.public_keys] == [
        ("$HOME/azureuser/.ssh/authorized_keys", key, ""),
        ("/home/azureuser/.ssh/authorized_keys", "", cert.thumbprint),
    ]
    assert [(p.path, p.fingerprint) for p in data.key_pairs] == [
        ("/home/azureuser/.ssh/id_rsa", cert.thumbprint)
    ]
    assert data.custom_data == "I2Nsb3VkLWNvbmZpZwo="
    assert data.agent_disabled


def test_the_password_never_appears_in_the_parsed_model_s_text() -> None:
    data = ovf.parse(samples.ovf_env(password="hunter2-secret"))
    assert "hunter2-secret" not in repr(data)
    assert "hunter2-secret" not in data.model_dump_json()


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_only_true_disables_password_authentication(value: str) -> None:
    document = samples.replace_text(samples.ovf_env(), "DisableSshPasswordAuthentication", value)
    assert ovf.parse(document).disable_ssh_password_authentication


def test_any_provision_guest_agent_value_but_false_leaves_the_agent_enabled() -> None:
    document = samples.replace_text(samples.ovf_env(), "ProvisionGuestAgent", "bad data")
    assert not ovf.parse(document).agent_disabled


def test_missing_password_and_custom_data_are_none() -> None:
    data = ovf.parse(samples.ovf_env())
    assert data.password is None and data.custom_data is None


def test_a_newer_version_is_used_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    document = samples.replace_text(samples.ovf_env(), "wa:Version", "2.0")
    with caplog.at_level(logging.WARNING):
        assert ovf.parse(document).hostname == "testvm"
    assert "Newer provisioning configuration detected" in caplog.text


def test_a_byte_order_mark_is_ignored() -> None:
    assert ovf.parse(b"\xef\xbb\xbf" + samples.ovf_env()).username == "azureuser"


def test_a_document_too_large_is_refused_before_parsing() -> None:
    with pytest.raises(OvfError, match="too large"):
        ovf.parse(b" " * (ovf.MAX_SIZE + 1))


def test_elements_in_another_namespace_do_not_count() -> None:
    document = samples.ovf_env().replace(b"<HostName>", b'<HostName xmlns="urn:other">')
    with pytest.raises(OvfError, match="HostName not found"):
        ovf.parse(document)


def test_redaction_replaces_the_password_and_keeps_the_rest() -> None:
    document = samples.ovf_env(password="hunter2-secret")
    redacted = ovf.redact(document)
    assert b"hunter2-secret" not in redacted
    assert b"<UserPassword>*</UserPassword>" in redacted
    assert redacted.replace(b"*", b"hunter2-secret") == document


def test_redaction_removes_a_password_in_cdata_or_with_markup() -> None:
    document = samples.replace_text(
        samples.ovf_env(password="x"), "UserPassword", "<![CDATA[a<b-secret]]>"
    )
    redacted = ovf.redact(document)
    assert b"secret" not in redacted
    assert ovf.parse(redacted).password is not None


def test_a_document_without_a_password_is_saved_unchanged() -> None:
    document = samples.ovf_env()
    assert ovf.redact(document) == document
