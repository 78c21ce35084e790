"""The daemon's pid file: held with a lock for as long as the daemon runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from waagent.daemon.pidfile import PidFile


def test_the_first_daemon_writes_its_pid_and_removes_the_file_when_done(tmp_path: Path) -> None:
    path = tmp_path / "run" / "waagent.pid"
    pid_file = PidFile(path)
    assert pid_file.acquire() is None
    assert path.read_text() == f"{os.getpid()}\n"
    pid_file.release()
    assert not path.exists()


def test_a_second_daemon_learns_the_pid_of_the_first(tmp_path: Path) -> None:
    path = tmp_path / "waagent.pid"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from waagent.daemon.pidfile import PidFile;"
            f" assert PidFile(Path('{path}')).acquire() is None; print('held', flush=True);"
            " time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert PidFile(path).acquire() == holder.pid
        assert PidFile(path).owner() == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_file_of_a_dead_daemon_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "waagent.pid"
    path.write_text("1\n")  # pid 1 is alive, but holds no lock on this file
    pid_file = PidFile(path)
    assert pid_file.owner() is None
    assert pid_file.acquire() is None
    assert path.read_text() == f"{os.getpid()}\n"
    pid_file.release()
