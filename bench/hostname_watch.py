"""The cost of Provisioning.MonitorHostName in wire: the idle service with the hostname watch
(one fd in its event loop) beside the same service without it.

The real wire service on a private bus against `waagent-fabric serve`, idle for IDLE_SECONDS
each way (MonitorHostName=n, =y, =y, =n: both orders): resident memory (RSS, PSS), CPU per idle
hour, open fds. The provisioner is not activatable here, so wire's KeepHostname call at its start
fails at once and the figures are wire's own (with it, the provisioner's run at activation
would talk to wire during the idle window). The watch has no timer: idle, it costs nothing but
the fd (and the epoll fd that holds it).

Run as root: .venv/bin/python bench/hostname_watch.py [IDLE_SECONDS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.wire_poll import process_figures
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_process
from tests.harness.wait import wait_for
from waagent.common.names import PROVISIONER, WIRE

IDLE_SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 120


def idle(monitor: bool) -> dict[str, float]:
    switch = "y" if monitor else "n"
    with (
        tempfile.TemporaryDirectory() as tmp,
        fabric_process(Path(tmp) / "fabric") as fabric,
        Environment(
            endpoint=fabric.address, config={"Provisioning.MonitorHostName": switch}
        ) as env,
    ):
        (env.bus.servicedir / f"{PROVISIONER.name}.service").unlink()
        env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Ping")
        wait_for(
            lambda: (
                env.busctl.get_property(WIRE.name, WIRE.path, WIRE.interface, "State") == "Ready"
            ),
            timeout=60,
            what="wire Ready",
        )
        pid = env.busctl.owner_pid(WIRE.name)
        time.sleep(10)  # the start's KeepHostname call and the first polls are behind us
        before = process_figures(pid)
        time.sleep(IDLE_SECONDS)
        after = process_figures(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {
        "rss_mib": after["rss_mib"],
        "pss_mib": after["pss_mib"],
        "cpu_s_per_hour": (after["cpu_s"] - before["cpu_s"]) * 3600 / IDLE_SECONDS,
        "fds": fds,
    }


def main() -> None:
    print(f"== wire idle on a private bus, {IDLE_SECONDS} s each way")
    runs = [(monitor, idle(monitor)) for monitor in (False, True, True, False)]
    print(f"  {'':<28} {'without':>10} {'with watch':>12} {'with watch':>12} {'without':>10}")
    for key, label, fmt in (
        ("rss_mib", "resident memory (RSS MiB)", ".1f"),
        ("pss_mib", "proportional (PSS MiB)", ".1f"),
        ("cpu_s_per_hour", "CPU s per idle hour", ".2f"),
        ("fds", "open file descriptors", ".0f"),
    ):
        figures = [f"{figures[key]:{12 if monitor else 10}{fmt}}" for monitor, figures in runs]
        print(f"  {label:<28} {' '.join(figures)}")


if __name__ == "__main__":
    main()
