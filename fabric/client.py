"""FabricClient: the Fabric's control methods over the admin API, for a fabric in another
process or network namespace. Same names, same arguments, same results as the in-process
methods, so tests read the same either way.

    client = FabricClient("unix:/run/fabric/admin.sock")
    client.program_faults("goalstate", [503, 503])
    health = client.records("health")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from .api import KEEP, AdminAddress
from .recorder import Record, RequestRecord


class FabricClientError(RuntimeError):
    """The fabric refused an operation; the message is its one-line reason."""


class FabricClient:
    def __init__(self, admin: str, *, timeout: float = 30.0) -> None:
        address = AdminAddress.parse(admin)
        if address.unix_path is not None:
            transport = httpx.HTTPTransport(uds=str(address.unix_path))
            base = "http://fabric"
        else:
            transport = httpx.HTTPTransport()
            host = f"[{address.host}]" if address.host and ":" in address.host else address.host
            base = f"http://{host}:{address.port}"
        # The admin API is local: never through a proxy from the environment.
        self._http = httpx.Client(
            transport=transport, base_url=base, timeout=timeout, trust_env=False
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FabricClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, operation: str, **arguments: Any) -> Any:
        body = {k: v for k, v in arguments.items() if v is not KEEP}
        response = self._http.post(f"/api/{operation}", json=body)
        try:
            answer = response.json()
        except ValueError:
            raise FabricClientError(f"{operation}: HTTP {response.status_code}") from None
        if response.status_code != 200:
            raise FabricClientError(
                answer.get("error", f"{operation}: HTTP {response.status_code}")
            )
        return answer["result"]

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("info")
        return result

    def records(self, kind: str | None = None) -> list[Record]:
        return [Record.model_validate(r) for r in self._call("records", kind=kind)]

    def requests(self) -> list[RequestRecord]:
        return [RequestRecord.model_validate(r) for r in self._call("requests")]

    def program_faults(self, endpoint: str, steps: list[Any]) -> None:
        self._call("program_faults", endpoint=endpoint, steps=steps)

    def clear_faults(self) -> None:
        self._call("clear_faults")

    def go_down(self) -> None:
        self._call("go_down")

    def come_back(self) -> None:
        self._call("come_back")

    def bump_incarnation(self) -> int:
        return int(self._call("bump_incarnation"))

    def add_extension(self, name: str, **fields: Any) -> int:
        return int(self._call("add_extension", name=name, **fields))

    def update_extension(
        self,
        name: str,
        version: str,
        handler_dir: str | Path | None = None,
        package: str | Path | None = None,
    ) -> int:
        return int(
            self._call(
                "update_extension",
                name=name,
                version=version,
                handler_dir=str(handler_dir) if handler_dir else None,
                package=str(package) if package else None,
            )
        )

    def set_extension_state(self, name: str, state: str, extension_name: str | None = None) -> int:
        return int(
            self._call("set_extension_state", name=name, state=state, extension_name=extension_name)
        )

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
        return int(
            self._call(
                "set_extension_settings",
                name=name,
                public=public,
                protected=protected,
                seq_no=seq_no,
                extension_name=extension_name,
                text=text,
            )
        )

    def remove_extension(self, name: str) -> int:
        return int(self._call("remove_extension", name=name))

    def set_agent_family(self, **fields: Any) -> int:
        return int(self._call("set_agent_family", **fields))

    def set_publishing(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("set_publishing", **changes)
        return result

    def set_dhcp(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("set_dhcp", **changes)
        return result

    def add_certificate(self, name: str, **fields: Any) -> list[str]:
        result: list[str] = self._call("add_certificate", name=name, **fields)
        return result

    def set_remote_access(self, users: list[dict[str, Any]]) -> int:
        return int(self._call("set_remote_access", users=users))

    def transport_certificate(self) -> str | None:
        result: str | None = self._call("transport_certificate")
        return result

    def tenant_certificates(self) -> dict[str, dict[str, str]]:
        result: dict[str, dict[str, str]] = self._call("tenant_certificates")
        return result

    def ovf_env(self) -> str:
        return str(self._call("ovf_env"))

    def write_ovf_image(self, path: str | Path) -> str:
        return str(self._call("write_ovf_image", path=str(path)))
