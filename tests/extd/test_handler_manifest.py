"""HandlerManifest.json with the classic field rules (§9.4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from waagent.extd.errors import ExtensionError
from waagent.extd.handler_manifest import load_handler_manifest, parse_handler_manifest


def manifest(**section: Any) -> str:
    base = {"enableCommand": "run.sh enable", "installCommand": "run.sh install"}
    return json.dumps([{"name": "P.A", "version": 1.0, "handlerManifest": {**base, **section}}])


def test_commands_and_defaults_follow_the_classic_rules() -> None:
    parsed = parse_handler_manifest(manifest())
    assert parsed.command("enable") == "run.sh enable"
    assert parsed.command("uninstall") is None
    assert parsed.update_with_install and not parsed.report_heartbeat
    assert not parsed.supports_multiple_extensions and not parsed.continue_on_update_failure


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("True", True), ("yes", False), (1, False), (False, False)],
)
def test_flags_accept_a_boolean_or_the_string_true(value: Any, expected: bool) -> None:
    parsed = parse_handler_manifest(
        manifest(reportHeartbeat=value, supportsMultipleExtensions=value)
    )
    assert parsed.report_heartbeat is expected
    assert parsed.supports_multiple_extensions is expected


def test_update_mode_and_resource_limits() -> None:
    text = json.loads(manifest(updateMode="UpdateWithoutInstall"))
    text[0]["resourceLimits"] = {"cpuQuotaPercentage": 25, "memoryQuotaInMB": 200}
    parsed = parse_handler_manifest("\ufeff" + json.dumps(text))
    assert not parsed.update_with_install
    assert (parsed.limits.cpu_quota_percentage, parsed.limits.memory_quota_mb) == (25, 200)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[{not json", "is not valid JSON"),
        ("[]", "does not describe a handler"),
        ('[{"name": "x"}]', "no handlerManifest"),
        (json.dumps([{"handlerManifest": {}}]), "no enableCommand"),
    ],
)
def test_a_malformed_manifest_is_1003(text: str, reason: str) -> None:
    with pytest.raises(ExtensionError) as error:
        parse_handler_manifest(text)
    assert error.value.code == 1003
    assert reason in error.value.text


def test_a_missing_manifest_is_1002(tmp_path: Path) -> None:
    with pytest.raises(ExtensionError) as error:
        load_handler_manifest(tmp_path)
    assert error.value.code == 1002


def test_a_manifest_nested_5000_deep_is_malformed() -> None:
    with pytest.raises(ExtensionError) as error:
        parse_handler_manifest("[" * 5000 + "]" * 5000)
    assert error.value.code == 1003
    assert "nested too deeply" in error.value.text


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_resource_limits_that_are_not_finite_numbers_are_ignored(value: str) -> None:
    text = manifest().replace(
        '"version": 1.0,', f'"resourceLimits": {{"memoryQuotaInMB": {value}}},'
    )
    assert parse_handler_manifest(text).limits.memory_quota_mb is None


def test_a_manifest_that_is_a_symlink_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.json").write_text(manifest())
    (tmp_path / "HandlerManifest.json").symlink_to("elsewhere.json")
    with pytest.raises(ExtensionError) as error:
        load_handler_manifest(tmp_path)
    assert error.value.code == 1002


def test_a_manifest_larger_than_a_megabyte_is_malformed(tmp_path: Path) -> None:
    (tmp_path / "HandlerManifest.json").write_text(manifest() + " " * (1 << 20))
    with pytest.raises(ExtensionError) as error:
        load_handler_manifest(tmp_path)
    assert error.value.code == 1003
