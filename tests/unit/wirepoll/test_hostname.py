"""The poller's hostname watch on the real kernel: a sethostname(2) anywhere rings its alarm.

The kernel's change counter is shared by all UTS namespaces, so a change made in a namespace of
the test's own (`unshare --uts`) is seen, and the machine's hostname is never touched."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from waagent.wirepoll.hostname import HostnameWatch

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: unshare --uts"),
]


def change_hostname_in_a_namespace_of_its_own() -> None:
    subprocess.run(["unshare", "--uts", "hostname", "poller-test-name"], check=True, timeout=10)


def test_a_hostname_change_rings_the_alarm_once() -> None:
    alarm = threading.Event()
    watch = HostnameWatch(alarm)
    watch.start()
    assert not alarm.wait(0.2) and not watch.take()  # nothing at idle
    change_hostname_in_a_namespace_of_its_own()
    assert alarm.wait(5), "no alarm within 5 s of sethostname(2)"
    assert watch.take()
    assert not watch.take()  # taken once
    alarm.clear()
    assert not alarm.wait(0.3)  # the event was consumed: no spinning
