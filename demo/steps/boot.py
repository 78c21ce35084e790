"""boot: `waagent -serialconsole` on RHEL 9- and Ubuntu-shaped image trees (dry run, change,
again, undo), and the Hyper-V entropy seed fed from a sandbox sysfs."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.harness.environment import Environment
from tests.harness.paths import PYTHON
from tests.provisioner.test_boot_settings import (
    ENTRY,
    RHEL_ENTRY,
    RHEL_GRUB,
    UBUNTU_CLOUDIMG,
    UBUNTU_GRUB,
    tree,
)

from .common import heading, show

OEM0_SAMPLE = b"OEM0" + bytes(range(60))


def _cmdline_linux(root: Path) -> str:
    text = (root / "etc/default/grub").read_text()
    return next(line for line in text.splitlines() if line.startswith("GRUB_CMDLINE_LINUX="))


def _run(*args: str) -> str:
    result = subprocess.run(
        [PYTHON, "-m", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout + result.stderr


def _waagent(root: Path, *args: str) -> None:
    print(f"  $ waagent {' '.join(args)} -root:<tree>")
    for line in _run("waagent.cli", *args, f"-root:{root}").splitlines():
        print(f"    {line}")


def run(env: Environment) -> None:
    heading("boot: waagent -serialconsole on image trees, Hyper-V entropy")
    with tempfile.TemporaryDirectory(prefix="demo-boot-") as tmp:
        rhel = tree(Path(tmp) / "rhel9", {"/etc/default/grub": RHEL_GRUB, ENTRY: RHEL_ENTRY})
        _waagent(rhel.path, "-serialconsole", "-dry-run")
        _waagent(rhel.path, "-serialconsole")
        _waagent(rhel.path, "-serialconsole")
        show("BLS entry options", (rhel.path / ENTRY.lstrip("/")).read_text().splitlines()[4])
        _waagent(rhel.path, "-serialconsole=off")
        show("after =off", _cmdline_linux(rhel.path))
        ubuntu = tree(
            Path(tmp) / "ubuntu",
            {
                "/etc/default/grub": UBUNTU_GRUB,
                "/etc/default/grub.d/50-cloudimg-settings.cfg": UBUNTU_CLOUDIMG,
            },
        )
        _waagent(ubuntu.path, "-serialconsole")
        sysfs = Path(tmp) / "sys"
        table = sysfs / "firmware/acpi/tables/OEM0"
        table.parent.mkdir(parents=True)
        table.write_bytes(OEM0_SAMPLE)
        target = Path(tmp) / "random"
        target.touch()
        out = _run(
            "waagent.provisioner.entropy", "--sysfs-root", str(sysfs), "--target", str(target)
        )
        show("waagent-entropy", out.strip().split(": ", 2)[-1])
        show("target holds the table", target.read_bytes() == OEM0_SAMPLE)
