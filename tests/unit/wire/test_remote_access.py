"""Wire's side of JIT users: the RemoteAccess document fetched, parsed, and handed over."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

import httpx
import pytest

from waagent.common.bus.client import ServiceUnavailable
from waagent.common.commands import Runner
from waagent.common.config import AgentConfig
from waagent.common.errors import Failed
from waagent.common.models.remote_access import RemoteAccess, RemoteAccessUpdate
from waagent.common.root import Root
from waagent.wire.agent import Callbacks, Wire
from waagent.wire.connection import Clients
from waagent.wire.errors import FabricError, MalformedDocument
from waagent.wire.http import FabricHttp
from waagent.wire.remote_access import RemoteAccessDelivery, fetch, parse
from waagent.wire.state import StateFiles
from waagent.wire.wireserver import WireServer

from .fabric_mock import GOAL_STATE_URL, VERSIONS, WIRESERVER, MockFabric, fabric_http

# The reference's skeleton (§2.6), with a password wrapped over lines as the fabric may send it.
DOCUMENT = b"""<?xml version="1.0" encoding="utf-8"?>
<RemoteAccess>
  <Version>1</Version><Incarnation>7</Incarnation>
  <Users>
    <User>
      <Name>testAccount1</Name>
      <Password>MIIB
        aGVsbG8=</Password>
      <Expiration>Tue, 01 Jan 2019 00:00:00 GMT</Expiration>
      <Groups><GroupName>Administrators</GroupName></Groups>
    </User>
    <User><Name>testAccount2</Name><Password>d29ybGQ=</Password>
      <Expiration>Fri, 01 Jan 2038 00:00:00 GMT</Expiration></User>
  </Users>
</RemoteAccess>"""
REMOTE_ACCESS_URL = f"{WIRESERVER}/machine/c/r?comp=remoteaccess&incarnation=2"


def test_the_document_becomes_users_with_their_passwords_still_encrypted() -> None:
    document = parse(DOCUMENT)
    assert document.incarnation == "7"
    assert [(u.name, u.encrypted_password, u.expiration) for u in document.users] == [
        ("testAccount1", "MIIBaGVsbG8=", "Tue, 01 Jan 2019 00:00:00 GMT"),
        ("testAccount2", "d29ybGQ=", "Fri, 01 Jan 2038 00:00:00 GMT"),
    ]


def test_a_document_without_users_has_none() -> None:
    assert parse(b"<RemoteAccess><Incarnation>1</Incarnation></RemoteAccess>").users == ()


def test_the_password_is_not_in_the_model_repr() -> None:
    assert "d29ybGQ=" not in repr(parse(DOCUMENT))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<RemoteAccess><Users>", "not well-formed"),
        (b"<GoalState/>", "RemoteAccess expected, got <GoalState>"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><RemoteAccess/>', "refused"),
    ],
)
def test_something_else_is_a_malformed_document(data: bytes, message: str) -> None:
    with pytest.raises(MalformedDocument, match=message):
        parse(data)


def test_a_user_with_missing_fields_is_passed_on_for_the_provisioner_to_refuse_alone() -> None:
    name = "x" * 300
    data = f"<RemoteAccess><Users><User><Name>{name}</Name></User></Users></RemoteAccess>"
    [user] = parse(data.encode()).users
    assert (user.name, user.encrypted_password, user.expiration) == (name, "", "")


# ---- fetched with a new incarnation ----


def goal_state(incarnation: int, remote_access: bool) -> bytes:
    escaped = REMOTE_ACCESS_URL.replace("&", "&amp;")
    info = f"<RemoteAccessInfo>{escaped}</RemoteAccessInfo>" if remote_access else ""
    return (
        f"<GoalState><Incarnation>{incarnation}</Incarnation><Container><ContainerId>c1"
        f"</ContainerId>{info}<RoleInstanceList><RoleInstance><InstanceId>r</InstanceId>"
        "<Configuration/></RoleInstance></RoleInstanceList></Container></GoalState>"
    ).encode()


def wire_with(
    tmp_path: Path, fabric: MockFabric, seen: list[tuple[str, RemoteAccess | None]]
) -> Wire:
    fabric.serve("GET", f"{WIRESERVER}/?comp=versions", VERSIONS)
    http = fabric_http(fabric)
    root = Root(tmp_path)
    wire = Wire(
        root,
        AgentConfig(),
        Clients(http, lambda proxy: http),
        Runner(),
        callbacks=Callbacks(remote_access_changed=lambda inc, doc: seen.append((inc, doc))),
        files=StateFiles(root, PurePosixPath("/state")),
    )
    wire.files.prepare()
    wire.transport_header = "TRANSPORT-CERT-BASE64"
    return wire


def test_each_new_incarnation_hands_its_document_or_none_to_the_callback(tmp_path: Path) -> None:
    fabric = MockFabric()
    fabric.serve("GET", REMOTE_ACCESS_URL, DOCUMENT)
    seen: list[tuple[str, RemoteAccess | None]] = []
    wire = wire_with(tmp_path, fabric, seen)

    async def go() -> None:
        for incarnation, with_document in ((1, True), (1, True), (2, False)):
            fabric.serve("GET", GOAL_STATE_URL, goal_state(incarnation, with_document))
            await wire.refresh()

    asyncio.run(go())
    assert [(inc, doc is not None) for inc, doc in seen] == [("1", True), ("2", False)]
    assert seen[0][1] == parse(DOCUMENT)
    assert fabric.count("GET", REMOTE_ACCESS_URL) == 1


@pytest.mark.parametrize("answer", [b"<RemoteAccess><Users>", 404], ids=["malformed", "404"])
def test_a_document_that_does_not_arrive_fails_the_goal_state_and_hands_nothing_over(
    tmp_path: Path, answer: bytes | int
) -> None:
    fabric = MockFabric()
    fabric.serve("GET", REMOTE_ACCESS_URL, answer)
    fabric.serve("GET", GOAL_STATE_URL, goal_state(1, True))
    seen: list[tuple[str, RemoteAccess | None]] = []
    wire = wire_with(tmp_path, fabric, seen)
    with pytest.raises(FabricError):
        asyncio.run(wire.refresh())
    assert seen == []
    assert wire.goal_state.summary is None  # nothing committed: tried again at the next poll


def test_the_document_is_asked_for_with_the_transport_certificate_and_aes128() -> None:
    headers: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        headers.update(request.headers)
        return httpx.Response(200, content=DOCUMENT)

    http = FabricHttp(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    document = asyncio.run(fetch(WireServer(http, "168.63.129.16"), REMOTE_ACCESS_URL, "CERT"))
    assert len(document.users) == 2
    assert headers["x-ms-guest-agent-public-x509-cert"] == "CERT"
    assert headers["x-ms-cipher-name"] == "AES128_CBC"
    assert headers["x-ms-version"] == "2012-11-30"


# ---- handed to the provisioner ----


class Provisioner:
    def __init__(self, *outcomes: Exception) -> None:
        self.outcomes = list(outcomes)
        self.updates: list[RemoteAccessUpdate] = []

    async def __call__(self, update: RemoteAccessUpdate) -> None:
        await asyncio.sleep(0)
        if self.outcomes:
            raise self.outcomes.pop(0)
        self.updates.append(update)


async def settled(delivery: RemoteAccessDelivery) -> None:
    for _ in range(200):
        if not delivery._handover.pending():
            return
        await asyncio.sleep(0.005)


def deliver(
    provisioner: Provisioner,
    *notes: tuple[str, RemoteAccess | None],
    cleared_this_boot: bool = False,
) -> list[bool]:
    """The notes handed over in turn; `cleared` after each."""
    cleared: list[bool] = []

    async def go() -> None:
        delivery = RemoteAccessDelivery(provisioner)
        delivery._handover._first_retry = 0.01
        if cleared_this_boot:
            delivery.cleared_this_boot()
        for incarnation, document in notes:
            delivery.notify(incarnation, document)
            await settled(delivery)
            cleared.append(delivery.cleared)
        await delivery.close()

    asyncio.run(go())
    return cleared


def test_no_document_is_handed_over_once_until_a_document_comes_again() -> None:
    provisioner = Provisioner()
    document = parse(DOCUMENT)
    deliver(provisioner, ("1", None), ("2", None), ("3", document), ("4", None), ("5", None))
    assert [(u.goal_state_incarnation, u.document is not None) for u in provisioner.updates] == [
        ("1", False),
        ("3", True),
        ("4", False),
    ]


def test_a_wire_woken_later_in_the_boot_does_not_start_the_provisioner_to_delete_none() -> None:
    """poll_state.json says an earlier wire of this boot had every JIT user deleted."""
    provisioner = Provisioner()
    document = parse(DOCUMENT)
    cleared = deliver(
        provisioner, ("7", None), ("8", document), ("9", None), cleared_this_boot=True
    )
    assert [(u.goal_state_incarnation, u.document is not None) for u in provisioner.updates] == [
        ("8", True),
        ("9", False),
    ]
    assert cleared == [True, False, True]  # what this wire leaves the next one


def test_users_are_cleared_only_once_the_provisioner_took_the_update() -> None:
    taken_late = Provisioner(Failed("NoReply"), Failed("NoReply"))
    assert deliver(taken_late, ("1", None)) == [True]  # taken on the third call
    assert [u.goal_state_incarnation for u in taken_late.updates] == ["1"]
    never_taken = Provisioner(*[Failed("NoReply")] * 100)
    assert deliver(never_taken, ("1", None)) == [False]  # still retrying: the next wire sends it


def test_a_failed_hand_over_is_sent_again() -> None:
    provisioner = Provisioner(Failed("NoReply"))
    deliver(provisioner, ("1", parse(DOCUMENT)))
    assert [u.goal_state_incarnation for u in provisioner.updates] == ["1"]


def test_without_a_provisioner_installed_nothing_is_retried() -> None:
    missing = ServiceUnavailable(
        "org.waagent.Provisioner1", "not installed", "org.freedesktop.DBus.Error.ServiceUnknown"
    )
    provisioner = Provisioner(missing)
    deliver(provisioner, ("1", parse(DOCUMENT)))
    assert provisioner.updates == []
