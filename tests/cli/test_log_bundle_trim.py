"""A bundle over the classic size limits is trimmed, not dropped (reference §10.13)."""

from __future__ import annotations

import os
from pathlib import Path

from waagent.cli.log_bundle import FILE_CAP, Caps

from .test_log_bundle import build, write

LINE = "2026-12-06T03:00:00.000000Z INFO Daemon Agent is running, everything is fine\n"


def test_an_agent_log_over_30_mib_goes_in_as_its_newest_30_mib(tmp_path: Path) -> None:
    lines = (FILE_CAP // len(LINE)) + 20_000
    write(tmp_path, "/var/log/waagent.log", LINE * lines + "the newest line\n")
    bundle, contents = build(tmp_path)
    kept = contents["truncated_var_log_waagent.log"]
    assert len(kept) == FILE_CAP
    assert kept.endswith(b"the newest line\n")
    assert bundle.truncated == ["truncated_var_log_waagent.log"]


def test_the_file_that_passes_the_total_goes_in_as_its_tail(tmp_path: Path) -> None:
    write(tmp_path, "/var/log/waagent.log", "a" * 70)
    write(tmp_path, "/var/log/syslog", "old " * 20 + "newest")  # 86 bytes, 30 fit
    bundle, contents = build(tmp_path, caps=Caps(file=100, total=100))
    assert contents["var/log/waagent.log"] == b"a" * 70
    assert contents["truncated_var_log_syslog"] == (b"old " * 20 + b"newest")[-30:]
    assert bundle.uncompressed == 100
    assert "/var/log/syslog" not in bundle.left_out


def test_once_the_total_is_reached_later_files_are_left_out_and_say_why(tmp_path: Path) -> None:
    write(tmp_path, "/var/log/waagent.log", "a" * 100)
    write(tmp_path, "/var/log/syslog", "kernel: hello\n")
    bundle, contents = build(tmp_path, caps=Caps(file=100, total=100))
    assert "var/log/syslog" not in contents
    assert "total" in bundle.left_out["/var/log/syslog"]
    assert "left out /var/log/syslog" in contents["results.txt"].decode()


def test_a_compressed_file_is_not_cut_to_fit_the_total(tmp_path: Path) -> None:
    write(tmp_path, "/var/log/waagent.log", "a" * 60)
    write(tmp_path, "/var/log/syslog.2.gz", os.urandom(80))
    bundle, contents = build(tmp_path, caps=Caps(file=100, total=100))
    assert not any("syslog.2.gz" in name for name in contents)
    assert "compressed" in bundle.left_out["/var/log/syslog.2.gz"]
