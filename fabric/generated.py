"""The generated fabric: documents rendered from a scenario, and the operations that change it.

Every change to the extensions is published through the scenario's `publish_through` channel:
a new incarnation (WireServer), a new vmSettings (HostGAPlugin, Fast Track), or both. Each channel
keeps its own goal state; documents are rendered on first request and cached until it changes.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from pydantic import ValidationError

from . import cms, documents, imds, ovf, packages
from . import extension_documents as ext_docs
from .api import KEEP
from .scenario import (
    CertificateSpec,
    Extension,
    HandlerVersion,
    Scenario,
    ScenarioError,
    Settings,
)
from .source import Artifact, Gone
from .tenant import TenantCertificates
from .urls import GA_FAMILY, Urls

# What set_publishing may change: the scenario fields of the same names.
PUBLISHING = ("publish_through", "vm_settings_source", "hgap_version", "fast_track")
TICKS_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def ticks(moment: datetime) -> int:
    """.NET ticks: 100 ns since 0001-01-01 UTC."""
    return (moment - TICKS_EPOCH) // timedelta(microseconds=1) * 10


class ControlError(ValueError):
    """A control operation that names something the scenario does not have."""


class GeneratedSource:
    def __init__(self, scenario: Scenario, urls: Urls) -> None:
        self.urls = urls
        self.tenant = TenantCertificates(scenario.certificates)
        self._lock = threading.RLock()
        self._scenario = scenario
        self._incarnation = scenario.identity.incarnation
        self._last_ticks = 0
        self._state = self._new_state(self._incarnation)  # what the WireServer serves
        self._vm_state = self._state  # what vmSettings serve: the same until a channel differs
        self._cache: dict[str, bytes] = {}
        # Encrypted once per goal state (keyed by its activity id), so a document re-rendered
        # for the same goal state carries the same bytes.
        self._protected: dict[tuple[str, str, str | None], tuple[str, str]] = {}
        # Certificate name -> how many more Certificates documents leave it out (WireServer lag).
        self._withheld: dict[str, int] = {}

    # -- the goal state -------------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    def _new_state(self, sequence: int) -> ext_docs.GoalState:
        """A goal state of the current extensions; `sequence` is its incarnation / inSvdSeqNo."""
        identity = self._scenario.identity
        # Strictly increasing, so "newer" holds even for two changes within one microsecond.
        self._last_ticks = max(ticks(datetime.now(UTC)), self._last_ticks + 1)
        return ext_docs.GoalState(
            incarnation=sequence,
            extensions=tuple(self._scenario.extensions),
            created_on_ticks=self._last_ticks,
            activity_id=str(uuid.uuid4()),
            correlation_id=str(uuid.uuid4()),
            status_blob_type=self._scenario.status_blob_type,
            status_blob_url=self.urls.status_blob(identity.hostname, identity.vm_id),
            artifacts_profile_url=self.urls.artifacts_profile(identity.hostname, identity.vm_id),
            agent_family=self._scenario.agent_family,
            required_features=tuple(self._scenario.required_features),
        )

    def _cached(self, key: str, render: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = render()
            return self._cache[key]

    def _check_incarnation(self, incarnation: str | None) -> None:
        if incarnation is not None and incarnation != str(self._incarnation):
            raise Gone(f"incarnation {incarnation} is gone (current: {self._incarnation})")

    def incarnation(self) -> int:
        return self._incarnation

    def container(self) -> tuple[str, str]:
        identity = self._scenario.identity
        return identity.container_id, documents.config_name(identity)

    def versions(self) -> bytes:
        return self._cached("versions", documents.versions)

    def goal_state(self) -> bytes:
        with self._lock:
            scenario, incarnation = self._scenario, self._incarnation
            return self._cached(
                "goalstate",
                lambda: documents.goal_state(
                    scenario.identity,
                    incarnation,
                    self.urls,
                    extensions=True,
                    certificates=bool(scenario.certificates),
                    remote_access=bool(scenario.remote_access),
                ),
            )

    def config(self, kind: str, incarnation: str | None) -> bytes | None:
        with self._lock:
            self._check_incarnation(incarnation)
            identity, state = self._scenario.identity, self._state
            renderers: dict[str, Callable[[], bytes]] = {
                "hostingEnvironmentConfig": lambda: documents.hosting_environment(
                    identity, state.incarnation
                ),
                "sharedConfig": lambda: documents.shared_config(identity, state.incarnation),
                "extensionsConfig": lambda: ext_docs.extensions_config(
                    state, self.urls, identity.location, self._protector(state)
                ),
                "fullConfig": lambda: documents.hosting_environment(identity, state.incarnation),
            }
            render = renderers.get(kind)
            return None if render is None else self._cached(kind, render)

    def certificates(
        self, incarnation: str | None, transport: x509.Certificate, cipher: cms.ContentCipher
    ) -> bytes | None:
        with self._lock:
            self._check_incarnation(incarnation)
            if not self._scenario.certificates:
                return None
            current = self._incarnation
            withheld = frozenset(name for name, left in self._withheld.items() if left > 0)
            for name in withheld:
                self._withheld[name] -= 1
        enveloped = cms.envelope(self.tenant.pfx(without=withheld), transport, cipher=cipher)
        return documents.certificates(current, enveloped)

    def remote_access(
        self, incarnation: str | None, transport: x509.Certificate, cipher: cms.ContentCipher
    ) -> bytes | None:
        with self._lock:
            self._check_incarnation(incarnation)
            users, current = self._scenario.remote_access, self._incarnation
        if not users:
            return None
        # Passwords travel as UTF-16 (little endian, with BOM), encrypted to the transport key.
        encrypted = [
            (
                user.name,
                base64.b64decode(user.password_blob)
                if user.password_blob is not None
                else cms.envelope(
                    b"\xff\xfe" + user.password.encode("utf-16-le"), transport, cipher=cipher
                ),
                user.expiration,
                user.groups,
            )
            for user in users
        ]
        return documents.remote_access(current, encrypted)

    def _protector(self, state: ext_docs.GoalState) -> ext_docs.Protect:
        def protect(extension: Extension, settings: Settings) -> tuple[str, str] | None:
            return self._protect(state, extension, settings)

        return protect

    def _protect(
        self, state: ext_docs.GoalState, extension: Extension, settings: Settings
    ) -> tuple[str, str] | None:
        """Protected settings encrypted once per goal state to their tenant certificate."""
        if settings.protected_settings is None:
            return None
        key = (state.activity_id, extension.name, getattr(settings, "name", None))
        with self._lock:
            if key not in self._protected:
                name = settings.certificate or extension.certificate or self.tenant.names[0]
                tenant = self.tenant.get(name)
                payload = json.dumps(settings.protected_settings).encode()
                enveloped = cms.envelope(
                    payload, tenant.certificate, identify_by=cms.Recipient.ISSUER_AND_SERIAL
                )
                self._protected[key] = (tenant.thumbprint, base64.b64encode(enveloped).decode())
            return self._protected[key]

    def artifact(self, path: str) -> Artifact | None:
        """A manifest, package or artifacts profile by its storage path (None: no such blob)."""
        folder, _, name = path.strip("/").partition("/")
        with self._lock:
            scenario, state = self._scenario, self._state
        if folder in ("manifests", "failover") and name.endswith("_manifest.xml"):
            return self._manifest(scenario, name.removesuffix("_manifest.xml"))
        if folder == "packages" and "__" in name:
            return self._package(scenario, *name.split("__", 1))
        if folder == "vmsettings" and name.endswith(".vmSettings"):
            data = ext_docs.artifacts_profile(state, scenario.on_hold)
            return Artifact("artifacts-profile", name, None, data, "application/json")
        return None

    def _manifest(self, scenario: Scenario, handler: str) -> Artifact | None:
        if handler == f"waagent.{GA_FAMILY}":
            return Artifact("manifest", handler, None, ext_docs.empty_manifest(), "text/xml")
        extension = scenario.extension(handler)
        if extension is None:
            return None
        data = ext_docs.manifest(extension, self.urls)
        return Artifact("manifest", extension.name, None, data, "text/xml")

    def _package(self, scenario: Scenario, handler: str, version: str) -> Artifact | None:
        extension = scenario.extension(handler)
        published = extension.handler_version(version) if extension else None
        if extension is None or published is None:
            return None
        data = packages.build(extension.name, published)
        return Artifact("package", extension.name, version, data, "application/octet-stream")

    def vm_settings(self) -> bytes | None:
        with self._lock:
            scenario, state = self._scenario, self._vm_state
            if not scenario.fast_track:
                return None
            identity = scenario.identity
            inventory = {
                "subscriptionId": identity.subscription_id,
                "resourceGroupName": identity.resource_group,
                "vmName": identity.hostname,
                "location": identity.location,
                "vmId": identity.vm_id,
                "vmSize": identity.vm_size,
                "osType": "Linux",
            }
            return self._cached(
                "vmsettings",
                lambda: ext_docs.vm_settings(
                    state,
                    self.urls,
                    hgap_version=scenario.hgap_version,
                    on_hold=scenario.on_hold,
                    inventory=inventory,
                    protect=self._protector(state),
                    source=scenario.vm_settings_source,
                ),
            )

    def imds(self) -> bytes:
        scenario = self._scenario
        document = imds.instance(scenario.identity, scenario.provisioning)
        return json.dumps(document).encode()

    def ovf_env(self) -> bytes:
        scenario = self._scenario
        return ovf.ovf_env(
            scenario.identity,
            scenario.provisioning,
            lambda name: self.tenant.get(name).thumbprint,
        )

    def tenant_certificates(self) -> dict[str, dict[str, str]]:
        return self.tenant.export()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            vm_settings = self.vm_settings()
            return {
                "mode": "generated",
                "incarnation": self._incarnation,
                "created_on_ticks": self._state.created_on_ticks,
                "publish_through": self._scenario.publish_through,
                "vm_settings": None
                if vm_settings is None
                else {
                    "etag": ext_docs.vm_settings_etag(vm_settings),
                    "extensions_last_modified_tick_count": self._vm_state.created_on_ticks,
                    "in_svd_seq_no": self._vm_state.incarnation,
                    "source": self._scenario.vm_settings_source,
                },
                "extensions": [
                    {"name": e.name, "version": e.version, "state": e.state, "seq_no": e.seq_no}
                    for e in self._scenario.extensions
                ],
            }

    # -- control: every change is published through the scenario's channel -----------------

    def bump_incarnation(self) -> int:
        """A new WireServer goal state (and new vmSettings too when publishing through both)."""
        with self._lock:
            self._incarnation += 1
            self._state = self._new_state(self._incarnation)
            if self._scenario.publish_through == "both":
                self._vm_state = self._state
            self._cache.clear()
            self._forget_old_protected()
            return self._incarnation

    def add_certificate(self, name: str, withheld: int = 0, **fields: Any) -> list[str]:
        """A tenant certificate added to the current incarnation's Certificates document, no new
        incarnation: a rotation the WireServer serves before announcing it, so that vmSettings
        can name a certificate an agent has not downloaded (§2.9 step 9). `withheld`: the next
        that many Certificates documents still leave it out (the WireServer lags behind the
        HostGAPlugin, which classic's third fetch one poll later is for). Returns every name."""
        if withheld < 0:
            raise ScenarioError(f"certificate {name}: withheld must be >= 0, not {withheld}")
        try:
            spec = CertificateSpec.model_validate({"name": name, **fields})
        except ValidationError as exc:
            raise ScenarioError(f"certificate {name}: {exc.errors()[0]['msg']}") from None
        with self._lock:
            current = [c.model_dump() for c in self._scenario.certificates]
            self._validated({"certificates": [*current, spec.model_dump()]})
            self.tenant.add(spec)
            self._withheld[spec.name] = withheld
            return self.tenant.names

    def _publish_vm_settings(self) -> int:
        """A Fast Track goal state alone: new vmSettings, the incarnation stays."""
        with self._lock:
            self._vm_state = self._new_state(max(self._vm_state.incarnation + 1, self._incarnation))
            self._cache.pop("vmsettings", None)
            self._forget_old_protected()
            return self._incarnation

    def _publish(self) -> int:
        if self._scenario.publish_through == "vmsettings":
            return self._publish_vm_settings()
        return self.bump_incarnation()

    def _forget_old_protected(self) -> None:
        current = {self._state.activity_id, self._vm_state.activity_id}
        self._protected = {k: v for k, v in self._protected.items() if k[0] in current}

    def set_publishing(self, **changes: Any) -> dict[str, Any]:
        """Change how later changes are published and what vmSettings say about themselves
        (keyword arguments: any of PUBLISHING); returns all of PUBLISHING.

        A changed source, plugin version or fast_track shows at once (a new vmSettings ETag,
        or 404 without fast_track); the goal states themselves stay as they are.
        """
        unknown = set(changes) - set(PUBLISHING)
        if unknown:
            raise ControlError(f"unknown {sorted(unknown)} (can set: {', '.join(PUBLISHING)})")
        with self._lock:
            self._validated(changes)
            self._cache.pop("vmsettings", None)
            return {k: getattr(self._scenario, k) for k in PUBLISHING}

    def _validated(self, update: dict[str, Any]) -> None:
        """Replace the scenario with `update` applied, if the result is a valid scenario."""
        data = {**self._scenario.model_dump(), **update}
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(exc.errors()[0]["msg"]) from None
        with self._lock:
            self._scenario = scenario

    def set_agent_family(self, **fields: Any) -> int:
        """A new goal state whose GAFamily carries these RSM fields (AgentFamily's); the
        incarnation (or the vmSettings' sequence number) it is published as."""
        known = self._scenario.agent_family.model_dump()
        unknown = set(fields) - set(known)
        if unknown:
            raise ControlError(f"unknown {sorted(unknown)} (can set: {', '.join(known)})")
        with self._lock:
            family = {**known, **fields}
            self._validated({"agent_family": family})
            return self._publish()

    def _replace_extensions(self, extensions: list[Extension]) -> int:
        with self._lock:
            self._validated({"extensions": [e.model_dump() for e in extensions]})
            return self._publish()

    def _extension(self, name: str) -> Extension:
        extension = self._scenario.extension(name)
        if extension is None:
            known = ", ".join(e.name for e in self._scenario.extensions) or "none"
            raise ControlError(f"no extension {name!r} (have: {known})")
        return extension

    def _change(self, name: str, change: Callable[[Extension], Extension]) -> int:
        with self._lock:
            updated = [
                change(e) if e.name.lower() == name.lower() else e
                for e in self._scenario.extensions
            ]
            self._extension(name)
            return self._replace_extensions(updated)

    def add_extension(self, name: str, **fields: Any) -> int:
        try:
            extension = Extension.model_validate({"name": name, **fields})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ScenarioError(f"extension {name}: {where}: {first['msg']}") from None
        with self._lock:
            if self._scenario.extension(name) is not None:
                raise ControlError(f"extension {name!r} already exists")
            return self._replace_extensions([*self._scenario.extensions, extension])

    def update_extension(
        self,
        name: str,
        version: str,
        handler_dir: str | None = None,
        package: str | None = None,
    ) -> int:
        def change(extension: Extension) -> Extension:
            published = [v for v in extension.versions if v.version != version]
            existing = extension.handler_version(version)
            keep = existing if existing and not (handler_dir or package) else None
            published.append(
                HandlerVersion(
                    version=version,
                    handler_dir=Path(handler_dir)
                    if handler_dir
                    else (keep.handler_dir if keep else None),
                    package=Path(package) if package else (keep.package if keep else None),
                )
            )
            return extension.model_copy(update={"version": version, "versions": published})

        return self._change(name, change)

    def set_extension_state(self, name: str, state: str, extension_name: str | None = None) -> int:
        def change(extension: Extension) -> Extension:
            if extension_name is None:
                return extension.model_copy(update={"state": state})
            return extension.model_copy(
                update={"multi_config": self._named(extension, extension_name, {"state": state})}
            )

        return self._change(name, change)

    def set_extension_settings(
        self,
        name: str,
        *,
        public: Any = KEEP,
        protected: Any = KEEP,
        seq_no: int | None = None,
        extension_name: str | None = None,
        text: Any = KEEP,
    ) -> int:
        def update_for(settings: Settings) -> dict[str, Any]:
            update: dict[str, Any] = {"seq_no": settings.seq_no + 1 if seq_no is None else seq_no}
            if public is not KEEP:
                update["public_settings"] = public
            if protected is not KEEP:
                update["protected_settings"] = protected
            if text is not KEEP:
                update["settings_text"] = text
            return update

        def change(extension: Extension) -> Extension:
            if extension_name is None:
                return extension.model_copy(update=update_for(extension))
            named = next((n for n in extension.multi_config if n.name == extension_name), None)
            if named is None:
                raise ControlError(f"{extension.name} has no extension named {extension_name!r}")
            return extension.model_copy(
                update={"multi_config": self._named(extension, extension_name, update_for(named))}
            )

        return self._change(name, change)

    @staticmethod
    def _named(extension: Extension, extension_name: str, update: dict[str, Any]) -> list[Any]:
        if not any(n.name == extension_name for n in extension.multi_config):
            raise ControlError(f"{extension.name} has no extension named {extension_name!r}")
        return [
            n.model_copy(update=update) if n.name == extension_name else n
            for n in extension.multi_config
        ]

    def remove_extension(self, name: str) -> int:
        with self._lock:
            self._extension(name)
            remaining = [e for e in self._scenario.extensions if e.name.lower() != name.lower()]
            return self._replace_extensions(remaining)

    def set_remote_access(self, users: list[dict[str, Any]]) -> int:
        """Replace the JIT users (fields as in `[[remote_access]]`; [] drops RemoteAccessInfo);
        a WireServer change: a new incarnation."""
        with self._lock:
            self._validated({"remote_access": users})
            return self.bump_incarnation()
