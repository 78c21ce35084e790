"""The provisioning result in Hyper-V KVP, for the host (what cloud-init and azure-init do).

The host reads the guest pool (`/var/lib/hyperv/.kvp_pool_1`) through hv_kvp_daemon, with no
network: a VM whose WireServer path is broken still tells the platform why it failed. The
record is `PROVISIONING_REPORT`, its value `|`-separated `name=value` fields, quoted with `'`
where a field holds `|` or `'` (csv, as cloud-init and azure-init encode it):

    result=success|agent=WALinuxAgent/3.0.0.0|vm_id=<id>|timestamp=<ISO 8601 UTC>
    result=error|reason=<why>|agent=...|vm_id=<id>|timestamp=...|documentation_url=...

Azure reads at most 1022 bytes of a value, so a long reason is shortened (the other fields are
short and fixed) rather than split: the host keeps one value per key. A run writes its result
once, replacing the previous run's. Writing never fails a run: a problem is logged.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .. import AGENT_NAME, AGENT_VERSION
from ..common.errors import WaagentError
from ..common.kvp import GUEST, KvpPool
from ..common.root import Root
from . import instance_id

log = logging.getLogger(__name__)

REPORT_KEY = "PROVISIONING_REPORT"
AZURE_MAX_VALUE = 1022
DOCUMENTATION_URL = "https://aka.ms/linuxprovisioningerror"
AGENT = f"{AGENT_NAME}/{AGENT_VERSION}"
SHORTENED = "..."


def encode_report(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter="|", quotechar="'", quoting=csv.QUOTE_MINIMAL).writerow(fields)
    return out.getvalue().rstrip("\r\n")


def _fits(value: str) -> bool:
    return len(value.encode("utf-8")) <= AZURE_MAX_VALUE


def success_value(vm_id: str, now: datetime) -> str:
    return encode_report(
        ["result=success", f"agent={AGENT}", f"vm_id={vm_id}", f"timestamp={now.isoformat()}"]
    )


def failure_value(reason: str, vm_id: str, now: datetime) -> str:
    """The failure report, its reason shortened (on a character boundary) until it fits."""

    def build(text: str) -> str:
        return encode_report(
            [
                "result=error",
                f"reason={text}",
                f"agent={AGENT}",
                f"vm_id={vm_id}",
                f"timestamp={now.isoformat()}",
                f"documentation_url={DOCUMENTATION_URL}",
            ]
        )

    value = build(reason)
    if _fits(value):
        return value
    low, high = 0, len(reason)  # the longest prefix that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if _fits(build(reason[:middle] + SHORTENED)):
            low = middle
        else:
            high = middle - 1
    return build(reason[:low] + SHORTENED)


class KvpReporter:
    def __init__(
        self,
        root: Root,
        sysfs_root: Path,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = KvpPool(root, GUEST)
        self.sysfs_root = sysfs_root
        self.clock = clock

    def _vm_id(self) -> str:
        # Lower case, as IMDS and cloud-init write the VM id.
        return instance_id.read(self.sysfs_root).lower() or "unknown"

    async def success(self) -> None:
        await self._write(success_value(self._vm_id(), self.clock()))

    async def failure(self, reason: str) -> None:
        await self._write(failure_value(reason, self._vm_id(), self.clock()))

    async def _write(self, value: str) -> None:
        try:
            await asyncio.to_thread(self.pool.put, REPORT_KEY, value)
        except (WaagentError, OSError) as exc:
            message = exc.message if isinstance(exc, WaagentError) else str(exc)
            log.warning("cannot write the provisioning report to KVP: %s", message)
            return
        log.info("provisioning report in KVP: %s", value.split("|", 1)[0])
