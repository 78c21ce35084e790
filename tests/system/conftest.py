"""On a failed booted-VM test, the agent's journal from inside the VM goes into the report: a
failure in CI is then read from its output rather than re-run and guessed at."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.system.vm import Vm

JOURNAL_LINES = 250


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    for vm in (v for v in funcargs.values() if isinstance(v, Vm)):
        try:
            journal = vm.run(
                "journalctl",
                "--no-pager",
                "-o",
                "short-monotonic",
                "-n",
                str(JOURNAL_LINES),
                "-u",
                "waagent*",
                "-u",
                "azure*",
            )
            text = journal.stdout or journal.stderr
        except Exception as exc:  # the VM may be what failed; the report must still be made
            text = f"(no journal: {exc})"
        report.sections.append(("the VM's agent journal", text))
