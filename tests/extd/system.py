"""A whole VM for extd's integration tests: the fabric simulator, a private bus with polkitd,
wire and extd bus-activated against a sandbox root. Helpers read what the fabric received and
what the extensions left on disk."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.callers import Reply
from tests.harness.environment import Environment
from tests.harness.paths import TEST_DATA
from tests.harness.polkitd import name_has_owner
from tests.harness.wait import wait_for
from waagent.common.names import EXTENSIONS, WIRE
from waagent.extd.bus import EXTENSION_INTERFACE, object_path
from waagent.fabric.scenario import Extension, HandlerVersion
from waagent.fabric.server import Fabric

PROBE = "Waagent.Test.Probe"
PROBE_DIR = TEST_DATA / "extensions" / "probe"
SAMPLE = "Fabric.Samples.Hello"


def probe_extension(name: str = PROBE, version: str = "1.0.0", **fields: Any) -> Extension:
    return Extension(
        name=name,
        version=version,
        versions=[HandlerVersion(version=version, handler_dir=PROBE_DIR)],
        **fields,
    )


def handler_copy(tmp_path: Path, name: str, change: Callable[[Path], None] | None = None) -> Path:
    """A copy of the probe's directory to publish as a variant (another manifest, a flaw)."""
    target = tmp_path / "handlers" / name
    shutil.copytree(PROBE_DIR, target)
    if change is not None:
        change(target)
    return target


def heartbeat_probe(tmp_path: Path) -> Extension:
    """The probe with `reportHeartbeat` in its manifest, reporting one (extd keeps watching)."""

    def heartbeat(directory: Path) -> None:
        manifest = json.loads((directory / "HandlerManifest.json").read_text())
        manifest[0]["handlerManifest"]["reportHeartbeat"] = True
        (directory / "HandlerManifest.json").write_text(json.dumps(manifest))

    probe = probe_extension(public_settings={"heartbeat": "beating"})
    published = handler_copy(tmp_path, "heartbeat", heartbeat)
    return probe.model_copy(
        update={"versions": [probe.versions[0].model_copy(update={"handler_dir": published})]}
    )


@dataclass
class System:
    env: Environment
    fabric: Fabric

    # ---- driving ----

    def start(self) -> None:
        """Wake wire (bus activation); it fetches the goal state and calls extd."""
        reply = self.env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Ping")
        assert reply.ok, reply.error

    def refresh(self) -> None:
        """Make wire fetch the goal state now (it tells extd when extensions changed)."""
        reply = self.env.busctl.call(WIRE.name, WIRE.path, WIRE.interface, "Refresh", timeout=60)
        assert reply.ok, reply.error

    def call_extension(
        self, handler: str, method: str, extension: str | None = None, user: str | None = None
    ) -> Reply:
        return self.env.busctl.call(
            EXTENSIONS.name,
            object_path(handler, extension),
            EXTENSION_INTERFACE,
            method,
            user=user,
            timeout=60,
        )

    def extension_property(self, handler: str, prop: str, extension: str | None = None) -> Any:
        return self.env.busctl.get_property(
            EXTENSIONS.name, object_path(handler, extension), EXTENSION_INTERFACE, prop
        )

    def service_log(self) -> str:
        return self.env.sandbox.path("/var/log/waagent.log").read_text(errors="replace")

    def extd_pid(self) -> int:
        return self.env.busctl.owner_pid(EXTENSIONS.name)

    def extd_running(self) -> bool:
        return name_has_owner(self.env.bus, EXTENSIONS.name)

    # ---- what the fabric received ----

    def documents(self) -> list[dict[str, Any]]:
        return [r["document"] for r in self.fabric.records("status") if r.fields.get("document")]

    def handlers(self) -> list[dict[str, Any]]:
        documents = self.documents()
        if not documents:
            return []
        return list(documents[-1]["aggregateStatus"].get("handlerAggregateStatus", []))

    def goal_state_status(self) -> dict[str, Any] | None:
        documents = self.documents()
        if not documents:
            return None
        artifacts = documents[-1]["aggregateStatus"].get("vmArtifactsAggregateStatus")
        return artifacts["goalStateAggregateStatus"] if artifacts else None

    def wait_goal_state(self, status: str = "Success", timeout: float = 30) -> dict[str, Any]:
        """The goal state's aggregate status, once the fabric received one with `status`."""

        def probe() -> dict[str, Any] | None:
            found = self.goal_state_status()
            return found if found is not None and found["status"] == status else None

        return wait_for(probe, timeout=timeout, what=f"a goal state status {status}")

    def entry(self, handler: str, extension: str | None = None) -> dict[str, Any] | None:
        for item in self.handlers():
            if item["handlerName"] != handler:
                continue
            runtime = item.get("runtimeSettingsStatus", {})
            if extension is None or runtime.get("extensionName") == extension:
                return item
        return None

    def wait_entry(
        self,
        handler: str,
        check: Callable[[dict[str, Any]], bool],
        *,
        extension: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = self.entry(handler, extension)
            return found if found is not None and check(found) else None

        return wait_for(
            probe, timeout=timeout, what=f"the fabric to receive a matching status of {handler}"
        )

    def wait_extension_status(
        self,
        handler: str,
        status: str,
        *,
        seq: int | None = None,
        extension: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        def check(item: dict[str, Any]) -> bool:
            runtime = item.get("runtimeSettingsStatus")
            if runtime is None:
                return False
            if seq is not None and runtime["sequenceNumber"] != seq:
                return False
            return bool(runtime["settingsStatus"]["status"]["status"] == status)

        return self.wait_entry(handler, check, extension=extension, timeout=timeout)

    # ---- what is on disk ----

    @property
    def lib_dir(self) -> Path:
        return self.env.sandbox.path("/var/lib/waagent")

    def handler_dir(self, handler: str, version: str) -> Path:
        return self.lib_dir / f"{handler}-{version}"

    def log_dir(self, handler: str) -> Path:
        return self.env.sandbox.path(f"/var/log/azure/{handler}")

    def operations(self, handler: str) -> list[dict[str, Any]]:
        path = self.log_dir(handler) / "operations.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def detail(item: dict[str, Any]) -> dict[str, Any]:
    """settingsStatus.status of a handlerAggregateStatus element."""
    return dict(item["runtimeSettingsStatus"]["settingsStatus"]["status"])


def message(item: dict[str, Any]) -> str:
    return str(item.get("formattedMessage", {}).get("message") or "")
