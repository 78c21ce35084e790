"""The systemd generator of periodic log collection (reference §10.13): the timer from the config.

systemd runs generators at boot and at each `systemctl daemon-reload`, before any unit starts.
This one reads `/etc/waagent.conf` (the same validation as the services) and, in the generator
directory it is given:

* with `Logs.Collect=y`, enables `waagent-logcollector.timer` (a `timers.target.wants` link);
* sets the timer's first run `Debug.LogCollectorInitialDelay` seconds after it starts (at boot,
  as classic counted from the agent's start) and then every `Logs.CollectPeriod` seconds after
  the last run began (`OnActiveSec=`, `OnUnitActiveSec=`).

A generator, rather than a drop-in written by a service: the config is the one place that
decides, nothing writes unit directories at run time, no daemon-reload happens during boot, and
a changed config takes effect at the next daemon-reload, as for any unit setting. A bad config
enables nothing (the services refuse it too) and says why on stderr (the journal).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..common.config import DEFAULT_PATH, AgentConfig, load
from ..common.errors import ConfigError

TIMER = "waagent-logcollector.timer"
WANTS = "timers.target.wants"
DROP_IN = "50-waagent-conf.conf"
PROGRAM = "waagent-logcollector-generator"


def timer_settings(config: AgentConfig) -> str:
    # One empty assignment first: it clears every trigger of the unit (each kind: a second one
    # would clear the value just set), so these replace the defaults instead of adding to them.
    return (
        f"# Written by {PROGRAM} from waagent.conf.\n"
        "[Timer]\n"
        "OnActiveSec=\n"
        f"OnActiveSec={config.debug_log_collector_initial_delay}s\n"
        f"OnUnitActiveSec={config.logs_collect_period}s\n"
    )


def generate(out: Path, config: AgentConfig, unit_dir: Path) -> list[Path]:
    """The generated files (nothing when Logs.Collect=n)."""
    if not config.logs_collect:
        return []
    drop_in = out / f"{TIMER}.d" / DROP_IN
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text(timer_settings(config))
    link = out / WANTS / TIMER
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        os.symlink(unit_dir / TIMER, link)
    return [drop_in, link]


def main(
    argv: Sequence[str] | None = None,
    config_path: Path = DEFAULT_PATH,
    unit_dir: Path | None = None,
) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write(f"usage: {PROGRAM} NORMAL_DIR [EARLY_DIR LATE_DIR]\n")
        return 2
    try:
        config = load(config_path).config
    except ConfigError as exc:
        problems = "; ".join(exc.problems)
        sys.stderr.write(f"{PROGRAM}: periodic log collection is off: {problems}\n")
        return 0
    if unit_dir is None:
        # Installed in <prefix>/lib/systemd/system-generators, beside <prefix>/lib/systemd/system.
        unit_dir = Path(sys.argv[0]).absolute().parent.parent / "system"
    generate(Path(args[0]), config, unit_dir)
    return 0
