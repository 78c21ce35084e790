"""The WireServer firewall's cost: the boot unit's command (apply from nothing, and the re-check
when the rules are already right), in a VM network namespace, and what stays resident (nothing:
netd exits when idle and the boot unit is a oneshot).

Prints the median of 5 runs of each, wall time and the peak RSS of the process. The classic
agent ran its firewall check inside its resident extension-handler process every 30 s.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.paths import PYTHON, SAMPLE_CONFIG
from tests.netd.conftest import write_passwd
from tests.netd.netns import vm_network

RUNS = 5


def once(ns: str, root: Path) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MiB) of one `waagent-netd --setup-firewall`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    subprocess.run(
        ["ip", "netns", "exec", ns, PYTHON, "-m", "waagent.netd", "--setup-firewall",
         "--root", str(root), "--config", str(root / "etc/waagent.conf")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-netd-") as tmp, vm_network() as vm:
        root = Path(tmp)
        write_passwd(root, 999)
        (root / "etc/waagent.conf").write_text(SAMPLE_CONFIG.read_text())
        (root / "var/lib/waagent").mkdir(parents=True)
        (root / "var/lib/waagent/WireServerEndpoint").write_text("168.63.129.16")
        (root / "var/log").mkdir(parents=True)
        applied, checked = [], []
        for _ in range(RUNS):
            vm.exec("sh", "-c", "nft delete table ip waagent 2>/dev/null; true")
            applied.append(once(vm.network.vm_ns, root))
            checked.append(once(vm.network.vm_ns, root))
    for label, runs in (("apply (no rules yet)", applied), ("re-check (rules in place)", checked)):
        wall = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        print(f"  {label:<28} {wall * 1000:6.0f} ms   peak RSS {rss:5.1f} MiB")
    print(
        "  resident while idle             0 MiB (netd exits when idle; the boot unit is a oneshot)"
    )
    print("  classic: checked every 30 s inside its resident extension handler")
    return 0


if __name__ == "__main__":
    sys.exit(main())
