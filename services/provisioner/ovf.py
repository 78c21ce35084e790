"""ovf-env.xml (reference §6.1): parsed with defusedxml, validated exactly as strictly as classic.

Lookups are namespace-aware and take the first descendant with the name, as the classic DOM
walk does. A document with a DTD (and so any entity expansion: the XML bomb) is refused before
a single element is built. The copy kept in Lib.Dir has the password replaced by `*`.
"""

from __future__ import annotations

import logging
import re
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET
from pydantic import SecretStr

from ..common.errors import InvalidArgs
from .models import KeyPair, ProvisioningData, PublicKey

log = logging.getLogger(__name__)

OVF_NS = "http://schemas.dmtf.org/ovf/environment/1"
WA_NS = "http://schemas.microsoft.com/windowsazure"
# Far above any real document (custom data is at most 64 KiB of base64).
MAX_SIZE = 4 << 20
SUPPORTED_VERSION = (1, 0)

_PASSWORD = re.compile(
    rb"(<(?:[\w.-]+:)?UserPassword\b[^>]*(?<!/)>).*?(</(?:[\w.-]+:)?UserPassword\s*>)", re.DOTALL
)


class OvfError(InvalidArgs):
    """ovf-env.xml is unusable; the message is the ProvisioningFailed reason."""


def _ovf(tag: str) -> str:
    return f"{{{OVF_NS}}}{tag}"


def _wa(tag: str) -> str:
    return f"{{{WA_NS}}}{tag}"


def _find(parent: Element, tag: str, what: str) -> Element:
    node = parent if parent.tag == tag else parent.find(f".//{tag}")
    if node is None:
        raise OvfError(f"Failed to validate OVF: {what} not found")
    return node


def _text(parent: Element, tag: str) -> str | None:
    node = parent.find(f".//{tag}")
    return None if node is None else (node.text or "")


def _required_text(parent: Element, tag: str, what: str) -> str:
    text = (_find(parent, tag, what).text or "").strip()
    if not text:
        raise OvfError(f"Failed to validate OVF: {what} not found")
    return text


def load_xml(data: bytes) -> Element:
    """The document's root element; anything but plain, well-formed XML is refused."""
    if len(data) > MAX_SIZE:
        raise OvfError(f"ovf-env.xml is too large ({len(data)} bytes, at most {MAX_SIZE})")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except defusedxml.DTDForbidden:
        raise OvfError(
            "ovf-env.xml refused: it declares a DTD (entities are not allowed)"
        ) from None
    except defusedxml.DefusedXmlException as exc:
        raise OvfError(f"ovf-env.xml refused: {type(exc).__name__}") from None
    except ParseError as exc:
        raise OvfError(f"ovf-env.xml is not well-formed XML: {exc}") from None
    return root


def _version(section: Element) -> None:
    text = _required_text(section, _wa("Version"), "wa:Version")
    try:
        version = tuple(int(part) for part in text.split("."))
    except ValueError:
        log.warning("ovf-env.xml: unusual provisioning configuration version %r", text)
        return
    if version > SUPPORTED_VERSION:
        log.warning("Newer provisioning configuration detected (version %s); using it", text)


def _public_keys(config: Element) -> tuple[PublicKey, ...]:
    keys = []
    for node in config.iterfind(f".//{_wa('PublicKeys')}/{_wa('PublicKey')}"):
        keys.append(
            PublicKey(
                path=(_text(node, _wa("Path")) or "").strip(),
                fingerprint=(_text(node, _wa("Fingerprint")) or "").strip(),
                value=(_text(node, _wa("Value")) or "").strip(),
            )
        )
    return tuple(keys)


def _key_pairs(config: Element) -> tuple[KeyPair, ...]:
    pairs = []
    for node in config.iterfind(f".//{_wa('KeyPairs')}/{_wa('KeyPair')}"):
        pairs.append(
            KeyPair(
                path=(_text(node, _wa("Path")) or "").strip(),
                fingerprint=(_text(node, _wa("Fingerprint")) or "").strip(),
            )
        )
    return tuple(pairs)


def parse(data: bytes) -> ProvisioningData:
    """Validate like classic: each missing item is "Failed to validate OVF: <what> not found"."""
    root = load_xml(data)
    environment = _find(root, _ovf("Environment"), "Environment")
    section = _find(environment, _wa("ProvisioningSection"), "wa:ProvisioningSection")
    _version(section)
    config = _find(
        section, _wa("LinuxProvisioningConfigurationSet"), "LinuxProvisioningConfigurationSet"
    )
    hostname = _required_text(config, _wa("HostName"), "HostName")
    username = _required_text(config, _wa("UserName"), "UserName")
    platform = _find(environment, _wa("PlatformSettingsSection"), "wa:PlatformSettingsSection")
    settings = _find(platform, _wa("PlatformSettings"), "wa:PlatformSettings")
    # Must exist and have text; any text but "false" leaves the agent enabled.
    guest_agent = _required_text(settings, _wa("ProvisionGuestAgent"), "wa:ProvisionGuestAgent")
    password = _text(config, _wa("UserPassword"))
    disable = (_text(config, _wa("DisableSshPasswordAuthentication")) or "").strip()
    custom_data = _text(config, _wa("CustomData"))
    return ProvisioningData(
        source="ovf",
        hostname=hostname,
        username=username,
        password=SecretStr(password) if password else None,
        disable_ssh_password_authentication=disable.lower() == "true",
        public_keys=_public_keys(config),
        key_pairs=_key_pairs(config),
        custom_data=custom_data.strip() if custom_data else None,
        provision_guest_agent=guest_agent,
    )


def redact(data: bytes) -> bytes:
    """The document with every UserPassword value replaced by `*` (the classic saved copy).

    The whole element content up to its end tag goes, so CDATA or markup inside cannot leak;
    the result is parsed again to prove no password is left.
    """
    redacted = _PASSWORD.sub(rb"\1*\2", data)
    root = load_xml(redacted)
    if any((node.text or "") not in ("*", "") for node in root.iter(_wa("UserPassword"))):
        raise OvfError("cannot redact the password in ovf-env.xml; not saving a copy")
    return redacted
