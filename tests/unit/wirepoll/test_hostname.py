"""The poller's hostname watch on the real kernel: a sethostname(2) anywhere rings its alarm.

The kernel's change counter is shared by all UTS namespaces, so a change made in a namespace of
the test's own (`unshare --uts`) is seen, and the machine's hostname is never touched."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from waagent.wirepoll.hostname import HostnameWatch

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: unshare --uts"),
]


def change_hostname_in_a_namespace_of_its_own() -> None:
    subprocess.run(["unshare", "--uts", "hostname", "poller-test-name"], check=True, timeout=10)


def test_a_hostname_change_rings_the_alarm_and_the_watch_does_not_spin() -> None:
    alarm = threading.Event()
    watch = HostnameWatch(alarm)
    watch.start()
    # Another container or test on this machine may change a hostname at any time (the counter
    # is shared): only what this test does is asserted, never silence.
    watch.take()
    alarm.clear()
    change_hostname_in_a_namespace_of_its_own()
    assert alarm.wait(5), "no alarm within 5 s of sethostname(2)"
    assert watch.take()
    # The event was consumed: the thread sleeps in epoll instead of spinning on a ready fd.
    cpu = time.process_time()
    time.sleep(0.5)
    assert time.process_time() - cpu < 0.1


def test_a_name_changed_before_the_watch_starts_counts_as_a_change() -> None:
    """Wire leaves the name it last saw in the poll state; a change between wire's exit and the
    watch's start is seen by comparing with it (a booted VM missed one before this)."""
    alarm = threading.Event()
    watch = HostnameWatch(alarm)
    watch.start(known="the-name-wire-saw-" + os.urandom(4).hex())
    assert alarm.is_set()
    assert watch.take()
