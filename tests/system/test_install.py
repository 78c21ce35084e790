"""`make install`/`make uninstall` lay out every file in its standard place, and the units are as
hardened as each job allows (`systemd-analyze security --offline=yes`, scored 0-10)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.paths import REPO

pytestmark = pytest.mark.system

# The design's exposure budgets (the classic agent's unit scores 9.6).
EXPOSURE = {"wire": 1.5, "wirepoll": 1.5, "diskd": 2.5, "provisioner": 3.5, "extd": 4.5}

EXPECTED = [
    "etc/waagent.conf",
    "usr/sbin/waagent",
    "usr/lib/waagent/python/waagent/__init__.py",
    "usr/lib/systemd/system/waagent.target",
    "usr/lib/systemd/system/azure.slice",
    "usr/lib/systemd/system/azure-vmextensions.slice",
    "usr/lib/systemd/system/waagent-extension-events@.path",
    "usr/lib/sysusers.d/waagent.conf",
    "usr/lib/tmpfiles.d/waagent.conf",
    "usr/lib/udev/rules.d/66-azure-storage.rules",
    "usr/lib/udev/rules.d/99-azure-product-uuid.rules",
    "usr/libexec/waagent/waagent-azure-disk",
    "usr/libexec/waagent/waagent-nic-names",
    "usr/lib/systemd/system/waagent-nic-names.service",
    "usr/lib/systemd/system/waagent-nic-names.path",
    "etc/logrotate.d/waagent",
    "usr/share/polkit-1/actions/org.waagent.policy",
    *[f"usr/share/cockpit/waagent/{f}" for f in ("manifest.json", "index.html", "waagent.js")],
    *[f"usr/lib/systemd/system/waagent-{s}.service" for s in EXPOSURE],
    *[f"usr/libexec/waagent/waagent-{s}" for s in EXPOSURE],
    *[
        f"usr/share/dbus-1/{d}/org.waagent.{n}.{ext}"
        for n in ("Wire1", "Provisioner1", "Disk1", "Extensions1")
        for d, ext in (("system.d", "conf"), ("system-services", "service"))
    ],
]


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", *args], cwd=REPO, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    destdir = tmp_path_factory.mktemp("destdir")
    result = make("install", f"DESTDIR={destdir}", "PREFIX=/usr")
    assert result.returncode == 0, result.stderr
    yield destdir
    shutil.rmtree(destdir, ignore_errors=True)


def test_make_install_lays_out_every_file(installed: Path) -> None:
    missing = [path for path in EXPECTED if not (installed / path).exists()]
    assert missing == []


def test_the_activation_files_hand_over_to_systemd(installed: Path) -> None:
    for name, unit in (("Wire1", "wire"), ("Disk1", "diskd")):
        text = (
            installed / f"usr/share/dbus-1/system-services/org.waagent.{name}.service"
        ).read_text()
        assert "Exec=/bin/false" in text
        assert f"SystemdService=waagent-{unit}.service" in text


def test_the_launchers_run_on_the_installed_package(installed: Path) -> None:
    launcher = (installed / "usr/libexec/waagent/waagent-wire").read_text()
    assert launcher.startswith("#!/usr/bin/python3 -IS\n")
    assert '"/usr/lib/waagent/python"' in launcher
    result = subprocess.run(
        [
            "/usr/bin/python3",
            "-IS",
            "-c",
            f"import sys; sys.path.insert(0, '{installed}/usr/lib/waagent/python');"
            "from waagent.wire.__main__ import main; sys.exit(main(['--bus-introspect']))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '<interface name="org.waagent.Wire1">' in result.stdout


@pytest.mark.parametrize("service", sorted(EXPOSURE))
def test_each_unit_is_within_its_exposure_budget(installed: Path, service: str) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("needs systemd-analyze")
    unit = installed / f"usr/lib/systemd/system/waagent-{service}.service"
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--root={installed}", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert score, result.stdout + result.stderr
    print(f"\n  waagent-{service}.service exposure {score.group(1)} (budget {EXPOSURE[service]})")
    assert float(score.group(1)) <= EXPOSURE[service]


def test_make_uninstall_removes_what_install_laid_out(installed: Path, tmp_path: Path) -> None:
    destdir = tmp_path / "again"
    assert make("install", f"DESTDIR={destdir}", "PREFIX=/usr").returncode == 0
    result = make("uninstall", f"DESTDIR={destdir}", "PREFIX=/usr")
    assert result.returncode == 0, result.stderr
    left = sorted(str(p.relative_to(destdir)) for p in destdir.rglob("*") if p.is_file())
    assert left == ["etc/waagent.conf"]  # the configuration is the admin's
