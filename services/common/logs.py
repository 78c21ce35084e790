"""Logging: one logger per module, to stderr (journald) and to the classic /var/log/waagent.log.

Every service appends to that one file (O_APPEND, one write per line) and reopens it when its
inode changes, so logrotate may rename it (config/waagent.logrotate) and no writer needs a signal
or keeps writing into the rotated file.

Secrets are redacted in one place, a filter on every handler: SAS query strings of storage URLs
(as the classic agent does), a SAS signature anywhere else (a URL cut up, escaped or encoded in
settings text), and any literal registered with `register_secret` (passwords, protected
settings) never reach a log line. `redact` is also what wire applies to everything it writes for
others to read (the goal-state history, LastError).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

# An http(s) URL whose query carries a storage SAS parameter: the whole query is replaced.
SAS_URL = re.compile(
    r"(https?://[^\s\"'<>?]+\?)(?=[^\s\"'<>]*\b(?:sv|st|se|sr|sp|sip|spr|sig)=)[^\s\"'<>]*",
    re.IGNORECASE,
)
# A signature outside such a URL: `sig=` or URL-encoded `sig%3D`, also after `&amp;` or `\u0026`.
SAS_SIGNATURE = re.compile(r"(?<![A-Za-z_-])(sig(?:=|%3D))[^&\s\"'<>\\]+", re.IGNORECASE)
REDACTED = "<redacted>"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Redact this exact text from every log line from now on (short values are ignored)."""
    if len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    text = SAS_URL.sub(lambda m: m.group(1) + REDACTED, text)
    text = SAS_SIGNATURE.sub(lambda m: m.group(1) + REDACTED, text)
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class ClassicFormatter(logging.Formatter):
    """`2026-11-25T23:43:16.123456Z INFO wire message`: the classic waagent.log line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"{stamp} {record.levelname} {self.service} {record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JournalFormatter(logging.Formatter):
    """stderr under systemd: a `<N>` syslog priority prefix, no timestamp (journald adds it)."""

    PRIORITY: ClassVar[dict[int, int]] = {
        logging.CRITICAL: 2,
        logging.ERROR: 3,
        logging.WARNING: 4,
        logging.INFO: 6,
        logging.DEBUG: 7,
    }

    def format(self, record: logging.LogRecord) -> str:
        priority = self.PRIORITY.get(record.levelno, 6)
        line = f"<{priority}>{record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text.replace("\n", f"\n<{priority}>")
        return line


class ConsoleFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.service}: {record.levelname}: {record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class FollowingFileHandler(logging.handlers.WatchedFileHandler):
    """Follows the log to the file logrotate created in its place, but never creates one that
    was deleted: deprovisioning removes the log, and the captured image must not carry a new one
    (the lines go to the deleted file, as with a plain FileHandler)."""

    def reopenIfNeeded(self) -> None:
        if os.path.exists(self.baseFilename):
            super().reopenIfNeeded()


def setup(service: str, *, verbose: bool = False, log_file: Path | None = None) -> None:
    """Configure the root logger once per process.

    `log_file` is the host path of the classic log (the caller maps `Logs.File` into its root);
    when it cannot be opened the service says so on stderr and keeps running.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    redactor = RedactingFilter()

    console = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        console.setFormatter(JournalFormatter())
    else:
        console.setFormatter(ConsoleFormatter(service))
    console.addFilter(redactor)
    root.addHandler(console)

    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = FollowingFileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            root.warning("not writing %s: %s", log_file, exc.strerror or exc)
        else:
            file_handler.setFormatter(ClassicFormatter(service))
            file_handler.addFilter(redactor)
            root.addHandler(file_handler)
    # Library chatter stays out of the agent log unless verbose.
    for noisy in ("httpx", "httpcore", "dbus_fast", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
