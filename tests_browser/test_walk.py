"""Walk GridFlex through Home Assistant's UI, per platform, in Chromium.

Onboarding first (the owner user, the home, analytics, the end), then for
each platform: Add integration → GridFlex → platform, "Custom URL" and the
sandbox URL → the sandbox credentials → the site → "Add resource" (a battery
with the template power sensor of the throw-away configuration) → the site's
and the resource's device pages → the entry's options flow. Then the ready
dashboard (dashboards/gridflex.yaml, adapted as the README says) on each
platform's site, the Energy Coordination one with an LPC in force, a price
curve and compensation: no "Entity not found/available" card. Every step is
a screenshot in GRIDFLEX_BROWSER_OUTPUT and must show no raw translation
key, no unfilled ``{placeholder}`` and no "Loading…".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import re
from typing import Any

from playwright.sync_api import Locator, expect
import pytest
import yaml

from sandbox import SANDBOX_CREDENTIALS

from .conftest import HA_URL, SANDBOX_URL, Walk

DASHBOARD = Path(__file__).parent.parent / "dashboards" / "gridflex.yaml"
DASHBOARD_URL_PATH = "dashboard-gridflex"

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
    if platform == "energy_coordination":
        # The programme is offered; the homeowner chooses to enroll.
        expect(flow.get_by_text("Join the flexibility programme?")).to_be_visible()
        flow.get_by_label("Enroll", exact=False).first.click()
        walk.step(f"{platform}-enroll")
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


def dashboard_for(prefix: str, resources: list[str]) -> dict[str, Any]:
    """dashboards/gridflex.yaml adapted as the README says.

    The site's entities: ".home_" replaced with the site's prefix; the grid
    power sensor: the walk's; the "Resources" card: the walk's resources.
    """
    text = DASHBOARD.read_text(encoding="utf-8")
    text = text.replace(".home_", f".{prefix}").replace(
        "sensor.grid_power", "sensor.browser_test_grid_power"
    )
    config: dict[str, Any] = yaml.safe_load(text)
    for section in config["views"][0]["sections"]:
        for card in section["cards"]:
            if card["type"] == "entity-filter":
                card["entities"] = resources
    return config


def save_dashboard(walk: Walk, config: dict[str, Any]) -> None:
    """Save ``config`` as the GridFlex dashboard (created the first time)."""
    walk.page.evaluate(
        """async ([urlPath, config]) => {
          const hass = document.querySelector('home-assistant').hass;
          const dashboards = await hass.callWS({type: 'lovelace/dashboards/list'});
          if (!dashboards.some(d => d.url_path === urlPath)) {
            await hass.callWS({type: 'lovelace/dashboards/create', url_path: urlPath,
              title: 'GridFlex', icon: 'mdi:transmission-tower', mode: 'storage',
              show_in_sidebar: true, require_admin: false});
          }
          await hass.callWS({type: 'lovelace/config/save', url_path: urlPath, config});
        }""",
        [DASHBOARD_URL_PATH, config],
    )


def open_dashboard(walk: Walk) -> None:
    """Open the GridFlex dashboard afresh and wait for its view.

    Right after a flow dialog closes the navigation can be lost (the page
    stays where it was): the view is waited for, and the page opened once
    more when it does not come.
    """
    page = walk.page
    view = page.locator("hui-sections-view")
    for attempt in range(2):
        page.goto(f"{HA_URL}/{DASHBOARD_URL_PATH}/gridflex")
        try:
            expect(view.first).to_be_attached(timeout=20_000)
        except AssertionError:
            if attempt:
                raise
            page.screenshot(path=walk.directory / "dashboard-reopen.png")
        else:
            break
    expect(page.locator("hui-card").first).to_be_attached()
    walk.settle()


def feed_energy_coordination(walk: Walk, identifier: str) -> None:
    """Give the site something to show: an LPC in force, a price curve, money.

    Through the sandbox's control routes: a 5 kW LocationLPC from this hour
    for three hours, a day's price curve for its battery, and compensation.
    """
    request = walk.page.request
    answer = request.get(f"{SANDBOX_URL}/_sandbox/state")
    assert answer.ok, answer.status
    platform = answer.json()["energy_coordination"]
    location_id = next(
        key
        for key, location in platform["locations"].items()
        if identifier in json.dumps(location)
    )
    resource_id = next(
        key
        for key, resource in platform["resources"].items()
        if resource.get("locationId") == location_id
    )
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    target = {"locationId": location_id, "meterPointId": identifier}
    lpc = {
        "payloadType": "LocationLPC",
        "targets": [
            {
                **target,
                "resolution": "01:00:00",
                "points": [
                    {
                        "timestamp": (hour + timedelta(hours=n)).isoformat(),
                        "maxPowerInKiloWatts": 5,
                    }
                    for n in range(3)
                ],
            }
        ],
    }
    prices = [0.62, 0.58, 0.71, 0.95, 1.24, 1.08, 0.83, 0.66, 0.54, 0.49]
    curve = {
        "payloadType": "PriceCurve",
        "targets": [{"resourceId": resource_id, "locationId": location_id}],
        "priceCurveDelta": {
            "points": [
                {
                    "timestamp": (hour + timedelta(hours=n - 2)).isoformat(),
                    "price": price,
                }
                for n, price in enumerate(prices)
            ],
            "energyUnit": "kWh",
            "currency": "NOK",
            "resolution": "01:00:00",
        },
        "priceArea": "NO1",
    }
    for payload in (lpc, curve):
        answer = request.post(
            f"{SANDBOX_URL}/_sandbox/energy_coordination/events",
            data={"payload": payload},
        )
        assert answer.ok, answer.text()
    answer = request.put(
        f"{SANDBOX_URL}/_sandbox/energy_coordination/locations/{location_id}"
        "/compensation",
        data={"activeAmount": 412.5, "blockedAmount": 37},
    )
    assert answer.ok, answer.text()


def expect_state(walk: Walk, entity_id: str, state: str) -> None:
    """Wait until the frontend sees ``entity_id`` in ``state``."""
    walk.page.wait_for_function(
        "([id, state]) => document.querySelector('home-assistant')"
        ".hass.states[id]?.state === state",
        arg=[entity_id, state],
        timeout=30_000,
    )


def refresh(walk: Walk, entity_ids: list[str]) -> None:
    """Have GridFlex read the platform now (the entities' coordinators)."""
    walk.page.evaluate(
        """async (ids) => {
          const hass = document.querySelector('home-assistant').hass;
          await hass.callService('homeassistant', 'update_entity', {entity_id: ids});
        }""",
        entity_ids,
    )


def site_entities(walk: Walk, platform: str) -> tuple[str, list[str]]:
    """The site's entity prefix and its resources' entities (frontend registry)."""
    _, _, identifier = SITES[platform]
    site, resources = hass_state(
        walk,
        "(() => { const site = Object.values(hass.devices).find(d =>"
        " d.identifiers.some(i => i[0] === 'gridflex') && d.name"
        f" && d.name.includes('{identifier[-4:]}') && !d.via_device_id);"
        " const resources = Object.values(hass.devices).filter(d =>"
        " d.via_device_id === site.id).map(d => d.id);"
        " const ids = Object.values(hass.entities);"
        " return [ids.filter(e => e.device_id === site.id).map(e => e.entity_id),"
        " ids.filter(e => resources.includes(e.device_id)).map(e => e.entity_id)];"
        " })()",
    )
    # Every platform's site has "Platform reachable".
    reachable = [
        e
        for e in site
        if e.startswith("binary_sensor.") and e.endswith("_platform_reachable")
    ]
    assert len(reachable) == 1, site
    prefix = reachable[0].removeprefix("binary_sensor.")
    return prefix.removesuffix("platform_reachable"), resources


def test_dashboard_visibility_hides_missing_entities(walk: Walk) -> None:
    """The frontend hides a card whose entity does not exist, as the dashboard needs.

    A tile of an entity that does not exist shows a warning; the same tile
    with the dashboard's visibility condition (state not "unavailable") is
    hidden.
    """
    missing = "sensor.gridflex_browser_test_no_such_entity"
    tile = {"type": "tile", "entity": missing}
    hidden = {
        **tile,
        "visibility": [
            {"condition": "state", "entity": missing, "state_not": "unavailable"}
        ],
    }
    save_dashboard(
        walk,
        {
            "views": [
                {
                    "title": "GridFlex",
                    "path": "gridflex",
                    "type": "sections",
                    "sections": [{"type": "grid", "cards": [tile, hidden]}],
                }
            ]
        },
    )
    open_dashboard(walk)
    expect(walk.page.locator("hui-warning")).to_have_count(1)
    walk.step("dashboard-visibility-check")


# Energy Coordination first: its screenshot is the README's.
@pytest.mark.parametrize(
    ("platform", "cards"),
    [
        ("energy_coordination", ("hui-calendar-card", "hui-gauge-card")),
        ("powernaut", ("hui-statistics-graph-card",)),
        ("flexmeasures", ()),
    ],
)
def test_dashboard(walk: Walk, platform: str, cards: tuple[str, ...]) -> None:
    """dashboards/gridflex.yaml on the platform's site: no unavailable card."""
    page = walk.page
    # FlexMeasures' resources have no entities of their own.
    prefix, resources = site_entities(walk, platform)
    if platform == "energy_coordination":
        feed_energy_coordination(walk, SITES[platform][2])
        refresh(
            walk,
            [f"calendar.{prefix}grid_events", f"sensor.{prefix}compensation"],
        )
        expect_state(walk, f"binary_sensor.{prefix}lpc_active", "on")
        expect_state(walk, f"sensor.{prefix}compensation", "412.5")
        # The curve's third hour is this one.
        expect_state(walk, f"sensor.{prefix}price_signal", "0.71")

    config = dashboard_for(
        prefix, [*resources, "input_boolean.browser_test_water_heater"]
    )
    save_dashboard(walk, config)
    open_dashboard(walk)
    for card in ("hui-tile-card", "hui-entity-filter-card", *cards):
        expect(page.locator(card).first).to_be_visible()
    expect(page.locator("hui-history-graph-card").first).to_be_attached()
    # Charts and statistics load after the cards.
    page.wait_for_timeout(2_000)
    text = walk.step(f"{platform}-dashboard")
    assert page.locator("hui-warning").count() == 0, text
    assert not re.search(r"not (available|found)", text, re.IGNORECASE), text
    if platform == "energy_coordination":
        # A copy for the README (docs/images/dashboard.png).
        page.screenshot(path=walk.directory / "dashboard-readme.png", full_page=True)


def test_sandbox_saw_no_violations(walk: Walk) -> None:
    """The walk sent the sandbox nothing it refuses as invalid."""
    answer = walk.page.request.get(f"{SANDBOX_URL}/_sandbox/violations")
    assert answer.ok, answer.status
    assert answer.json() == []
