"""JIT remote access users (reference §10.5): the RemoteAccess document of a new goal state.

JIT users are the accounts whose GECOS comment is exactly `JIT_Account`. For each user of the
document: one that does not exist and has not expired is added (`useradd -m -e <expiration + 1
day> -c JIT_Account`, its password hashed as at provisioning, the sudoers line `<name>
ALL=(ALL) ALL`); a JIT user that has expired is deleted. Then the JIT users the document no
longer names are deleted, and without a document all of them. An account of the same name that
is not a JIT user is never touched: that user fails. Each user's failure is reported (the log,
telemetry `RemoteAccessHandling`, the returned list) and the others go on; an account whose
password or sudoers line could not be set is deleted again.

Passwords arrive as the fabric sent them, base64 CMS encrypted to wire's transport certificate
(§3.4); they are decrypted here with the key in wire's state directory (root may read it),
decoded as UTF-16, hashed, and never logged.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from ..common import logs
from ..common.clients.wire import WireApi as Wire
from ..common.config import AgentConfig
from ..common.errors import WaagentError, from_os_error
from ..common.models.events import agent_event
from ..common.models.remote_access import RemoteAccess, RemoteAccessUser
from ..wire.files import STATE_DIR as WIRE_STATE_DIR
from ..wire.files import TRANSPORT_CERT, TRANSPORT_KEY
from . import password
from .events import send
from .sudoers import Sudoers
from .users import UserError, Users, validate_name

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

log = logging.getLogger(__name__)

JIT_COMMENT = "JIT_Account"
EXPIRATION_FORMAT = "%a, %d %b %Y %H:%M:%S %Z"
OPERATION = "RemoteAccessHandling"

Recipient = tuple["x509.Certificate", "rsa.RSAPrivateKey"]


def parse_expiration(text: str) -> datetime:
    """`Tue, 01 Jan 2019 00:00:00 GMT` as an aware UTC time (UserError when it is not one)."""
    try:
        moment = datetime.strptime(text, EXPIRATION_FORMAT)
    except ValueError:
        raise UserError(
            f"expiration {text[:60]!r} is not like 'Tue, 01 Jan 2019 00:00:00 GMT'"
        ) from None
    return moment.replace(tzinfo=UTC)


def disabled_on(expiration: datetime) -> date:
    """useradd's -e: the account works through the day of its expiration (classic: + 1 day)."""
    return (expiration + timedelta(days=1)).date()


def decrypt_password(blob: str, recipient: Recipient) -> str:
    """The password of a RemoteAccess user: base64 CMS of UTF-16 text (§3.4)."""
    from ..common import cms  # cryptography: loaded only when a user is added

    try:
        message = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise UserError("its password is not base64") from None
    try:
        plain = cms.decrypt(message, *recipient)
    except cms.CmsError as exc:
        raise UserError(f"its password cannot be decrypted: {exc}") from None
    try:
        text = plain.decode("utf-16")
    except UnicodeDecodeError:
        raise UserError("its password is not UTF-16 text") from None
    if not text:
        raise UserError("its password is empty")
    logs.register_secret(text)
    return text


class JitUsers:
    def __init__(
        self,
        config: AgentConfig,
        users: Users,
        sudoers: Sudoers,
        wire: Wire,
        *,
        state_dir: PurePosixPath = WIRE_STATE_DIR,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.users = users
        self.sudoers = sudoers
        self.wire = wire
        self.state_dir = state_dir
        self.clock = clock
        self._recipient: Recipient | None = None

    def shown(self) -> dict[str, str]:
        """Each JIT user with the day its account is disabled (empty when it never is)."""
        result = {}
        for name in self.users.named_by_comment(JIT_COMMENT):
            day = self.users.expiry(name)
            result[name] = day.isoformat() if day else ""
        return result

    async def apply(self, document: RemoteAccess | None) -> list[str]:
        """Apply the document (None: there is none); one `<name>: <why>` per user that failed."""
        self._recipient = None  # wire makes a new transport key at each of its starts
        existing = set(self.users.named_by_comment(JIT_COMMENT))
        errors: list[str] = []
        listed: set[str] = set()
        now = self.clock()
        for user in document.users if document else ():
            if user.name in listed:
                errors.append(logs.redact(f"{user.name[:64]}: named twice; the first one counts"))
                continue
            listed.add(user.name)
            await self._guarded(
                user.name, self._apply_user(user, user.name in existing, now), errors
            )
        for name in sorted(existing - listed):
            await self._guarded(name, self._delete(name, "no longer asked for"), errors)
        await self._report(errors)
        return errors

    async def _guarded(self, name: str, work: Awaitable[None], errors: list[str]) -> None:
        try:
            await work
        except WaagentError as exc:
            errors.append(logs.redact(f"{name[:64]}: {exc.message}"))
        except OSError as exc:
            errors.append(logs.redact(f"{name[:64]}: {from_os_error(exc).message}"))

    async def _apply_user(self, user: RemoteAccessUser, is_jit: bool, now: datetime) -> None:
        validate_name(user.name)
        expiration = parse_expiration(user.expiration)
        if is_jit:
            if expiration <= now:
                await self._delete(user.name, f"expired {expiration:%Y-%m-%d %H:%M} UTC")
            return
        if self.users.lookup(user.name) is not None:
            raise UserError(
                f"an account {user.name!r} exists that is not a JIT user; left as it is"
            )
        if expiration <= now:
            log.info("JIT user %s has expired already; not added", user.name)
            return
        await self._add(user, expiration)

    async def _add(self, user: RemoteAccessUser, expiration: datetime) -> None:
        # Decrypted and hashed before the account exists: a bad password adds nothing.
        secret = decrypt_password(user.encrypted_password, self._transport_pair())
        hashed = password.hash_password(
            secret,
            self.config.provisioning_password_crypt_id,
            self.config.provisioning_password_crypt_salt_length,
        )
        day = disabled_on(expiration)
        await self.users.add(user.name, expires=day, comment=JIT_COMMENT)
        try:
            await self.users.set_password_hash(user.name, hashed)
            self.sudoers.grant(user.name, with_password=True)
        except Exception:
            try:
                await self._delete(user.name, "its password or sudo rights could not be set")
            except (WaagentError, OSError):
                log.exception("JIT user %s could not be deleted again", user.name)
            raise
        log.info("added JIT user %s (disabled on %s)", user.name, day)

    async def _delete(self, name: str, why: str) -> None:
        # sudo rights first: a user userdel cannot remove has none left.
        self.sudoers.revoke(name)
        await self.users.delete(name)
        log.info("deleted JIT user %s: %s", name, why)

    def _transport_pair(self) -> Recipient:
        from ..common import cms

        if self._recipient is None:
            try:
                self._recipient = cms.read_recipient(
                    self.users.root,
                    self.state_dir / TRANSPORT_CERT,
                    self.state_dir / TRANSPORT_KEY,
                )
            except cms.CmsError as exc:
                raise UserError(f"its password cannot be decrypted: {exc}") from None
        return self._recipient

    async def _report(self, errors: list[str]) -> None:
        for error in errors:
            log.error("JIT user %s", error)
        if not errors:
            return
        events = (agent_event(OPERATION, False, f"Error processing user {e}") for e in errors)
        await send(self.wire, events, OPERATION)
