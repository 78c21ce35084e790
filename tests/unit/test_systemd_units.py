"""Typed unit descriptions become exactly the properties systemd is sent (no bus needed)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from dbus_fast import Variant

from waagent.common.clients.systemd_units import (
    INFINITY,
    Limits,
    MountUnit,
    ServiceUnit,
    limit_properties,
    mount_properties,
    service_properties,
)
from waagent.extd.command_spec import CommandSpec, SliceLimits
from waagent.extd.units import service_unit, slice_limits


def plain(properties: dict[str, Variant]) -> dict[str, tuple[str, Any]]:
    return {name: (v.signature, v.value) for name, v in properties.items()}


def test_a_mount_sends_what_type_and_options() -> None:
    unit = MountUnit("/dev/sdb1", "ext4", "nodev,nosuid")
    assert plain(mount_properties(unit)) == {
        "What": ("s", "/dev/sdb1"),
        "Type": ("s", "ext4"),
        "Options": ("s", "nodev,nosuid"),
    }


def test_a_swap_area_sends_only_what() -> None:
    assert plain(mount_properties(MountUnit("/mnt/resource/swapfile"))) == {
        "What": ("s", "/mnt/resource/swapfile")
    }


def test_empty_mount_options_are_not_sent() -> None:
    assert "Options" not in mount_properties(MountUnit("/dev/sdb1", "ext4", ""))


def test_a_bare_service_sends_only_its_command() -> None:
    properties, fds = service_properties(ServiceUnit(argv=("/bin/true",)))
    assert plain(properties) == {"ExecStart": ("a(sasb)", [("/bin/true", ["/bin/true"], False)])}
    assert fds == []


def test_output_descriptors_are_passed_along_and_indexed_in_order() -> None:
    properties, fds = service_properties(ServiceUnit(argv=("/bin/true",), stdout_fd=7, stderr_fd=9))
    assert fds == [7, 9]
    assert properties["StandardOutputFileDescriptor"] == Variant("h", 0)
    assert properties["StandardErrorFileDescriptor"] == Variant("h", 1)


def test_only_stderr_is_index_zero() -> None:
    properties, fds = service_properties(ServiceUnit(argv=("/bin/true",), stderr_fd=5))
    assert fds == [5]
    assert properties["StandardErrorFileDescriptor"] == Variant("h", 0)
    assert "StandardOutputFileDescriptor" not in properties


def test_a_runtime_limit_is_in_microseconds_and_never_zero() -> None:
    long, _ = service_properties(ServiceUnit(argv=("/bin/true",), runtime_max=1.5))
    short, _ = service_properties(ServiceUnit(argv=("/bin/true",), runtime_max=0))
    assert long["RuntimeMaxUSec"] == Variant("t", 1_500_000)
    assert short["RuntimeMaxUSec"] == Variant("t", 1)


def test_an_environment_variable_with_a_newline_is_left_out() -> None:
    unit = ServiceUnit(argv=("/bin/true",), environment={"A": "1", "B": "two\nlines", "C\n": "x"})
    properties, _ = service_properties(unit)
    assert properties["Environment"] == Variant("as", ["A=1"])


def test_slice_limits_are_cpu_time_per_second_and_bytes() -> None:
    assert plain(limit_properties(Limits(cpu_quota_percent=50, memory_max_mb=256))) == {
        "CPUAccounting": ("b", True),
        "MemoryAccounting": ("b", True),
        "CPUQuotaPerSecUSec": ("t", 500_000),
        "MemoryMax": ("t", 256 << 20),
    }


def test_no_limits_are_infinity() -> None:
    properties = limit_properties(Limits())
    assert properties["CPUQuotaPerSecUSec"] == Variant("t", INFINITY)
    assert properties["MemoryMax"] == Variant("t", INFINITY)


def test_an_extension_command_is_the_service_extd_always_started(tmp_path: Path) -> None:
    spec = CommandSpec(
        operation="Enable",
        command="bin/enable.sh",
        cwd=tmp_path,
        env={"ConfigSequenceNumber": "3"},
        timeout=300,
        error_code=1009,
        log_file=tmp_path / "log",
        slice_name="azure-vmextensions-A.B.slice",
        limits=SliceLimits(cpu_quota_percent=5, memory_max_mb=64),
        handler="A.B",
    )
    properties, fds = service_properties(service_unit(spec, 11, 12))
    environment = [f"{k}={v}" for k, v in spec.environment().items() if "\n" not in k + v]
    script = str(tmp_path / "bin/enable.sh")
    assert plain(properties) == {
        "Description": ("s", "Azure VM extension A.B: Enable"),
        "Type": ("s", "exec"),
        "RemainAfterExit": ("b", True),
        "KillMode": ("s", "process"),
        "KillSignal": ("i", signal.SIGKILL),
        "RuntimeMaxUSec": ("t", 300_000_000),
        "ExecStart": ("a(sasb)", [("/bin/sh", ["/bin/sh", "-c", script], False)]),
        "WorkingDirectory": ("s", str(tmp_path)),
        "User": ("s", "root"),
        "Environment": ("as", environment),
        "StandardInput": ("s", "null"),
        "StandardOutputFileDescriptor": ("h", 0),
        "StandardErrorFileDescriptor": ("h", 1),
        "IgnoreSIGPIPE": ("b", False),
        "TasksMax": ("t", INFINITY),
        "Slice": ("s", "azure-vmextensions-A.B.slice"),
    }
    assert fds == [11, 12]
    assert slice_limits(spec.limits) == Limits(cpu_quota_percent=5, memory_max_mb=64)
