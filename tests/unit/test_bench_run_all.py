"""bench/run_all.py: issue 17's table from the scripts' own output lines, a missing script."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.harness.paths import REPO


def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_all", REPO / "bench" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


WIRE_POLL = """\
  total                             14.00         26
                               waagent     budget    classic
  resident memory (RSS MiB)          46.6       28.0       56.2
  proportional (PSS MiB)             32.8
  CPU s per idle hour                1.58       0.55       2.80
    bare Python, same timer          0.40   (this machine's wake-up floor)
"""
EXTENSIONS = """\
add 1 extension(s)               0.50 s    0.21 s     4.0 s
settings change (1)              0.40 s    0.19 s     2.0 s
version update (1)               0.53 s    0.32 s    10.1 s
"""
CLI_DAEMON = (
    "idle memory, all -daemon processes, on demand, polling for 60 s: RSS 61.0 MiB, PSS 39.5 MiB"
    " (issue 17 budget: RSS 28, PSS 21)\n"
)


def test_the_table_takes_each_figure_from_the_line_that_prints_it() -> None:
    module = run_all()
    outcomes = [
        module.Outcome(module.Entry("wire_poll.py"), WIRE_POLL),
        module.Outcome(module.Entry("extensions.py"), EXTENSIONS),
        module.Outcome(module.Entry("cli_daemon.py"), CLI_DAEMON),
    ]
    text = module.table(outcomes, 60.0)
    assert "| 0.21 / 0.19 / 0.32 s | extensions.py | 4.03 / 2.02 / 10.06 s |" in text
    assert "| idle PSS, all agent processes (systemd) | 32.8 MiB | wire_poll.py |" in text
    assert "| idle PSS, all `waagent -daemon` processes | 39.5 MiB | cli_daemon.py |" in text
    assert "| idle RSS, all `waagent -daemon` processes | 61.0 MiB | cli_daemon.py |" in text
    assert "| idle requests to the fabric per minute | 14.00 | wire_poll.py |" in text
    assert "machine floor (idle CPU): 0.40 s/h" in text
    assert "idle CPU net of the floor: 1.18 s/h" in text
    assert "| agent start -> Ready at the fabric, ed25519 host keys | - |" in text
    assert "classic 2.15, measured on the reference harness" in text


def test_a_missing_script_is_skipped_with_a_note() -> None:
    module = run_all()
    outcome = module.run(module.Entry("no_such_bench.py"), ())
    assert outcome.note == "skipped: script missing"
    assert "no_such_bench.py" in module.table([outcome], 1.0)


def test_every_entry_but_the_announced_one_names_an_existing_script() -> None:
    module = run_all()
    missing = {e.script for e in module.ENTRIES if not (REPO / "bench" / e.script).exists()}
    assert missing <= {"wire_idle.py"}  # another change adds it
