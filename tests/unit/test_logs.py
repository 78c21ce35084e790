from __future__ import annotations

import logging
from pathlib import Path

from waagent.common import logs


def test_sas_query_strings_are_redacted() -> None:
    text = (
        "uploading to https://acct.blob.core.windows.net/c/status?sv=2018&sr=b&sig=abc%2Fdef done"
    )
    assert logs.redact(text) == (
        "uploading to https://acct.blob.core.windows.net/c/status?<redacted> done"
    )


def test_urls_without_sas_parameters_are_kept() -> None:
    text = "GET http://168.63.129.16/machine/?comp=goalstate"
    assert logs.redact(text) == text


def test_registered_secrets_are_redacted() -> None:
    logs.register_secret("S3cret-Pa55")
    assert logs.redact("password S3cret-Pa55 set") == "password <redacted> set"


def test_the_log_file_gets_classic_lines_and_no_secrets(tmp_path: Path) -> None:
    log_file = tmp_path / "waagent.log"
    logs.setup("wire", log_file=log_file)
    try:
        logging.getLogger("waagent.test").info(
            "blob %s", "https://a.blob.core.windows.net/x?sig=TOPSECRET&sv=1"
        )
    finally:
        logs.setup("wire")
    line = log_file.read_text().strip()
    stamp, level, service, message = line.split(" ", 3)
    assert stamp.endswith("Z") and "T" in stamp
    assert (level, service) == ("INFO", "wire")
    assert "TOPSECRET" not in line
    assert message == "blob https://a.blob.core.windows.net/x?<redacted>"
