"""Fast Track and the heartbeats: an extension added through vmSettings alone (no new
incarnation) is enabled, and the host sees the agent's heartbeats.

The fabric simulator publishes goal states through the HostGAPlugin only; wire polls /vmSettings
with its ETag next to the WireServer goal state. Wire runs with a 1 s heartbeat period here
(`--heartbeat-period`, the thresholds scale with it) so the HealthService rounds show at once.
"""

from __future__ import annotations

import json
import time
from collections import Counter

from tests.extd.system import PROBE, System, detail, probe_extension
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from tests.harness.wait import wait_for
from waagent.common.names import WIRE
from waagent.fabric.scenario import CertificateSpec, Scenario

from .common import heading, show
from .extensions import _stop_wire

SECOND = "Waagent.Test.Second"
WATCHED = 4.0  # seconds of requests counted per endpoint


def _wire_prop(env: Environment, name: str) -> object:
    return env.busctl.get_property(WIRE.name, WIRE.path, WIRE.interface, name)


def _fast_track(env: Environment, system: System) -> None:
    fabric = system.fabric
    system.start()
    system.wait_extension_status(PROBE, "success", seq=1)
    show("Wire1.FastTrack", _wire_prop(env, "FastTrack"))
    channel, incarnation = (_wire_prop(env, p) for p in ("ExtensionsChannel", "Incarnation"))
    started = time.monotonic()
    fabric.add_extension(
        SECOND,
        **probe_extension(SECOND, seq_no=0, public_settings={"greeting": "fast"}).model_dump(
            exclude={"name"}
        ),
    )
    item = system.wait_extension_status(SECOND, "success", seq=0)
    show("fabric: add_extension (vmSettings only)", SECOND)
    show("enabled, status uploaded (2 s poll) after", f"{time.monotonic() - started:.2f} s")
    show("what the extension reported", detail(item)["formattedMessage"]["message"][:60])
    reply = env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "GetExtensionsGoalState")
    goal_state = json.loads(reply.data[0])
    show("extensions goal state", f"{goal_state['id']} (channel {goal_state['channel']})")
    show("incarnation before / after", f"{incarnation} / {_wire_prop(env, 'Incarnation')}")
    show(
        "Wire1.ExtensionsChannel before / after",
        f"{channel} / {_wire_prop(env, 'ExtensionsChannel')}",
    )
    features = [f["Key"] for f in system.documents()[-1]["supportedFeatures"]]
    show("status blob supportedFeatures", features)


def _heartbeats(system: System) -> None:
    fabric = system.fabric
    wait_for(lambda: fabric.records("healthservice"), timeout=30, what="a HealthService POST")
    mark = fabric.requests()[-1].seq
    time.sleep(WATCHED)  # the demo counts what an idle agent asks for in this window
    counted = Counter(r.endpoint for r in fabric.requests() if r.seq > mark)
    show(f"requests in {WATCHED:g} s (1 s heartbeat period)", dict(sorted(counted.items())))
    last = fabric.records("healthservice")[-1]
    show(
        "last HealthService observations",
        [(o["name"], "healthy" if o["healthy"] else "unhealthy") for o in last["observations"]],
    )


def run(env: Environment) -> None:
    heading("Fast Track: an extension added through vmSettings alone (HostGAPlugin)")
    probe = probe_extension(seq_no=1, public_settings={"greeting": "hello"})
    scenario = Scenario(
        certificates=[CertificateSpec(name="tenant")],
        extensions=[probe],
        fast_track=True,
        publish_through="vmsettings",
    )
    with fabric_for(env.sandbox.root, scenario) as fabric:
        _stop_wire(env)
        env.make_activatable(WIRE, "--heartbeat-period", "1")
        try:
            system = System(env, fabric)
            _fast_track(env, system)
            heading("Heartbeats: HostGAPlugin /health, IMDS, HealthService, as the host expects")
            _heartbeats(system)
        finally:
            _stop_wire(env)
            env.make_activatable(WIRE)
