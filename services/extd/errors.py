"""Extension failures with the classic codes (reference §14.4): what the fabric shows users.

An `ExtensionError` is a failure of one handler or extension. It is reported in the status with
its code and message and never stops the processing of the others.
"""

from __future__ import annotations

from enum import IntEnum

from ..common.errors import Failed


class Code(IntEnum):
    UNKNOWN_FAILURE = -1
    SUCCESS = 0
    PROCESSING_ERROR = 1000
    MANIFEST_DOWNLOAD_ERROR = 1001
    HANDLER_MANIFEST_NOT_FOUND = 1002
    HANDLER_MANIFEST_MALFORMED = 1003
    PACKAGE_DOWNLOAD_FAILED = 1004
    PACKAGE_EXTRACTION_FAILED = 1005
    INSTALL_FAILED = 1007
    UPDATE_FAILED = 1008
    ENABLE_FAILED = 1009
    DISABLE_FAILED = 1010
    COMMAND_TIMED_OUT = 1011
    STATUS_INVALID = 1012
    UNSUPPORTED_REQUIRED_FEATURES = 2001


class ExtensionError(Failed):
    """A failure reported on one handler: the classic code and a message for the user.

    The message may span lines (command output); the D-Bus message is its first line.
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        operation: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        self.code = int(code)
        self.text = message
        self.operation = operation
        # The exit code of the command that failed, when one ran (update passes it on).
        self.exit_code = exit_code
        super().__init__(message.splitlines()[0] if message else f"error {code}")
