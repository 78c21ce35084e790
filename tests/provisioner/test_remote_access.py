"""JIT remote access users (§10.5) applied to a sandbox system with the real shadow tools.

The passwords are encrypted the way the fabric does it (the simulator's CMS code, UTF-16 with
BOM) to a transport key pair in the sandbox's wire state directory, as wire leaves it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

import pytest
from cryptography import x509

from tests.diskd.runners import RecordingRunner
from waagent.common.models.remote_access import RemoteAccess, RemoteAccessUser
from waagent.common.root import Root
from waagent.fabric import cms as fabric_cms
from waagent.provisioner.remote_access import (
    JIT_COMMENT,
    JitUsers,
    disabled_on,
    parse_expiration,
)
from waagent.provisioner.sudoers import Sudoers
from waagent.provisioner.users import UserError, Users
from waagent.wire import transport

from .machine import Machine, config
from .system import openssl_sha512, passwd_entry, shadow_fields, shadow_hash

WIRE_DIR = PurePosixPath("/var/lib/waagent-wire")
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
FUTURE = "Fri, 01 Jan 2038 00:00:00 GMT"
PAST = "Tue, 01 Jan 2019 00:00:00 GMT"
PASSWORD = "Jit-Pässword-1"


@pytest.fixture
def transport_cert(machine: Machine) -> x509.Certificate:
    root = Root(machine.root)
    root.makedirs(WIRE_DIR, 0o700)
    return transport.create(root, WIRE_DIR).certificate


def encrypted(cert: x509.Certificate, password: str) -> str:
    plain = b"\xff\xfe" + password.encode("utf-16-le")
    return base64.b64encode(fabric_cms.envelope(plain, cert)).decode()


def user(
    cert: x509.Certificate, name: str, expiration: str = FUTURE, **kw: str
) -> RemoteAccessUser:
    blob = kw.get("blob") or encrypted(cert, kw.get("password", PASSWORD))
    return RemoteAccessUser(name=name, encrypted_password=blob, expiration=expiration)


def document(*users: RemoteAccessUser) -> RemoteAccess:
    return RemoteAccess(incarnation="1", users=users)


def jit_users(
    machine: Machine, *, now: datetime = NOW, runner: RecordingRunner | None = None
) -> JitUsers:
    root = Root(machine.root)
    return JitUsers(
        config(),
        Users(root, runner or machine.runner, config()),
        Sudoers(root, "/etc/sudoers.d"),
        machine.wire,
        clock=lambda: now,
    )


def apply(jit: JitUsers, doc: RemoteAccess | None) -> list[str]:
    return asyncio.run(jit.apply(doc))


def sudoers(machine: Machine) -> str:
    path = machine.path("/etc/sudoers.d/waagent")
    return path.read_text() if path.exists() else ""


# ---- the document's dates ----


def test_the_expiration_is_read_as_utc() -> None:
    assert parse_expiration("Tue, 01 Jan 2019 00:00:00 GMT") == datetime(2019, 1, 1, tzinfo=UTC)
    assert parse_expiration("Sun, 31 Dec 2028 23:59:59 UTC") == datetime(
        2028, 12, 31, 23, 59, 59, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["", "2019-01-01", "Tue, 32 Jan 2019 00:00:00 GMT", "tomorrow"])
def test_an_expiration_in_another_shape_is_refused_with_the_value(text: str) -> None:
    with pytest.raises(UserError, match="is not like 'Tue, 01 Jan 2019 00:00:00 GMT'"):
        parse_expiration(text)


@pytest.mark.parametrize(
    ("expiration", "disabled"),
    [
        (datetime(2019, 1, 1, tzinfo=UTC), date(2019, 1, 2)),
        (datetime(2019, 12, 31, 23, 59, 59, tzinfo=UTC), date(2020, 1, 1)),
        (datetime(2028, 2, 28, 12, 0, tzinfo=UTC), date(2028, 2, 29)),
    ],
)
def test_the_account_is_disabled_the_day_after_the_expiration(
    expiration: datetime, disabled: date
) -> None:
    assert disabled_on(expiration) == disabled


# ---- users on a sandbox system ----


def test_a_jit_user_is_added_with_its_comment_expiry_password_and_sudo_line(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    jit = jit_users(machine)
    assert apply(jit, document(user(transport_cert, "support"))) == []
    entry = passwd_entry(machine.root, "support")
    assert entry is not None and entry[4] == JIT_COMMENT
    assert machine.path("/home/support").is_dir()
    shadow = shadow_fields(machine.root, "support")
    assert shadow is not None
    assert int(shadow[7]) == (date(2038, 1, 2) - date(1970, 1, 1)).days
    assert openssl_sha512(PASSWORD, shadow[1]) == shadow[1]
    assert sudoers(machine) == "support ALL=(ALL) ALL\n"
    assert jit.shown() == {"support": "2038-01-02"}
    useradd = next(c for c in machine.runner.calls if c[0] == "useradd")
    assert useradd[-5:] == ("-e", "2038-01-02", "-c", "JIT_Account", "support")
    assert machine.wire.events == []


def test_a_jit_user_that_has_expired_is_deleted_with_its_home_and_sudo_line(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    apply(
        jit_users(machine),
        document(user(transport_cert, "support", "Mon, 07 Dec 2026 00:00:00 GMT")),
    )
    later = jit_users(machine, now=datetime(2026, 12, 8, tzinfo=UTC))
    doc = document(user(transport_cert, "support", "Mon, 07 Dec 2026 00:00:00 GMT"))
    assert apply(later, doc) == []
    assert passwd_entry(machine.root, "support") is None
    assert not machine.path("/home/support").exists()
    assert sudoers(machine) == ""
    assert later.shown() == {}


def test_a_user_that_expired_before_it_was_added_is_not_added(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    assert apply(jit_users(machine), document(user(transport_cert, "support", PAST))) == []
    assert passwd_entry(machine.root, "support") is None
    assert "useradd" not in machine.runner.programs()


def test_a_jit_user_the_document_drops_is_deleted_and_the_others_stay(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    jit = jit_users(machine)
    apply(jit, document(user(transport_cert, "first"), user(transport_cert, "second")))
    hashed = shadow_hash(machine.root, "second")
    assert apply(jit, document(user(transport_cert, "second", password="another"))) == []
    assert passwd_entry(machine.root, "first") is None
    assert shadow_hash(machine.root, "second") == hashed  # an existing JIT user is kept as is
    assert sudoers(machine) == "second ALL=(ALL) ALL\n"


def test_without_a_document_every_jit_user_is_deleted_and_no_other(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    jit = jit_users(machine)
    asyncio.run(jit.users.ensure("azureuser"))
    apply(jit, document(user(transport_cert, "first"), user(transport_cert, "second")))
    assert apply(jit, None) == []
    assert jit.shown() == {}
    assert passwd_entry(machine.root, "azureuser") is not None


def test_an_account_that_is_not_a_jit_user_is_left_alone_and_reported_while_others_are_added(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    jit = jit_users(machine)
    asyncio.run(jit.users.ensure("alice"))
    passwd, shadow = machine.path("/etc/passwd").read_text(), shadow_fields(machine.root, "alice")
    errors = apply(jit, document(user(transport_cert, "alice"), user(transport_cert, "bob")))
    assert errors == ["alice: an account 'alice' exists that is not a JIT user; left as it is"]
    assert passwd_entry(machine.root, "alice") == next(
        line.split(":") for line in passwd.splitlines() if line.startswith("alice:")
    )
    assert shadow_fields(machine.root, "alice") == shadow
    assert "alice" not in sudoers(machine)
    assert passwd_entry(machine.root, "bob") is not None
    [event] = machine.wire.events
    assert event.parameters["Operation"] == "RemoteAccessHandling"
    assert event.parameters["OperationSuccess"] is False
    assert "alice" in str(event.parameters["Message"])


def test_a_user_named_twice_is_added_once_and_the_second_is_reported(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    doc = document(user(transport_cert, "support"), user(transport_cert, "support", PAST))
    errors = apply(jit_users(machine), doc)
    assert errors == ["support: named twice; the first one counts"]
    assert passwd_entry(machine.root, "support") is not None


def test_a_non_jit_account_is_not_deleted_when_no_document_names_it(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    jit = jit_users(machine)
    asyncio.run(jit.users.ensure("alice"))
    assert apply(jit, None) == []
    assert passwd_entry(machine.root, "alice") is not None


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        ("not base64 at all!", "its password is not base64"),
        (base64.b64encode(b"\x30\x03\x02\x01\x00").decode(), "its password cannot be decrypted"),
    ],
    ids=["not-base64", "not-cms"],
)
def test_a_bad_password_fails_that_user_only_and_adds_nothing(
    machine: Machine, transport_cert: x509.Certificate, blob: str, why: str
) -> None:
    doc = document(user(transport_cert, "broken", blob=blob), user(transport_cert, "fine"))
    [error] = apply(jit_users(machine), doc)
    assert error.startswith(f"broken: {why}")
    assert passwd_entry(machine.root, "broken") is None
    assert passwd_entry(machine.root, "fine") is not None


def test_a_password_encrypted_to_another_certificate_fails_that_user(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    other = transport.generate().certificate
    doc = document(
        RemoteAccessUser(
            name="stale", encrypted_password=encrypted(other, "x1234"), expiration=FUTURE
        )
    )
    [error] = apply(jit_users(machine), doc)
    assert "encrypted to another certificate" in error


def test_without_the_transport_key_the_users_to_add_fail_with_the_reason(
    machine: Machine, tmp_path: Path
) -> None:
    cert = transport.generate().certificate
    [error] = apply(jit_users(machine), document(user(cert, "support")))
    assert error == "support: its password cannot be decrypted: no transport key pair"


def test_an_account_whose_password_cannot_be_set_is_deleted_again(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    runner = RecordingRunner(fail={"chpasswd": "chpasswd: cannot lock /etc/shadow"})
    [error] = apply(jit_users(machine, runner=runner), document(user(transport_cert, "support")))
    assert "cannot lock /etc/shadow" in error
    assert passwd_entry(machine.root, "support") is None
    assert not machine.path("/home/support").exists()
    assert sudoers(machine) == ""


def test_a_name_useradd_would_take_for_an_option_is_refused_before_any_command(
    machine: Machine, transport_cert: x509.Certificate
) -> None:
    [error] = apply(jit_users(machine), document(user(transport_cert, "-rf")))
    assert error.startswith("-rf: invalid user name")
    assert machine.runner.calls == []


def test_the_password_never_reaches_the_log(
    machine: Machine, transport_cert: x509.Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    runner = RecordingRunner(fail={"chpasswd": f"chpasswd: refused {PASSWORD}"})
    [error] = apply(jit_users(machine, runner=runner), document(user(transport_cert, "support")))
    assert "refused <redacted>" in error
    assert PASSWORD not in caplog.text
    assert PASSWORD not in str(machine.wire.events)
