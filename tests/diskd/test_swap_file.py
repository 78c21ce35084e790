"""The swap file logic on a plain directory: exact size, mode from the first byte, cleanup."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from pathlib import Path

import pytest

from waagent.common.cmdenv import BASE_ENV
from waagent.common.commands import CommandFailed
from waagent.common.errors import InvalidArgs, NotSupported
from waagent.diskd.crypt import SwapEncryption
from waagent.diskd.mounts import KernelState
from waagent.diskd.swap import SWAPFILE, SwapFile, create_private

from .runners import RecordingRunner

MIB = 1 << 20


def swap_file(tmp_path: Path, runner: RecordingRunner, misc: str = "") -> SwapFile:
    proc_misc = tmp_path / "misc"
    proc_misc.write_text(misc)
    empty_swaps = tmp_path / "swaps"
    empty_swaps.write_text("Filename\tType\tSize\tUsed\tPriority\n")
    kernel = KernelState(swaps=empty_swaps)
    return SwapFile(runner, kernel, SwapEncryption(runner, tmp_path / "dev", proc_misc))


def test_a_new_file_is_0600_from_the_start_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_private(tmp_path / "f")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == 0o600


def test_an_existing_file_is_never_reused_by_create(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("someone else's")
    with pytest.raises(FileExistsError):
        create_private(tmp_path / "f")


@pytest.mark.parametrize("zeros", [False, True], ids=["fallocate", "zeros"])
def test_allocation_gives_exactly_the_size_asked_for(tmp_path: Path, zeros: bool) -> None:
    swap = swap_file(tmp_path, RecordingRunner())
    size = 5 * MIB + 4096  # not a multiple of any chunk: the classic dd quirk made it short
    how = asyncio.run(swap.allocate(tmp_path / SWAPFILE, size, zeros=zeros))
    assert how == ("zeros" if zeros else "fallocate")
    assert os.stat(tmp_path / SWAPFILE).st_size == size


def test_without_fallocate_support_zeros_are_written(tmp_path: Path) -> None:
    runner = RecordingRunner(
        fail={"fallocate": "fallocate: fallocate failed: Operation not supported"}
    )
    how = asyncio.run(swap_file(tmp_path, runner).allocate(tmp_path / SWAPFILE, 3 * MIB))
    assert how == "zeros"
    assert os.stat(tmp_path / SWAPFILE).st_size == 3 * MIB


def test_a_failing_mkswap_leaves_no_swap_file_behind(tmp_path: Path) -> None:
    runner = RecordingRunner(
        fail={"mkswap": "mkswap: error: swap area needs to be at least 40 KiB"}
    )
    swap = swap_file(tmp_path, runner)
    with pytest.raises(CommandFailed, match="mkswap failed: mkswap: error: swap area needs"):
        asyncio.run(swap.ensure(tmp_path, 2, encrypt=False))
    assert not (tmp_path / SWAPFILE).exists()
    assert "swapon" not in runner.programs()


def test_a_swap_that_does_not_fit_is_refused_before_anything_is_run(tmp_path: Path) -> None:
    runner = RecordingRunner()
    with pytest.raises(InvalidArgs, match="a swap file of 16777216 MiB does not fit on"):
        asyncio.run(swap_file(tmp_path, runner).ensure(tmp_path, 16 << 20, encrypt=False))
    assert runner.calls == []


def test_encryption_without_device_mapper_is_refused_before_anything_is_made(
    tmp_path: Path,
) -> None:
    runner = RecordingRunner()
    with pytest.raises(NotSupported, match="swap encryption is not possible"):
        asyncio.run(
            swap_file(tmp_path, runner, misc="237 loop-control\n").ensure(tmp_path, 2, encrypt=True)
        )
    assert not (tmp_path / SWAPFILE).exists()


def test_encrypted_swap_maps_the_file_in_plain_mode_with_a_random_key_and_swaps_on_the_mapping(
    tmp_path: Path,
) -> None:
    if shutil.which("cryptsetup", path=BASE_ENV["PATH"]) is None:
        pytest.skip("needs cryptsetup installed (package cryptsetup-bin)")
    runner = RecordingRunner(ok=["cryptsetup", "mkswap", "swapon"])
    swap = swap_file(tmp_path, runner, misc="236 device-mapper\n")

    asyncio.run(swap.ensure(tmp_path, 2, encrypt=True))

    mapping = str(tmp_path / "dev" / "mapper" / "waagent-swap")
    crypt = next(argv for argv in runner.calls if argv[0] == "cryptsetup")
    assert crypt == (
        "cryptsetup",
        "open",
        "--type",
        "plain",
        "--cipher",
        "aes-xts-plain64",
        "--key-size",
        "512",
        "--key-file",
        "/dev/urandom",
        str(tmp_path / SWAPFILE),
        "waagent-swap",
    )
    assert ("mkswap", mapping) in runner.calls
    assert ("swapon", mapping) in runner.calls
    assert stat.S_IMODE(os.stat(tmp_path / SWAPFILE).st_mode) == 0o600
