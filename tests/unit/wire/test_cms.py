from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.wire.conftest import cms_encrypt, make_tenant
from waagent.common import cms
from waagent.wire.transport import TransportCredentials


@pytest.mark.parametrize("cipher", ["-des3", "-aes128", "-aes256"])
@pytest.mark.parametrize("keyid", [True, False], ids=["ski", "issuer-serial"])
def test_openssl_cms_decrypts_with_the_transport_key(
    transport_creds: TransportCredentials, transport_files: Path, cipher: str, keyid: bool
) -> None:
    message = cms_encrypt(b"tenant secrets", transport_files, cipher=cipher, keyid=keyid)
    assert (
        cms.decrypt(message, transport_creds.certificate, transport_creds.key) == b"tenant secrets"
    )


def test_a_message_for_another_certificate_is_refused_clearly(
    tmp_path: Path, transport_creds: TransportCredentials
) -> None:
    other = make_tenant(tmp_path, "other")
    message = cms_encrypt(b"x", other.cert)
    with pytest.raises(cms.CmsError, match="encrypted to another certificate"):
        cms.decrypt(message, transport_creds.certificate, transport_creds.key)


def test_garbage_is_a_malformed_message(transport_creds: TransportCredentials) -> None:
    with pytest.raises(cms.CmsError, match="malformed CMS message"):
        cms.decrypt(b"\x30\x82\xff\xffgarbage", transport_creds.certificate, transport_creds.key)


def test_a_truncated_message_is_refused(
    transport_creds: TransportCredentials, transport_files: Path
) -> None:
    message = cms_encrypt(b"x" * 100, transport_files)
    with pytest.raises(cms.CmsError):
        cms.decrypt(message[:-20], transport_creds.certificate, transport_creds.key)


@pytest.mark.parametrize("data", [b"\x30\x03\x02\x01\x00", b"\x30\x00", b"\x04\x01x"])
def test_well_formed_der_of_another_shape_is_refused_clearly(
    transport_creds: TransportCredentials, data: bytes
) -> None:
    with pytest.raises(cms.CmsError, match="malformed CMS message|not CMS EnvelopedData"):
        cms.decrypt(data, transport_creds.certificate, transport_creds.key)
