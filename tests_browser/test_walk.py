"""Walk GridFlex through Home Assistant's UI, per platform, in Chromium.

Onboarding first (the owner user, the home, analytics, the end), then for
each platform: Add integration → GridFlex → platform, "Custom URL" and the
sandbox URL → the sandbox credentials → the site → "Add resource" (a battery
with the template power sensor of the throw-away configuration) → the site's
and the resource's device pages → the entry's options flow. Every step is a
screenshot in GRIDFLEX_BROWSER_OUTPUT and must show no raw translation key,
no unfilled ``{placeholder}`` and no "Loading…".
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Locator, expect
import pytest

from sandbox import SANDBOX_CREDENTIALS

from .conftest import HA_URL, SANDBOX_URL, Walk

USER = {"name": "Browser Test", "username": "browser", "password": "browser-test-pw"}

# platform: (its option in the user step, the country's option, identifier).
# The second Belgian site gets another valid EAN (GS1 check digit, as in
# tests/conftest.py's EAN_BE_OTHER).
SITES = {
    "powernaut": ("Powernaut Connect", "Belgium (EAN)", "541448820044157096"),
    "energy_coordination": (
        "Energy Coordination API (Volue Spark)",
        "Norway (GSRN meter-point ID)",
        "707057500000123458",
    ),
    "flexmeasures": ("FlexMeasures", "Belgium (EAN)", "541448820044157102"),
}


def dialog(walk: Walk) -> Locator:
    """The open config-flow dialog."""
    return walk.page.locator("dialog-data-entry-flow")


def choose(walk: Walk, field: Locator, option: str) -> None:
    """Open a drop-down and pick the option labelled ``option``."""
    page = walk.page
    field.click()
    # Pickers (countries, entities) open a list with a search box; selects a
    # plain list of options. Long lists render only what is near the top.
    search = page.get_by_placeholder("Search").filter(visible=True)
    target = (
        page.get_by_role("option", name=option, exact=True)
        .or_(page.get_by_text(option, exact=True))
        .filter(visible=True)
    )
    expect(search.or_(target).first).to_be_visible()
    if search.count():
        search.first.fill(option)
    target.last.click()


def submit(walk: Walk, label: str = "Submit") -> None:
    """Press the dialog's button."""
    dialog(walk).get_by_role("button", name=label, exact=True).click()


def type_into(walk: Walk, field: Locator, value: str) -> None:
    """Click a field and type ``value`` (fill() loses to the pickers' focus)."""
    field.click()
    walk.page.keyboard.press("Control+A")
    walk.page.keyboard.type(value)
    expect(field).to_have_value(value)


def pick_entity(walk: Walk, field: Locator, search: str) -> None:
    """Pick an entity in an entity picker by typing part of its name."""
    choose(walk, field, search)


def hass_state(walk: Walk, expression: str) -> Any:
    """Evaluate ``expression`` with ``hass`` = the frontend's hass object."""
    return walk.page.evaluate(
        f"() => {{ const hass = document.querySelector('home-assistant').hass;"
        f" return {expression}; }}"
    )


def open_gridflex_flow(walk: Walk) -> Locator:
    """Add integration → search "GridFlex" → its config flow's first step.

    Right after onboarding Home Assistant may still be loading the list of
    integrations (and, on a slow machine, GridFlex itself for the first
    time): the search result is waited for, and the click is repeated once
    when no flow dialog opened.
    """
    page = walk.page
    add = page.locator("dialog-add-integration")
    # Inside the dialog: behind it, the dashboard has a search box of its own
    # and lists GridFlex's card once a first platform is set up.
    result = add.get_by_text("GridFlex", exact=True).filter(visible=True)
    flow = dialog(walk)
    first_step = flow.get_by_text("Connect your home to a grid-flexibility platform")
    for attempt in range(2):
        page.get_by_role("button", name="Add integration").filter(
            visible=True
        ).first.click()
        search = add.get_by_placeholder("Search").filter(visible=True).first
        expect(search).to_be_visible(timeout=15_000)
        search.fill("GridFlex")
        expect(result.last).to_be_visible(timeout=15_000)
        result.last.click()
        try:
            expect(first_step).to_be_visible(timeout=20_000)
        except AssertionError:
            if attempt:
                raise
            page.screenshot(path=walk.directory / "flow-not-open-retry.png")
            page.keyboard.press("Escape")
        else:
            break
    return flow


def open_integration_page(walk: Walk, entry_id: str) -> None:
    """Open GridFlex's integration page and wait for the entry's row.

    The page lists entries once the frontend's config-entry subscription has
    answered (after the integrations' titles are translated); on a slow or
    busy machine that can take longer than the page's first render, which
    then shows "No entries". The row is waited for, and the page reloaded
    once when it does not come.
    """
    page = walk.page
    row = page.locator(f'ha-config-entry-row[data-entry-id="{entry_id}"]')
    page.goto(HA_URL + "/config/integrations/integration/gridflex")
    try:
        expect(row.first).to_be_visible(timeout=30_000)
    except AssertionError:
        page.screenshot(path=walk.directory / "integration-page-reload.png")
        page.reload()
        expect(row.first).to_be_visible(timeout=30_000)


def start_subentry_flow(walk: Walk, button: str, first_step: str, title: str) -> None:
    """Press the integration page's ``button``; with several entries pick ``title``."""
    page = walk.page
    page.get_by_role("button", name=button).filter(visible=True).first.click()
    heading = dialog(walk).get_by_text(first_step, exact=False)
    # With more than one entry a picker asks which one first (its own dialog:
    # the entries' rows behind it show the same titles).
    picker = page.locator("dialog-pick-config-entry").get_by_text(title, exact=True)
    expect(heading.or_(picker.first)).to_be_visible()
    if not heading.is_visible():
        picker.first.click()
    expect(heading).to_be_visible()


def add_curtailable_load(walk: Walk, platform: str, entry_id: str, title: str) -> None:
    """The entry's "Add curtailable load": a water heater's switch, 2 kW."""
    flow = dialog(walk)
    open_integration_page(walk, entry_id)
    start_subentry_flow(
        walk, "Add curtailable load", "A device GridFlex may turn down", title
    )
    flow.locator("input[name=name]").fill("Water heater")
    pick_entity(
        walk, flow.get_by_label("Control", exact=True), "Browser test water heater"
    )
    pick_entity(
        walk,
        flow.get_by_label("Power sensor", exact=True),
        "Browser test water heater power",
    )
    # Number boxes carry no name; the form ends with nominal power, priority
    # and dwell time (the resource picker between them is no number).
    numbers = flow.locator("input[type=number]")
    count = numbers.count()
    type_into(walk, numbers.nth(count - 3), "2")
    type_into(walk, numbers.nth(count - 2), "3")
    walk.step(f"{platform}-load")
    submit(walk)
    finish = flow.get_by_role("button", name="Finish")
    expect(finish).to_be_visible()
    walk.step(f"{platform}-load-created")
    finish.click()
    expect(finish).to_be_hidden()


def test_onboarding(walk: Walk) -> None:
    """Create the owner and finish onboarding through its pages."""
    page = walk.page
    page.goto(HA_URL + "/")
    page.get_by_role("button", name="Create my smart home").click()
    walk.step("onboarding-user")
    for field, value in (
        ("name", USER["name"]),
        ("username", USER["username"]),
        ("password", USER["password"]),
        ("password_confirm", USER["password"]),
    ):
        page.locator(f"input[name={field}]").fill(value)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Home location")).to_be_visible()
    walk.step("onboarding-location")
    page.get_by_role("button", name="Next").click()
    country = page.get_by_text("We would like to know the country")
    expect(country).to_be_visible()
    choose(walk, page.get_by_label("Country"), "Belgium")
    walk.step("onboarding-country")
    page.get_by_role("button", name="Next").click()
    # Analytics, then the integrations it found: Next / Finish until the app.
    for number in range(1, 5):
        page.wait_for_timeout(500)
        if "onboarding" not in page.url:
            break
        buttons = page.get_by_role("button", name="Finish").or_(
            page.get_by_role("button", name="Next")
        )
        expect(buttons.first).to_be_visible()
        walk.step(f"onboarding-page-{number}")
        buttons.first.click()
    page.wait_for_url(lambda url: "onboarding" not in url)
    walk.step("home")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("platform", list(SITES))
def test_platform(walk: Walk, platform: str) -> None:
    """Add GridFlex for ``platform``, a battery, and open its pages and options."""
    page = walk.page
    option, country, identifier = SITES[platform]
    page.goto(HA_URL + "/config/integrations/dashboard")
    walk.step(f"{platform}-integrations")
    flow = open_gridflex_flow(walk)
    walk.step(f"{platform}-user-step")
    flow.get_by_text(option, exact=True).click()
    choose(walk, flow.get_by_label("Environment"), "Custom URL")
    flow.get_by_text("Advanced", exact=True).click()
    flow.locator("input[name=base_url]").fill(SANDBOX_URL)
    walk.step(f"{platform}-user-filled")
    submit(walk)
    expect(flow.get_by_text("Platform credentials")).to_be_visible()
    for field, value in SANDBOX_CREDENTIALS[platform].items():
        flow.locator(f"input[name={field}]").fill(value)
    walk.step(f"{platform}-credentials")
    submit(walk)
    expect(flow.get_by_text("Your home as a site")).to_be_visible()
    choose(walk, flow.get_by_label("Country"), country)
    flow.locator("input[name=grid_identifier]").fill(identifier)
    walk.step(f"{platform}-site")
    submit(walk)
    finish = flow.get_by_role("button", name="Finish")
    expect(finish).to_be_visible()
    walk.step(f"{platform}-created")
    finish.click()

    entry_id = hass_state(
        walk,
        "Object.values(hass.devices).find(d => d.config_entries.length &&"
        " Object.values(d.config_entries_subentries || {}).some(s => s.includes(null))"
        f" && d.identifiers.some(i => i[0] === 'gridflex')"
        f" && d.name && d.name.includes('{identifier[-4:]}'))?.config_entries[0]",
    )
    assert entry_id, "no site device"
    open_integration_page(walk, entry_id)
    walk.step(f"{platform}-integration-page")
    title = hass_state(
        walk,
        f"Object.values(hass.devices).find(d => d.config_entries.includes('{entry_id}') && d.name)?.name",
    )
    start_subentry_flow(walk, "Add resource", "Add a flexible resource", title)
    flow.locator("input[name=name]").fill("Home battery")
    choose(walk, flow.get_by_label("Type"), "Battery")
    walk.step(f"{platform}-resource")
    submit(walk)
    expect(flow.get_by_text("Sensors and power limits")).to_be_visible()
    pick_entity(
        walk,
        flow.get_by_label("Power sensor", exact=True),
        "Browser test battery power",
    )
    numbers = flow.locator("input[type=number]")
    for index, value in enumerate(("-5", "5", "10")):
        type_into(walk, numbers.nth(index), value)
    walk.step(f"{platform}-resource-details")
    submit(walk)
    finish = flow.get_by_role("button", name="Finish")
    expect(finish).to_be_visible()
    walk.step(f"{platform}-resource-created")
    finish.click()

    devices = hass_state(
        walk,
        f"Object.values(hass.devices).filter(d => d.config_entries.includes('{entry_id}'))"
        ".map(d => [d.id, d.name, (d.config_entries_subentries || {})"
        f"['{entry_id}'] || []])",
    )
    site = [d for d in devices if None in d[2]]
    resource = [d for d in devices if any(s for s in d[2])]
    assert site and resource, devices
    page.goto(f"{HA_URL}/config/devices/device/{site[0][0]}")
    expect(page.get_by_text(site[0][1]).first).to_be_visible()
    walk.step(f"{platform}-site-device")
    page.goto(f"{HA_URL}/config/devices/device/{resource[0][0]}")
    expect(page.get_by_text(resource[0][1]).first).to_be_visible()
    walk.step(f"{platform}-resource-device")

    add_curtailable_load(walk, platform, entry_id, title)

    open_integration_page(walk, entry_id)
    walk.settle()
    row = page.locator(f'ha-config-entry-row[data-entry-id="{entry_id}"]').first
    row.get_by_role("button", name="Configure").first.click()
    expect(flow.get_by_text("Site meter")).to_be_visible()
    pick_entity(
        walk,
        flow.get_by_label("Grid power sensor", exact=True),
        "Browser test grid power",
    )
    walk.step(f"{platform}-options")
    submit(walk)
    expect(flow.get_by_text("Options successfully saved")).to_be_visible()
    walk.step(f"{platform}-options-saved")
    flow.get_by_role("button", name="Finish").click()
    expect(flow.get_by_text("Site meter")).to_be_hidden()


def test_sandbox_saw_no_violations(walk: Walk) -> None:
    """The walk sent the sandbox nothing it refuses as invalid."""
    answer = walk.page.request.get(f"{SANDBOX_URL}/_sandbox/violations")
    assert answer.ok, answer.status
    assert answer.json() == []
