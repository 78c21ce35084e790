"""RuntimeSettings parsed once in wire: numbers, values, and problems kept for extd to report."""

from __future__ import annotations

import json

from waagent.wire.settings import MAX_DEPTH, runtime_settings


def document(handler: object) -> str:
    return json.dumps({"runtimeSettings": [{"handlerSettings": handler}]})


def test_a_good_element_gives_its_number_and_values() -> None:
    parsed = runtime_settings(
        " 7 ",
        "first",
        "disabled",
        document(
            {
                "publicSettings": {"a": [1, 2]},
                "protectedSettings": "MIIB",
                "protectedSettingsCertThumbprint": "ABCD",
            }
        ),
    )
    assert (parsed.seq_no, parsed.name, parsed.state) == (7, "first", "disabled")
    assert parsed.public_settings == {"a": [1, 2]}
    assert (parsed.protected_settings, parsed.thumbprint) == ("MIIB", "ABCD")
    assert parsed.seq_no_problem is None and parsed.settings_problem is None


def test_a_seq_no_that_is_missing_or_no_number_is_a_problem_not_a_guess() -> None:
    missing = runtime_settings(None, None, None, "")
    assert (missing.seq_no, missing.seq_no_problem) == (None, "is missing")
    bad = runtime_settings("12a", None, None, "")
    assert (bad.seq_no, bad.seq_no_problem) == (None, "'12a' is not a number")


def test_an_unusable_document_keeps_the_number_and_says_why() -> None:
    cases = {
        '{"runtimeSettings": [': "the settings are not valid JSON (",
        "[]": "the settings have no runtimeSettings list",
        '{"runtimeSettings": [1]}': "the settings have no runtimeSettings[].handlerSettings",
        document({"protectedSettings": 5}): "protectedSettings is not a string",
    }
    for text, reason in cases.items():
        parsed = runtime_settings("3", None, None, text)
        assert parsed.seq_no == 3
        assert parsed.settings_problem is not None
        assert parsed.settings_problem.startswith(reason), text
        assert parsed.public_settings is None


def test_settings_nested_too_deep_are_refused_and_those_within_the_limit_kept() -> None:
    def nested(depth: int) -> str:
        return (
            '{"runtimeSettings": [{"handlerSettings": {"publicSettings": '
            + ("[" * depth + "]" * depth)
            + "}}]}"
        )

    deep = runtime_settings("1", None, None, nested(5000))
    assert deep.settings_problem == f"the settings are nested more than {MAX_DEPTH} levels deep"
    fine = runtime_settings("1", None, None, nested(90))
    assert fine.settings_problem is None


def test_an_empty_document_is_no_settings_not_a_problem() -> None:
    parsed = runtime_settings("0", None, None, "  ")
    assert parsed.settings_problem is None and parsed.public_settings is None
