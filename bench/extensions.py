"""extd: incarnation bump at the fabric -> status success uploaded; extd's idle memory.

For 1, 10 and 50 trivial extensions (the fabric's built-in sample handler: a POSIX shell script
that succeeds and writes its status on enable), on the private system the integration tests use
(fabric simulator, dbus-daemon, polkitd, wire and extd bus-activated, a sandbox root): the
extensions are published, the clock starts, wire is asked to fetch the goal state at once (so the
figure does not include up to one polling period), and it stops when the fabric receives a status
blob in which every extension reports success. extd is not running before: its bus activation is
part of the figure. Then, for one extension, a settings change and a version update (the classic
agent's other two figures), and extd's resident memory while idle with 10 extensions installed.

`--vm` measures the same three cases for one extension in the booted system-test VM (systemd as
PID 1, the units as installed): there each command is a transient service started by systemd,
as on a real VM, and extd stays in its sandbox. Prints figures; asserts nothing. Needs root.
`--fast-track` measures only the issue-14 acceptance: with the fabric serving Fast Track, one
extension added through the WireServer and one added through vmSettings alone, side by side
(also printed at the end of the default run).
Run: .venv/bin/python bench/extensions.py [--vm | --fast-track]
"""

from __future__ import annotations

import contextlib
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.extd.system import System
from tests.harness.environment import Environment
from tests.harness.fabric import fabric_for
from tests.harness.wait import wait_for
from tests.system.vm import Vm, booted_vm
from waagent.common.names import EXTENSIONS, PROVISIONER, WIRE
from waagent.fabric.scenario import CertificateSpec, Scenario

RUNS = 3
# wire's log line once it has a new extensions goal state: a WireServer one, or Fast Track.
FETCHED = re.compile(r"INFO wire (goal state:|Fast Track goal state)")
CONFIG = {"Extensions.GoalStatePeriod": "60", "Services.IdleTimeout": "3"}
# The classic agent on this kind of machine (DESIGN.md): fetch -> success uploaded.
CLASSIC = {"add": 4.0, "settings": 2.0, "update": 10.1, "rss_mib": 56.2}


def names(count: int) -> list[str]:
    return [f"Bench.Trivial.Ext{i:02d}" for i in range(count)]


def all_succeeded(
    system: System, handlers: list[str], check: Callable[[dict[str, Any]], bool]
) -> bool:
    found = {item["handlerName"]: item for item in system.handlers()}
    return all(name in found and check(found[name]) for name in handlers)


def success(seq: int, version: str = "1.0.0") -> Callable[[dict[str, Any]], bool]:
    def check(item: dict[str, Any]) -> bool:
        runtime = item.get("runtimeSettingsStatus")
        return (
            runtime is not None
            and runtime["sequenceNumber"] == seq
            and item["handlerVersion"] == version
            and runtime["settingsStatus"]["status"]["status"] == "success"
        )

    return check


def extd_gone(system: System) -> None:
    """Wait until extd processed what it was given and exited: the next figure includes its
    bus activation, as on a VM where it is idle between goal states."""
    wait_for(lambda: "processed in" in system.service_log(), timeout=60, what="a goal state")
    wait_for(lambda: not system.extd_running(), timeout=60, what="extd to exit")


def timed(
    system: System,
    change: Callable[[], None],
    handlers: list[str],
    check: Callable[[dict[str, Any]], bool],
) -> tuple[float, float]:
    """Seconds from the bump to success at the fabric, and from wire having fetched the whole
    goal state (its log line) to success at the fabric: the part extd is responsible for."""
    extd_gone(system)
    change()
    started = time.monotonic()
    system.refresh()
    wait_for(
        lambda: all_succeeded(system, handlers, check), timeout=600, interval=0.005, what="success"
    )
    total = time.monotonic() - started
    fetched = [line for line in system.service_log().splitlines() if FETCHED.search(line)]
    fetched_at = datetime.fromisoformat(fetched[-1].split()[0].replace("Z", "+00:00"))
    first = next(
        r
        for r in system.fabric.records("status")
        if r.timestamp > fetched_at and all_done(r["document"], handlers, check)
    )
    return total, (first.timestamp - fetched_at).total_seconds()


def all_done(
    document: dict[str, Any], handlers: list[str], check: Callable[[dict[str, Any]], bool]
) -> bool:
    items = document["aggregateStatus"].get("handlerAggregateStatus", [])
    found = {item["handlerName"]: item for item in items}
    return all(name in found and check(found[name]) for name in handlers)


def extd_rss_mib(system: System) -> float:
    for line in Path(f"/proc/{system.extd_pid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def reporting(scenario: Scenario) -> Iterator[System]:
    """The private system on a fabric serving `scenario`, once wire uploaded its first status."""
    with (
        fabric_for(None, scenario) as fabric,
        Environment(config=CONFIG, endpoint=fabric.address) as env,
    ):
        system = System(env, fabric)
        system.start()
        wait_for(lambda: fabric.records("status"), timeout=30, what="wire's first status")
        provisioned(env)
        yield system


def provisioned(env: Environment) -> None:
    """A VM past provisioning, as when extensions arrive on a real one: wire hands extd no
    extensions before provisioning is done (docs/wire.md), so the provisioner (here without
    media: its run ends at once) must have run, or its run would be part of the figures."""

    def state() -> object:
        return env.busctl.get_property(
            PROVISIONER.name, PROVISIONER.path, PROVISIONER.interface, "State"
        )

    wait_for(lambda: state() != "Provisioning", timeout=60, what="the provisioner's run")


def one_run(count: int, extras: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    with reporting(Scenario(certificates=[CertificateSpec(name="tenant")])) as system:
        fabric = system.fabric
        handlers = names(count)

        def publish() -> None:
            for name in handlers:
                fabric.add_extension(name, version="1.0.0")

        figures["add"], figures["add_extd"] = timed(system, publish, handlers, success(0))
        if extras:
            first = handlers[:1]
            figures["settings"], figures["settings_extd"] = timed(
                system,
                lambda: fabric.set_extension_settings(first[0], public={"n": 1}),
                first,
                success(1),
            )
            figures["update"], figures["update_extd"] = timed(
                system,
                lambda: fabric.update_extension(first[0], "1.1.0"),
                first,
                success(1, "1.1.0"),
            )
        if count == 10:
            time.sleep(1)  # every extension is terminal: extd is idle until its idle timeout
            figures["rss_mib"] = extd_rss_mib(system)
    return figures


def fast_track_run() -> dict[str, float]:
    """One extension added through the WireServer (a new incarnation), then one through
    vmSettings alone (Fast Track: the incarnation stays), on a fabric serving both."""
    scenario = Scenario(certificates=[CertificateSpec(name="tenant")], fast_track=True)
    figures: dict[str, float] = {}
    with reporting(scenario) as system:
        fabric = system.fabric
        for channel, name in (("wireserver", "Bench.Wire.Ext"), ("vmsettings", "Bench.Fast.Ext")):
            fabric.set_publishing(publish_through=channel)
            figures[channel], figures[f"{channel}_extd"] = timed(
                system, lambda n=name: fabric.add_extension(n, version="1.0.0"), [name], success(0)
            )
    return figures


def main_fast_track() -> None:
    print(f"add 1 extension: WireServer vs Fast Track (vmSettings only), median of {RUNS} runs")
    runs = [fast_track_run() for _ in range(RUNS)]
    print(f"{'channel':<30}{'bump':>9}{'fetched':>10}{'classic':>10}")
    for channel, label in (
        ("wireserver", "WireServer (incarnation)"),
        ("vmsettings", "Fast Track (vmSettings)"),
    ):
        bump = statistics.median(r[channel] for r in runs)
        fetched = statistics.median(r[f"{channel}_extd"] for r in runs)
        print(f"{label:<30}{bump:>7.2f} s{fetched:>8.2f} s{CLASSIC['add']:>8.1f} s")


VM_CONFIG = {"Extensions.GoalStatePeriod": "60", "Services.IdleTimeout": "3"}


def timed_in_vm(
    vm: Vm,
    name: str,
    change: Callable[[], object],
    check: Callable[[dict[str, Any]], bool],
    warm: bool,
) -> tuple[float, float]:
    """Seconds from the change (wire told to Refresh) to success in a status blob, and from
    wire having fetched the goal state (its journal line) to that blob. Cold: extd exited when
    idle and is bus-activated; warm: extd runs (as the classic extension handler always does)."""
    # Wire, too, gone idle (the poller polls), as at any change on a quiet VM: else whether the
    # change came while wire ran or just as it left decided the figure (wire's restart, ~0.45 s).
    for unit in ("waagent-extd.service", "waagent-wire.service"):
        wait_for(
            lambda unit=unit: vm.show(unit, "ActiveState")["ActiveState"] == "inactive",
            timeout=60,
            what=f"{unit} to exit when idle",
        )
    if warm:
        vm.prop(EXTENSIONS.name, "GoalStateId")  # activates it; it stays for the idle timeout
    before = len(vm.fabric.client.records("status"))
    fetches = len(goal_state_lines(vm))
    change()
    started = time.monotonic()
    vm.run("busctl", "call", WIRE.name, WIRE.path, WIRE.interface, "Refresh")

    def done() -> Any:
        for record in vm.fabric.client.records("status")[before:]:
            if all_done(record["document"], [name], check):
                return record
        return None

    record = wait_for(done, timeout=600, interval=0.005, what="success")
    total = time.monotonic() - started
    return total, (record.timestamp - fetched_at(vm, fetches)).total_seconds()


def goal_state_lines(vm: Vm) -> list[str]:
    return vm.run(
        "journalctl", "-u", "waagent-wire.service", "-o", "json", "-g", "goal state: incarnation"
    ).stdout.splitlines()


def fetched_at(vm: Vm, before: int) -> datetime:
    """When wire logged the first goal state it fetched after the change (the journal's
    realtime stamp); `Refresh` fetches once more, after extd may be done."""
    stamp = int(json.loads(goal_state_lines(vm)[before])["__REALTIME_TIMESTAMP"])
    return datetime.fromtimestamp(stamp / 1e6, tz=UTC)


def vm_run(name: str) -> dict[str, float]:
    """add / settings / update of the sample extension in a freshly booted VM."""
    figures: dict[str, float] = {}
    with booted_vm(VM_CONFIG) as vm:
        wait_for(lambda: vm.fabric.client.records("status"), timeout=60, what="a status")
        client = vm.fabric.client
        cases: dict[str, tuple[Callable[[], object], Callable[[dict[str, Any]], bool]]] = {
            "add": (lambda: client.add_extension(name, version="1.0.0"), success(0)),
            "settings": (lambda: client.set_extension_settings(name, public={"n": 1}), success(1)),
            "update": (lambda: client.update_extension(name, "1.1.0"), success(1, "1.1.0")),
        }
        for key, (change, check) in cases.items():
            figures[key], figures[f"{key}_extd"] = timed_in_vm(vm, name, change, check, False)
        warm = name.replace(".Vm.", ".VmWarm.")
        for key, (change, check) in warm_cases(client, warm).items():
            figures[key], figures[f"{key}_extd"] = timed_in_vm(vm, warm, change, check, True)
    return figures


def warm_cases(
    client: Any, warm: str
) -> dict[str, tuple[Callable[[], object], Callable[[dict[str, Any]], bool]]]:
    """The same three changes again, on a second extension (`warm`), with extd running."""
    return {
        "add_warm": (lambda: client.add_extension(warm, version="1.0.0"), success(0)),
        "settings_warm": (
            lambda: client.set_extension_settings(warm, public={"n": 1}),
            success(1),
        ),
        "update_warm": (lambda: client.update_extension(warm, "1.1.0"), success(1, "1.1.0")),
    }


def main_vm() -> None:
    print(f"extd in the booted VM, commands as transient services (median of {RUNS} VMs)")
    print("  bump: from the change at the fabric (wire told to Refresh) to success in the status")
    print("  blob; fetched: from wire having the goal state (its journal line) to that blob")
    runs = [vm_run(f"Bench.Vm.Ext{run}") for run in range(RUNS)]
    print(f"{'case':<16}{'bump':>9}{'fetched':>10}{'classic':>10}")
    for key in ("add", "settings", "update"):
        for label, figure in ((key, key), (f"{key}, warm", f"{key}_warm")):
            bump = statistics.median(r[figure] for r in runs)
            fetched = statistics.median(r[f"{figure}_extd"] for r in runs)
            print(f"{label:<16}{bump:>7.2f} s{fetched:>8.2f} s{CLASSIC[key]:>8.1f} s")


def main() -> None:
    if "--vm" in sys.argv[1:]:
        main_vm()
        return
    if "--fast-track" in sys.argv[1:]:
        main_fast_track()
        return
    print(f"extd: incarnation bump -> status success at the fabric (median of {RUNS} runs)")
    print("  bump: from the change at the fabric; fetched: from wire having the whole goal state")
    print(f"{'case':<30}{'bump':>9}{'fetched':>10}{'classic':>10}")

    def row(label: str, runs: list[dict[str, float]], key: str, classic: str) -> None:
        bump = statistics.median(r[key] for r in runs)
        fetched = statistics.median(r[f"{key}_extd"] for r in runs)
        print(f"{label:<30}{bump:>7.2f} s{fetched:>8.2f} s{classic:>10}")

    for count in (1, 10, 50):
        runs = [one_run(count, extras=count == 1) for _ in range(RUNS)]
        classic = f"{CLASSIC['add']:.1f} s" if count == 1 else "-"
        row(f"add {count} extension(s)", runs, "add", classic)
        if count == 1:
            row("settings change (1)", runs, "settings", f"{CLASSIC['settings']:.1f} s")
            row("version update (1)", runs, "update", f"{CLASSIC['update']:.1f} s")
        if count == 10:
            rss = statistics.median(r["rss_mib"] for r in runs)
            label = "extd RSS idle, 10 installed"
            print(f"{label:<30}{rss:>5.1f} MiB   (classic: 56.2 MiB, whole agent)")
    main_fast_track()


if __name__ == "__main__":
    main()
