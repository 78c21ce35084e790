"""The RDMA setup of a boot, step by step (reference §10.11), each step's outcome kept.

Who does what, by privilege: this oneshot (root, CAP_SYS_MODULE only) reads the host's KVP pool,
asks wire for SharedConfig, writes dat.conf (root-owned files in /etc need no capability) and
loads `hv_network_direct`; the address goes to the interface through netd's `SetRdmaAddress`,
the one holder of CAP_NET_ADMIN. As classic, a failed step is logged and the others still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from ..common.commands import CommandRunner
from ..common.config import AgentConfig
from ..common.errors import WaagentError
from ..common.kvp import EXTERNAL, KvpPool
from ..common.root import Root
from .dat_conf import write_dat_conf
from .plan import RdmaPair, RdmaPlan, build_plan

log = logging.getLogger(__name__)

MODULE = "hv_network_direct"
HVND_DEVICE = "/dev/hvnd_rdma"
MODPROBE_TIMEOUT = 60.0


class Fabric(Protocol):
    async def refresh(self) -> None: ...

    async def shared_config(self) -> str: ...


class Addresses(Protocol):
    async def set_rdma_address(self, mac: str, address: str) -> str: ...


@dataclass(frozen=True)
class Step:
    name: str
    state: Literal["done", "skipped", "failed"]
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.state} ({self.detail})"


OFF = "OS.EnableRDMA, OS.UpdateRdmaDriver and OS.CheckRdmaDriver are n"


def enabled(config: AgentConfig) -> bool:
    return config.os_enable_rdma or config.os_update_rdma_driver or config.os_check_rdma_driver


def old_nd_driver(version: str) -> bool:
    """Drivers up to 4.0 learn the address by a write to /dev/hvnd_rdma."""
    try:
        parts = tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return parts <= (4, 0)


class RdmaSetup:
    def __init__(
        self,
        config: AgentConfig,
        root: Root,
        runner: CommandRunner,
        fabric: Fabric,
        addresses: Addresses,
    ) -> None:
        self.config = config
        self.root = root
        self.runner = runner
        self.fabric = fabric
        self.addresses = addresses
        self.steps: list[Step] = []

    def _note(self, name: str, state: Literal["done", "skipped", "failed"], detail: str) -> None:
        step = Step(name, state, detail)
        self.steps.append(step)
        (log.warning if state == "failed" else log.info)("RDMA %s", step)

    async def run(self) -> list[Step]:
        if not enabled(self.config):
            self._note("rdma", "skipped", OFF)
            return self.steps
        try:
            plan = await self.plan()
        except (WaagentError, OSError) as exc:
            self._note("read", "failed", _message(exc))
            return self.steps
        if self.config.os_update_rdma_driver:
            self._note("driver update", "skipped", "driver packages come from the distribution")
        if plan.nd_version:
            await self._network_direct(plan)
        else:
            self._note("network direct", "skipped", "no NdDriverVersion in KVP (SR-IOV)")
        for pair in plan.pairs:
            await self._address(pair)
        if not plan.pairs:
            self._note("address", "skipped", "neither SharedConfig nor IPoIB_Data has an address")
        return self.steps

    async def plan(self) -> RdmaPlan:
        pool = KvpPool(self.root, EXTERNAL).read()
        plan = build_plan(pool, "")
        if plan.nd_version or not plan.ipoib:  # SharedConfig's pair is needed
            plan = build_plan(pool, await self._shared_config())
        log.info("RDMA plan: %s", plan.model_dump_json())
        return plan

    async def _shared_config(self) -> str:
        """wire's SharedConfig; a wire without a goal state yet fetches one first."""
        xml = await self.fabric.shared_config()
        if not xml.strip():
            await self.fabric.refresh()
            xml = await self.fabric.shared_config()
        return xml

    async def _network_direct(self, plan: RdmaPlan) -> None:
        if plan.shared is None:
            self._note("dat.conf", "skipped", "SharedConfig has no RDMA address")
        else:
            written = write_dat_conf(self.root, plan.shared.address)
            files = ", ".join(map(str, written))
            self._note("dat.conf", "done" if written else "skipped", files or "no dat.conf exists")
        if not self.config.os_check_rdma_driver:
            self._note("module", "skipped", "OS.CheckRdmaDriver=n")
            return
        if await self._load_module() and plan.shared and old_nd_driver(plan.nd_version):
            self._hvnd(plan.shared)

    def _modprobe(self, *args: str) -> list[str]:
        where = [] if self.root.is_host else ["-d", str(self.root.path)]
        return ["modprobe", *where, *args]

    async def _load_module(self) -> bool:
        found = await self.runner.run(
            self._modprobe("-R", MODULE), timeout=MODPROBE_TIMEOUT, check=False
        )
        if not found.ok:
            self._note("module", "skipped", f"{MODULE} is not available: {found.message()}")
            return False
        loaded = await self.runner.run(
            self._modprobe(MODULE), timeout=MODPROBE_TIMEOUT, check=False
        )
        if not loaded.ok:
            self._note("module", "failed", loaded.message())
            return False
        self._note("module", "done", f"{MODULE} ({found.stdout.strip()})")
        return True

    def _hvnd(self, pair: RdmaPair) -> None:
        device = self.root.resolve(HVND_DEVICE)
        if not device.exists():
            self._note("hvnd_rdma", "skipped", f"{HVND_DEVICE} does not exist")
            return
        line = f'rdmaMacAddress="{pair.mac}" rdmaIPv4Address="{pair.address}"'
        try:
            device.write_text(line)
        except OSError as exc:
            self._note("hvnd_rdma", "failed", _message(exc))
            return
        self._note("hvnd_rdma", "done", line)

    async def _address(self, pair: RdmaPair) -> None:
        try:
            ifname = await self.addresses.set_rdma_address(pair.mac, pair.address)
        except (WaagentError, OSError) as exc:
            self._note("address", "failed", f"{pair.address} for {pair.mac}: {_message(exc)}")
            return
        self._note("address", "done", f"{pair.address} on {ifname} ({pair.mac})")


def _message(exc: WaagentError | OSError) -> str:
    return exc.message if isinstance(exc, WaagentError) else str(exc)
