"""common/minibus.py without a bus: its messages against dbus-fast's, and peers that are not
a bus (a test's own sockets). With a real dbus-daemon: tests/integration/test_minibus.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast import Message, MessageType

from waagent.common import minibus


def test_a_method_call_is_byte_for_byte_what_dbus_fast_sends() -> None:
    """An independent implementation agrees on every byte (header fields, padding, body)."""
    ours = minibus.method_call(
        5, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "StartServiceByName", "su", ["org.waagent.Disk1", 0],
    )  # fmt: skip
    theirs = Message(
        destination="org.freedesktop.DBus",
        path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus",
        member="StartServiceByName",
        signature="su",
        body=["org.waagent.Disk1", 0],
        serial=5,
    )._marshall(False)  # dbus-fast's own marshalling (no public name for it)
    assert ours == bytes(theirs)


@pytest.mark.parametrize("order", ["little", "big"])
def test_a_reply_is_read_in_either_byte_order(order: str) -> None:
    reply = Message(
        message_type=MessageType.METHOD_RETURN,
        reply_serial=7,
        destination=":1.5",
        signature="usb",
        body=[4242, "säge", True],
        serial=3,
    )._marshall(False)
    if order == "big":  # re-encoded by hand: dbus-fast writes little-endian only
        reply = _big_endian(bytes(reply))

    async def read() -> minibus._Message:
        stream = asyncio.StreamReader()
        stream.feed_data(bytes(reply))
        stream.feed_eof()
        return await minibus._read_message(stream)

    message = asyncio.run(read())
    assert message.kind == minibus.METHOD_RETURN
    assert message.fields[minibus.REPLY_SERIAL] == 7
    assert message.body == [4242, "säge", True]


def _big_endian(little: bytes) -> bytes:
    """The same METHOD_RETURN (fields reply_serial, destination, signature "usb"), big-endian."""
    body = bytearray()
    body += (4242).to_bytes(4, "big")
    text = "säge".encode()
    body += len(text).to_bytes(4, "big") + text + b"\0"
    body += b"\0" * (-len(body) % 4) + (1).to_bytes(4, "big")
    fields = bytearray()
    fields += bytes([minibus.REPLY_SERIAL, 1]) + b"u\0" + (7).to_bytes(4, "big")
    fields += b"\0" * (-len(fields) % 8)
    fields += bytes([minibus.DESTINATION, 1]) + b"s\0" + (4).to_bytes(4, "big") + b":1.5\0"
    fields += b"\0" * (-len(fields) % 8)
    fields += bytes([minibus.SIGNATURE, 1]) + b"g\0" + b"\x03usb\0"
    header = b"B" + bytes([2, 0, 1]) + len(body).to_bytes(4, "big") + (3).to_bytes(4, "big")
    header += len(fields).to_bytes(4, "big") + fields
    header += b"\0" * (-len(header) % 8)
    return bytes(header + body)


@contextlib.contextmanager
def _serve(path: Path, answer: bytes | None) -> Iterator[None]:
    """A unix socket that answers every connection with `answer` (None: reads, says nothing)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    stop = threading.Event()

    def loop() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(4096)
                if answer is not None:
                    conn.sendall(answer)
                stop.wait(0.5 if answer is not None else 5)  # then it hangs up

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        server.close()


@pytest.fixture
def socket_path(tmp_path: Path) -> Path:
    return tmp_path / "not-a-bus"


@pytest.mark.parametrize(
    "answer",
    [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"REJECTED EXTERNAL\r\n", b"", None],
    ids=["http", "auth-rejected", "hangs-up", "silent"],
)
def test_a_peer_that_is_not_a_bus_is_no_bus_within_the_timeout(
    socket_path: Path, answer: bytes | None
) -> None:
    with _serve(socket_path, answer):
        started = time.monotonic()
        assert not asyncio.run(minibus.accepts(f"unix:path={socket_path}", timeout=1.0))
        assert time.monotonic() - started < 5


def test_an_authenticated_peer_that_then_sends_garbage_is_a_protocol_error(
    socket_path: Path,
) -> None:
    with (
        _serve(socket_path, b"OK 0123456789abcdef\r\n" + b"X" * 16),
        pytest.raises(minibus.ProtocolError, match="not a D-Bus message"),
    ):
        asyncio.run(minibus.bus_daemon(f"unix:path={socket_path}", "ReloadConfig"))


def test_an_address_without_a_socket_path_is_refused_and_no_socket_is_no_bus(
    tmp_path: Path,
) -> None:
    with pytest.raises(minibus.ProtocolError, match="no unix:path="):
        asyncio.run(minibus.bus_daemon("tcp:host=localhost,port=1", "ReloadConfig"))
    assert not asyncio.run(minibus.accepts(f"unix:path={tmp_path}/missing"))
    assert minibus.unix_path("tcp:host=x;unix:guid=1,path=/a%20b") == "/a b"
