"""The Cockpit page in a real browser: Debian's cockpit-ws and cockpit-bridge, headless Chromium
driven over the DevTools protocol, against the whole agent on the private bus (conftest.py).

What a person sees is asserted, then checked against the system: the page shows the agent's live
state, follows changes without a reload, shows polkit's refusal to a user who is not an admin,
and an admin's action takes effect (swap file, extension state, log upload). Screenshots are
saved in a temporary directory whose path is printed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.extd.system import PROBE
from tests.harness.callers import UNPRIVILEGED
from tests.harness.wait import wait_for
from waagent.common.names import DISK, PROVISIONER, WIRE
from waagent.extd.bus import EXTENSION_INTERFACE, object_path

from .browser import Chromium, Page
from .cockpit_ws import CockpitSession, cockpit_ws
from .conftest import SWAP_MB, Agent

pytestmark = [pytest.mark.integration, pytest.mark.root]

MIB = 1024 * 1024
PROBE_ROW = f'tr[data-handler="{PROBE}"]'


@pytest.fixture
def admin(agent: Agent) -> Iterator[CockpitSession]:
    """A Cockpit session of root (polkit authorizes root without asking)."""
    with cockpit_ws(agent.env.bus, "root", (agent.bin_dir,)) as session:
        yield session


@pytest.fixture
def unprivileged(agent: Agent) -> Iterator[CockpitSession]:
    """A Cockpit session of a user who is no admin, with no authentication agent to ask."""
    with cockpit_ws(agent.env.bus, UNPRIVILEGED, (agent.bin_dir,)) as session:
        yield session


@contextlib.contextmanager
def opened(browser: Chromium, session: CockpitSession, width: int = 1280) -> Iterator[Page]:
    """The page in a fresh tab, once it shows wire's state."""
    page = browser.new_page(width)
    try:
        page.navigate(session.url())
        page.wait_text("#wire-state-label", "Ready")
        yield page
    finally:
        page.close()


@pytest.fixture
def page(browser: Chromium, admin: CockpitSession) -> Iterator[Page]:
    with opened(browser, admin) as shown:
        yield shown


def field(name: str) -> str:
    return f'[data-field="{name}"]'


def set_swap(page: Page, size_mb: int) -> None:
    page.evaluate(
        "(() => { const input = document.getElementById('swap-size');"
        f" input.value = '{size_mb}'; input.dispatchEvent(new Event('input'));"
        " document.getElementById('swap-form').requestSubmit(); })()"
    )


def test_the_page_shows_the_agents_live_state(agent: Agent, page: Page, screenshots: Path) -> None:
    incarnation = agent.prop(WIRE.name, WIRE.path, WIRE.interface, "Incarnation")
    page.wait_text(field("wire.Incarnation"), str(incarnation))
    page.wait_text(field("wire.Endpoint"), agent.fabric.address)
    # Read by a Get of its own once wire's card is drawn ("never" until that answer comes).
    wait_for(
        lambda: page.text(field("wire.LastContact")) not in (None, "", "never"),
        what="wire's LastContact on the page",
    )
    provisioned = agent.prop(PROVISIONER.name, PROVISIONER.path, PROVISIONER.interface, "State")
    assert provisioned == "Provisioned"
    page.wait_text(field("provisioning.State"), "Provisioned")
    page.wait_text(field("provisioning.ProvisionedUser"), "azureuser")
    page.wait_text(field("provisioning.Source"), "imds")
    page.wait_text(field("disk.State"), "Mounted")
    page.wait_text(field("disk.Swap"), f"{SWAP_MB} MiB, active")
    page.wait_text(field(f"service.{WIRE.name}"), "running")
    page.wait_text("#network-state-label", "absent")
    row = page.wait_text(PROBE_ROW, "Enabled")
    assert "1.0.0" in row and "success" in row
    assert not [line for line in page.console if line.startswith("exception")], page.console
    print(f"\n{page.screenshot(screenshots / 'overview.png')}")


def test_the_page_fits_a_phone_screen(
    browser: Chromium, admin: CockpitSession, screenshots: Path
) -> None:
    with opened(browser, admin, width=390) as narrow:
        narrow.wait_text(PROBE_ROW, "Enabled")
        # Nothing wider than the screen: no sideways scrolling.
        assert narrow.evaluate("document.documentElement.scrollWidth") <= 390
        print(f"\n{narrow.screenshot(screenshots / 'narrow.png')}")


def test_a_new_incarnation_from_the_fabric_appears_without_a_reload(
    agent: Agent, page: Page
) -> None:
    page.evaluate("window.loadedOnce = true")
    incarnation = agent.fabric.bump_incarnation()
    agent.system.refresh()
    page.wait_text(field("wire.Incarnation"), str(incarnation))
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"


def test_an_unprivileged_user_sees_polkits_refusal_and_nothing_changes(
    agent: Agent, browser: Chromium, unprivileged: CockpitSession, screenshots: Path
) -> None:
    before = agent.swap_file.stat().st_size
    with opened(browser, unprivileged) as page:
        set_swap(page, SWAP_MB + 16)
        alert = page.wait_text("#alert", "org.waagent.manage-swap")
        assert "Cannot set the swap size" in alert
        # polkit was asked (the call carried ALLOW_INTERACTIVE_AUTHORIZATION) and said no;
        # without the flag diskd answers InteractiveAuthorizationRequired instead.
        assert "not authorized for org.waagent.manage-swap" in alert, alert
        assert "needs authentication" not in alert
        print(f"\n{page.screenshot(screenshots / 'refused.png')}")
    assert agent.swap_file.stat().st_size == before


def test_an_admin_sets_the_swap_size_and_the_page_follows(agent: Agent, page: Page) -> None:
    size = SWAP_MB + 8
    page.evaluate("window.loadedOnce = true")
    set_swap(page, size)
    page.wait_text(field("disk.Swap"), f"{size} MiB, active", timeout=60)
    page.wait_text("#alert", "Swap size set")
    assert agent.swap_file.stat().st_size == size * MIB
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    assert agent.prop(DISK.name, DISK.path, DISK.interface, "SwapSizeMB") == size


def test_a_too_large_swap_size_shows_the_services_one_line_message(page: Page) -> None:
    set_swap(page, 10**9)
    alert = page.wait_text("#alert", "invalid swap size")
    assert "org.waagent.Error" not in alert and "Traceback" not in alert


def test_an_admin_disables_and_enables_an_extension(agent: Agent, page: Page) -> None:
    page.wait_text(PROBE_ROW, "Enabled")
    page.click(f'{PROBE_ROW} button[data-action="Disable"]')
    page.wait_text(PROBE_ROW, "Installed", timeout=60)
    state = agent.system.extension_property(PROBE, "State")
    assert state == "Installed"
    assert agent.system.extension_property(PROBE, "LastOperation") == "Disable"
    page.click(f'{PROBE_ROW} button[data-action="Enable"]')
    page.wait_text(PROBE_ROW, "Enabled", timeout=60)
    assert agent.system.extension_property(PROBE, "State") == "Enabled"


def test_deprovision_asks_first_listing_what_will_be_deleted(agent: Agent, page: Page) -> None:
    plan = agent.env.busctl.call(
        PROVISIONER.name, PROVISIONER.path, PROVISIONER.interface, "PlanDeprovision", "b", "false"
    )
    assert plan.ok, plan.error
    warnings: list[str] = plan.data[0]
    page.click("#deprovision")
    shown = page.wait_text("#dialog-body", warnings[0])
    for warning in warnings:
        assert warning in shown
    page.click("#dialog-cancel")
    assert page.evaluate("document.getElementById('dialog').hidden") is True
    state = agent.prop(PROVISIONER.name, PROVISIONER.path, PROVISIONER.interface, "State")
    assert state != "NotProvisioned"


def test_an_admin_collects_logs_and_the_bundle_reaches_the_fabric(agent: Agent, page: Page) -> None:
    page.click("#collect-logs")
    alert = page.wait_text("#alert", "Uploaded a log bundle of", timeout=120)
    (record,) = agent.fabric.records("log-upload")
    assert f"Uploaded a log bundle of {record['size']} bytes" in alert


def test_the_extension_objects_on_the_page_are_extds(agent: Agent, page: Page) -> None:
    """The row is the ObjectManager's object: its path, and what busctl reads there."""
    path = object_path(PROBE)
    page.wait_text(PROBE_ROW, PROBE)
    assert page.evaluate(f"document.querySelector('{PROBE_ROW}').dataset.path") == path
    version = agent.env.busctl.get_property(
        "org.waagent.Extensions1", path, EXTENSION_INTERFACE, "Version"
    )
    assert page.text(f'{PROBE_ROW} [data-field="extension.Version"]') == version


def test_deprovision_with_the_user_names_the_user_before_anything_is_deleted(
    agent: Agent, page: Page
) -> None:
    page.click("#deprovision")
    page.wait_text("#dialog-body", "This deletes")
    page.click("#deprovision-user")
    page.wait_text("#dialog-body", "azureuser")
    page.click("#dialog-cancel")
    assert agent.env.sandbox.path("/home/azureuser").is_dir()


def test_the_serial_console_dry_run_shows_what_the_provisioner_answers(
    agent: Agent, page: Page
) -> None:
    """The button exists where the method does; its dialog shows the dry run's diff (or the
    alert the service's refusal), exactly what busctl gets; Cancel changes nothing."""
    wait_for(
        lambda: page.evaluate("document.getElementById('serial-console').hidden") is False,
        what="the serial console button (shown once the provisioner's introspection is read)",
    )
    dry_run = agent.env.busctl.call(
        PROVISIONER.name,
        PROVISIONER.path,
        PROVISIONER.interface,
        "ConfigureSerialConsole",
        "bb",
        "true",
        "true",
    )
    page.click("#serial-console")
    if dry_run.ok:
        _changed, diff, _regeneration, _message = dry_run.data
        shown = page.wait_text("#dialog", "Serial console on ttyS0")
        assert (diff.strip().splitlines() or ["nothing to change"])[0] in shown
        page.click("#dialog-cancel")
    else:
        message = dry_run.error.split(": ", 1)[-1]
        page.wait_text("#alert", message)


def test_an_admin_uninstalls_a_handler_and_its_row_goes(agent: Agent, page: Page) -> None:
    """Last in this module: the handler is gone afterwards. The row leaves with extd's
    InterfacesRemoved signal, no reload."""
    page.wait_text(PROBE_ROW, "Enabled")  # extd's objects arrive after wire's card
    page.evaluate("window.loadedOnce = true")
    page.click(f'{PROBE_ROW} button[data-action="Uninstall"]')
    page.wait_text("#dialog-title", f"Uninstall {PROBE}?")
    page.click("#dialog-confirm")
    wait_for(
        lambda: page.evaluate(f"document.querySelector('{PROBE_ROW}') === null"),
        timeout=60,
        what="the handler's row to leave the page",
    )
    page.wait_text("#extensions-empty", "No extension handlers")
    assert not agent.system.handler_dir(PROBE, "1.0.0").exists()
    assert agent.system.operations(PROBE)[-1]["operation"] == "uninstall"
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
