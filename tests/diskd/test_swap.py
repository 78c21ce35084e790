"""The swap file end to end: SetSwap through polkit, sizes, replacement, refusals, encryption."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from tests.harness.callers import UNPRIVILEGED
from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.bus.client import add_match
from waagent.common.names import DISK
from waagent.diskd.crypt import missing_support
from waagent.diskd.swap import SWAPFILE

from .disks import SWAP_HEADER_SLACK, LoopDisk, active_swap_bytes, ntfs_typed, sh
from .system import Diskd, start_on

pytestmark = pytest.mark.integration

Start = Callable[..., Diskd]
Disks = Callable[..., LoopDisk]


def with_swap(size_mb: int, **more: str) -> dict[str, str]:
    return {"ResourceDisk.EnableSwap": "y", "ResourceDisk.SwapSizeMB": str(size_mb), **more}


@pytest.fixture
def mounted(diskd: Start, loop_disks: Disks, tmp_path: Path) -> Diskd:
    """diskd with a fresh 256 MiB disk mounted and a 32 MiB swap file active."""
    disk = ntfs_typed(loop_disks(256))
    system = start_on(diskd, disk, tmp_path, with_swap(32))
    props = system.settled()
    assert props["State"] == "Mounted", props["LastError"]
    return system


def swapfile(system: Diskd) -> Path:
    return system.mount_point / SWAPFILE


def test_set_swap_by_an_unprivileged_caller_is_refused_by_polkit(mounted: Diskd) -> None:
    reply = mounted.call("SetSwap", "u", "48", user=UNPRIVILEGED)

    assert not reply.ok
    assert "org.waagent.manage-swap" in reply.error
    assert swapfile(mounted).stat().st_size == 32 << 20
    assert mounted.props()["SwapSizeMB"] == 32


def test_set_swap_by_root_replaces_the_swap_file_with_one_of_the_new_size(mounted: Diskd) -> None:
    reply = mounted.call("SetSwap", "u", "48")

    assert reply.ok, reply.error
    path = swapfile(mounted)
    st = path.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_size) == (0o600, 48 << 20)
    assert 0 <= (48 << 20) - active_swap_bytes(path) <= SWAP_HEADER_SLACK
    props = mounted.props()
    assert (props["SwapEnabled"], props["SwapSizeMB"], props["State"]) == (True, 48, "Mounted")


def test_set_swap_with_the_current_size_leaves_the_swap_file_alone(mounted: Diskd) -> None:
    before = swapfile(mounted).stat().st_ino
    swapfile(mounted).chmod(0o644)

    reply = mounted.call("SetSwap", "u", "32")

    assert reply.ok, reply.error
    st = swapfile(mounted).stat()
    assert st.st_ino == before
    assert stat.S_IMODE(st.st_mode) == 0o600  # group and other bits stripped, as classic


def test_set_swap_zero_disables_and_removes_the_swap_file(mounted: Diskd) -> None:
    reply = mounted.call("SetSwap", "u", "0")

    assert reply.ok, reply.error
    assert not swapfile(mounted).exists()
    assert str(swapfile(mounted)) not in Path("/proc/swaps").read_text()
    assert (mounted.props()["SwapEnabled"], mounted.props()["SwapSizeMB"]) == (False, 0)


def test_a_swap_larger_than_the_disk_is_refused_and_the_old_swap_stays(mounted: Diskd) -> None:
    reply = mounted.call("SetSwap", "u", "4096")

    assert not reply.ok
    assert "a swap file of 4096 MiB does not fit on" in reply.error
    assert swapfile(mounted).stat().st_size == 32 << 20
    assert active_swap_bytes(swapfile(mounted)) > 0
    props = mounted.props()
    assert (props["State"], props["LastError"], props["SwapSizeMB"]) == ("Mounted", "", 32)


def test_a_size_over_the_limit_is_refused_before_polkit_is_asked(mounted: Diskd) -> None:
    reply = mounted.call("SetSwap", "u", "4294967295", user=UNPRIVILEGED)

    assert "invalid swap size 4294967295 MiB: at most 4194304 MiB" in reply.error


def test_a_configured_swap_larger_than_the_disk_fails_clearly_and_leaves_no_file(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    system = start_on(diskd, disk, tmp_path, with_swap(1024))

    props = system.settled()

    assert props["State"] == "Failed"
    assert props["LastError"].startswith("a swap file of 1024 MiB does not fit on ")
    assert props["Mounted"] is True
    assert not swapfile(system).exists()
    assert str(system.mount_point) not in Path("/proc/swaps").read_text()


def test_swap_on_ext3_is_written_with_zeros_and_still_exact(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(128))
    system = start_on(diskd, disk, tmp_path, with_swap(20, **{"ResourceDisk.Filesystem": "ext3"}))

    props = system.settled()

    assert props["State"] == "Mounted", props["LastError"]
    assert props["Filesystem"] == "ext3"
    assert swapfile(system).stat().st_size == 20 << 20
    assert "writing zeros" in system.log()


def test_swap_the_agent_did_not_create_is_never_touched(mounted: Diskd, loop_disks: Disks) -> None:
    other = loop_disks(16)
    sh("mkswap", str(other.device))
    sh("swapon", str(other.device))
    try:
        assert mounted.call("SetSwap", "u", "40").ok
        assert mounted.call("SetSwap", "u", "0").ok
        assert str(other.device) in Path("/proc/swaps").read_text()
    finally:
        sh("swapoff", str(other.device), check=False)


def test_encrypted_swap_is_active_on_a_dm_crypt_mapping(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    reason = missing_support()
    if reason is not None:
        pytest.skip(f"encrypted swap needs dm-crypt: {reason}")
    disk = ntfs_typed(loop_disks(128))
    system = start_on(
        diskd, disk, tmp_path, with_swap(16, **{"ResourceDisk.EnableSwapEncryption": "y"})
    )
    try:
        props = system.settled()
        assert props["State"] == "Mounted", props["LastError"]
        mapping = os.path.realpath("/dev/mapper/waagent-swap")
        assert mapping in Path("/proc/swaps").read_text()
        assert props["SwapEnabled"] is True
    finally:
        sh("swapoff", "/dev/mapper/waagent-swap", check=False)
        sh("cryptsetup", "close", "waagent-swap", check=False)


def test_encrypted_swap_without_dm_crypt_fails_clearly_and_leaves_no_plain_swap(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    reason = missing_support()
    if reason is None:
        pytest.skip("this kernel has dm-crypt and cryptsetup is installed")
    disk = ntfs_typed(loop_disks(128))
    system = start_on(
        diskd, disk, tmp_path, with_swap(16, **{"ResourceDisk.EnableSwapEncryption": "y"})
    )

    props = system.settled()

    assert props["State"] == "Failed"
    assert props["LastError"] == f"swap encryption is not possible: {reason}"
    assert not swapfile(system).exists()


def test_a_service_activated_again_after_idle_exit_keeps_the_swap_set_by_set_swap(
    diskd: Start, loop_disks: Disks, tmp_path: Path
) -> None:
    disk = ntfs_typed(loop_disks(256))
    system = start_on(diskd, disk, tmp_path, with_swap(32, **{"Services.IdleTimeout": "2"}))
    assert system.settled()["State"] == "Mounted"
    assert system.call("SetSwap", "u", "40").ok
    wait_for(lambda: not name_has_owner(system.env.bus, DISK.name), timeout=30, what="idle exit")

    props = system.props()  # activates the service again: it reads, it does not redo the boot work

    assert (props["State"], props["SwapSizeMB"], props["Mounted"]) == ("Mounted", 40, True)
    assert swapfile(system).stat().st_size == 40 << 20


def test_property_changes_are_signalled_while_set_swap_runs(mounted: Diskd) -> None:
    async def watch() -> list[dict[str, Any]]:
        bus = await MessageBus(bus_address=mounted.env.address).connect()
        seen: list[dict[str, Any]] = []

        def on_message(msg: Message) -> None:
            if msg.member == "PropertiesChanged" and msg.body[0] == DISK.interface:
                seen.append({k: v.value for k, v in msg.body[1].items()})

        bus.add_message_handler(on_message)
        await add_match(
            bus, f"type='signal',interface='org.freedesktop.DBus.Properties',path='{DISK.path}'"
        )
        reply = await asyncio.to_thread(mounted.call, "SetSwap", "u", "24")
        assert reply.ok, reply.error
        await asyncio.sleep(0)  # let the signals already read be handled
        await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="GetId",  # a round trip the system policy allows
            )
        )
        bus.disconnect()
        return seen

    seen = asyncio.run(watch())

    assert {"State": "ConfiguringSwap"} in seen
    assert any(change.get("SwapSizeMB") == 24 for change in seen)
    assert seen[-1].get("State") == "Mounted"
