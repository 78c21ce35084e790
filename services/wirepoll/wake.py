"""Waking full wire: `Wire1.Poll(reason)` with dbus-send, which bus-activates wire if it is gone.

dbus-send is a small C program: the poller needs no D-Bus library of its own, and the call is
rare (a new goal state, a changed ETag, a duty only full wire does).
"""

from __future__ import annotations

import logging
import subprocess

log = logging.getLogger(__name__)

WIRE_NAME = "org.waagent.Wire1"
WIRE_PATH = "/org/waagent/Wire1"
TIMEOUT = 150.0  # wire's start (a new transport certificate) and the first poll fit in this
DBUS_SEND = "dbus-send"


def wake(reason: str, *, dbus_send: str = DBUS_SEND) -> bool:
    """Ask full wire to poll now; whether it answered."""
    argv = [
        dbus_send,
        "--system",
        "--print-reply",
        f"--reply-timeout={int(TIMEOUT * 1000) - 5000}",
        f"--dest={WIRE_NAME}",
        WIRE_PATH,
        f"{WIRE_NAME}.Poll",
        f"string:{reason}",
    ]
    log.info("waking wire: %s", reason)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("cannot wake wire (%s): %s", reason, exc)
        return False
    if done.returncode != 0:
        log.warning("cannot wake wire (%s): %s", reason, done.stderr.strip()[:300])
        return False
    return True
