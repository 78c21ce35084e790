"""docs/duties.md is true: every test it names exists, and every duty has a status.

The page maps each duty of the classic agent to the tests that exercise it. Rows are the lines of
its tables; the Tests cell names pytest node ids in backticks (`tests/x/test_y.py::test_z`,
`...::TestClass::test_z`, a `[param]` suffix allowed) and the last cell is the status: `done...`,
`partial: <what is missing>` or `not built: <why>`. A done or partial row names at least one test.

The one exception, kept simple: a node id followed by `(i15-hostname)` belongs to the hostname
publishing branch, merged before this page; it is checked like any other once its test file
exists, and skipped (visibly) while the file does not.

Test files are read with `ast`, never imported: this stays fast and needs no service.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache

import pytest

from tests.harness.paths import REPO

DOC = REPO / "docs" / "duties.md"
PENDING = "(i15-hostname)"
NODE = re.compile(r"`(tests/[\w/]+\.py(?:::\w+)+(?:\[[^\]`]*\])?)`( " + re.escape(PENDING) + ")?")
STATUS = re.compile(r"^(done\b|partial: \S|not built: \S)")
# The reference sections whose duties the page must cover (§1.2 layout to §10.16, §11).
SECTIONS = {
    "1.2", "2.1", "2.2", "2.4", "2.5", "2.8", "2.9", "2.10", "3.1", "3.2", "3.3",
    "4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "5.1", "5.2", "5.3",
    "6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "6.7", "6.8", "6.9", "6.10", "7", "7.3",
    "8.1", "8.2", "8.3", "9.1", "9.2", "9.3", "9.4", "9.6", "9.7", "9.8", "9.9", "9.10",
    "9.11", "9.12", "10.1", "10.3", "10.4", "10.5", "10.6", "10.7", "10.8", "10.9", "10.10",
    "10.11", "10.12", "10.13", "10.14", "10.15", "10.16", "11.1", "11.2", "11.3",
}  # fmt: skip


@dataclass(frozen=True)
class Row:
    duty: str
    sections: str
    tests: list[tuple[str, bool]]  # (node id, pending on i15-hostname)
    status: str


def rows() -> list[Row]:
    found = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("| ") or line.startswith("| Duty |"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 5, f"a row of docs/duties.md without its five cells: {line}"
        tests = [(m[1], bool(m[2])) for m in NODE.finditer(cells[3])]
        found.append(Row(cells[0], cells[1], tests, cells[4]))
    return found


@cache
def definitions(path: str) -> set[str]:
    """Every `func` and `Class::method` a test file defines at its top level."""
    tree = ast.parse((REPO / path).read_text(), path)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            names.update(
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return names


def expand(cell: str) -> set[str]:
    """'2.1-2.2, 4.3' -> {'2.1', '2.2', '4.3'}; words such as 'issue 15' are not sections."""
    out: set[str] = set()
    for part in re.split(r",\s*", cell):
        if m := re.fullmatch(r"(\d+)\.(\d+)-(\d+)\.(\d+)", part):
            major, first, last = int(m[1]), int(m[2]), int(m[4])
            out.update(f"{major}.{n}" for n in range(first, last + 1))
        elif re.fullmatch(r"\d+(\.\d+)?", part):
            out.add(part)
    return out


NAMED = sorted({node for row in rows() for node in row.tests})


def problem(node: str, pending: bool) -> str | None:
    """Why `node` is not a test (None when it is); SKIP for a pending file not merged yet."""
    path, _, name = node.partition("::")
    if pending and not (REPO / path).exists():
        return SKIP
    if not (REPO / path).is_file():
        return f"docs/duties.md names {node}: no such file"
    if re.sub(r"\[.*\]$", "", name) not in definitions(path):
        return f"docs/duties.md names {node}: {path} defines no such test"
    return None


SKIP = "comes with the i15-hostname branch"


@pytest.mark.parametrize(("node", "pending"), NAMED, ids=[n for n, _ in NAMED])
def test_every_named_test_exists(node: str, pending: bool) -> None:
    if (why := problem(node, pending)) == SKIP:
        pytest.skip(f"{node} {SKIP}")
    assert why is None, why


def test_every_row_has_a_status_and_a_done_row_a_test() -> None:
    table = rows()
    assert len(table) > 50, "docs/duties.md lost its tables"
    bad = [row.duty for row in table if not STATUS.match(row.status)]
    assert bad == [], "rows whose status is not done / partial: ... / not built: ..."
    untested = [
        row.duty for row in table if not row.status.startswith("not built") and not row.tests
    ]
    assert untested == [], "done or partial rows that name no test"


def test_every_section_of_the_reference_has_a_duty() -> None:
    covered = set().union(*(expand(row.sections) for row in rows()))
    assert SECTIONS - covered == set()


def test_a_missing_test_file_function_or_method_is_caught() -> None:
    here = "tests/unit/test_duties.py"
    assert problem(f"{here}::test_every_named_test_exists[x]", pending=False) is None
    assert "no such test" in str(problem(f"{here}::test_no_such_duty", pending=False))
    assert "no such test" in str(problem(f"{here}::Row::test_x", pending=False))
    assert "no such file" in str(problem("tests/unit/test_gone.py::test_x", pending=False))
    # Pending only spares a file that is absent, never a missing function in a present file.
    assert problem("tests/unit/test_gone.py::test_x", pending=True) == SKIP
    assert "no such test" in str(problem(f"{here}::test_no_such_duty", pending=True))
    assert NODE.fullmatch("`tests/a/test_b.py::TestC::test_d[x]` (i15-hostname)")
