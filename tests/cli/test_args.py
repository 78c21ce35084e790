"""The classic command line: the parts the supervisor, status and log collector added."""

from __future__ import annotations

import pytest

from waagent.cli.args import NOT_SUPPORTED, parse


def test_root_and_configuration_path_keep_their_values() -> None:
    inv = parse(["-daemon", "-root:/srv/Image", "-configuration-path:/srv/W.conf"])
    assert (inv.command, inv.root, inv.config_path) == ("daemon", "/srv/Image", "/srv/W.conf")


@pytest.mark.parametrize("argv", [["status"], ["-status"], ["--status", "--json"]])
def test_status_is_a_readable_subcommand_and_a_classic_flag(argv: list[str]) -> None:
    inv = parse(argv)
    assert inv.command == "status"
    assert inv.json == ("--json" in argv)


def test_collect_logs_takes_full() -> None:
    inv = parse(["-collect-logs", "-full"])
    assert (inv.command, inv.full) == ("collect-logs", True)


@pytest.mark.parametrize("arg", ["-run-exthandlers", "-register-service"])
def test_classic_commands_waagent_does_not_offer_are_recognized(arg: str) -> None:
    inv = parse([arg])
    assert inv.command == arg.lstrip("-")
    assert inv.command in NOT_SUPPORTED


def test_setup_firewall_is_recognized_with_its_address() -> None:
    assert parse(["-setup-firewall=168.63.129.16"]).command == "setup-firewall"


def test_an_unknown_option_with_a_colon_is_still_unknown() -> None:
    inv = parse(["-daemon", "-bogus:1"])
    assert (inv.command, inv.unknown) == ("help", ["-bogus:1"])


@pytest.mark.parametrize(
    ("args", "value", "dry_run"),
    [
        (["-serialconsole"], "", False),
        (["-serialconsole=off", "-dry-run"], "off", True),
        (["--serialconsole=ON"], "on", False),
    ],
)
def test_serialconsole_takes_an_optional_value_and_dry_run(
    args: list[str], value: str, dry_run: bool
) -> None:
    inv = parse(args)
    assert (inv.command, inv.serial_console, inv.dry_run) == ("serialconsole", value, dry_run)
