"""The one error vocabulary of waagent.

Every error a caller can see is a `WaagentError` subclass carrying its D-Bus name and a one-line
message. The set is small and closed, like fwupd's error enum: clients (the cli, extd calling
wire) map the names back to these classes with `from_dbus_name`.
"""

from __future__ import annotations

import errno
from typing import ClassVar

ERROR_PREFIX = "org.waagent.Error."


class WaagentError(Exception):
    """Base class: a failure with a fixed D-Bus name and a one-line human message."""

    dbus_name: ClassVar[str] = ERROR_PREFIX + "Failed"
    reason: ClassVar[str] = "failed"

    def __init__(self, message: str) -> None:
        # D-Bus error messages are one line; a multi-line message would be cut by most tools.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class Failed(WaagentError):
    dbus_name = ERROR_PREFIX + "Failed"
    reason = "failed"


class NotAuthorized(WaagentError):
    dbus_name = ERROR_PREFIX + "NotAuthorized"
    reason = "not authorized"


class InteractiveAuthorizationRequired(NotAuthorized):
    """polkit would have asked for a password, but the caller did not allow interaction."""

    dbus_name = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
    reason = "interactive authorization required"


class InvalidArgs(WaagentError):
    dbus_name = ERROR_PREFIX + "InvalidArgs"
    reason = "invalid arguments"


class NotFound(WaagentError):
    dbus_name = ERROR_PREFIX + "NotFound"
    reason = "not found"


class Busy(WaagentError):
    dbus_name = ERROR_PREFIX + "Busy"
    reason = "busy"


class NotSupported(WaagentError):
    dbus_name = ERROR_PREFIX + "NotSupported"
    reason = "not supported"


class FabricUnavailable(WaagentError):
    dbus_name = ERROR_PREFIX + "FabricUnavailable"
    reason = "fabric unavailable"


class ConfigError(WaagentError):
    """A bad /etc/waagent.conf: services refuse to start rather than guess.

    `problems` holds one line per bad entry (file:line: key=value: expected ...).
    """

    dbus_name = ERROR_PREFIX + "InvalidArgs"
    reason = "invalid configuration"

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


_BY_NAME: dict[str, type[WaagentError]] = {
    cls.dbus_name: cls
    for cls in (
        Failed,
        NotAuthorized,
        InteractiveAuthorizationRequired,
        InvalidArgs,
        NotFound,
        Busy,
        NotSupported,
        FabricUnavailable,
    )
}


def from_dbus_name(name: str | None, message: str) -> WaagentError:
    """Map an error received over D-Bus back to our class (unknown names become Failed)."""
    cls = _BY_NAME.get(name or "", Failed)
    return cls(message)


_ERRNO_CLASSES: dict[int, type[WaagentError]] = {
    errno.EACCES: NotAuthorized,
    errno.EPERM: NotAuthorized,
    errno.ENOENT: NotFound,
    errno.EROFS: NotSupported,
    errno.ENOTSUP: NotSupported,
    errno.EBUSY: Busy,
    errno.EAGAIN: Busy,
}


def from_os_error(exc: OSError) -> WaagentError:
    """Translate an OSError through an errno table, keeping the path in the message."""
    cls = _ERRNO_CLASSES.get(exc.errno or 0, Failed)
    what = exc.strerror or exc.__class__.__name__
    where = f": {exc.filename}" if exc.filename else ""
    return cls(f"{what}{where}")
