"""wire on a private system bus, talking to the fabric simulator over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from tests.harness.callers import Reply
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from tests.harness.wait import wait_for
from waagent.common.names import WIRE
from waagent.fabric.network import allocate_loopback
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric, fabric_thread

STATE_DIR = "/var/lib/waagent-wire"


@dataclass
class WireSystem:
    env: Environment
    fabric: Fabric

    def call(self, method: str, signature: str = "", *args: str, user: str | None = None) -> Reply:
        return self.env.busctl.call(
            WIRE.name, WIRE.path, WIRE.interface, method, signature, *args, user=user, timeout=120
        )

    def prop(self, name: str) -> Any:
        return self.env.busctl.get_property(WIRE.name, WIRE.path, WIRE.interface, name)

    def wait_prop(self, name: str, value: Any, timeout: float = 30) -> None:
        wait_for(lambda: self.prop(name) == value, timeout=timeout, what=f"{name} == {value!r}")

    def json(self, method: str, user: str | None = None) -> Any:
        reply = self.call(method, user=user)
        assert reply.ok, reply.error
        return json.loads(reply.data[0])

    def state_file(self, name: str) -> Path:
        return self.env.sandbox.path(f"{STATE_DIR}/{name}")

    def log(self) -> str:
        return self.env.sandbox.path("/var/log/waagent.log").read_text()

    def records(self, kind: str) -> list[Any]:
        return self.fabric.records(kind)


def config(**extra: str) -> dict[str, str]:
    return {"Extensions.GoalStatePeriod": "1", "Status.RefreshPeriod": "1", **extra}


@contextlib.contextmanager
def wire_system(
    scenario: Scenario | None = None,
    extra: dict[str, str] | None = None,
    wire_args: Sequence[str] = (),
) -> Iterator[WireSystem]:
    """`wire_args`: options of wire's command line (short deadlines), set before it is activated."""
    with fabric_for(None, scenario or Scenario.default()) as fabric:
        env = Environment(endpoint=fabric.address, config=config(**(extra or {})))
        with env:
            if wire_args:
                env.make_activatable(WIRE, *wire_args)
            yield WireSystem(env, fabric)


def dbus_call(
    address: str,
    member: str,
    signature: str = "",
    body: list[Any] | None = None,
    unix_fds: list[int] | None = None,
    user: str | None = None,
) -> Message:
    """A call from a Python client (for file descriptors, which busctl cannot receive)."""

    async def go() -> Message:
        bus = await MessageBus(bus_address=address, negotiate_unix_fd=True).connect()
        try:
            reply = await bus.call(
                Message(
                    destination=WIRE.name,
                    path=WIRE.path,
                    interface=WIRE.interface,
                    member=member,
                    signature=signature,
                    body=body or [],
                    unix_fds=unix_fds or [],
                )
            )
            assert reply is not None
            return reply
        finally:
            bus.disconnect()

    return asyncio.run(go())


def read_fd(reply: Message) -> bytes:
    assert reply.message_type == MessageType.METHOD_RETURN, reply.body
    fd = reply.unix_fds[reply.body[0]]
    try:
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def capture_raw(directory: Path, address: str, scenario: Scenario | None = None) -> None:
    """Documents of a generated fabric, rewritten to be served by a raw fabric at `address`.

    The Certificates document is encrypted to a throwaway certificate, never the agent's: what a
    VM sees when the fabric encrypted to another transport certificate.
    """
    from waagent.wire.transport import generate

    header = generate().header_value
    source_address = allocate_loopback()
    with fabric_thread(scenario or Scenario.default(), address=source_address) as source:
        base = f"http://{source_address}"
        headers = {"x-ms-version": "2012-11-30", "x-ms-agent-name": "WALinuxAgent"}
        with httpx.Client(trust_env=False, headers=headers) as client:
            goal_state = client.get(f"{base}/machine/?comp=goalstate").text
            documents = {
                "versions.xml": client.get(f"{base}/?comp=versions").text,
                "GoalState.xml": goal_state,
            }
            for tag, name in (
                ("HostingEnvironmentConfig", "HostingEnvironmentConfig.xml"),
                ("SharedConfig", "SharedConfig.xml"),
                ("ExtensionsConfig", "ExtensionsConfig.xml"),
                ("Certificates", "Certificates.xml"),
            ):
                url = goal_state.split(f"<{tag}>")[1].split(f"</{tag}>")[0].replace("&amp;", "&")
                documents[name] = client.get(
                    url, headers={"x-ms-guest-agent-public-x509-cert": header}
                ).text
        del source
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        (directory / name).write_text(text.replace(source_address, address))
