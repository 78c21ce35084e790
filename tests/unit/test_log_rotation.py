"""The shipped logrotate file, run for real (`logrotate -f` with a state file of its own) on a
log that two running writers set up by logs.setup append to: after the rotation their next lines
land in the new file, and no line is lost or written twice."""

from __future__ import annotations

import grp
import gzip
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.paths import REPO

SHIPPED = REPO / "config" / "waagent.logrotate"
# A process whose log is set up as every service's is; it logs each stdin line and says "ok".
WRITER = """
import logging, sys
from pathlib import Path
from waagent.common import logs
logs.setup(sys.argv[1], log_file=Path(sys.argv[2]))
for line in sys.stdin:
    logging.getLogger("waagent.test").info(line.strip())
    print("ok", flush=True)
"""

pytestmark = pytest.mark.skipif(shutil.which("logrotate") is None, reason="needs logrotate")


class Writer:
    def __init__(self, name: str, log_file: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, name, str(log_file)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def log(self, text: str) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def sandbox_config(tmp_path: Path, log_file: Path) -> Path:
    """The shipped file for the sandbox log; the owners of `create` become the test's own (the
    host may have no waagent-wire, and a user without privileges cannot chown)."""
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    text = SHIPPED.read_text()
    assert "/var/log/waagent.log {" in text and "create 0660 root waagent-wire" in text
    text = text.replace("/var/log/waagent.log", str(log_file))
    text = text.replace("create 0660 root waagent-wire", f"create 0660 {user} {group}")
    config = tmp_path / "waagent.logrotate"
    config.write_text(text)
    config.chmod(0o644)
    return config


def rotate(config: Path, state: Path) -> None:
    result = subprocess.run(
        ["logrotate", "-f", "-s", str(state), str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.fixture
def writers(tmp_path: Path) -> Iterator[tuple[Path, list[Writer]]]:
    log_file = tmp_path / "log" / "waagent.log"
    log_file.parent.mkdir()
    started = [Writer("wire", log_file), Writer("diskd", log_file)]
    yield log_file, started
    for writer in started:
        writer.stop()


def messages(path: Path) -> list[str]:
    return [line.split(" ", 3)[3] for line in path.read_text().splitlines()]


def test_the_shipped_parameters_are_the_classic_ones() -> None:
    words = {line.split()[0]: line.split()[1:] for line in SHIPPED.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith(("#", "/", "}"))}  # fmt: skip
    assert words["size"] == ["20M"] and words["rotate"] == ["50"]
    assert "compress" in words and "dateext" in words


def test_after_rotation_every_writer_goes_on_in_the_new_file(
    tmp_path: Path, writers: tuple[Path, list[Writer]]
) -> None:
    log_file, (wire, diskd) = writers
    wire.log("before rotation, wire")
    diskd.log("before rotation, diskd")

    rotate(sandbox_config(tmp_path, log_file), tmp_path / "logrotate.state")
    wire.log("after rotation, wire")
    diskd.log("after rotation, diskd")

    rotated = [p for p in log_file.parent.iterdir() if p != log_file]
    assert len(rotated) == 1 and rotated[0].name.startswith("waagent.log-"), rotated
    assert messages(rotated[0]) == ["before rotation, wire", "before rotation, diskd"]
    assert messages(log_file) == ["after rotation, wire", "after rotation, diskd"]
    assert log_file.stat().st_mode & 0o777 == 0o660


def test_the_previous_rotation_is_compressed_at_the_next_one(
    tmp_path: Path, writers: tuple[Path, list[Writer]]
) -> None:
    log_file, (wire, _) = writers
    config, state = sandbox_config(tmp_path, log_file), tmp_path / "logrotate.state"
    wire.log("first")
    rotate(config, state)
    wire.log("second")
    # dateformat has one-second resolution: the second rotation needs a name of its own
    time.sleep(1.1)
    rotate(config, state)
    wire.log("third")

    names = sorted(p.name for p in log_file.parent.iterdir() if p != log_file)
    assert len(names) == 2, names
    assert names[0].endswith(".gz") and not names[1].endswith(".gz"), names
    with gzip.open(log_file.parent / names[0], "rt") as oldest:
        assert [line.split(" ", 3)[3] for line in oldest.read().splitlines()] == ["first"]
    assert messages(log_file.parent / names[1]) == ["second"]
    assert messages(log_file) == ["third"]


def test_a_deleted_log_is_not_created_again(tmp_path: Path) -> None:
    """Deprovisioning deletes the log; a service still running must not leave a new one behind
    in the image being captured."""
    log_file = tmp_path / "waagent.log"
    writer = Writer("deleted", log_file)
    try:
        writer.log("before the deletion")
        log_file.unlink()
        writer.log("after the deletion")
        assert not log_file.exists()
    finally:
        writer.stop()
