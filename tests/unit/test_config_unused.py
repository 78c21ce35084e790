"""The table of keys without effect tells the truth: every key is read by a service or listed
there with its reason, never both; the docs show the same table; wire warns once per key set."""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pytest

from tests.harness.paths import REPO
from waagent.common import config_unused
from waagent.common.config import AgentConfig, load, parse_lines, validate_entries
from waagent.common.config_unused import UNUSED, set_without_effect

SERVICES = REPO / "services"
CONFIG_MODULES = {SERVICES / "common" / "config.py", SERVICES / "common" / "config_unused.py"}
DOC = REPO / "docs" / "configuration.md"
DOC_ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| (?P<reason>.+) \|$")


def attributes_read(files: list[Path]) -> set[str]:
    """Every `.name` accessed in these files."""
    names: set[str] = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def property_fields() -> dict[str, set[str]]:
    """AgentConfig's properties and the fields each reads (`self.<field>`)."""
    tree = ast.parse((SERVICES / "common" / "config.py").read_text())
    found: dict[str, set[str]] = {}
    for cls in ast.walk(tree):
        if not (isinstance(cls, ast.ClassDef) and cls.name == "AgentConfig"):
            continue
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef) and any(
                isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list
            ):
                found[fn.name] = {
                    n.attr
                    for n in ast.walk(fn)
                    if isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Name)
                    and n.value.id == "self"
                }
    return found


def keys_read_by_services() -> set[str]:
    files = [p for p in SERVICES.rglob("*.py") if p not in CONFIG_MODULES]
    accessed = attributes_read(files)
    for prop, fields in property_fields().items():
        if prop in accessed:
            accessed |= fields
    return {
        str(field.alias) for name, field in AgentConfig.model_fields.items() if name in accessed
    }


def test_the_finder_sees_a_field_read_directly_and_through_a_property() -> None:
    read = keys_read_by_services()
    assert "ResourceDisk.MountPoint" in read  # diskd: config.resource_disk_mount_point
    assert "AutoUpdate.UpdateToLatestVersion" in read  # extd: config.update_to_latest_version
    assert property_fields()["initial_goal_state_period"] == {
        "extensions_initial_goal_state_period",
        "extensions_goal_state_period",
    }


def test_every_key_is_read_by_a_service_or_listed_without_effect_and_never_both() -> None:
    keys = {str(f.alias) for f in AgentConfig.model_fields.values()}
    read = keys_read_by_services()
    listed = set(UNUSED)
    assert sorted(listed - keys) == [], "listed in config_unused.UNUSED but not a key"
    assert sorted(keys - read - listed) == [], "read by no service: add to config_unused.UNUSED"
    assert sorted(read & listed) == [], "read by a service: remove from config_unused.UNUSED"


def test_the_docs_show_the_same_table() -> None:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = DOC_ROW.match(line)
        if match:
            rows[match["key"]] = match["reason"].replace("\\|", "|")
    expected = "\n".join(f"| `{k}` | {v} |" for k, v in UNUSED.items())
    assert rows == dict(UNUSED), f"docs/configuration.md's table should read:\n{expected}"


def config_of(text: str) -> AgentConfig:
    return validate_entries(parse_lines(text, "waagent.conf"), "waagent.conf").config


def test_a_key_without_effect_set_to_another_value_is_one_line_naming_the_reason() -> None:
    config = config_of("OS.EnableFIPS=y\nLogs.Collect=y\nAutoupdate.Frequency=60\n")
    assert set_without_effect(config) == [
        "OS.EnableFIPS=y has no effect: not built: openssl is not run with OPENSSL_FIPS=1",
        "Autoupdate.Frequency=60 has no effect: classic-only: self-update is not how this agent "
        "is upgraded (its package is)",
    ]
    assert set_without_effect(config_of("Logs.Collect=None\nExtensions.Enabled=n\n")) == []


def test_the_shipped_configuration_sets_no_key_without_effect() -> None:
    assert set_without_effect(load(REPO / "config" / "waagent.conf").config) == []


def test_only_wire_warns_so_an_agent_start_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conf = tmp_path / "waagent.conf"
    conf.write_text("OS.EnableFIPS=y\n")
    loaded = load(conf)
    caplog.set_level(logging.WARNING, config_unused.__name__)
    for program in ("diskd", "provisioner", "extd", "wire"):
        config_unused.warn(loaded, program)
    assert [r.getMessage() for r in caplog.records] == [
        f"{conf}: OS.EnableFIPS=y has no effect: not built: openssl is not run with OPENSSL_FIPS=1"
    ]
