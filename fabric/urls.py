"""Every URL the fabric writes into a document: absolute, on the listeners' real addresses.

Storage URLs carry a fake SAS query, as real blob URLs do, and the storage listener insists on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

SAS_QUERY = (
    "sv=2018-03-28&sr=b&sk=system-1&sig=ZmFicmljLXNpbXVsYXRvcg%3D%3D"
    "&se=9999-12-31T23%3A59%3A59Z&sp=rw"
)
GA_FAMILY = "Prod"


@dataclass(frozen=True)
class Urls:
    address: str
    wire_port: int
    hgap_port: int
    storage_port: int

    def _host(self, port: int) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{port}"

    @property
    def wire(self) -> str:
        return self._host(self.wire_port)

    @property
    def hgap(self) -> str:
        return self._host(self.hgap_port)

    @property
    def storage(self) -> str:
        return self._host(self.storage_port)

    def _machine(self, container_id: str, role_instance_id: str) -> str:
        return f"{self.wire}/machine/{container_id}/{quote(role_instance_id, safe='')}"

    def config(self, container_id: str, role_instance_id: str, kind: str, incarnation: int) -> str:
        machine = self._machine(container_id, role_instance_id)
        return f"{machine}?comp=config&type={kind}&incarnation={incarnation}"

    def certificates(self, container_id: str, role_instance_id: str, incarnation: int) -> str:
        machine = self._machine(container_id, role_instance_id)
        return f"{machine}?comp=certificates&incarnation={incarnation}"

    def remote_access(self, container_id: str, role_instance_id: str, incarnation: int) -> str:
        machine = self._machine(container_id, role_instance_id)
        return f"{machine}?comp=remoteaccess&incarnation={incarnation}"

    def blob(self, path: str) -> str:
        return f"{self.storage}/{path.lstrip('/')}?{SAS_QUERY}"

    def manifest(self, handler: str, *, failover: bool = False) -> str:
        folder = "failover" if failover else "manifests"
        return self.blob(f"{folder}/{handler}_manifest.xml")

    def package(self, handler: str, version: str) -> str:
        return self.blob(f"packages/{handler}__{version}")

    def ga_manifest(self) -> str:
        return self.blob(f"manifests/waagent.{GA_FAMILY}_manifest.xml")

    def status_blob(self, vm_name: str, vm_id: str) -> str:
        return self.blob(f"status/{vm_name}.{vm_id}.status")

    def artifacts_profile(self, vm_name: str, vm_id: str) -> str:
        return self.blob(f"vmsettings/{vm_name}.{vm_id}.vmSettings")
