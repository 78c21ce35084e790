"""A deliberately small client of the protocol, for driving the fabric in its own tests.

It is not the agent: it sends exactly the requests the reference describes, so a test can check
the fabric's answer to each one. Parsing uses defusedxml, as every consumer of fabric XML must.
"""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from waagent.fabric.server import Fabric

H1 = {"x-ms-agent-name": "WALinuxAgent", "x-ms-version": "2012-11-30"}
HGAP_VERSION = {"x-ms-version": "2015-09-01"}


def parse(body: bytes) -> Element:
    document: Element = SafeET.fromstring(body)
    return document


@dataclass
class Transport:
    """The agent's transport key pair, as files openssl can use (with a SubjectKeyIdentifier)."""

    certificate: x509.Certificate
    cert_path: Path
    key_path: Path

    @property
    def header(self) -> str:
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()

    @classmethod
    def create(cls, directory: Path) -> Transport:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LinuxTransport")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=730))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        cert_path, key_path = directory / "TransportCert.pem", directory / "TransportPrivate.pem"
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cls(certificate, cert_path, key_path)


class Agentish:
    """Sends the requests of the classic protocol to one fabric."""

    def __init__(self, fabric: Fabric, *, timeout: float = 10.0) -> None:
        self.fabric = fabric
        self.wire = f"http://{fabric.address}:{fabric.wire_port}"
        self.hgap = f"http://{fabric.address}:{fabric.hgap_port}"
        self.storage = f"http://{fabric.address}:{fabric.storage_port}"
        self.http = httpx.Client(timeout=timeout, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(url, headers=headers)

    def versions(self) -> httpx.Response:
        return self.get(f"{self.wire}/?comp=versions")

    def goal_state(self) -> Element:
        response = self.get(f"{self.wire}/machine/?comp=goalstate", H1)
        assert response.status_code == 200, response.text
        return parse(response.content)

    def urls(self) -> dict[str, str]:
        """Configuration element name -> URL, from the current goal state."""
        configuration = self.goal_state().find(
            "Container/RoleInstanceList/RoleInstance/Configuration"
        )
        assert configuration is not None
        return {child.tag: (child.text or "").strip() for child in configuration}

    def document(self, name: str) -> httpx.Response:
        return self.get(self.urls()[name], H1)

    def certificates(self, transport: Transport, cipher: str = "AES128_CBC") -> httpx.Response:
        headers = {
            **H1,
            "x-ms-guest-agent-public-x509-cert": transport.header,
            "x-ms-cipher-name": cipher,
        }
        return self.get(self.urls()["Certificates"], headers)

    def hgap_headers(self) -> dict[str, str]:
        goal_state = self.goal_state()
        return {
            **HGAP_VERSION,
            "x-ms-containerid": goal_state.findtext("Container/ContainerId") or "",
            "x-ms-host-config-name": goal_state.findtext(
                "Container/RoleInstanceList/RoleInstance/Configuration/ConfigName"
            )
            or "",
        }

    def extensions_config(self) -> Element:
        response = self.document("ExtensionsConfig")
        assert response.status_code == 200, response.text
        return parse(response.content)

    def status_blob(self) -> tuple[str, str]:
        blob = self.extensions_config().find("StatusUploadBlob")
        assert blob is not None
        return (blob.text or "").strip(), blob.get("statusBlobType", "")

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(f"{self.wire}{path}", content=body, headers=headers)

    def put_status_through_hgap(
        self, document: dict[str, Any], blob_type: str
    ) -> list[httpx.Response]:
        """The HostGAPlugin status upload of reference §4.4, block or page blob."""
        url, _ = self.status_blob()
        content = json.dumps(document).encode()
        headers = {**self.hgap_headers(), "Content-Type": "application/json"}
        envelopes = []
        if blob_type == "BlockBlob":
            envelopes.append(
                _envelope(
                    url,
                    content,
                    {"x-ms-blob-type": "BlockBlob", "Content-Length": str(len(content))},
                )
            )
        else:
            padded = content + b" " * (-len(content) % 512)
            envelopes.append(
                _envelope(
                    url,
                    None,
                    {
                        "Content-Length": "0",
                        "x-ms-blob-content-length": str(len(padded)),
                        "x-ms-blob-type": "PageBlob",
                    },
                )
            )
            envelopes.append(
                _envelope(
                    url + "&comp=page",
                    padded,
                    {
                        "Content-Length": str(len(padded)),
                        "x-ms-range": f"bytes=0-{len(padded) - 1}",
                        "x-ms-page-write": "update",
                    },
                )
            )
        return [
            self.http.put(f"{self.hgap}/status", content=body, headers=headers)
            for body in envelopes
        ]

    def put_status_direct(self, document: dict[str, Any], blob_type: str) -> list[httpx.Response]:
        """The direct upload of reference §5.3 step 5."""
        url, _ = self.status_blob()
        content = json.dumps(document).encode()
        common = {"x-ms-date": "2026-01-01T00:00:00Z", "x-ms-version": "2014-02-14"}
        if blob_type == "BlockBlob":
            return [
                self.http.put(
                    url, content=content, headers={**common, "x-ms-blob-type": "BlockBlob"}
                )
            ]
        padded = content + b"\0" * (-len(content) % 512)
        create = {
            **common,
            "x-ms-blob-type": "PageBlob",
            "x-ms-blob-content-length": str(len(padded)),
        }
        page = {**common, "x-ms-range": f"bytes=0-{len(padded) - 1}", "x-ms-page-write": "update"}
        return [
            self.http.put(url, content=b"", headers=create),
            self.http.put(url + "&comp=page", content=padded, headers=page),
        ]


def _envelope(uri: str, content: bytes | None, headers: dict[str, str]) -> bytes:
    common = {"x-ms-date": "2026-01-01T00:00:00Z", "x-ms-version": "2014-02-14"}
    envelope: dict[str, Any] = {
        "requestUri": uri,
        "headers": [
            {"headerName": k, "headerValue": v} for k, v in sorted({**headers, **common}.items())
        ],
    }
    if content is not None:
        envelope["content"] = base64.b64encode(content).decode()
    return json.dumps(envelope, sort_keys=True).encode()


def openssl(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["openssl", *argv], input=stdin, capture_output=True, timeout=60, check=False
    )


def status_document(message: str = "Guest Agent is running") -> dict[str, Any]:
    return {
        "version": "1.1",
        "timestampUTC": "2026-01-01T00:00:00Z",
        "aggregateStatus": {
            "guestAgentStatus": {
                "version": "0.1.0",
                "status": "Ready",
                "formattedMessage": {"lang": "en-US", "message": message},
            },
            "handlerAggregateStatus": [],
        },
        "guestOSInfo": {
            "computerName": "imagecheck",
            "osName": "debian",
            "osVersion": "12",
            "version": "0.1.0",
        },
        "supportedFeatures": [{"Key": "MultipleExtensionsPerHandler", "Value": "1.0"}],
    }
