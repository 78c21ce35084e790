"""JIT remote access (§2.6 RemoteAccess, §10.5) as wire hands it to the provisioner.

Wire parses the fabric's XML; the provisioner sees only these models. The passwords stay as
the fabric sent them (base64 CMS encrypted to the transport certificate): only the provisioner,
as root, decrypts them, so no password crosses the bus in the clear. The expiration stays text
too, so one user's bad value fails that user only.
"""

from __future__ import annotations

from pydantic import Field

from .base import FrozenModel


class RemoteAccessUser(FrozenModel):
    """One user as the fabric named it; the provisioner checks each field (a bad one fails
    that user only). The document's size is bounded by wire's HTTP limit."""

    name: str
    encrypted_password: str = Field(repr=False)
    expiration: str


class RemoteAccess(FrozenModel):
    """The RemoteAccess document of one goal state."""

    incarnation: str = ""
    users: tuple[RemoteAccessUser, ...] = ()


class RemoteAccessUpdate(FrozenModel):
    """A new goal state's remote access: its document, or None when it has none."""

    goal_state_incarnation: str
    document: RemoteAccess | None = None
