"""Every bench script in one run, then one table: issue 17's figures beside the classic agent's.

Each entry of `ENTRIES` is one script run (its output shown as it comes); `FIGURES` says which
line of which script's output gives each figure of issue 17's table, and the classic agent 2.15's
figure from that table (measured on the reference harness: Debian 12 booted with systemd in a
container, a replay fabric, not on this machine). A script that is missing is skipped with a
note; one that fails leaves its figures empty and the run goes on.

Run as root: .venv/bin/python bench/run_all.py [--quick] [--vm]   (or `make bench`)
  --quick  a smoke run: each script that has a short form runs it, the others are skipped
  --vm     also the scripts that boot the system-test VM (one at a time on a shared machine)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPT_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Entry:
    """One script run: `args` in a full run, `quick` in a smoke run (None: not in a smoke run)."""

    script: str
    args: tuple[str, ...] = ()
    quick: tuple[str, ...] | None = None
    vm: bool = False  # boots the system-test VM: only with --vm

    @property
    def missing(self) -> bool:
        return not (BENCH / self.script).exists()


# Adding a script is one line here (and its figures below, if it measures one of issue 17's).
ENTRIES: tuple[Entry, ...] = (
    Entry("wire_poll.py"),
    Entry("wire_idle.py"),
    Entry("cli_daemon.py", quick=("--quick",)),
    Entry("provision.py"),
    Entry("provision_vm.py", ("--runs", "3"), quick=("--runs", "1", "--kind", "ed25519"), vm=True),
    Entry("extensions.py"),
    Entry("extensions.py", ("--vm",), vm=True),
    Entry("agent_limits.py", vm=True),
    Entry("service_peaks.py"),
    Entry("hostname_watch.py", ("120",), quick=("10",)),
    Entry("fabric_startup.py", quick=("--polls", "200")),
    Entry("log_bundle.py"),
    Entry("netd_firewall.py", quick=()),
    Entry("netd_routes.py", quick=()),
    Entry("resource_disk.py"),
)

NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
# The -daemon figure once the poller polled (a forked poller's shared pages are copied as used).
DAEMON_POLLING = r"all -daemon processes, on demand, polling for [0-9]+ s"


@dataclass(frozen=True)
class Figure:
    """A row of the table. `sources`: (script, patterns), the first script whose output has
    every pattern gives the value (one number per pattern, joined by " / ")."""

    label: str
    classic: str
    budget: str
    sources: tuple[tuple[str, tuple[str, ...]], ...]
    unit: str = ""


def ext(case: str) -> str:  # extensions.py's row: label, bump, fetched (the classic figure)
    return rf"{case}\s+{NUMBER} s\s+{NUMBER} s"


FIGURES: tuple[Figure, ...] = (
    Figure(
        "goal state fetched -> extension success (add / settings / update)",
        "4.03 / 2.02 / 10.06 s",
        "<= 1/10",
        (
            (
                "extensions.py",
                (
                    ext(r"add 1 extension\(s\)"),
                    ext(r"settings change \(1\)"),
                    ext(r"version update \(1\)"),
                ),
            ),
        ),
        " s",
    ),
    Figure(
        "idle PSS, all agent processes (systemd)",
        "42.8 MiB (2 processes)",
        "<= 21 MiB",
        (
            ("wire_idle.py", (rf"idle PSS, all agent processes MiB\s+{NUMBER}",)),
            ("wire_poll.py", (rf"proportional \(PSS MiB\)\s+{NUMBER}",)),
        ),
        " MiB",
    ),
    Figure(
        "idle RSS, all agent processes (systemd)",
        "56.2 MiB",
        "<= 28 MiB",
        (
            ("wire_idle.py", (rf"idle RSS, all agent processes MiB\s+{NUMBER}",)),
            ("wire_poll.py", (rf"resident memory \(RSS MiB\)\s+{NUMBER}",)),
        ),
        " MiB",
    ),
    Figure(
        "idle PSS, all `waagent -daemon` processes",
        "42.8 MiB (2 processes)",
        "<= 21 MiB",
        (
            (
                "cli_daemon.py",
                (rf"{DAEMON_POLLING}: RSS [0-9.]+ MiB, PSS {NUMBER}",),
            ),
        ),
        " MiB",
    ),
    Figure(
        "idle RSS, all `waagent -daemon` processes",
        "56.2 MiB",
        "<= 28 MiB",
        (("cli_daemon.py", (rf"{DAEMON_POLLING}: RSS {NUMBER}",)),),
        " MiB",
    ),
    Figure(
        "idle CPU, all agent processes and children",
        "2.82 s/h",
        "<= 0.56 s/h (net of the floor)",
        (
            ("wire_idle.py", (rf"idle CPU s/h \(with heartbeats\)\s+{NUMBER}",)),
            ("wire_poll.py", (rf"CPU s per idle hour\s+{NUMBER}",)),
        ),
        " s/h",
    ),
    Figure(
        "agent start -> Ready at the fabric, ed25519 host keys",
        "0.54 s",
        "<= 0.18 s",
        (
            ("provision_vm.py", (rf"unit start -> Ready\s+[0-9.]+\s+{NUMBER}",)),
            ("provision.py", (rf"host keys ed25519, wire just started: {NUMBER} s",)),
            ("provision.py", (rf"ed25519[^\n]*?: {NUMBER} s",)),
        ),
        " s",
    ),
    Figure(
        "the same, rsa host keys",
        "0.97 s",
        "<= 0.32 s",
        (
            (
                "provision_vm.py",
                (r"(?s)host keys rsa.*?" + rf"unit start -> Ready\s+[0-9.]+\s+{NUMBER}",),
            ),
            ("provision.py", (rf"host keys rsa, wire just started: {NUMBER} s",)),
            ("provision.py", (rf"rsa[^\n]*?: {NUMBER} s",)),
        ),
        " s",
    ),
    Figure(
        "container start -> Ready, ed25519",
        "0.89 s",
        "-",
        (("provision_vm.py", (rf"container start -> Ready\s+[0-9.]+\s+{NUMBER}",)),),
        " s",
    ),
    Figure(
        "idle requests to the fabric per minute",
        "26 (with heartbeats)",
        "same duties, fewer",
        (("wire_poll.py", (rf"^\s*total\s+{NUMBER}",)),),
    ),
)
# The machine's floor: a bare python3 waking on wire's period (idle CPU is counted net of it).
FLOOR: tuple[tuple[str, str], ...] = (
    ("wire_idle.py", rf"bare python3, same period \(floor\)\s+{NUMBER}"),
    ("wire_poll.py", rf"bare Python, same timer\s+{NUMBER}"),
)


@dataclass
class Outcome:
    entry: Entry
    output: str = ""
    seconds: float = 0.0
    note: str = ""
    args: Sequence[str] = ()

    @property
    def label(self) -> str:
        return " ".join((self.entry.script, *self.args))


def run(entry: Entry, args: Sequence[str]) -> Outcome:
    outcome = Outcome(entry, args=args)
    path = BENCH / entry.script
    if entry.missing:
        outcome.note = "skipped: script missing"
        return outcome
    print(f"\n===== {entry.script} {' '.join(args)}".rstrip(), flush=True)
    started = time.monotonic()
    lines = []
    with subprocess.Popen(
        [sys.executable, str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if time.monotonic() - started > SCRIPT_TIMEOUT:
                proc.kill()
                outcome.note = f"killed after {SCRIPT_TIMEOUT:g} s"
                break
            sys.stdout.write(line)
            lines.append(line)
        returncode = proc.wait()
    outcome.seconds = time.monotonic() - started
    outcome.output = "".join(lines)
    if returncode != 0 and not outcome.note:
        outcome.note = f"failed (status {returncode})"
    return outcome


def value_of(figure: Figure, outputs: dict[str, str]) -> tuple[str, str]:
    """(the value, the script it came from); ("-", "") when no script printed it."""
    for script, patterns in figure.sources:
        text = outputs.get(script, "")
        matches = [re.search(p, text, re.MULTILINE) for p in patterns]
        if text and all(matches):
            numbers = [m.group(m.lastindex or 0) for m in matches if m]
            return " / ".join(numbers) + figure.unit, script
    return "-", ""


def floor_of(outputs: dict[str, str]) -> tuple[float, str] | None:
    for script, pattern in FLOOR:
        found = re.search(pattern, outputs.get(script, ""), re.MULTILINE)
        if found:
            return float(found.group(1)), script
    return None


def floor_lines(outputs: dict[str, str], cpu: str) -> list[str]:
    floor = floor_of(outputs)
    if floor is None:
        return ["machine floor (idle CPU): not measured in this run"]
    value, script = floor
    lines = [
        f"machine floor (idle CPU): {value:.2f} s/h, a bare python3 on the same timer ({script})"
    ]
    if cpu != "-":
        net = float(cpu.split(maxsplit=1)[0]) - value
        lines.append(f"idle CPU net of the floor: {net:.2f} s/h (budget 0.56 s/h)")
    return lines


def table(outcomes: list[Outcome], elapsed: float) -> str:
    outputs: dict[str, str] = {}
    for outcome in outcomes:
        outputs.setdefault(outcome.entry.script, "")
        outputs[outcome.entry.script] += outcome.output
    rows = [
        "| figure | waagent, this run | from | classic 2.15, measured on the reference harness "
        "| budget |",
        "|---|---|---|---|---|",
    ]
    cpu = "-"
    for figure in FIGURES:
        value, script = value_of(figure, outputs)
        rows.append(f"| {figure.label} | {value} | {script} | {figure.classic} | {figure.budget} |")
        if figure.label.startswith("idle CPU"):
            cpu = value
    lines = ["", "===== issue 17 figures", *rows, "", *floor_lines(outputs, cpu), ""]
    for outcome in outcomes:
        status = outcome.note or "ok"
        lines.append(f"  {outcome.label:<28} {outcome.seconds:7.1f} s  {status}")
    lines.append(f"whole run: {elapsed / 60:.1f} min")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--vm", action="store_true", help="also the booted-VM scripts")
    options = parser.parse_args(argv)
    started = time.monotonic()
    outcomes = []
    for entry in ENTRIES:
        args = entry.quick if options.quick else entry.args
        if entry.missing:
            outcomes.append(Outcome(entry, note="skipped: script missing", args=entry.args))
        elif entry.vm and not options.vm:
            outcomes.append(Outcome(entry, note="skipped: boots the VM (--vm)", args=entry.args))
        elif args is None:
            outcomes.append(Outcome(entry, note="skipped in --quick", args=entry.args))
        else:
            outcomes.append(run(entry, args))
    sys.stdout.write(table(outcomes, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
