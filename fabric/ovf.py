"""Provisioning media: ovf-env.xml (reference §6.1) and the UDF image Azure attaches as a DVD.

The document is written as text, not through an XML library, so the namespace declarations and
prefixes are exactly those of a real Azure ovf-env.xml.
"""

from __future__ import annotations

import base64
import io
import os
import shlex
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from xml.sax.saxutils import escape

from .scenario import Identity, Provisioning

OVF_NS = "http://schemas.dmtf.org/ovf/environment/1"
WA_NS = "http://schemas.microsoft.com/windowsazure"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
VOLUME_LABEL = "CDROM"


def _text(tag: str, value: object, indent: str) -> str:
    return f"{indent}<{tag}>{escape(str(value))}</{tag}>\n"


def _ssh(provisioning: Provisioning, fingerprint_of: Callable[[str], str]) -> str:
    pad = " " * 8
    out = f"{pad}<SSH>\n{pad}  <PublicKeys>\n"
    for key in provisioning.ssh_public_keys:
        out += f"{pad}    <PublicKey>\n"
        fingerprint = fingerprint_of(key.certificate) if key.certificate else key.fingerprint
        if fingerprint:
            out += _text("Fingerprint", fingerprint, pad + "      ")
        out += _text("Path", key.path, pad + "      ")
        if key.value:
            out += _text("Value", key.value, pad + "      ")
        out += f"{pad}    </PublicKey>\n"
    out += f"{pad}  </PublicKeys>\n{pad}  <KeyPairs>\n"
    for pair in provisioning.key_pairs:
        fingerprint = fingerprint_of(pair.certificate) if pair.certificate else pair.fingerprint
        out += f"{pad}    <KeyPair>\n"
        out += _text("Fingerprint", fingerprint, pad + "      ")
        out += _text("Path", pair.path, pad + "      ")
        out += f"{pad}    </KeyPair>\n"
    return out + f"{pad}  </KeyPairs>\n{pad}</SSH>\n"


def ovf_env(
    identity: Identity, provisioning: Provisioning, fingerprint_of: Callable[[str], str]
) -> bytes:
    """ovf-env.xml for the scenario; `fingerprint_of` maps a certificate name to its thumbprint."""
    p = provisioning
    settings = " " * 6
    linux = _text("ConfigurationSetType", "LinuxProvisioningConfiguration", settings + "  ")
    linux += _text("HostName", identity.hostname, settings + "  ")
    linux += _text("UserName", p.user_name, settings + "  ")
    if p.password is not None:
        linux += _text("UserPassword", p.password, settings + "  ")
    linux += _text(
        "DisableSshPasswordAuthentication",
        str(p.disable_ssh_password_authentication).lower(),
        settings + "  ",
    )
    if p.ssh_public_keys or p.key_pairs:
        linux += _ssh(p, fingerprint_of)
    if p.custom_data is not None:
        custom = base64.b64encode(p.custom_data.encode()).decode()
        linux += _text("CustomData", custom, settings + "  ")
    platform = " " * 8
    document = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Environment xmlns="{OVF_NS}" xmlns:oe="{OVF_NS}" '
        f'xmlns:wa="{WA_NS}" xmlns:xsi="{XSI_NS}">\n'
        "  <wa:ProvisioningSection>\n"
        f"    <wa:Version>{escape(p.ovf_version)}</wa:Version>\n"
        f'    <LinuxProvisioningConfigurationSet xmlns="{WA_NS}" xmlns:i="{XSI_NS}">\n'
        f"{linux}"
        "    </LinuxProvisioningConfigurationSet>\n"
        "  </wa:ProvisioningSection>\n"
        "  <wa:PlatformSettingsSection>\n"
        "    <wa:Version>1.0</wa:Version>\n"
        f'    <PlatformSettings xmlns="{WA_NS}" xmlns:i="{XSI_NS}">\n'
        f"{_text('KmsServerHostname', 'kms.core.windows.net', platform)}"
        f"{_text('ProvisionGuestAgent', str(p.provision_guest_agent).lower(), platform)}"
        f'{platform}<GuestAgentPackageName i:nil="true" />\n'
        f"{_text('RetainWindowsPEPassInUnattend', 'true', platform)}"
        f"{_text('RetainOfflineServicingPassInUnattend', 'true', platform)}"
        f"{_text('PreprovisionedVm', 'false', platform)}"
        f"{_text('PreprovisionedVmType', 'None', platform)}"
        f"{_text('EnableTrustedImageIdentifier', 'false', platform)}"
        "    </PlatformSettings>\n"
        "  </wa:PlatformSettingsSection>\n"
        "</Environment>\n"
    )
    return document.encode()


SCVMM_CONFIG = "linuxosconfiguration.xml"
SCVMM_INSTALL = "install"


def scvmm_files(record: str) -> dict[str, bytes]:
    """What System Center VMM adds to the DVD (reference §10.7): its configuration, and an
    `install` bootstrap; this one only writes the arguments it got to `record` (and its cgroup
    to `<record>.cgroup`), for tests."""
    config = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<LinuxOSConfiguration><ComputerName>scvmm-vm</ComputerName></LinuxOSConfiguration>\n"
    )
    script = (
        "#!/bin/bash\n"
        "# The simulator's stand-in for SCVMM's guest agent bootstrap: it records how it ran.\n"
        f"record={shlex.quote(record)}\n"
        'mkdir -p "$(dirname "$record")"\n'
        # Where it runs (its cgroup says which unit, if any), then what it got.
        'cat /proc/self/cgroup > "$record.cgroup" 2>/dev/null\n'
        'printf \'%s\\n\' "$@" > "$record.tmp" && mv "$record.tmp" "$record"\n'
    )
    return {SCVMM_CONFIG: config.encode(), SCVMM_INSTALL: script.encode()}


def _iso9660_name(name: str) -> str:
    stem, _, suffix = name.upper().replace("-", "_").partition(".")
    return f"/{stem}.{suffix};1"


def write_image(
    path: str | Path, ovf_env_xml: bytes, extra: Mapping[str, bytes] | None = None
) -> Path:
    """A UDF (with ISO9660/Joliet bridge) image holding /ovf-env.xml (and `extra` files in its
    root directory), written atomically."""
    import pycdlib

    path = Path(path)
    image = pycdlib.PyCdlib()
    image.new(interchange_level=3, joliet=3, rock_ridge="1.09", udf="2.60", vol_ident=VOLUME_LABEL)
    for name, data in {"ovf-env.xml": ovf_env_xml, **(extra or {})}.items():
        image.add_fp(
            io.BytesIO(data),
            len(data),
            _iso9660_name(name),
            rr_name=name,
            joliet_path=f"/{name}",
            udf_path=f"/{name}",
        )
    fd, temporary = tempfile.mkstemp(prefix=".ovf-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            image.write_fp(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        image.close()
    return path
