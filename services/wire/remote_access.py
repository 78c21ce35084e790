"""JIT remote access on wire's side (§2.5, §2.6, §10.5): fetch, parse, hand to the provisioner.

Wire fetches a new incarnation's RemoteAccess document (with the transport certificate, asking
for AES128_CBC) and parses it here into the shared model; the users are the provisioner's job.
The passwords are passed on as the fabric encrypted them: wire never decrypts them.

The hand-over runs in a task (the poll loop never waits for it) and is repeated until the
provisioner takes it, folding goal states that arrive meanwhile into the newest. A goal state
without a document is handed over once (the provisioner then deletes every JIT user), and again
only after one with a document; once per boot, not per run of wire (`cleared_this_boot`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ..common.models.remote_access import RemoteAccess, RemoteAccessUpdate, RemoteAccessUser
from . import xmldoc
from .errors import MalformedDocument
from .handover import Handover
from .wireserver import AGENT_HEADERS, WireServer

log = logging.getLogger(__name__)

CIPHER = "AES128_CBC"


async def fetch(wireserver: WireServer, url: str, transport_header: str) -> RemoteAccess:
    headers = {
        **AGENT_HEADERS,
        "x-ms-guest-agent-public-x509-cert": transport_header,
        "x-ms-cipher-name": CIPHER,
    }
    reply = await wireserver.http.request("GET", url, what="remote access", headers=headers)
    return parse(reply.body)


def parse(data: bytes) -> RemoteAccess:
    """The RemoteAccess document; MalformedDocument when it is not one."""
    root = xmldoc.parse(data, "RemoteAccess")
    if xmldoc.local_name(root.tag) != "RemoteAccess":
        raise MalformedDocument(f"RemoteAccess expected, got <{xmldoc.local_name(root.tag)}>")
    users = xmldoc.find(root, "Users")
    return RemoteAccess(
        incarnation=xmldoc.findtext(root, "Incarnation"),
        users=tuple(
            RemoteAccessUser(
                name=xmldoc.findtext(user, "Name"),
                # Base64 may be wrapped over lines.
                encrypted_password="".join(xmldoc.findtext(user, "Password").split()),
                expiration=xmldoc.findtext(user, "Expiration"),
            )
            for user in (xmldoc.children(users, "User") if users is not None else ())
        ),
    )


class RemoteAccessDelivery:
    """Hands each new goal state's remote access to the provisioner (`apply`)."""

    def __init__(self, apply: Callable[[RemoteAccessUpdate], Awaitable[None]]) -> None:
        self._apply = apply
        self._newest: RemoteAccessUpdate | None = None
        self._without_document = False  # the newest update has none: every JIT user goes
        self._handover = Handover(
            self._send,
            failed="the provisioner could not take the remote access users",
            absent="JIT users are not handled",
        )

    def notify(self, incarnation: str, document: RemoteAccess | None) -> None:
        if document is None and self._without_document:
            return  # JIT users were deleted once already
        self._without_document = document is None
        self._newest = RemoteAccessUpdate(goal_state_incarnation=incarnation, document=document)
        self._handover.notify()

    @property
    def cleared(self) -> bool:
        """The provisioner took an update without a document: no JIT user is left."""
        return self._without_document and not self._handover.pending()

    def cleared_this_boot(self) -> None:
        """An earlier wire of this boot had every JIT user deleted (poll_state.json): a wire
        woken for a new goal state does not start the provisioner to delete none."""
        if self._newest is None:
            self._without_document = True

    async def _send(self) -> None:
        if self._newest is not None:
            await self._apply(self._newest)

    async def close(self) -> None:
        await self._handover.close()
