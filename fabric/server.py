"""The fabric: WireServer, HostGAPlugin, storage and IMDS listeners around one scenario.

    async with Fabric(scenario, address="127.3.4.5") as fabric:     # asyncio
        ...
    with fabric_thread(scenario, address="127.3.4.5") as fabric:   # pytest: a background thread
        fabric.records("health")

Control methods are safe to call from any thread, including the event loop's own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from . import ovf
from .admin import admin_app
from .api import KEEP, AdminAddress
from .context import Context, Route
from .dhcp import DhcpServer, DhcpSettings
from .dispatch import Resolver, handle
from .faults import FaultPlan
from .generated import GeneratedSource
from .hostgaplugin import HostGAPlugin
from .imds_http import Imds
from .listeners import Listener
from .raw import RawSource
from .recorder import Record, Recorder, RequestRecord
from .scenario import Scenario
from .source import NotAvailable, Source
from .storage import Storage
from .urls import Urls
from .wireserver import WireServer

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BODY = 256 * 1024 * 1024  # log bundles and page blobs are large; the classic caps are below


class Fabric:
    def __init__(
        self,
        scenario: Scenario,
        *,
        address: str = "127.0.0.1",
        wire_port: int = 80,
        hgap_port: int = 32526,
        storage_port: int = 10000,
        imds_address: str | None = None,
        imds_port: int = 80,
        admin: str | None = None,
        dhcp_interface: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.address = address
        self.imds_address = imds_address
        self.admin = AdminAddress.parse(admin) if admin else None
        self.recorder = Recorder()
        self.faults = FaultPlan()
        self._ports = {
            "wire": wire_port,
            "hgap": hgap_port,
            "storage": storage_port,
            "imds": imds_port,
        }
        self._listeners: list[Listener] = []
        self._runners: list[web.AppRunner] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ctx: Context | None = None
        self._down = False
        self.dhcp_interface = dhcp_interface
        self._dhcp: DhcpServer | None = None

    # -- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> Fabric:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _listener(self, name: str, address: str, port: int) -> Listener:
        listener = Listener(name, None, address=address, port=port)
        self._listeners.append(listener)
        return listener

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        # Bind first: the documents need the real ports (0 picks a free one).
        wire = self._listener("wireserver", self.address, self._ports["wire"])
        hgap = self._listener("hostgaplugin", self.address, self._ports["hgap"])
        storage = self._listener("storage", self.address, self._ports["storage"])
        imds = None
        if self.imds_address is not None:
            imds = self._listener("imds", self.imds_address, self._ports["imds"])
        for listener in self._listeners:
            listener.bind()
        self._ctx = ctx = Context(
            self._source(Urls(self.address, wire.port, hgap.port, storage.port)),
            self.recorder,
            self.faults,
        )
        wire_server, metadata = WireServer(ctx), Imds(ctx)

        def wire_routes(request: web.Request) -> Route | None:
            # Without an address of its own, IMDS answers on the WireServer listener.
            found = wire_server.resolve(request)
            return found or (metadata.resolve(request) if imds is None else None)

        services: list[tuple[Listener, Resolver]] = [
            (wire, wire_routes),
            (hgap, HostGAPlugin(ctx).resolve),
            (storage, Storage(ctx).resolve),
        ]
        if imds is not None:
            services.append((imds, metadata.resolve))
        for listener, resolve in services:
            listener.factory = await self._server_factory(self._catch_all(listener.name, resolve))
        if self.admin is not None:
            await self._add_admin(self.admin)
        for listener in self._listeners:
            await listener.start()
        if self.dhcp_interface is not None:
            self._dhcp = DhcpServer(self.scenario.dhcp, self.recorder, self.dhcp_interface)
            await self._dhcp.start()
        log.info("fabric up: %s", ", ".join(repr(listener) for listener in self._listeners))

    def _source(self, urls: Urls) -> Source:
        if self.scenario.raw_dir is not None:
            return RawSource(self.scenario.raw_dir)
        return GeneratedSource(self.scenario, urls)

    async def _add_admin(self, address: AdminAddress) -> None:
        admin = Listener(
            "admin",
            await self._server_factory(admin_app(self)),
            address=address.host,
            port=address.port or 0,
            unix_path=address.unix_path,
        )
        self._listeners.append(admin)

    def _catch_all(self, name: str, resolve: Resolver) -> web.Application:
        assert self._ctx is not None
        ctx = self._ctx

        async def entry(request: web.Request) -> web.StreamResponse:
            return await handle(ctx, name, resolve, request)

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", entry)
        return app

    async def _server_factory(self, app: web.Application) -> Any:
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        self._runners.append(runner)
        return runner.server

    async def stop(self) -> None:
        # No new connections first; then the runners end the open ones (a delayed answer
        # is cancelled after their short grace).
        for task in list(self._tasks):
            task.cancel()
        if self._dhcp is not None:
            self._dhcp.close()
            self._dhcp = None
        for listener in self._listeners:
            listener.close()
        for runner in self._runners:
            await runner.cleanup()
        self._listeners.clear()
        self._runners.clear()

    # -- where it listens -------------------------------------------------------------------

    def _port(self, name: str) -> int:
        return next(listener.port for listener in self._listeners if listener.name == name)

    @property
    def wire_port(self) -> int:
        return self._port("wireserver")

    @property
    def hgap_port(self) -> int:
        return self._port("hostgaplugin")

    @property
    def storage_port(self) -> int:
        return self._port("storage")

    @property
    def imds_port(self) -> int:
        return self._port("imds") if self.imds_address is not None else self.wire_port

    @property
    def urls(self) -> Urls:
        return Urls(self.address, self.wire_port, self.hgap_port, self.storage_port)

    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            raise RuntimeError("the fabric is not running")
        return self._ctx

    @property
    def source(self) -> Source:
        return self.ctx.source

    def _generated(self) -> GeneratedSource:
        if not isinstance(self.source, GeneratedSource):
            raise NotAvailable("raw mode serves fixed documents; it cannot change them")
        return self.source

    def info(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "wire_port": self.wire_port,
            "hgap_port": self.hgap_port,
            "storage_port": self.storage_port,
            "imds_address": self.imds_address or self.address,
            "imds_port": self.imds_port,
            "down": self._down,
            "faults": self.faults.pending(),
            "dhcp": self._dhcp.describe() if self._dhcp is not None else None,
            **self.source.describe(),
        }

    # -- recording --------------------------------------------------------------------------

    def records(self, kind: str | None = None) -> list[Record]:
        return self.recorder.records(kind)

    def requests(self) -> list[RequestRecord]:
        return self.recorder.requests()

    # -- faults and availability ------------------------------------------------------------

    def program_faults(self, endpoint: str, steps: list[Any]) -> None:
        self.faults.program(endpoint, steps)

    def clear_faults(self) -> None:
        self.faults.clear()

    def _on_loop(self, work: Callable[[], T]) -> T:
        """Run `work` in the event loop's thread and wait for it (directly if already there)."""
        if self._loop is None:
            raise RuntimeError("the fabric is not running")
        with contextlib.suppress(RuntimeError):
            if asyncio.get_running_loop() is self._loop:
                return work()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    def _fabric_listeners(self) -> list[Listener]:
        return [listener for listener in self._listeners if listener.name != "admin"]

    def go_down(self) -> None:
        """Every fabric listener refuses new connections and resets the open ones (the admin API
        stays up)."""

        def refuse() -> None:
            for listener in self._fabric_listeners():
                listener.stop_listening()
                listener.cut_connections()

        self._on_loop(refuse)
        self._down = True

    def come_back(self) -> None:
        """Listen again on the same addresses and ports."""
        if not self._down:
            return
        listeners = self._fabric_listeners()
        for listener in listeners:
            listener.bind()  # listening before this returns; accepting starts on the loop

        def serve() -> None:
            assert self._loop is not None
            for listener in listeners:
                task = self._loop.create_task(listener.start())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        self._on_loop(serve)
        self._down = False

    def set_dhcp(self, **changes: Any) -> dict[str, Any]:
        """Change what the next DHCP answers carry (routes, endpoint, lease time ...)."""
        if self._dhcp is None:
            raise LookupError("no DHCP server: the fabric was started without --dhcp-interface")
        dhcp = self._dhcp
        settings = DhcpSettings.model_validate({**dhcp.settings.model_dump(), **changes})

        def apply() -> None:
            dhcp.settings = settings

        self._on_loop(apply)
        return settings.model_dump(mode="json")

    # -- control of the goal state ------------------------------------------------------------

    def bump_incarnation(self) -> int:
        return self._generated().bump_incarnation()

    def add_extension(self, name: str, **fields: Any) -> int:
        return self._generated().add_extension(name, **fields)

    def update_extension(
        self,
        name: str,
        version: str,
        handler_dir: str | Path | None = None,
        package: str | Path | None = None,
    ) -> int:
        return self._generated().update_extension(
            name,
            version,
            str(handler_dir) if handler_dir else None,
            str(package) if package else None,
        )

    def set_extension_state(self, name: str, state: str, extension_name: str | None = None) -> int:
        return self._generated().set_extension_state(name, state, extension_name)

    def set_extension_settings(
        self,
        name: str,
        *,
        public: Any = KEEP,
        protected: Any = KEEP,
        seq_no: int | None = None,
        extension_name: str | None = None,
        text: Any = KEEP,
    ) -> int:
        return self._generated().set_extension_settings(
            name,
            public=public,
            protected=protected,
            seq_no=seq_no,
            extension_name=extension_name,
            text=text,
        )

    def remove_extension(self, name: str) -> int:
        return self._generated().remove_extension(name)

    def set_publishing(self, **changes: Any) -> dict[str, Any]:
        return self._generated().set_publishing(**changes)

    def add_certificate(self, name: str, **fields: Any) -> list[str]:
        return self._generated().add_certificate(name, **fields)

    def set_remote_access(self, users: list[dict[str, Any]]) -> int:
        return self._generated().set_remote_access(users)

    def set_agent_family(self, **fields: Any) -> int:
        return self._generated().set_agent_family(**fields)

    # -- secrets and media ------------------------------------------------------------------

    def transport_certificate(self) -> str | None:
        """PEM of the transport certificate the agent last sent (None before it asked)."""
        return self.ctx.transport_pem()

    def tenant_certificates(self) -> dict[str, dict[str, str]]:
        """thumbprint -> {name, certificate, key} (PEM), to verify what the agent stored."""
        return self.source.tenant_certificates()

    def ovf_env(self) -> str:
        document = self.source.ovf_env()
        if document is None:
            raise NotAvailable("this raw directory has no ovf-env.xml")
        return document.decode("utf-8")

    def write_ovf_image(self, path: str | Path) -> str:
        """The provisioning DVD: a UDF image holding ovf-env.xml."""
        return str(ovf.write_image(path, self.ovf_env().encode()))


def void(_: object) -> None:
    """Discard a value (a lambda that must return None)."""


@contextlib.contextmanager
def fabric_thread(scenario: Scenario, **options: Any) -> Iterator[Fabric]:
    """Run a Fabric in a background thread's event loop for the duration of the block."""
    fabric = Fabric(scenario, **options)
    ready = threading.Event()
    failure: list[BaseException] = []
    stop: list[Callable[[], None]] = []

    async def main() -> None:
        stopping = asyncio.Event()
        try:
            await fabric.start()
        except BaseException as exc:
            failure.append(exc)
            ready.set()
            return
        loop = asyncio.get_running_loop()
        stop.append(lambda: void(loop.call_soon_threadsafe(stopping.set)))
        ready.set()
        try:
            await stopping.wait()
        finally:
            await fabric.stop()

    thread = threading.Thread(
        target=asyncio.run, args=(main(),), name="waagent-fabric", daemon=True
    )
    thread.start()
    ready.wait()
    if failure:
        thread.join()
        raise failure[0]
    try:
        yield fabric
    finally:
        stop[0]()
        thread.join(timeout=30)
