"""The DHCP routes' cost: `waagent-netd --apply-dhcp-routes` (what waagent-dhcp-routes.path
starts on a lease change) in a VM namespace whose real dhclient lease came from the fabric's DHCP
server: adding the routes from nothing, and the re-check when they are there; and what stays
resident (nothing: a oneshot, and netd exits when idle).

Prints the median of 5 runs of each, wall time and the peak RSS of the process. The classic
agent watched the DHCP client's PID every 30 s inside its resident extension handler.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.dhcp import dhclient, dhcp_fabric
from tests.harness.paths import PYTHON, SAMPLE_CONFIG

RUNS = 5
ADDED = ("168.63.129.16/32", "169.254.169.254/32", "10.99.0.0/16", "default")


def once(ns: str, root: Path) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MiB, GNU time's %M) of one `waagent-netd
    --apply-dhcp-routes`."""
    started = time.monotonic()
    result = subprocess.run(
        ["ip", "netns", "exec", ns, "/usr/bin/time", "-f", "%M", PYTHON, "-m", "waagent.netd",
         "--apply-dhcp-routes", "--root", str(root), "--config", str(root / "etc/waagent.conf")],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    return elapsed, int(result.stderr.strip().splitlines()[-1]) / 1024


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-routes-") as tmp:
        work = Path(tmp)
        root = work / "root"
        (root / "etc").mkdir(parents=True)
        (root / "etc/waagent.conf").write_text(SAMPLE_CONFIG.read_text())
        (root / "var/log").mkdir(parents=True)
        with dhcp_fabric(work) as (network, _fabric):
            lease = root / "var/lib/dhcp/dhclient.eth0.leases"
            dhclient(network, work / "client", "bench", lease=lease, configure_address=True)
            added, checked = [], []
            for _ in range(RUNS):
                for destination in ADDED:
                    network.run_in_vm(["ip", "route", "del", destination], check=False)
                added.append(once(network.vm_ns, root))
                checked.append(once(network.vm_ns, root))
    for label, runs in (("add 4 routes", added), ("re-check (routes in place)", checked)):
        wall = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        print(f"  {label:<28} {wall * 1000:6.0f} ms   peak RSS {rss:5.1f} MiB")
    print("  resident while idle             0 MiB (a oneshot started by a path unit)")
    print("  classic: the DHCP client's PID checked every 30 s inside its resident handler")
    return 0


if __name__ == "__main__":
    sys.exit(main())
