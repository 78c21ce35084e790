"""The bus core's authorization, end to end: real dbus-daemon, real polkitd, our policy files."""

from __future__ import annotations

import pytest

from tests.harness.callers import UNPRIVILEGED
from tests.harness.environment import Environment
from tests.harness.wait import wait_for

pytestmark = pytest.mark.integration

PROBE = ("org.waagent.Probe1", "/org/waagent/Probe1", "org.waagent.Probe1")
ALLOW_NOBODY = """
polkit.addRule(function(action, subject) {
    if (action.id == "org.waagent.probe.privileged" && subject.user == "nobody") {
        return polkit.Result.YES;
    }
});
"""


def call(env: Environment, method: str, *args: str, user: str | None = None, **kw: bool):  # type: ignore[no-untyped-def]
    signature = {"Privileged": "s", "Sleep": "u"}.get(method, "")
    return env.busctl.call(*PROBE, method, signature, *args, user=user, **kw)


def test_root_may_call_the_privileged_method(env: Environment) -> None:
    reply = call(env, "Privileged", "hello")
    assert reply.ok, reply.error
    assert reply.data == ["allowed: hello"]


def test_an_unprivileged_caller_is_refused_by_polkit_defaults(env: Environment) -> None:
    reply = call(env, "Privileged", "hello", user=UNPRIVILEGED)
    assert not reply.ok
    # auth_admin is a challenge; the caller did not allow interaction.
    assert "org.waagent.probe.privileged" in reply.error
    assert "needs authentication" in reply.error


def test_an_interactive_caller_without_an_agent_is_not_authorized(env: Environment) -> None:
    reply = call(env, "Privileged", "hello", user=UNPRIVILEGED, interactive=True)
    assert not reply.ok
    assert "not authorized for org.waagent.probe.privileged" in reply.error


def test_a_polkit_rule_flips_the_answer(env: Environment) -> None:
    assert env.polkitd is not None
    assert not call(env, "Privileged", "x", user=UNPRIVILEGED).ok
    env.polkitd.set_rule("10-probe.rules", ALLOW_NOBODY)
    reply = wait_for(
        lambda: (r := call(env, "Privileged", "x", user=UNPRIVILEGED)).ok and r,
        timeout=10,
        what="polkitd to load the rule",
    )
    assert reply.data == ["allowed: x"]
    env.polkitd.remove_rule("10-probe.rules")
    wait_for(
        lambda: not call(env, "Privileged", "x", user=UNPRIVILEGED).ok,
        timeout=10,
        what="polkitd to drop the rule",
    )


def test_without_polkitd_only_root_is_allowed_and_the_error_says_why(env: Environment) -> None:
    assert env.polkitd is not None
    env.polkitd.stop()
    refused = call(env, "Privileged", "x", user=UNPRIVILEGED)
    assert not refused.ok
    assert "polkit is not available on this system, so only root may call" in refused.error
    assert call(env, "Privileged", "x").ok


def test_bad_input_is_refused_before_any_authorization(env: Environment) -> None:
    reply = call(env, "Privileged", "no spaces!", user=UNPRIVILEGED)
    assert not reply.ok
    assert "invalid word 'no spaces!': letters only" in reply.error


def test_root_only_methods_refuse_everyone_else_without_asking_polkit(env: Environment) -> None:
    assert call(env, "RootOnly").ok
    reply = call(env, "RootOnly", user=UNPRIVILEGED)
    assert "only root may call org.waagent.Probe1.RootOnly" in reply.error


def test_an_unexpected_exception_reaches_the_caller_as_one_line_without_details(
    env: Environment,
) -> None:
    reply = call(env, "Crash", user=UNPRIVILEGED)
    assert not reply.ok
    assert reply.error == (
        "Call failed: org.waagent.Probe1.Crash failed unexpectedly; the service log has details"
    )
    assert "shadow" not in reply.error
