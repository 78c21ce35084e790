"""The distribution lists every package, so `make install` ships all the code."""

from __future__ import annotations

import tomllib

from tests.harness.paths import REPO


def test_every_python_package_directory_is_listed_in_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("services", "waagent"), ("fabric", "waagent.fabric")):
        for init in (REPO / top).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / top)
            found.add(".".join([name, *relative.parts]))
    assert found == listed


def test_the_fabric_simulator_is_never_a_top_level_fabric_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["package-dir"]["waagent.fabric"] == "fabric"
    assert "fabric" not in project["tool"]["setuptools"]["packages"]
