"""Headless Chromium driven through the DevTools protocol: a tiny synchronous client.

Chromium is Debian's; it listens on a free port (`--remote-debugging-port=0`, the port read from
the DevTools file it writes in its fresh profile) and the page is driven over one websocket
(aiohttp) on a private event loop, so tests stay plain functions. Console messages and uncaught
exceptions of the page are kept, to be shown when a test fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.harness.procs import Processes
from tests.harness.wait import wait_for

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


def chromium_binary() -> str | None:
    return shutil.which("chromium")


class Page:
    """One tab: navigate, evaluate JavaScript, screenshot."""

    def __init__(self, ws_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []
        self.session = self.loop.run_until_complete(self._session())
        self.ws = self.loop.run_until_complete(self.session.ws_connect(ws_url, max_msg_size=0))
        self.reader = self.loop.create_task(self._read())
        self.send("Page.enable")
        self.send("Runtime.enable")

    async def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self.pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"]["args"]
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif data.get("method") == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                self.console.append(f"exception: {text}")

    async def _call(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        request_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.pending[request_id] = future
        await self.ws.send_str(json.dumps({"id": request_id, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return dict(reply.get("result", {}))

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        return self.loop.run_until_complete(self._call(method, params, timeout))

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """The value of a JavaScript expression (a promise is awaited)."""
        result = self.send(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or details["text"])
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        wait_for(
            lambda: self.evaluate("document.readyState") == "complete",
            timeout=30,
            what=f"{url} to load",
        )

    def text(self, selector: str) -> str | None:
        """The visible text of the first element matching `selector` (None when there is none)."""
        value = self.evaluate(
            f"(e => e ? e.innerText : null)(document.querySelector({json.dumps(selector)}))"
        )
        return None if value is None else str(value)

    def wait_text(self, selector: str, expected: str, timeout: float = 30) -> str:
        """Wait until the element's text contains `expected`; the page's console on failure."""
        try:
            return wait_for(
                lambda: (t := self.text(selector)) is not None and expected in t and t,
                timeout=timeout,
                interval=0.1,
                what=f"{expected!r} in {selector}",
            )
        except AssertionError as exc:
            now = self.text(selector)
            raise AssertionError(f"{exc}; now {now!r}; console: {self.console}") from None

    def click(self, selector: str) -> None:
        found = self.evaluate(
            f"(e => e ? (e.click(), true) : false)(document.querySelector({json.dumps(selector)}))"
        )
        assert found, f"nothing to click at {selector}"

    def set_width(self, width: int, height: int = 1000) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )

    def screenshot(self, path: Path) -> Path:
        """The whole page (not only the viewport) as a PNG."""
        height = int(self.evaluate("Math.ceil(document.body.getBoundingClientRect().height)"))
        width = int(self.evaluate("document.documentElement.clientWidth"))
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=max(height, 200),
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        async def shutdown() -> None:
            await self.ws.close()
            await self.session.close()
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader

        self.loop.run_until_complete(shutdown())
        self.loop.close()


class Chromium:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.profile = workdir / "profile"
        self.procs = Processes()
        self.port = 0

    def start(self) -> None:
        binary = chromium_binary()
        assert binary is not None
        self.profile.mkdir(parents=True)
        log = (self.workdir / "chromium.log").open("wb")
        self.procs.start(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        port_file = self.profile / "DevToolsActivePort"
        wait_for(port_file.exists, timeout=60, what="Chromium's DevTools port")
        self.port = int(port_file.read_text().split()[0])

    def new_page(self, width: int = 1280, height: int = 1000) -> Page:
        """A fresh tab (its own websocket), sized `width` x `height`."""
        target = self._http("PUT", "/json/new?about:blank")
        page = Page(target["webSocketDebuggerUrl"])
        page.set_width(width, height)
        return page

    def _http(self, method: str, path: str) -> dict[str, Any]:
        import urllib.request

        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return dict(json.loads(response.read()))
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        self.procs.stop_all()


@contextlib.contextmanager
def chromium(workdir: Path) -> Iterator[Chromium]:
    browser = Chromium(workdir)
    try:
        browser.start()
        yield browser
    finally:
        browser.stop()
