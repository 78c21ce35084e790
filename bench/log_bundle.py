"""The log bundle of `waagent -collect-logs`: time, size and peak memory at the classic caps.

A sandbox root holds about 200 MiB of logs (an agent log over the 30 MiB cap, syslog, rotated
compressed logs, twenty extension logs, handler status and settings). The bundle is built in a
child process, so its peak resident memory is its own; the classic collector is killed when it
passes 25 MiB of anonymous memory (reference §10.13).

Run: .venv/bin/python bench/log_bundle.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MiB = 1 << 20
LINE = b"2026-11-26T00:00:00.000000Z INFO ExtHandler [Microsoft.Test-1.0] handler says hello %d\n"
CHILD = r"""
import asyncio, resource, sys, tempfile, time
from waagent.cli import log_manifest
from waagent.cli.log_bundle import LogCollector
from waagent.common.commands import Runner
from waagent.common.config import AgentConfig
from waagent.common.root import Root
import re
status = open("/proc/self/status").read()
before = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
started = time.perf_counter()
with tempfile.TemporaryFile() as out:
    bundle = asyncio.run(
        LogCollector(Root(sys.argv[1]), AgentConfig(), Runner()).build(log_manifest.NORMAL, out)
    )
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(elapsed, bundle.size, bundle.uncompressed, len(bundle.files), len(bundle.left_out), peak,
      before)
"""


def text(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        n = 0
        while f.tell() < size:
            f.write(LINE % n)
            n += 1


def build_tree(root: Path) -> int:
    text(root / "var/log/waagent.log", 40 * MiB)
    text(root / "var/log/syslog", 20 * MiB)
    for n in range(1, 4):
        path = root / f"var/log/syslog.{n}.gz"
        path.write_bytes(os.urandom(5 * MiB))
    for n in range(20):
        text(root / f"var/log/azure/Microsoft.Test{n}/handler.log", 5 * MiB)
        lib = root / f"var/lib/waagent/Microsoft.Test{n}-1.0"
        (lib / "status").mkdir(parents=True)
        (lib / "status/0.status").write_text('[{"status": {"status": "success"}}]')
        (lib / "config").mkdir()
        settings = {"runtimeSettings": [{"handlerSettings": {"protectedSettings": "x" * 64}}]}
        (lib / "config/0.settings").write_text(json.dumps(settings))
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> int:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        total = build_tree(root)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(root)],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - started
        elapsed, size, uncompressed, files, left_out, peak, before = result.stdout.split()
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"logs on disk: {total / MiB:.0f} MiB")
    print(
        f"bundle: {int(size) / MiB:.1f} MiB zip of {int(uncompressed) / MiB:.1f} MiB collected,"
        f" {files} files, {left_out} left out"
    )
    print(f"build time: {float(elapsed):.2f} s (process wall {wall:.2f} s)")
    print(f"CPU: {child.ru_utime + child.ru_stime:.2f} s")
    print(
        f"peak RSS of the collector: {float(peak):.1f} MiB, of which {float(before):.1f} MiB before"
        " the build (interpreter, configuration model); classic limit: 25 MiB anonymous"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
