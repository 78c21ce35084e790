"""Fetching one goal state (§2.7): GoalState.xml and every document it names, parsed once.

A `Response` is the bytes of one GoalState.xml response with the document parsed from those very
bytes (a role-instance retry replaces both). A `GoalState` is a response with everything it names:
ExtensionsConfig (and the on-hold artifacts profile), HostingEnvironmentConfig, SharedConfig, the
certificates (decrypted by the secrets helper) and RemoteAccess. It is built only once all of it
arrived, so a failure half-way leaves the caller with what it had.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from ..common.models.extensions import ExtensionsGoalState
from ..common.models.goal_state import Certificate, CertificateSummary, GoalStateSummary
from ..common.models.remote_access import RemoteAccess
from ..common.root import Root
from . import certstore, documents, remote_access, xmldoc
from .certstore import SecretsHelper
from .connection import Connection
from .errors import FabricError, MalformedDocument
from .state import StateFiles

log = logging.getLogger(__name__)

_SUMMARIES = TypeAdapter(tuple[CertificateSummary, ...])
ROLE_INSTANCE_RETRIES = 6
ROLE_INSTANCE_DELAY = 0.5


@dataclass(frozen=True)
class Response:
    raw: bytes
    doc: documents.GoalStateDocument


@dataclass(frozen=True)
class GoalState:
    response: Response
    extensions: ExtensionsGoalState
    hosting: documents.HostingEnvironment
    certificates: tuple[Certificate, ...]
    extensions_xml: bytes = b""
    hosting_xml: bytes = b""
    shared_xml: bytes = b""
    remote_access: RemoteAccess | None = None  # None: the goal state names no RemoteAccessInfo

    def summary(self, endpoint: str) -> GoalStateSummary:
        doc = self.response.doc
        return GoalStateSummary(
            endpoint=endpoint,
            incarnation=doc.incarnation,
            container_id=doc.container_id,
            role_instance_id=doc.role_instance_id,
            role_config_name=doc.role_config_name,
            instance_name=self.hosting.instance_name,
            role_name=self.hosting.role_name,
            deployment_name=self.hosting.deployment_name,
            certificates=tuple(
                CertificateSummary(
                    thumbprint=c.thumbprint, has_private_key=c.private_key_pem is not None
                )
                for c in self.certificates
            ),
            extensions_goal_state_id=self.extensions.id,
            has_extensions_config=bool(doc.extensions_config_url),
            remote_access_url=doc.remote_access_url,
        )


class GoalStateFetcher:
    def __init__(
        self,
        connection: Callable[[], Connection],
        secrets: SecretsHelper,
        files: StateFiles,
        root: Root,
        *,
        transport_header: Callable[[], str],
        on_contact: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._connection = connection
        self._secrets = secrets
        self._files = files
        self._root = root
        self._transport_header = transport_header
        self._on_contact = on_contact
        self._sleep = sleep
        self._protocol_checked_at = ""  # the address whose protocol versions were checked

    async def check_protocol(self) -> None:
        conn = self._connection()
        if self._protocol_checked_at != conn.address:
            if not documents.supports_protocol(await conn.wireserver.versions()):
                raise MalformedDocument(
                    f"the WireServer does not support protocol {documents.WIRE_PROTOCOL_VERSION}"
                )
            self._protocol_checked_at = conn.address

    async def response(self, known: Response | None = None) -> Response:
        """GoalState.xml; `known` itself when the bytes did not change (nothing parsed).

        §2.7: a goal state without RoleInstance is transient: fetched again a few times."""
        for attempt in range(1, ROLE_INSTANCE_RETRIES + 1):
            raw = await self._connection().wireserver.goal_state()
            self._on_contact()
            if known is not None and raw == known.raw:
                return known
            try:
                return Response(raw, documents.parse_goal_state(raw))
            except documents.MissingRoleInstance:
                if attempt == ROLE_INSTANCE_RETRIES:
                    raise
                await self._sleep(ROLE_INSTANCE_DELAY)
        raise AssertionError("unreachable")

    async def goal_state(
        self, response: Response, previous_certificates: Sequence[Certificate]
    ) -> GoalState:
        """Everything `response` names (ResourceGone when a document is gone meanwhile)."""
        doc = response.doc
        wireserver = self._connection().wireserver
        ext_xml = b""
        if doc.extensions_config_url:
            ext_xml = await wireserver.document(
                doc.extensions_config_url, "ExtensionsConfig", large=True
            )
            extensions = documents.parse_extensions_config(ext_xml, doc.incarnation)
            extensions = await self._with_on_hold(extensions)
        else:
            extensions = documents.empty_extensions_goal_state(doc.incarnation)
        hosting = documents.HostingEnvironment("", "", "")
        hosting_xml = b""
        if doc.hosting_env_url:
            hosting_xml = await wireserver.document(doc.hosting_env_url, "HostingEnvironmentConfig")
            hosting = documents.parse_hosting_environment(hosting_xml)
        shared_xml = b""
        if doc.shared_config_url:
            shared_xml = await wireserver.document(doc.shared_config_url, "SharedConfig")
            xmldoc.parse(shared_xml, "SharedConfig")  # well-formed before it is kept
        certificates = await self._certificates(doc, previous_certificates)
        remote = None
        if doc.remote_access_url:
            remote = await remote_access.fetch(
                wireserver, doc.remote_access_url, self._transport_header()
            )
        return GoalState(
            response, extensions, hosting, certificates, ext_xml, hosting_xml, shared_xml, remote
        )

    async def _certificates(
        self, doc: documents.GoalStateDocument, previous: Sequence[Certificate]
    ) -> tuple[Certificate, ...]:
        """A failure keeps the certificates we had (the classic agent used an empty list)."""
        if not doc.certificates_url:
            return ()
        try:
            document = await self._connection().wireserver.certificates(
                doc.certificates_url, self._transport_header()
            )
            self._files.write("Certificates.xml", document)
            summaries = _SUMMARIES.validate_json(
                await self._secrets.run("certificates", input=document)
            )
        except FabricError as exc:
            log.error("Cannot download certificates: %s; keeping the previous ones", exc)
            return tuple(previous)
        return tuple(certstore.load_stored(self._root, self._files.directory, summaries))

    async def _with_on_hold(self, extensions: ExtensionsGoalState) -> ExtensionsGoalState:
        """§9.2: the InVMArtifactsProfile says whether processing is on hold."""
        if not extensions.artifacts_profile_url:
            return extensions
        try:
            fd = await self._connection().downloader.download(
                [extensions.artifacts_profile_url], "artifacts-profile"
            )
            with os.fdopen(fd, "rb") as profile:
                value = json.load(profile).get("onHold", False)
        except (FabricError, ValueError, AttributeError) as exc:
            log.warning("artifacts profile unusable (%s): not on hold", exc)
            return extensions
        on_hold = value if isinstance(value, bool) else str(value).lower() == "true"
        return extensions.model_copy(update={"on_hold": on_hold})
