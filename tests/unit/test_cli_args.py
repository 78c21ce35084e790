from __future__ import annotations

import pytest

from waagent.cli.args import parse


@pytest.mark.parametrize("arg", ["-version", "--version", "/version", "version"])
def test_every_classic_prefix_is_accepted(arg: str) -> None:
    assert parse([arg]).command == "version"


def test_the_last_command_wins_and_flags_combine() -> None:
    inv = parse(["-deprovision", "-force", "-deprovision+user", "-verbose"])
    assert inv.command == "deprovision+user"
    assert inv.force and inv.verbose


def test_configuration_path_keeps_its_case() -> None:
    assert parse(["-show-configuration", "-configuration-path:/Etc/W.conf"]).config_path == (
        "/Etc/W.conf"
    )


def test_an_unknown_argument_means_help_and_is_remembered() -> None:
    inv = parse(["-version", "-bogus"])
    assert inv.command == "help"
    assert inv.unknown == ["-bogus"]


def test_no_command_means_help() -> None:
    assert parse([]).command == "help"
