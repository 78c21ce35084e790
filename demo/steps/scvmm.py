"""SCVMM: with DetectScvmmEnv=y, an SCVMM DVD's bootstrap runs and nothing is provisioned.

This step runs its own simulated VM (tests/provisioner/vm.py): the fabric simulator builds an
SCVMM DVD whose `install` script writes the arguments it got to a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.harness.environment import Environment
from tests.harness.wait import wait_for
from tests.provisioner.vm import simulated_vm

from .common import heading, show


def run(env: Environment) -> None:
    heading("provisioner: DetectScvmmEnv=y and an SCVMM DVD (linuxosconfiguration.xml + install)")
    if os.geteuid() != 0:
        show("skipped", "needs root (the private directory is root's)")
        return
    with tempfile.TemporaryDirectory(prefix="waagent-demo-scvmm-") as base:
        record = Path(base) / "install-args"
        config = {"DetectScvmmEnv": "y"}
        with simulated_vm(Path(base), config=config, scvmm_record=str(record)) as vm:
            show("State", vm.wait_state("SCVMM", "Provisioned", "Failed"))
            wait_for(record.exists, timeout=30, what="the SCVMM bootstrap")
            show("install got", " ".join(record.read_text().split()))
            show("user azureuser created", vm.path("/home/azureuser").exists())
            show("fabric: health reports", vm.health() or "none (waagent stands aside)")
