"""One private system: a bus with our policies, polkitd, a sandbox root, our services activatable.

Used by the integration tests (as fixtures) and by `make demo`. Everything lives in one
directory; `stop()` ends every process whose command line mentions it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from waagent.common.names import SERVICES, WIRE_USER, BusName

from .callers import Busctl
from .dbus_daemon import PrivateBus
from .network import loopback_address, write_lease
from .paths import PYTHON
from .polkitd import Polkitd
from .procs import pids_with_marker, terminate
from .sandbox import Sandbox
from .users import system_user

SERVICE_USERS = {"wire": WIRE_USER}
ROUTE_TABLE_HEADER = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"


class Environment:
    def __init__(
        self,
        *,
        polkit: bool = True,
        config: Mapping[str, str] | None = None,
        extra_policies: list[Path] | None = None,
        extra_actions: list[Path] | None = None,
        endpoint: str | None = None,
        keep: bool = False,
        activatable: bool = True,
    ) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="waagent-env-"))
        os.chmod(self.base, 0o755)
        self.bus = PrivateBus(self.base / "bus", extra_policies)
        self.sandbox = Sandbox(self.base / "root")
        self.polkitd = Polkitd(self.bus, self.base / "polkit", extra_actions) if polkit else None
        self.busctl = Busctl(self.bus)
        # Wire's endpoint and IMDS: a fabric simulator's address, or a loopback address of this
        # environment where nothing listens (see network.py).
        self.endpoint = endpoint or loopback_address()
        self.config = {"Protocol.ImdsEndpoint": self.endpoint, **(config or {})}
        self.keep = keep
        # False: no activation files, for a test that starts the services itself (waagent -daemon).
        self.activatable = activatable
        # The fabric simulator this system talks to, when a caller attached one.
        self.fabric: Any = None
        self._users: list[object] = []

    @property
    def address(self) -> str:
        return self.bus.address

    def service_argv(self, program: str, *extra: str) -> list[str]:
        return [
            PYTHON,
            "-m",
            f"waagent.{program}",
            "--root",
            str(self.sandbox.root),
            "--config",
            str(self.sandbox.config_path),
            *extra,
        ]

    def service_argv_script(self, script: Path, *extra: str) -> list[str]:
        return [
            PYTHON,
            str(script),
            "--root",
            str(self.sandbox.root),
            "--config",
            str(self.sandbox.config_path),
            *extra,
        ]

    def default_args(self, program: str) -> list[str]:
        """Options a service gets unless a test gives its own: never the host's devices."""
        if program == "provisioner":
            return [
                "--dev-root",
                str(self.sandbox.path("/run/empty-dev")),
                "--sysfs-root",
                str(self.sandbox.path("/run/empty-sysfs")),
            ]
        return []

    def make_activatable(self, service: BusName, *extra: str) -> None:
        self.bus.add_service(
            service.name,
            self.service_argv(service.program, *extra),
            user=SERVICE_USERS.get(service.program),
        )

    def start(self) -> Environment:
        try:
            for user in set(SERVICE_USERS.values()):
                ctx = system_user(user)
                ctx.__enter__()
                self._users.append(ctx)
            self.bus.workdir.mkdir(parents=True)
            self.sandbox.create(self.config, wire_user=WIRE_USER)
            self.sandbox.path("/run/no-routes").write_text(ROUTE_TABLE_HEADER)
            self.sandbox.path("/run/empty-sysfs").mkdir()
            self.sandbox.path("/run/empty-dev").mkdir()
            write_lease(self.sandbox.root, self.endpoint)
            self.bus.start()
            for service in SERVICES.values() if self.activatable else ():
                if _installed(service.program):
                    self.make_activatable(service, *self.default_args(service.program))
            if self.polkitd is not None:
                self.polkitd.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.polkitd is not None:
            self.polkitd.procs.stop_all()
        self.bus.stop()
        terminate(pids_with_marker(str(self.base)))
        for ctx in reversed(self._users):
            ctx.__exit__(None, None, None)  # type: ignore[attr-defined]
        self._users.clear()
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Environment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _installed(program: str) -> bool:
    """Services exist as their issues land; only those with a __main__ are made activatable."""
    import importlib.util

    return importlib.util.find_spec(f"waagent.{program}.__main__") is not None
