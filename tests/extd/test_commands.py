"""Running handler commands: real processes in a temporary handler directory."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.wait import wait_for
from waagent.extd.child_processes import ChildProcesses
from waagent.extd.command_output import combine
from waagent.extd.command_spec import CommandResult, CommandSpec, slice_name
from waagent.extd.commands import HandlerCommands
from waagent.extd.errors import ExtensionError
from waagent.extd.launch_records import Launch, LaunchRecords


def spec(directory: Path, script: str, timeout: float = 10, **env: str) -> CommandSpec:
    (directory / "run.sh").write_text("#!/bin/sh\n" + script)
    (directory / "run.sh").chmod(0o755)
    return CommandSpec(
        operation="Enable",
        command="run.sh enable",
        cwd=directory,
        env=env,
        timeout=timeout,
        error_code=1009,
        log_file=directory / "logs" / "CommandExecution.log",
    )


def run(command_spec: CommandSpec, commands: HandlerCommands | None = None) -> CommandResult:
    return asyncio.run((commands or HandlerCommands()).run(command_spec))


def test_a_command_runs_in_its_directory_with_the_environment_and_its_output_is_kept(
    tmp_path: Path,
) -> None:
    result = run(
        spec(
            tmp_path,
            'echo "$1 in $(pwd) seq=$ConfigSequenceNumber"; echo oops >&2',
            ConfigSequenceNumber="4",
        )
    )
    assert result.exit_code == 0
    assert result.output == f"[stdout]\nenable in {tmp_path} seq=4\n\n\n[stderr]\noops\n"
    log = (tmp_path / "logs" / "CommandExecution.log").read_text()
    assert "Enable: exit code 0" in log and "seq=4" in log


def test_a_non_zero_exit_is_the_operations_code_with_the_classic_message(tmp_path: Path) -> None:
    with pytest.raises(ExtensionError) as error:
        run(spec(tmp_path, "echo broken >&2; exit 7"))
    assert error.value.code == 1009
    assert error.value.exit_code == 7
    assert error.value.text.startswith(
        f"Non-zero exit code: 7, {tmp_path}/run.sh enable\n[stdout]\n"
    )
    assert "broken" in error.value.text


def test_a_timeout_kills_the_whole_session_and_is_1011(tmp_path: Path) -> None:
    script = "sleep 300 & echo $! > child.pid; setsid sleep 300 & echo $! > other.pid; sleep 300\n"
    with pytest.raises(ExtensionError) as error:
        run(spec(tmp_path, script, timeout=1))
    assert error.value.code == 1011
    assert error.value.text.startswith(f"Timeout(1): {tmp_path}/run.sh enable")
    child = int((tmp_path / "child.pid").read_text())
    wait_for(lambda: not Path(f"/proc/{child}").exists(), timeout=5, what="the child to die")
    # `setsid` left the session on purpose: that is a daemon, which the classic agent lets live.
    other = int((tmp_path / "other.pid").read_text())
    os.kill(other, 9)


def test_a_flood_of_output_is_cut_and_never_held(tmp_path: Path) -> None:
    result = run(spec(tmp_path, "yes flood | head -c 50000000; echo done >&2"))
    assert len(result.output) <= 3200
    assert "flood\nflood\n" in result.output
    assert result.output.endswith("[stderr]\ndone\n")
    assert sum(p.stat().st_blocks for p in tmp_path.iterdir() if p.is_file()) * 512 < 1 << 20


def test_a_daemon_left_behind_does_not_block_the_command(tmp_path: Path) -> None:
    result = run(
        spec(tmp_path, "(sleep 300; echo late) & echo $! > daemon.pid; echo started", timeout=5)
    )
    assert "started" in result.output
    os.kill(int((tmp_path / "daemon.pid").read_text()), 9)


def test_commands_left_running_by_an_earlier_extd_are_killed_when_they_cannot_be_adopted(
    tmp_path: Path,
) -> None:
    """Without systemd a command is extd's child: a restarted extd kills what is left (its
    operation runs again) and forgets its output files."""
    registry = tmp_path / "extd.running"
    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
    started = Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    out, err = tmp_path / "x.stdout", tmp_path / "x.stderr"
    out.touch()
    err.touch()
    LaunchRecords(registry).add(Launch(f"{sleeper.pid}:{started}", "k", str(out), str(err)))
    left = asyncio.run(HandlerCommands(ChildProcesses(), LaunchRecords(registry)).recover())
    assert sleeper.wait(timeout=5) == -9
    assert [launch.key for launch in left] == ["k"]
    assert LaunchRecords(registry).launches == {}
    assert not out.exists()


def test_extd_stopped_while_a_command_runs_keeps_its_record_for_the_next_extd(
    tmp_path: Path,
) -> None:
    """A SIGTERM of extd cancels `run`: the command's record and output files stay, so the next
    extd finds the command (to adopt it, or here, without systemd, to kill what is left and
    run the operation again) rather than losing track of it and running it a second time."""
    registry = tmp_path / "extd.running"
    outputs = tmp_path / "out"
    command = spec(tmp_path, "echo $$ > pid; echo started; sleep 300")

    async def stopped_while_running() -> None:
        commands = HandlerCommands(ChildProcesses(), LaunchRecords(registry), outputs)
        task = asyncio.create_task(commands.run(command))
        await asyncio.to_thread(wait_for, (tmp_path / "pid").exists, timeout=10, what="the command")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stopped_while_running())
    [kept] = LaunchRecords(registry).launches.values()
    assert kept.key == command.key and not kept.ended
    assert Path(kept.stdout).read_text() == "started\n"
    left = asyncio.run(HandlerCommands(ChildProcesses(), LaunchRecords(registry)).recover())
    assert [launch.key for launch in left] == [command.key]
    assert LaunchRecords(registry).launches == {}
    assert list(outputs.iterdir()) == []


@pytest.mark.root  # the files are root's only when root runs the command
def test_a_command_whose_output_files_are_root_only_and_removed_after(tmp_path: Path) -> None:
    outputs = tmp_path / "out"
    seen = tmp_path / "seen"
    command = spec(tmp_path, f"ls -l {outputs} > {seen}; echo secret-token")
    result = run(command, HandlerCommands(output_dir=outputs))
    assert "secret-token" in result.output
    listing = seen.read_text()
    assert listing.count("-rw------- 1 root root") == 2, listing
    assert list(outputs.iterdir()) == []
    assert (outputs.stat().st_mode & 0o777) == 0o700
    log_file = tmp_path / "logs" / "CommandExecution.log"
    assert (log_file.stat().st_mode & 0o777) == 0o600


def test_a_command_log_an_earlier_version_left_world_readable_becomes_root_only(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "logs" / "CommandExecution.log"
    log_file.parent.mkdir()
    log_file.write_text("old\n")
    log_file.chmod(0o644)
    run(spec(tmp_path, "true"))
    assert (log_file.stat().st_mode & 0o777) == 0o600
    assert log_file.read_text().startswith("old\n")


def test_output_is_combined_within_3200_characters_keeping_tails() -> None:
    text = combine("a" * 5000, "b" * 100)
    assert len(text) == 3200
    assert text.endswith("[stderr]\n" + "b" * 100)
    assert "aaaa\n\n[stderr]" in text


def test_slice_names_cannot_nest() -> None:
    assert (
        slice_name("Microsoft.Azure-Tool", "run-1")
        == "azure-vmextensions-Microsoft.Azure_Tool.run_1.slice"
    )
