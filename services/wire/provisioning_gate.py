"""No extensions before provisioning is done (reference §6.3, §1.1): the first-boot race.

Classic ran provisioning in its daemon before it started extension handling, so a VM deployed
without an agent (ProvisionGuestAgent=false, which provisioning records as `disable_agent`) never
ran an extension. Here wire and the provisioner start side by side, and wire may have the first
goal state before the provisioner has read the OVF. So wire hands extd no extensions goal state
until provisioning is done, learnt from events, never by polling:

* when the first goal state with extensions is to be handed over, wire asks the provisioner's
  State once (bus-activating it, as a boot starts it anyway; a goal state without extensions
  has nothing to run and goes through): `Provisioned` (later boots: the marker matches),
  `Failed` (classic, too, goes on to extensions after a failed provisioning) and
  `NotProvisioned` (this boot will not provision: deprovisioned) open the gate; `Provisioning`
  keeps it closed;
* the provisioner ends every run with a health report through wire: `Ready` (every mode,
  Provisioning.Agent=disabled and cloud-init included) or `NotReady/ProvisioningFailed` opens it;
* no provisioner installed: nothing will provision, the gate opens.
A failed question (the provisioner restarting) is asked again with a backoff. The gate never
closes again within one run of wire, nor within one boot: a wire woken by its poller later in
the boot opens it from `poll_state.json` (`done_this_boot`), without starting the provisioner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..common.bus.client import ServiceUnavailable
from .handover import Handover

log = logging.getLogger(__name__)

STILL_PROVISIONING = "Provisioning"


class ProvisioningGate:
    def __init__(self, ask_state: Callable[[], Awaitable[str]]) -> None:
        self._ask_state = ask_state
        self._open = asyncio.Event()
        self._asked = False
        self._question = Handover(
            self._ask,
            failed="cannot ask the provisioner whether provisioning is done",
            absent="no provisioner",
        )

    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait(self) -> None:
        """Return once provisioning is done (asking the provisioner the first time)."""
        if not self._asked and not self.is_open():
            self._asked = True
            self._question.notify()  # in a task: the answer may take the provisioner's start-up
        await self._open.wait()

    def health_reported(self, state: str, substatus: str) -> None:
        """The provisioner's report at the end of a run."""
        if state == "Ready" or substatus == "ProvisioningFailed":
            self._let_through(f"the provisioner reported {state} {substatus}".rstrip())

    def done_this_boot(self) -> None:
        """An earlier wire of this boot saw provisioning done (poll_state.json): a boot
        provisions once, so the question is not asked again (it would start the provisioner)."""
        self._let_through("an earlier wire of this boot saw it done")

    async def _ask(self) -> None:
        if self.is_open():
            return
        try:
            state = await self._ask_state()
        except ServiceUnavailable as exc:
            if not exc.not_installed:
                raise
            self._let_through("no provisioner is installed")
            return
        if state != STILL_PROVISIONING:
            self._let_through(f"the provisioner's state is {state}")
        else:
            log.info("extensions wait until provisioning is done")

    def _let_through(self, why: str) -> None:
        if not self.is_open():
            log.info("provisioning is done (%s): extensions are handed over", why)
            self._open.set()

    async def close(self) -> None:
        await self._question.close()
