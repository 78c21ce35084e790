"""A small WireServer/HostGAPlugin over httpx.MockTransport for unit tests of wire's pieces.

No bus, no root, no sockets: each request is answered from the routes the test gives (a list
of answers is served one by one, the last one repeated), and every request is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import httpx

from waagent.common.commands import Runner
from waagent.common.config import AgentConfig
from waagent.common.root import Root
from waagent.wire.agent import Wire
from waagent.wire.connection import Clients
from waagent.wire.http import FabricHttp
from waagent.wire.state import StateFiles

WIRESERVER = "http://168.63.129.16"
HOSTPLUGIN = "http://168.63.129.16:32526"
GOAL_STATE_URL = f"{WIRESERVER}/machine/?comp=goalstate"
VERSIONS = (
    b'<?xml version="1.0" encoding="utf-8"?><Versions><Preferred><Version>2015-04-05</Version>'
    b"</Preferred><Supported><Version>2012-11-30</Version></Supported></Versions>"
)
Answer = bytes | int | httpx.Response | Callable[[httpx.Request], httpx.Response]


def goal_state_xml(incarnation: int, *, role_instance: bool = True, container: str = "c1") -> bytes:
    base = f"{WIRESERVER}/machine/c/r?comp=config&amp;incarnation={incarnation}"
    role = (
        "<RoleInstanceList><RoleInstance><InstanceId>r.MachineRole_IN_0</InstanceId>"
        "<Configuration>"
        f"<HostingEnvironmentConfig>{base}&amp;type=hostingEnvironmentConfig</HostingEnvironmentConfig>"
        f"<ExtensionsConfig>{base}&amp;type=extensionsConfig</ExtensionsConfig>"
        "<ConfigName>d.0.r.1._canonical.1.xml</ConfigName>"
        "</Configuration></RoleInstance></RoleInstanceList>"
        if role_instance
        else ""
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><GoalState><Version>2012-11-30</Version>'
        f"<Incarnation>{incarnation}</Incarnation><Container><ContainerId>{container}"
        f"</ContainerId>{role}</Container></GoalState>"
    ).encode()


def extensions_xml(
    incarnation: int, *, blob: str = "https://acct.blob/status?sig=x", created_on_ticks: int = 0
) -> bytes:
    return (
        f'<Extensions version="1.0.0.0" goalStateIncarnation="{incarnation}">'
        f'<StatusUploadBlob statusBlobType="BlockBlob">{blob}</StatusUploadBlob>'
        "<Plugins/><PluginSettings/>"
        f'<InVMGoalStateMetaData inSvdSeqNo="{incarnation}" createdOnTicks="{created_on_ticks}"/>'
        "</Extensions>"
    ).encode()


HOSTING = (
    b'<HostingEnvironmentConfig><Deployment name="dep"/>'
    b'<Incarnation instance="r.MachineRole_IN_0"/><Role name="MachineRole"/>'
    b"</HostingEnvironmentConfig>"
)


@dataclass
class MockFabric:
    """Answers by (method, URL prefix); `requests` records (method, URL, body)."""

    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)

    def serve(self, method: str, url: str, *answers: Answer) -> None:
        self.routes[(method, url)] = list(answers)

    def serve_incarnation(
        self, incarnation: int, *, created_on_ticks: int = 0, **goal_state: object
    ) -> None:
        """GoalState.xml of `incarnation` with its ExtensionsConfig and HostingEnvironmentConfig."""
        self.serve("GET", GOAL_STATE_URL, goal_state_xml(incarnation, **goal_state))  # type: ignore[arg-type]
        base = f"{WIRESERVER}/machine/c/r?comp=config&incarnation={incarnation}"
        extensions = extensions_xml(incarnation, created_on_ticks=created_on_ticks)
        self.serve("GET", f"{base}&type=extensionsConfig", extensions)
        self.serve("GET", f"{base}&type=hostingEnvironmentConfig", HOSTING)

    def count(self, method: str, url: str) -> int:
        return sum(1 for m, u, _ in self.requests if m == method and u.startswith(url))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append((request.method, url, request.content))
        for (method, prefix), answers in self.routes.items():
            if method == request.method and url.startswith(prefix):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if isinstance(answer, httpx.Response):
                    return answer
                if callable(answer):
                    return answer(request)
                if isinstance(answer, int):
                    return httpx.Response(answer)
                return httpx.Response(200, content=answer)
        return httpx.Response(404)


async def _no_sleep(seconds: float) -> None:
    return None


def fabric_http(fabric: MockFabric) -> FabricHttp:
    client = httpx.AsyncClient(transport=httpx.MockTransport(fabric))
    return FabricHttp(client, sleep=_no_sleep)


def make_wire(
    tmp_path: Path,
    fabric: MockFabric,
    *,
    on_extensions: Callable[[], None] | None = None,
    config: AgentConfig | None = None,
) -> Wire:
    """A Wire on the mock fabric, its state in tmp_path (start() is not run: it would make a
    transport key in a helper process; nothing here fetches certificates)."""
    from waagent.wire.agent import Callbacks

    http = fabric_http(fabric)
    root = Root(tmp_path)
    fabric.serve("GET", f"{WIRESERVER}/?comp=versions", VERSIONS)
    callbacks = Callbacks(extensions_changed=on_extensions or (lambda: None))
    wire = Wire(
        root,
        config or AgentConfig(),
        Clients(http, lambda proxy: http),
        Runner(),
        callbacks=callbacks,
        files=StateFiles(root, PurePosixPath("/state")),
    )
    wire.files.prepare()
    return wire


def history_entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state" / "history").iterdir())
