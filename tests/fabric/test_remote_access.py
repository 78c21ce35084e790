"""The JIT users the fabric serves, changed by the admin API (`set_remote_access`)."""

from __future__ import annotations

import base64

import pytest

from waagent.fabric.scenario import RemoteUser, Scenario
from waagent.fabric.server import Fabric

from .helpers import H1, Agentish, Transport, parse


@pytest.fixture
def scenario() -> Scenario:
    return Scenario.default().model_copy(
        update={"remote_access": [RemoteUser(name="jit", password="Jit-1")]}
    )


def users(agent: Agentish, transport: Transport) -> list[tuple[str, str, str]] | None:
    url = agent.goal_state().findtext("Container/RemoteAccessInfo")
    if not url:
        return None
    headers = {**H1, "x-ms-guest-agent-public-x509-cert": transport.header}
    document = parse(agent.get(url, headers).content)
    return [
        (u.findtext("Name") or "", u.findtext("Password") or "", u.findtext("Expiration") or "")
        for u in document.iter("User")
    ]


def test_new_users_come_with_a_new_incarnation_and_none_drops_remote_access_info(
    fabric: Fabric, agent: Agentish, transport: Transport
) -> None:
    before = fabric.info()["incarnation"]
    assert (
        fabric.set_remote_access(
            [{"name": "second", "password": "pw-2", "expiration": "Sat, 31 Dec 2039 10:00:00 GMT"}]
        )
        == before + 1
    )
    [(name, _, expiration)] = users(agent, transport) or []
    assert (name, expiration) == ("second", "Sat, 31 Dec 2039 10:00:00 GMT")
    fabric.set_remote_access([])
    assert users(agent, transport) is None


def test_a_password_blob_is_served_verbatim(
    fabric: Fabric, agent: Agentish, transport: Transport
) -> None:
    blob = base64.b64encode(b"not CMS").decode()
    fabric.set_remote_access([{"name": "broken", "password": "x", "password_blob": blob}])
    assert users(agent, transport) == [("broken", blob, "Fri, 01 Jan 2038 00:00:00 GMT")]


def test_a_user_without_a_password_is_refused_and_nothing_changes(fabric: Fabric) -> None:
    before = fabric.info()["incarnation"]
    with pytest.raises(ValueError, match="Field required"):
        fabric.set_remote_access([{"name": "nopassword"}])
    assert fabric.info()["incarnation"] == before
