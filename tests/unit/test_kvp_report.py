"""The PROVISIONING_REPORT value: the fields, their quoting, and the 1022-byte limit."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from waagent.provisioner.kvp_report import AZURE_MAX_VALUE, failure_value, success_value

NOW = datetime(2026, 12, 6, 3, 4, 5, 678000, tzinfo=UTC)
VM_ID = "a3f5c2e1-7b4d-4c8e-9f10-2d6b8e4a1c57"


def fields(value: str) -> list[str]:
    return next(csv.reader([value], delimiter="|", quotechar="'"))


def test_success_is_result_agent_vm_id_and_timestamp() -> None:
    assert success_value(VM_ID, NOW) == (
        f"result=success|agent=WALinuxAgent/3.0.0.0|vm_id={VM_ID}"
        "|timestamp=2026-12-06T03:04:05.678000+00:00"
    )


def test_a_reason_with_the_separator_or_the_quote_is_quoted_and_reads_back() -> None:
    reason = "invalid user name 'bad|name'"
    value = failure_value(reason, VM_ID, NOW)
    assert value.startswith("result=error|'reason=invalid user name ''bad|name'''|agent=")
    assert fields(value)[1] == f"reason={reason}"
    assert fields(value)[-1] == "documentation_url=https://aka.ms/linuxprovisioningerror"


def test_a_long_reason_is_shortened_to_fit_what_azure_reads() -> None:
    reason = "é" * 2000  # two bytes each: cut on a character, not a byte
    value = failure_value(reason, VM_ID, NOW)
    assert len(value.encode()) <= AZURE_MAX_VALUE
    assert len(value.encode()) >= AZURE_MAX_VALUE - 1
    shortened = fields(value)[1].removeprefix("reason=")
    assert shortened.endswith("...") and set(shortened[:-3]) == {"é"}
    assert fields(value)[2:4] == ["agent=WALinuxAgent/3.0.0.0", f"vm_id={VM_ID}"]
