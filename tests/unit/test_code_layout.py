"""docs/architecture.md's table of modules is true, and no module outgrows 400 lines."""

from __future__ import annotations

import re

import pytest

from tests.harness.paths import REPO

SERVICES = REPO / "services"
# The shape every service shares (named in the text above the table, not in each row).
SHARED_SHAPE = {"__init__", "__main__", "build", "bus", "errors"}
MAX_LINES = 400


def table() -> dict[str, set[str]]:
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Where the code is", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for package, modules in re.findall(r"^\| `([\w/]+)/` \| (.*) \|$", section, re.M):
        # A package may have several rows (each added on its own line, merged by union).
        rows.setdefault(package, set()).update(re.findall(r"`(\w+)`", modules))
    return rows


@pytest.mark.parametrize("package", sorted(table()))
def test_the_table_names_each_module_of_a_package_and_nothing_else(package: str) -> None:
    named = table()[package]
    present = {p.stem for p in (SERVICES / package).glob("*.py")}
    if package == "common":
        present -= {"boot", "cmdenv", "selfexec", "system_dirs"}  # small helpers, not listed
    assert named - present == set(), "named in docs/architecture.md but not a module"
    assert present - SHARED_SHAPE - named == set(), "a module docs/architecture.md does not name"


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(SERVICES)): n
        for path in SERVICES.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
