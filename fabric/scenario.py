"""Scenarios: what the simulated Azure knows about one VM, declared in TOML.

`Scenario.default()` is a complete VM (identity, provisioning, one tenant certificate, one
extension built from the built-in sample handler); `Scenario.load(path)` reads a TOML file whose
tables mirror these models (relative handler directories resolve against the file's folder);
`Scenario.raw(directory)` serves captured documents byte for byte instead of generating them.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .dhcp import DhcpSettings

ExtensionState = Literal["enabled", "disabled", "uninstall"]
BlobType = Literal["BlockBlob", "PageBlob"]
# Where a change to the extensions is published (reference §2.8, §2.9): "both" is a new
# incarnation and a new vmSettings of the same timestamp; "vmsettings" a Fast Track change alone
# (new ETag, newer extensionsLastModifiedTickCount, same incarnation); "wireserver" a new
# incarnation whose createdOnTicks is newer than the last vmSettings, which stay as they were.
Channel = Literal["both", "vmsettings", "wireserver"]
VmSettingsSource = Literal["FastTrack", "Fabric"]


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message is one line naming the problem."""


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Identity(Model):
    vm_id: str = "a3f5c2e1-7b4d-4c8e-9f10-2d6b8e4a1c57"
    container_id: str = "c6d5526c-5ac2-4200-b6e2-56f2b70c5ab2"
    role_name: str = "imagecheck"
    role_instance_id: str = "a3f5c2e1-7b4d-4c8e-9f10-2d6b8e4a1c57._imagecheck"
    deployment_name: str = "0c4fd3c8e5a84b5e8a7d2f6b1e9c3a40"
    incarnation: int = Field(default=1, ge=1)
    hostname: str = "imagecheck"
    location: str = "westeurope"
    subscription_id: str = "5e1c9a3b-8f2d-4a6e-b7c0-3d9f1e2a4b68"
    resource_group: str = "waagent-fabric"
    vm_size: str = "Standard_D2s_v5"
    mac_address: str = "000D3A2B4C5D"
    private_ip: str = "10.0.0.4"
    subnet: str = "10.0.0.0/24"
    image_publisher: str = "Debian"
    image_offer: str = "debian-12"
    image_sku: str = "12-gen2"
    image_version: str = "latest"


class SshPublicKey(Model):
    """A key for authorized_keys: its value, or a tenant certificate (by name or fingerprint)."""

    path: str
    value: str | None = None
    certificate: str | None = None
    fingerprint: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.certificate and self.fingerprint:
            raise ValueError("give a certificate name or a fingerprint, not both")
        if not (self.value or self.certificate or self.fingerprint):
            raise ValueError("a public key needs a value, a certificate or a fingerprint")
        return self


class KeyPair(Model):
    """A private key the provisioning agent deploys from a tenant certificate."""

    path: str
    certificate: str | None = None
    fingerprint: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if bool(self.certificate) == bool(self.fingerprint):
            raise ValueError("a key pair needs exactly one of certificate or fingerprint")
        return self


class Provisioning(Model):
    user_name: str = "azureuser"
    password: str | None = None
    ssh_public_keys: list[SshPublicKey] = Field(default_factory=list)
    key_pairs: list[KeyPair] = Field(default_factory=list)
    custom_data: str | None = None
    disable_ssh_password_authentication: bool = True
    provision_guest_agent: bool = True
    ovf_version: str = "1.0"


class CertificateSpec(Model):
    name: str
    key_type: Literal["rsa", "ec"] = "rsa"
    key_size: int = Field(default=2048, ge=1024)
    curve: Literal["secp256r1", "secp384r1", "secp521r1"] = "secp256r1"
    subject: str | None = None
    valid_days: int = Field(default=365, ge=1)


class HandlerVersion(Model):
    """One published version of a handler: a directory zipped on the fly (`handler_dir`), a
    package served byte for byte (`package`: a real extension's zip, or a hostile one), or
    neither: the built-in sample handler."""

    version: str
    handler_dir: Path | None = None
    package: Path | None = None

    @field_validator("handler_dir", "package")
    @classmethod
    def _relative_to_scenario(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("base")
        if value is not None and base is not None and not value.is_absolute():
            return Path(base) / value
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.handler_dir is not None and self.package is not None:
            raise ValueError("give a handler_dir or a package, not both")
        return self


class Settings(Model):
    """Settings of a handler (single-config) or of one named extension (multi-config)."""

    seq_no: int = Field(default=0, ge=0)
    public_settings: dict[str, Any] | None = None
    protected_settings: dict[str, Any] | None = None
    certificate: str | None = None  # tenant certificate for protected settings (default: first)
    # The RuntimeSettings text served as is, instead of one built from the fields above (for
    # settings captured from Azure, or ones that do not parse).
    settings_text: str | None = None
    dependency_level: int | None = None
    depends_on: list[str] = Field(default_factory=list)  # handler names


class MultiConfigExtension(Settings):
    name: str
    state: Literal["enabled", "disabled"] = "enabled"


class Extension(Settings):
    name: str  # Publisher.Type
    version: str  # the requested version
    versions: list[HandlerVersion] = Field(default_factory=list)
    state: ExtensionState = "enabled"
    auto_upgrade: bool = False
    multi_config: list[MultiConfigExtension] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _publisher_dot_type(cls, value: str) -> str:
        if "." not in value.strip("."):
            raise ValueError(f"handler name {value!r} is not Publisher.Type")
        return value

    @model_validator(mode="before")
    @classmethod
    def _published(cls, data: Any) -> Any:
        # Without a versions list, the requested version is the one published version.
        if isinstance(data, dict) and not data.get("versions") and "version" in data:
            return {**data, "versions": [{"version": data["version"]}]}
        return data

    def handler_version(self, version: str) -> HandlerVersion | None:
        return next((v for v in self.versions if v.version == version), None)


class RemoteUser(Model):
    """A JIT remote access account (RemoteAccess document)."""

    name: str
    password: str
    expiration: str = "Fri, 01 Jan 2038 00:00:00 GMT"
    groups: list[str] = Field(default_factory=lambda: ["Administrators"])
    # Served as <Password> verbatim instead of the encrypted password: a fabric gone wrong.
    password_blob: str | None = None


class AgentFamily(Model):
    """The GAFamily of the goal state (`Prod`): an RSM version request when enabled (§10.1)."""

    version: str | None = None
    from_version: str | None = None
    is_version_from_rsm: bool = False
    is_vm_enabled_for_rsm_upgrades: bool = False


def _certificate_names(value: Any) -> Any:
    """`certificates = ["a", {name = "b", key_type = "ec"}]`: plain names are allowed."""
    if isinstance(value, list):
        return [{"name": item} if isinstance(item, str) else item for item in value]
    return value


class Scenario(Model):
    identity: Identity = Field(default_factory=Identity)
    provisioning: Provisioning = Field(default_factory=Provisioning)
    certificates: list[CertificateSpec] = Field(default_factory=list)
    extensions: list[Extension] = Field(default_factory=list)
    remote_access: list[RemoteUser] = Field(default_factory=list)
    agent_family: AgentFamily = Field(default_factory=AgentFamily)
    status_blob_type: BlobType = "BlockBlob"
    fast_track: bool = False
    on_hold: bool = False
    hgap_version: str = "1.0.8.179"
    publish_through: Channel = "both"
    vm_settings_source: VmSettingsSource = "FastTrack"
    raw_dir: Path | None = None  # serve the documents of this directory verbatim
    dhcp: DhcpSettings = Field(default_factory=DhcpSettings)  # the lease, with --dhcp-interface

    @field_validator("certificates", mode="before")
    @classmethod
    def _names_first(cls, value: Any) -> Any:
        return _certificate_names(value)

    @model_validator(mode="after")
    def _references(self) -> Self:
        names = {c.name for c in self.certificates}
        if len(names) != len(self.certificates):
            raise ValueError("certificate names must be unique")
        handlers = [e.name.lower() for e in self.extensions]
        if len(set(handlers)) != len(handlers):
            raise ValueError("extension names must be unique")
        wanted = [k.certificate for k in self.provisioning.ssh_public_keys]
        wanted += [k.certificate for k in self.provisioning.key_pairs]
        for extension in self.extensions:
            for settings in [extension, *extension.multi_config]:
                wanted.append(settings.certificate)
        for name in wanted:
            if name is not None and name not in names:
                raise ValueError(f"unknown certificate {name!r} (have: {sorted(names)})")
        if not self.fast_track and self.publish_through != "both":
            raise ValueError(f"publish_through = {self.publish_through!r} needs fast_track")
        for extension in self.extensions:
            for settings in [extension, *extension.multi_config]:
                if settings.protected_settings is not None:
                    self._check_protector(extension, settings)
        return self

    def _check_protector(self, extension: Extension, settings: Settings) -> None:
        """Protected settings are encrypted with RSA key transport: the certificate must be RSA."""
        name = settings.certificate or extension.certificate
        spec = next((c for c in self.certificates if c.name == name), None)
        if spec is None and name is None and self.certificates:
            spec = self.certificates[0]
        if spec is None:
            raise ValueError(f"{extension.name}: protected settings need a certificate")
        if spec.key_type != "rsa":
            raise ValueError(
                f"{extension.name}: protected settings need an RSA certificate, {spec.name!r} is EC"
            )

    @classmethod
    def default(cls) -> Scenario:
        """A complete VM: user with an SSH key, a tenant certificate, one sample extension."""
        from .keys import new_ssh_public_key

        return cls(
            provisioning=Provisioning(
                ssh_public_keys=[
                    SshPublicKey(
                        path="/home/azureuser/.ssh/authorized_keys",
                        value=new_ssh_public_key("azureuser@fabric"),
                    )
                ],
                custom_data="#!/bin/sh\necho custom data ran\n",
            ),
            certificates=[CertificateSpec(name="tenant")],
            extensions=[
                Extension(
                    name="Fabric.Samples.Hello",
                    version="1.0.0",
                    versions=[HandlerVersion(version="1.0.0"), HandlerVersion(version="1.1.0")],
                    public_settings={"message": "hello from the fabric"},
                    protected_settings={"secret": "fabric-protected-value"},
                    certificate="tenant",
                )
            ],
        )

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        """A TOML scenario file (or JSON, as `model_dump_json()` writes it)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
            raise ScenarioError(f"{path}: cannot parse: {exc}") from None
        if not isinstance(data, dict):
            raise ScenarioError(f"{path}: a scenario is a table of settings")
        return cls.from_dict(data, base=path.parent, source=str(path))

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, base: Path | None = None, source: str = "scenario"
    ) -> Scenario:
        if isinstance(data.get("raw_dir"), str) and base is not None:
            data = {**data, "raw_dir": str(base / data["raw_dir"])}
        try:
            return cls.model_validate(data, context={"base": base})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top)"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ScenarioError(f"{source}: {where}: {first['msg']}{more}") from None

    @classmethod
    def raw(cls, directory: str | Path) -> Scenario:
        """Serve the captured documents of `directory` byte for byte (see docs/fabric.md)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ScenarioError(f"{directory}: not a directory")
        return cls(raw_dir=directory)

    def extension(self, name: str) -> Extension | None:
        return next((e for e in self.extensions if e.name.lower() == name.lower()), None)


__all__ = [
    "CertificateSpec",
    "Extension",
    "HandlerVersion",
    "Identity",
    "KeyPair",
    "MultiConfigExtension",
    "Provisioning",
    "RemoteUser",
    "Scenario",
    "ScenarioError",
    "Settings",
    "SshPublicKey",
]
