"""extd: a VM extension installed, enabled, managed by hand, updated and uninstalled.

A fabric simulator serves a goal state with the test probe extension (it decrypts its protected
settings with the tenant certificate extd put in Lib.Dir); wire fetches it and calls extd, which
runs the handler protocol and hands the status to wire for the fabric.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

from tests.extd.system import (
    PROBE,
    System,
    detail,
    handler_copy,
    probe_extension,
)
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.names import EXTENSIONS, WIRE
from waagent.fabric.scenario import CertificateSpec, Scenario

from .common import heading, show


def _stop_wire(env: Environment) -> None:
    """Wire reads the DHCP lease when it starts: stop it, the next call starts it again."""
    if not name_has_owner(env.bus, WIRE.name):
        return
    os.kill(env.busctl.owner_pid(WIRE.name), signal.SIGTERM)
    wait_for(lambda: not name_has_owner(env.bus, WIRE.name), timeout=15, what="wire to stop")


def _summary(item: dict[str, Any] | None) -> str:
    if item is None:
        return "(not reported)"
    runtime = item.get("runtimeSettingsStatus")
    handler = f"{item['handlerVersion']} {item['status']} {item['code']}"
    if runtime is None:
        return f"{handler} {item.get('formattedMessage', {}).get('message', '')}"
    status = runtime["settingsStatus"]["status"]
    return f"{handler}, seq {runtime['sequenceNumber']}: {status['status']}"


def run(env: Environment) -> None:
    heading("extd: VM extensions (the fabric simulator serves a test extension)")
    probe = probe_extension(
        public_settings={"greeting": "hello"},
        protected_settings={"secret": "only the extension can read this"},
        certificate="tenant",
    )
    scenario = Scenario(certificates=[CertificateSpec(name="tenant")], extensions=[probe])
    with (
        tempfile.TemporaryDirectory(prefix="demo-extd-") as tmp,
        fabric_for(env.sandbox.root, scenario) as fabric,
    ):
        _stop_wire(env)
        system = System(env, fabric)
        system.start()
        item = system.wait_extension_status(PROBE, "success", seq=0)
        show("status received by the fabric", _summary(item))
        show("what the extension reported", detail(item)["formattedMessage"]["message"])
        show("operations the extension saw", [o["operation"] for o in system.operations(PROBE)])
        objects = env.busctl.call(
            EXTENSIONS.name,
            EXTENSIONS.path,
            "org.freedesktop.DBus.ObjectManager",
            "GetManagedObjects",
        )
        for path, interfaces in objects.data[0].items():
            values = {k: v["data"] for k, v in next(iter(interfaces.values())).items()}
            show(f"object {path}", f"State={values['State']} Status={values['Status']}")

        heading("What a local user may read: states and codes, not the extension's message")
        message = system.call_extension(PROBE, "GetMessage")
        show("busctl call ... GetMessage (root)", str(message.data[0])[:60] if message.ok else "-")
        show(
            "busctl call ... GetMessage (as nobody)",
            system.call_extension(PROBE, "GetMessage", user="nobody").error,
        )
        as_nobody = env.busctl.call(
            EXTENSIONS.name, EXTENSIONS.path, EXTENSIONS.interface, "GetStatus", user="nobody"
        )
        shown = json.loads(as_nobody.data[0])["handlerAggregateStatus"][0]
        status = shown["runtimeSettingsStatus"]["settingsStatus"]["status"]
        show(
            "GetStatus (as nobody)",
            f"{shown['handlerName']} {shown['handlerVersion']} {status['status']}, "
            f"message {status['formattedMessage'].get('message')!r}",
        )

        heading("By hand: Disable as nobody (polkit), then as root")
        refused = system.call_extension(PROBE, "Disable", user="nobody")
        show("busctl call ... Disable (as nobody)", refused.error)
        show(
            "busctl call ... Disable (root)",
            "ok" if system.call_extension(PROBE, "Disable").ok else "failed",
        )
        show("State", system.extension_property(PROBE, "State"))
        show(
            "busctl call ... Enable (root)",
            "ok" if system.call_extension(PROBE, "Enable").ok else "failed",
        )

        heading("The fabric publishes version 1.1.0: the update sequence")
        fabric.update_extension(PROBE, "1.1.0", handler_dir=str(handler_copy(Path(tmp), "v11")))
        system.refresh()
        item = system.wait_entry(
            PROBE, lambda i: i["handlerVersion"] == "1.1.0" and i["status"] == "Ready"
        )
        show("status received by the fabric", _summary(item))
        steps = [f"{o['operation']} {o['version']}" for o in system.operations(PROBE)[4:]]
        show("operations", ", ".join(steps))
        show("mrseq seen by the update command", system.operations(PROBE)[5].get("mrseq"))

        heading("The fabric asks for uninstall")
        fabric.set_extension_state(PROBE, "uninstall")
        system.refresh()
        wait_for(lambda: system.entry(PROBE) is None, what="the handler to leave the status")
        show("handler directory left", system.handler_dir(PROBE, "1.1.0").exists())
        show("last operation", system.operations(PROBE)[-1]["operation"])
        show("goal state", json.dumps(system.goal_state_status()))
        _stop_wire(env)
