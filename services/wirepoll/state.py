"""What full wire leaves the poller, and the poller's own progress: `poll_state.json`.

One JSON file in wire's state directory, mode 0600, always replaced whole (written to a temporary
file, flushed, renamed), so a poller killed mid-write leaves the previous state, never half of
one. Times are CLOCK_MONOTONIC seconds, valid for the boot named by `boot_id` only.

`wire.lock` beside it says who polls: whoever holds it (flock) owns the fabric's schedule. Full
wire holds it while it runs; the poller takes it for each round and skips a round it cannot take.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

STATE_FILE = "poll_state.json"
LOCK_FILE = "wire.lock"
VERSION = 1
BOOT_ID = "/proc/sys/kernel/random/boot_id"


def boot_id(path: str = BOOT_ID) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@dataclass
class StatusBlob:
    url: str
    blob_type: str  # BlockBlob or PageBlob
    content: str  # the status JSON as wire built it; the poller moves its timestampUTC


@dataclass
class PollState:
    """Written by full wire when it goes idle; the poller keeps the timers and counters moving."""

    version: int = VERSION
    boot_id: str = ""
    # Where and how often.
    endpoint: str = ""
    imds_endpoint: str = "169.254.169.254"
    goal_state_period: float = 6.0
    status_refresh_period: float = 60.0
    heartbeat_period: float = 60.0
    host_plugin_unhealthy: float = 300.0
    imds_unhealthy: float = 180.0
    telemetry_period: float = 1800.0
    # What wire has seen: any change wakes it.
    goal_state_sha256: str = ""
    incarnation: str = ""
    container_id: str = ""
    role_config_name: str = ""
    vm_settings: bool = False  # Fast Track supported: ask vmSettings with If-None-Match
    etag: str = ""
    status: StatusBlob | None = None
    host_plugin_available: bool = False
    # Telemetry: the fields wire adds to every event (but the time and pid), the HeartBeat's.
    telemetry_common: dict[str, Any] = field(default_factory=dict)
    heartbeat_id: str = ""
    heartbeat_counter: int = 0
    goal_state_errors: int = 0
    update_mode: str = ""
    io_errors: dict[str, int] = field(default_factory=dict)
    # When each duty is next due, and since when a heartbeat fails (monotonic, this boot).
    next_goal_state: float = 0.0
    next_status: float = 0.0
    next_check: float = 0.0
    next_telemetry: float = 0.0
    host_plugin_failing_since: float | None = None
    imds_failing_since: float | None = None
    unhealthy_reported: dict[str, float] = field(default_factory=dict)
    # The boot whose extensions goal state extd was told about: a restarted wire tells it once.
    extensions_told_boot: str = ""
    # The boot whose provisioning wire saw done: a restarted wire hands extensions over without
    # asking the provisioner again, which would bus-activate it for every goal state.
    provisioned_boot: str = ""
    # The boot in which the provisioner took a goal state without remote access (every JIT user
    # deleted): a restarted wire does not start it to delete them again.
    jit_users_cleared_boot: str = ""
    # Provisioning.MonitorHostName: a change of the hostname wakes wire (its watch publishes).
    monitor_hostname: bool = False
    # The hostname when wire left: a change before the poller's watch starts is seen by it.
    hostname: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> PollState:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError("not a poll state of this version")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("status"), dict):
            values["status"] = StatusBlob(**values["status"])
        return cls(**values)


def load(directory: Path) -> PollState | None:
    """The state, or None when there is none or it is unreadable (wire writes a new one)."""
    try:
        return PollState.from_json((directory / STATE_FILE).read_bytes())
    except (OSError, ValueError, TypeError):
        return None


def save(directory: Path, state: PollState) -> None:
    """Atomically, 0600: a temporary file beside it, flushed to disk, renamed over it."""
    path = directory / STATE_FILE
    temporary = directory / f".{STATE_FILE}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, state.to_json().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def mtime(directory: Path) -> int:
    try:
        return (directory / STATE_FILE).stat().st_mtime_ns
    except OSError:
        return 0


@contextlib.contextmanager
def try_lock(directory: Path) -> Iterator[bool]:
    """Hold `wire.lock` for the block if nobody else does (True), else yield False at once."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock
