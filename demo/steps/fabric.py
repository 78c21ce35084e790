"""The agent against the fabric simulator: wire finds it, fetches the goal state, reports.

The simulator serves the WireServer, HostGAPlugin, storage and IMDS on a loopback address; wire
learns the address from a DHCP lease in the sandbox, exactly how a VM learns 168.63.129.16.
"""

from __future__ import annotations

import json
import stat
import time

from tests.harness.environment import Environment
from tests.harness.wait import wait_for
from waagent.common.names import WIRE

from .common import heading, show


def _wire(env: Environment, method: str, *args: str, user: str | None = None) -> list[object]:
    signature = "s" * len(args)
    reply = env.busctl.call(
        WIRE.name, WIRE.path, WIRE.interface, method, signature, *args, user=user
    )
    if not reply.ok:
        return [f"refused: {reply.error}"]
    return reply.data


def _prop(env: Environment, name: str) -> object:
    return env.busctl.get_property(WIRE.name, WIRE.path, WIRE.interface, name)


def run(env: Environment) -> None:
    fabric = env.fabric
    heading("wire meets the fabric: discovery, goal state, certificates")
    show("fabric (WireServer, HostGAPlugin, IMDS)", f"http://{fabric.address}")
    started = time.monotonic()
    wait_for(lambda: _prop(env, "State") == "Ready", timeout=60, what="wire Ready")
    show("wire Ready after", f"{time.monotonic() - started:.2f} s")
    for name in ("Endpoint", "Incarnation", "ContainerId", "RoleInstanceId"):
        show(f"Wire1.{name}", _prop(env, name))
    summary = json.loads(str(_wire(env, "GetGoalState", user="nobody")[0]))
    show("GetGoalState (as nobody): deployment", summary["deployment_name"])
    for cert in summary["certificates"]:
        path = env.sandbox.path(f"/var/lib/waagent-wire/{cert['thumbprint']}.prv")
        mode = oct(stat.S_IMODE(path.stat().st_mode)) if path.exists() else "missing"
        show("tenant certificate", f"{cert['thumbprint']} key {mode}")
    show("GetCertificates as nobody", _wire(env, "GetCertificates", user="nobody")[0])

    heading("Reports reach the fabric")
    _wire(env, "ReportHealth", "NotReady", "Provisioning", "Starting")
    _wire(env, "ReportHealth", "Ready", "", "")
    for record in fabric.records("health"):
        show(
            f"fabric recorded health #{record.seq}",
            f"{record['state']} {record['substatus'] or ''}",
        )
    status = wait_for(lambda: fabric.records("status"), timeout=30, what="a status upload")[-1]
    agent = status["document"]["aggregateStatus"]["guestAgentStatus"]
    show(
        f"fabric recorded status via {status['channel']}",
        f"{status['blob_type']}, agent {agent['status']}",
    )

    heading("A new incarnation, then an outage")
    fabric.bump_incarnation()
    wait_for(lambda: _prop(env, "Incarnation") == "2", timeout=30, what="incarnation 2")
    show("after bump_incarnation(): Incarnation", _prop(env, "Incarnation"))
    fabric.go_down()
    wait_for(lambda: _prop(env, "State") == "FabricUnavailable", timeout=60, what="the outage")
    show("fabric down: State", _prop(env, "State"))
    show("LastError", _prop(env, "LastError"))
    fabric.come_back()
    wait_for(lambda: _prop(env, "State") == "Ready", timeout=60, what="recovery")
    show("fabric back: State", _prop(env, "State"))
