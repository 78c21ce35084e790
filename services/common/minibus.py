"""A D-Bus method call with the standard library alone, for processes that stay resident.

The `waagent -daemon` supervisor lives as long as the machine and asks the bus daemon only a
few things (is the bus up, who owns a name, start a service, read your configuration again);
dbus-fast would keep some 13 MiB resident for that. This speaks just enough of the protocol:
a connection per question, EXTERNAL authentication, `Hello`, one method call whose arguments
and reply are basic types, and the reply or error matched by serial. Signals that arrive
meanwhile (`NameAcquired`) are skipped. Anything else (containers, unix fds) is not needed and
raises `ProtocolError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import Sequence
from urllib.parse import unquote

BUS_DAEMON = "org.freedesktop.DBus"
BUS_DAEMON_PATH = "/org/freedesktop/DBus"
NO_OWNER = "org.freedesktop.DBus.Error.NameHasNoOwner"

METHOD_CALL, METHOD_RETURN, ERROR = 1, 2, 3
# Header fields (code, signature).
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SIGNATURE = 1, 2, 3, 4, 5, 6, 8
FIELD_TYPES = {PATH: "o", INTERFACE: "s", MEMBER: "s", DESTINATION: "s", SIGNATURE: "g"}
FIXED = {"y": ("B", 1), "b": ("I", 4), "n": ("h", 2), "q": ("H", 2), "i": ("i", 4),
         "u": ("I", 4), "x": ("q", 8), "t": ("Q", 8), "d": ("d", 8)}  # fmt: skip
MAX_MESSAGE = 1 << 20  # replies here are a few bytes; a bigger one is not a bus daemon's


class ProtocolError(Exception):
    """The peer is not a bus, or sent what this client does not read."""


class BusError(Exception):
    """The error reply of a call: its D-Bus error name and message."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message


# No bus answered: none at the address (yet), it went away, it said something that is not
# D-Bus, or it did not answer in time. (BusError is an answer: an error reply.)
NO_BUS: tuple[type[Exception], ...] = (OSError, EOFError, ProtocolError, TimeoutError)
# No usable answer: no bus, or an error reply (a question that has no answer yet).
NO_ANSWER: tuple[type[Exception], ...] = (*NO_BUS, BusError)


def unix_path(address: str) -> str | None:
    """The socket path of the first `unix:path=` entry of a D-Bus address, if any."""
    for entry in address.split(";"):
        transport, _, params = entry.partition(":")
        if transport != "unix":
            continue
        for param in params.split(","):
            key, _, value = param.partition("=")
            if key == "path":
                return unquote(value)
    return None


class _Writer:
    def __init__(self) -> None:
        self.data = bytearray()

    def align(self, boundary: int) -> None:
        self.data += b"\0" * (-len(self.data) % boundary)

    def value(self, code: str, value: object) -> None:
        if code in ("s", "o"):
            raw = str(value).encode()
            self.align(4)
            self.data += struct.pack("<I", len(raw)) + raw + b"\0"
        elif code == "g":
            raw = str(value).encode()
            self.data += struct.pack("<B", len(raw)) + raw + b"\0"
        elif code in FIXED:
            fmt, size = FIXED[code]
            self.align(size)
            self.data += struct.pack("<" + fmt, value)
        else:
            raise ProtocolError(f"cannot write D-Bus type {code!r}")


class _Reader:
    def __init__(self, data: bytes, order: str) -> None:
        self.data = data
        self.order = order
        self.at = 0

    def align(self, boundary: int) -> None:
        self.at += -self.at % boundary

    def _take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise ProtocolError("truncated message")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def value(self, code: str) -> object:
        if code in ("s", "o"):
            self.align(4)
            (length,) = struct.unpack(self.order + "I", self._take(4))
            text = self._take(length + 1)[:-1]
            return text.decode(errors="replace")
        if code == "g":
            (length,) = struct.unpack("B", self._take(1))
            return self._take(length + 1)[:-1].decode(errors="replace")
        if code == "v":
            signature = str(self.value("g"))
            if len(signature) != 1:
                raise ProtocolError(f"cannot read a variant of {signature!r}")
            return self.value(signature)
        if code in FIXED:
            fmt, size = FIXED[code]
            self.align(size)
            (number,) = struct.unpack(self.order + fmt, self._take(size))
            return bool(number) if code == "b" else number
        raise ProtocolError(f"cannot read D-Bus type {code!r}")


def method_call(
    serial: int,
    destination: str,
    path: str,
    interface: str,
    member: str,
    signature: str = "",
    args: Sequence[object] = (),
) -> bytes:
    """One METHOD_CALL message, little-endian."""
    if len(signature) != len(args):
        raise ValueError(f"signature {signature!r} does not fit {len(args)} argument(s)")
    body = _Writer()
    for code, arg in zip(signature, args, strict=True):
        body.value(code, arg)
    fields: list[tuple[int, object]] = [
        (PATH, path), (INTERFACE, interface), (MEMBER, member), (DESTINATION, destination),
    ]  # fmt: skip
    if signature:
        fields.append((SIGNATURE, signature))
    header = _Writer()
    header.data += struct.pack("<cBBBII", b"l", METHOD_CALL, 0, 1, len(body.data), serial)
    array = _Writer()
    for field_code, value in fields:
        array.align(8)  # each struct; the array starts at offset 16, itself a multiple of 8
        array.data += struct.pack("<B", field_code)
        array.value("g", FIELD_TYPES[field_code])
        array.value(FIELD_TYPES[field_code], value)
    header.data += struct.pack("<I", len(array.data)) + array.data
    header.align(8)
    return bytes(header.data + body.data)


class _Message:
    def __init__(self, kind: int, serial: int, fields: dict[int, object], body: list[object]):
        self.kind = kind
        self.serial = serial
        self.fields = fields
        self.body = body


async def _read_message(reader: asyncio.StreamReader) -> _Message:
    fixed = await reader.readexactly(16)
    order = {b"l": "<", b"B": ">"}.get(fixed[:1])
    if order is None:
        raise ProtocolError("not a D-Bus message")
    kind, _, _, body_length, serial, fields_length = struct.unpack(order + "BBBIII", fixed[1:])
    header_length = 16 + fields_length + (-fields_length % 8)
    if header_length + body_length > MAX_MESSAGE:
        raise ProtocolError("message too large")
    rest = await reader.readexactly(header_length - 16 + body_length)
    data = fixed + rest
    read = _Reader(data[: 16 + fields_length], order)
    read.at = 16
    fields: dict[int, object] = {}
    while read.at < 16 + fields_length:
        read.align(8)
        code = int(read.value("y"))  # type: ignore[call-overload]
        fields[code] = read.value("v")
    body_reader = _Reader(data[header_length:], order)
    body = [body_reader.value(code) for code in str(fields.get(SIGNATURE, ""))]
    return _Message(kind, serial, fields, body)


async def _authenticate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    uid = str(os.geteuid()).encode().hex()
    writer.write(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
    await writer.drain()
    line = await reader.readline()
    if not line.startswith(b"OK "):
        raise ProtocolError(f"authentication refused: {line.strip()[:80]!r}")
    writer.write(b"BEGIN\r\n")


async def _exchange(
    address: str, calls: Sequence[tuple[str, str, str, str, str, Sequence[object]]]
) -> list[object]:
    """Connect, authenticate, say Hello, make `calls` in turn; the last one's reply body."""
    path = unix_path(address)
    if path is None:
        raise ProtocolError(f"no unix:path= socket in the bus address {address!r}")
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        await _authenticate(reader, writer)
        hello = (BUS_DAEMON, BUS_DAEMON_PATH, BUS_DAEMON, "Hello", "", ())
        body: list[object] = []
        for serial, call in enumerate([hello, *calls], start=1):
            writer.write(method_call(serial, *call))
            await writer.drain()
            while True:
                message = await _read_message(reader)
                if (
                    message.kind in (METHOD_RETURN, ERROR)
                    and message.fields.get(REPLY_SERIAL) == serial
                ):
                    break
            if message.kind == ERROR:
                name = str(message.fields.get(ERROR_NAME, "org.freedesktop.DBus.Error.Failed"))
                text = message.body[0] if message.body and isinstance(message.body[0], str) else ""
                raise BusError(name, text)
            body = message.body
        return body
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def call(
    address: str,
    destination: str,
    path: str,
    interface: str,
    member: str,
    signature: str = "",
    args: Sequence[object] = (),
    *,
    timeout: float = 25.0,
) -> list[object]:
    """One method call on the bus at `address`; the reply's values. Raises BusError for an
    error reply, OSError/ProtocolError when there is no bus, TimeoutError after `timeout`."""
    async with asyncio.timeout(timeout):
        return await _exchange(address, [(destination, path, interface, member, signature, args)])


async def accepts(address: str, timeout: float = 2.0) -> bool:
    """A bus answers at `address`: it authenticated us and answered Hello."""
    try:
        async with asyncio.timeout(timeout):
            await _exchange(address, [])
    except NO_ANSWER:
        return False
    return True


async def bus_daemon(
    address: str, member: str, signature: str = "", args: Sequence[object] = (), timeout: float = 5
) -> list[object]:
    return await call(
        address, BUS_DAEMON, BUS_DAEMON_PATH, BUS_DAEMON, member, signature, args, timeout=timeout
    )


async def owner_pid(address: str, name: str, timeout: float = 5.0) -> int | None:
    """The pid of the process owning `name`; None when nobody owns it."""
    try:
        reply = await bus_daemon(address, "GetConnectionUnixProcessID", "s", [name], timeout)
    except BusError as exc:
        if exc.name == NO_OWNER:
            return None
        raise
    pid = reply[0] if reply else None
    if not isinstance(pid, int):
        raise ProtocolError(f"GetConnectionUnixProcessID answered {reply!r}")
    return pid
