"""SAS tokens out of everything wire writes for others: logs, the goal-state history, LastError."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from waagent.common.logs import redact
from waagent.common.root import Root
from waagent.wire.history import History

SIGNATURE = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"


@pytest.mark.parametrize(
    "text",
    [
        f"https://acct.blob.core.windows.net/c/p.zip?sv=2018-03-28&sr=b&sig={SIGNATURE}&se=2030",
        f'"commandToExecute": "curl https:\\/\\/a.blob\\/x?sv=1\\u0026sig={SIGNATURE}"',
        f"<Uri>https://a.blob/x?sv=1&amp;sig={SIGNATURE}&amp;se=1</Uri>",
        f"fileUris=https%3A%2F%2Fa.blob%2Fx%3Fsv%3D1%26sig%3D{SIGNATURE}",
        f"sig={SIGNATURE}",
    ],
    ids=["url", "json-escaped", "xml-escaped", "url-encoded", "bare"],
)
def test_a_sas_signature_is_redacted_however_it_is_written(text: str) -> None:
    cleaned = redact(text)
    assert SIGNATURE not in cleaned
    assert "<redacted>" in cleaned


def test_words_that_merely_end_in_sig_are_kept() -> None:
    assert redact("xsig=1 design=2") == "xsig=1 design=2"


def test_every_history_document_is_redacted_on_its_way_to_disk(tmp_path: Path) -> None:
    history = History(Root(tmp_path), PurePosixPath("/history"))
    entry = history.begin("1")
    url = f"https://a.blob/x?sv=1&amp;sig={SIGNATURE}"
    history.save("GoalState.xml", f"<GoalState><Uri>{url}</Uri></GoalState>".encode())
    history.save("ExtensionsConfig.xml", f'{{"fileUris": ["{url}"]}}')
    for name in ("GoalState.xml", "ExtensionsConfig.xml"):
        text = (tmp_path / entry.relative_to("/") / name).read_text()
        assert SIGNATURE not in text and "<redacted>" in text, name
