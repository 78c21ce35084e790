"""The Debian package in a fresh bookworm image: `apt install ./waagent_*.deb` instead of `make
install`, boot, provisioning reported Ready, an extension run; then `apt install` of a newer build
(services restarted, the admin's configuration kept) and `apt purge`, after which nothing of ours
is left: files, units, the system user (the test prints what it found).

The package is the session's one build (`make deb`, tests/harness/packages.py); the newer one is
that build under a higher version. The tests share one VM and run in order."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.packages import VERSION, reversioned
from tests.harness.wait import wait_for
from tests.system.container import STAMP, missing_tools
from tests.system.vm import Vm, booted_vm

pytestmark = pytest.mark.system

if reason := missing_tools():
    pytestmark = [pytest.mark.system, pytest.mark.skip(reason=reason)]

OLD, NEW = VERSION, "3.0.0~test2"
CONFIG = {
    "Provisioning.RegenerateSshHostKeyPair": "y",
    "Provisioning.SshHostKeyPairType": "ed25519",
    "Extensions.GoalStatePeriod": "2",
}
HANDLER = "Contoso.Tools.Hello"
# What stays after the purge, and why: the user provisioned from the fabric is the admin's
# account (its home and its sudo rule go with it), as with the classic agent's package.
KEPT_FOR_THE_ADMIN = ("/etc/sudoers.d/waagent", "/home/{user}")


@pytest.fixture(scope="module")
def debs(
    debian_package: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path]]:
    """The session's build as OLD, and the same build as NEW (tests/harness/packages.py)."""
    where = tmp_path_factory.mktemp("debs")
    yield debian_package, reversioned(debian_package, NEW, where)
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def vm(debs: tuple[Path, Path]) -> Iterator[Vm]:
    with booted_vm(CONFIG, deb=debs[0]) as booted:
        yield booted


def dpkg_version(vm: Vm) -> str:
    return vm.run("dpkg-query", "-W", "-f=${Version}", "waagent").stdout


def ready(vm: Vm) -> bool:
    return any(r["state"] == "Ready" for r in vm.fabric.client.records("health"))


def test_the_installed_package_boots_and_provisions(vm: Vm) -> None:
    assert dpkg_version(vm) == OLD
    wait_for(lambda: ready(vm), timeout=180, what="provisioning to report Ready")
    user = vm.scenario.provisioning.user_name
    assert vm.run("getent", "passwd", user).returncode == 0
    keys = vm.run("cat", f"/home/{user}/.ssh/authorized_keys").stdout
    assert any(k.value and k.value in keys for k in vm.scenario.provisioning.ssh_public_keys)
    # A login session for the user (PAM, as sshd would open it) works.
    assert vm.run("id", "-un", user=user).stdout.strip() == user
    assert vm.run("systemctl", "--failed", "--no-legend").stdout.strip() == ""


def test_an_extension_runs(vm: Vm) -> None:
    before = len(vm.fabric.client.records("status"))
    vm.fabric.client.add_extension(HANDLER, version="1.0.0")

    def succeeded() -> bool:
        status = vm.handler_status(HANDLER, since=before) or {}
        settings = status.get("runtimeSettingsStatus", {})
        inner = settings.get("settingsStatus", {}) if isinstance(settings, dict) else {}
        return bool(inner.get("status", {}).get("status") == "success")

    wait_for(succeeded, timeout=180, what="the extension's success in the status blob")


def test_an_upgrade_restarts_the_services_and_keeps_the_configuration(
    vm: Vm, debs: tuple[Path, Path]
) -> None:
    conf_before = vm.run("cat", "/etc/waagent.conf").stdout
    assert "Extensions.GoalStatePeriod=2" in conf_before  # the admin's edit of the conffile
    wire_before = vm.show("waagent-wire.service", "MainPID")["MainPID"]
    new = debs[1]
    (vm.box.path("/root") / new.name).write_bytes(new.read_bytes())
    # The VM has no route to a mirror: the upgrade needs nothing but the package.
    result = vm.run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y",
                    f"/root/{new.name}")  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert dpkg_version(vm) == NEW
    wait_for(
        lambda: vm.show("waagent-wire.service", "ActiveState")["ActiveState"] == "active",
        timeout=60,
        what="wire active again",
    )
    wire_after = vm.show("waagent-wire.service", "MainPID")["MainPID"]
    assert wire_after not in ("0", wire_before)  # restarted, not only left running
    assert vm.run("cat", "/etc/waagent.conf").stdout == conf_before
    assert vm.prop("org.waagent.Wire1", "State") is not None  # the new build answers
    vm.run("rm", "-f", f"/root/{new.name}")


def leftovers(vm: Vm) -> list[str]:
    """Every path in the image named after us, every unit and user of ours."""
    found = vm.run(
        "find", "/", "-xdev", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune",
        "-o", "(", "-iname", "*waagent*", "-o", "-iname", "*azure*", ")", "-print",
    ).stdout.split()  # fmt: skip
    found.remove(f"/{STAMP}")  # the test image's own stamp (tests/system/container.py)
    units = vm.run(
        "systemctl", "list-units", "--all", "--plain", "--no-legend", "waagent*", "azure*"
    ).stdout.split("\n")
    unit_files = vm.run(
        "systemctl", "list-unit-files", "--no-legend", "waagent*", "azure*"
    ).stdout.split("\n")
    users = [
        f"user {name}"
        for name in ("waagent-wire",)
        if vm.run("getent", "passwd", name).returncode == 0
    ]
    groups = [
        f"group {g}" for g in ("waagent-wire",) if vm.run("getent", "group", g).returncode == 0
    ]
    package = vm.run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "waagent").stdout.strip()
    return sorted(
        found
        + [f"unit {u.split()[0]}" for u in units if u.strip()]
        + [f"unit file {u.split()[0]}" for u in unit_files if u.strip()]
        + users
        + groups
        + ([f"package {package}"] if package else [])
    )


def test_purge_leaves_nothing_of_ours(vm: Vm) -> None:
    assert leftovers(vm) != []  # the check sees what is there
    result = vm.run("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", "waagent")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    vm.run("systemctl", "reset-failed")
    left = leftovers(vm)
    print("\n  left after apt purge:", left or "nothing")
    user = vm.scenario.provisioning.user_name
    assert left == sorted(path.format(user=user) for path in KEPT_FOR_THE_ADMIN)
    assert vm.run("getent", "passwd", user).returncode == 0
