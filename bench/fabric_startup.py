"""Fabric simulator figures: startup (in process, thread, process), first Certificates, polls/s.

Run: .venv/bin/python bench/fabric_startup.py [--polls N]
Traffic goes only to loopback addresses of this machine; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from waagent.fabric.network import allocate_loopback
from waagent.fabric.scenario import Scenario
from waagent.fabric.server import Fabric, fabric_thread

H1 = {"x-ms-agent-name": "WALinuxAgent", "x-ms-version": "2012-11-30"}
FREE_PORTS = {"wire_port": 0, "hgap_port": 0, "storage_port": 0}
RUNS = 20


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def median_of(samples: list[float]) -> str:
    return (
        f"median {ms(statistics.median(samples))}, min {ms(min(samples))}, max {ms(max(samples))}"
    )


def import_time() -> float:
    code = (
        "import time; t = time.perf_counter(); import waagent.fabric.server; "
        "print(time.perf_counter() - t)"
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
            ).stdout
        )
        for _ in range(5)
    ]
    return statistics.median(samples)


async def in_process_startup() -> list[float]:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fabric = Fabric(Scenario.default(), address=allocate_loopback(), **FREE_PORTS)
        await fabric.start()
        samples.append(time.perf_counter() - started)
        await fabric.stop()
    return samples


def thread_startup() -> list[float]:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        with fabric_thread(Scenario.default(), address=allocate_loopback(), **FREE_PORTS):
            samples.append(time.perf_counter() - started)
    return samples


def process_startup() -> tuple[list[float], int]:
    samples, rss = [], 0
    for _ in range(5):
        argv = [sys.executable, "-m", "waagent.fabric", "serve", "--listen", allocate_loopback()]
        argv += ["--wire-port=0", "--hgap-port=0", "--storage-port=0"]
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert process.stdout is not None
        json.loads(process.stdout.readline())
        samples.append(time.perf_counter() - started)
        status = Path(f"/proc/{process.pid}/status").read_text()
        rss = max(
            rss,
            int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))),
        )
        process.terminate()
        process.wait(10)
        process.stdout.close()
    return samples, rss


def transport_header() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LinuxTransport")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def requests_per_second(http: httpx.Client, url: str, count: int, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    for _ in range(count):
        http.get(url, headers=headers).raise_for_status()
    return count / (time.perf_counter() - started)


def line(label: str, value: str) -> None:
    print(f"{label + ':':<50} {value}", flush=True)


def certificates_and_polls(polls: int) -> None:
    with fabric_thread(Scenario.default(), address=allocate_loopback(), **FREE_PORTS) as fabric:
        wire = f"http://{fabric.address}:{fabric.wire_port}"
        url = f"{wire}/machine/?comp=goalstate"
        with httpx.Client(trust_env=False, timeout=10) as http:
            goal_state = http.get(url, headers=H1).text
            certificates = goal_state.split("<Certificates>")[1].split("</Certificates>")[0]
            certificates = certificates.replace("&amp;", "&")
            headers = {**H1, "x-ms-guest-agent-public-x509-cert": transport_header()}
            timings = []
            for _ in range(2):
                started = time.perf_counter()
                http.get(certificates, headers=headers).raise_for_status()
                timings.append(time.perf_counter() - started)
            line(
                "first Certificates (keygen, PKCS#12, CMS)",
                f"{ms(timings[0])}; then {ms(timings[1])}",
            )
            keep = requests_per_second(http, url, polls, H1)
            close = requests_per_second(http, url, polls // 4, {**H1, "Connection": "close"})
        line("goal-state polls, one kept-alive connection", f"{keep:.0f} requests/s")
        line("goal-state polls, Connection: close (as the agent)", f"{close:.0f} requests/s")
        line("requests recorded", str(len(fabric.requests())))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=2000, help="goal-state requests per figure")
    args = parser.parse_args()
    line("import waagent.fabric.server (fresh interpreter)", ms(import_time()))
    line(f"Fabric.start() in process ({RUNS} runs)", median_of(asyncio.run(in_process_startup())))
    line(f"fabric_thread() until serving ({RUNS} runs)", median_of(thread_startup()))
    samples, rss = process_startup()
    line("waagent-fabric serve until ready (5 runs)", median_of(samples))
    line("waagent-fabric serve resident memory when ready", f"{rss / 1024:.1f} MiB")
    certificates_and_polls(args.polls)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line("bench process peak RSS", f"{peak:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
