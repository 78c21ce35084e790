"""daemon/resident_plan.py: the plan crosses the exec whole, and a plan that is not exactly
one this resident reads is refused with the field that is wrong."""

from __future__ import annotations

import json
import os

import pytest

from waagent.daemon.resident_plan import (
    VERSION,
    Collection,
    Firewall,
    PlanError,
    ResidentPlan,
    Service,
    Step,
    Wake,
    read_fd,
    write_memfd,
)

PLAN = ResidentPlan(
    pid_file="/run/waagent.pid",
    pid_fd=7,
    bus_address="unix:path=/run/dbus/system_bus_socket",
    own_bus=True,
    log_file="/var/log/waagent.log",
    steps=[
        Step("dbus-daemon", "bus", argv=["setpriv", "--", "dbus-daemon"]),
        Step("org.waagent.Disk1", "start", name="org.waagent.Disk1"),
    ],
    activated=[Service("org.waagent.Disk1", ["python3", "-m", "waagent.diskd"])],
    servicedir="/run/waagent/bus-services",
    leftovers=["/run/waagent/system-bus.conf"],
    firewall=Firewall(["python3", "-m", "waagent.netd"], {"PATH": "/usr/bin"}, "/var/lib/waagent"),
    collection=Collection(300, 3600.5, ["nice", "waagent"]),
    wake=Wake("/var/log/azure", "org.waagent.Extensions1"),
)


def test_the_plan_crosses_an_exec_whole_in_an_inherited_memfd() -> None:
    fd = write_memfd(PLAN)
    assert os.get_inheritable(fd)
    assert read_fd(fd) == PLAN
    with pytest.raises(OSError):
        os.fstat(fd)  # read_fd closed it


def document(**changes: object) -> str:
    data = json.loads(PLAN.to_json())
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        ("[]", "plan: an object expected"),
        (document(pid_fd="7"), "plan.pid_fd: str where int"),
        (document(own_bus=1), "plan.own_bus: int where bool"),
        (document(extra=1), "unknown field(s) extra"),
        (document(version=VERSION + 1), f"plan version {VERSION + 1}"),
        (document(steps=[{"label": "x", "ready": "soon"}]), "plan.steps[0].ready: 'soon'"),
        (document(steps=[{"ready": "bus"}]), "missing 1 required positional argument: 'label'"),
        (document(firewall={"argv": [], "env": {"A": 1}, "lib_dir": "/"}), "mapping of strings"),
        (document(leftovers="/run/x"), "plan.leftovers: a list expected"),
    ],
)
def test_anything_else_is_refused_with_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(PlanError) as refused:
        ResidentPlan.from_json(text)
    assert says in str(refused.value)
