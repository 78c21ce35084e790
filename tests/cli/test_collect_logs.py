"""`waagent -collect-logs`: the bundle goes through wire to the fabric, without secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness.callers import UNPRIVILEGED

from .system import CliSystem
from .test_log_bundle import EXT, KEY, write

pytestmark = pytest.mark.integration

SETTINGS = {"runtimeSettings": [{"handlerSettings": {"protectedSettings": "c2VjcmV0"}}]}


@pytest.fixture
def vm_logs(activated: CliSystem) -> Path:
    root = activated.root
    write(root, "/var/log/waagent.log", "2026-11-26T00:00:00.000000Z INFO wire hello\n")
    write(root, f"/var/log/azure/{EXT}/handler.log", "enabled\n")
    write(root, f"/var/log/azure/{EXT}/leaky.log", KEY)
    write(root, "/var/lib/waagent/0123456789ABCDEF.prv", KEY, 0o600)
    write(root, "/var/lib/waagent/0123456789ABCDEF.crt", "-----BEGIN CERTIFICATE-----\n")
    write(root, f"/var/lib/waagent/{EXT}-2.1.10/config/0.settings", json.dumps(SETTINGS))
    write(root, "/etc/fstab", "UUID=x / ext4 defaults 0 1\n")
    return root


def upload(system: CliSystem) -> Any:
    (record,) = system.fabric.records("log-upload")
    return record


def test_the_bundle_reaches_the_fabric_through_wire(activated: CliSystem, vm_logs: Path) -> None:
    result = activated.waagent("-collect-logs", f"-root:{vm_logs}")
    assert result.returncode == 0, result.stderr
    record = upload(activated)
    assert result.stdout.startswith(f"Uploaded a log bundle of {record['size']} bytes: ")
    assert {
        "var/log/waagent.log",
        f"var/log/azure/{EXT}/handler.log",
        f"var/lib/waagent/{EXT}-2.1.10/config/0.settings",
        "results.txt",
    } <= set(record["files"])
    assert "etc/fstab" not in record["files"]


def test_the_uploaded_bundle_holds_no_private_key(activated: CliSystem, vm_logs: Path) -> None:
    result = activated.waagent("-collect-logs", f"-root:{vm_logs}")
    assert result.returncode == 0, result.stderr
    files = upload(activated)["files"]
    assert not [name for name in files if name.endswith((".prv", ".key"))]
    assert f"var/log/azure/{EXT}/leaky.log" not in files


def test_full_adds_the_full_manifest(activated: CliSystem, vm_logs: Path) -> None:
    result = activated.waagent("-collect-logs", "-full", f"-root:{vm_logs}")
    assert result.returncode == 0, result.stderr
    assert "etc/fstab" in upload(activated)["files"]


def test_an_unprivileged_user_without_an_authentication_agent_uploads_nothing(
    activated: CliSystem, vm_logs: Path
) -> None:
    result = activated.waagent("-collect-logs", f"-root:{vm_logs}", user=UNPRIVILEGED)
    assert result.returncode == 1
    assert result.stderr.strip() == "waagent: not authorized for org.waagent.collect-logs"
    assert activated.fabric.records("log-upload") == []
