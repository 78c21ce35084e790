"""Settings documents no honest fabric writes (issue 12), served as written beside good
extensions: each bad one is refused on its own handler, the others run, the goal state is
reported."""

from __future__ import annotations

import pytest

from waagent.fabric.scenario import Scenario

from .hostile import failed, serve_settings_text, with_sample
from .system import System, message, probe_extension

pytestmark = pytest.mark.integration

DEEP = "Waagent.Test.Deep"
BROKEN = "Waagent.Test.Broken"
GARBAGE = "Waagent.Test.Garbage"
BIG = "Waagent.Test.Big"
GOOD = "Waagent.Test.Good"


def deep(depth: int = 5000) -> str:
    public = "[" * depth + "]" * depth
    return '{"runtimeSettings":[{"handlerSettings":{"publicSettings":' + public + "}}]}"


def big_string(size: int = 1 << 20) -> str:
    return (
        '{"runtimeSettings":[{"handlerSettings":{"publicSettings":{"blob":"' + "x" * size + '"}}}]}'
    )


@pytest.fixture
def scenario(scenario: Scenario) -> Scenario:
    names = (DEEP, BROKEN, GARBAGE, BIG, GOOD)
    return with_sample(scenario, *(probe_extension(name) for name in names))


def test_bad_settings_documents_fail_only_their_own_extension(system: System) -> None:
    serve_settings_text(system, DEEP, deep())
    serve_settings_text(system, BROKEN, '{"runtimeSettings": [{"handlerSettings": {"publicSe')
    serve_settings_text(system, GARBAGE, "\u00e9" * (1 << 20))  # a megabyte of not-JSON
    serve_settings_text(system, BIG, big_string())
    system.start()
    config_error = "Ran into config errors: "
    expected = {
        DEEP: "the settings are nested more than 100 levels deep",
        BROKEN: "the settings are not valid JSON (Unterminated string",
        GARBAGE: "the settings are not valid JSON (Expecting value: line 1 column 1 (char 0))",
    }
    for name, reason in expected.items():
        text = message(failed(system, name, -1))
        assert text.startswith(config_error + reason)
        assert len(text) < 300
        assert system.operations(name) == []
    system.wait_extension_status(GOOD, "success", seq=0)
    system.wait_extension_status(BIG, "success")
    assert len(system.operations(BIG)[-1]["public"]["blob"]) == 1 << 20
    system.wait_goal_state("Success")
