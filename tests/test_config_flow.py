"""The config flow, driven inside Home Assistant against the sandbox over HTTP."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.platforms.errors import (
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
)

from .conftest import (
    EAN_BE,
    EAN_BE_OTHER,
    GSRN_NO,
    PLATFORMS,
    SITE_INPUT,
    Sandbox,
    credentials,
    finish_programme_step,
    setup_site,
    start_flow,
    start_reauth_flow,
    start_reconfigure_flow,
)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_register_site(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """A new site is registered on the platform and the entry loads."""
    entry = await setup_site(hass, sandbox, platform)

    grid_identifier = SITE_INPUT[platform]["grid_identifier"]
    assert entry.unique_id == f"{platform}_{grid_identifier}"
    assert entry.title == "Home"
    assert entry.data["site_id"]
    assert entry.data["grid_identifier"] == grid_identifier
    assert entry.state is ConfigEntryState.LOADED
    if platform == "powernaut":
        site = sandbox.server.state.powernaut.sites[entry.data["site_id"]]
        assert site["supply_points"] == [
            {"grid_identifier": EAN_BE, "direction": "bidirectional"}
        ]
        assert site["location"] == {"address": SITE_INPUT[platform]["address"]}
        assert entry.data["edge_credentials"]["key"]
        assert entry.data["edge_credentials"]["secret"]
    else:
        assert entry.data["edge_credentials"] is None


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_adopt_existing_site(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """A site already on the platform is adopted, never duplicated."""
    first = await setup_site(hass, sandbox, platform)
    site_id = first.data["site_id"]
    # The homeowner removes GridFlex; the site stays on the platform.
    await hass.config_entries.async_remove(first.entry_id)
    await hass.async_block_till_done()

    second = await setup_site(hass, sandbox, platform)

    assert second.data["site_id"] == site_id
    assert second.state is ConfigEntryState.LOADED
    if platform == "powernaut":
        assert len(sandbox.server.state.powernaut.sites) == 1
        # Adoption fetched site credentials of our own: the first secret is gone.
        assert second.data["edge_credentials"]["name"] == "GridFlex"
    elif platform == "flexmeasures":
        assert len(sandbox.server.state.flexmeasures.assets) == 1


async def test_offtake_and_injection(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Offtake + injection registers two supply points."""
    entry = await setup_site(
        hass,
        sandbox,
        "powernaut",
        direction="offtake_injection",
        injection_grid_identifier=EAN_BE_OTHER,
        address="",
    )
    site = sandbox.server.state.powernaut.sites[entry.data["site_id"]]
    assert site["supply_points"] == [
        {"grid_identifier": EAN_BE, "direction": "offtake"},
        {"grid_identifier": EAN_BE_OTHER, "direction": "injection"},
    ]
    # Without an address the coordinates are sent, as decimal strings.
    assert site["location"] == {"latitude": "51.0673", "longitude": "3.7302"}


async def test_injection_identifier_checked(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The injection identifier is validated and must differ from the offtake."""
    result = await start_flow(hass, sandbox, "powernaut")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("powernaut")
    )
    base = {**SITE_INPUT["powernaut"], "direction": "offtake_injection"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**base, "injection_grid_identifier": EAN_BE}
    )
    assert result["errors"] == {"injection_grid_identifier": "same_as_offtake"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], base)
    assert result["errors"] == {"injection_grid_identifier": "invalid_length"}
    assert sandbox.server.state.powernaut.sites == {}


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_invalid_credentials(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """Refused credentials give a per-field error and nothing is created."""
    result = await start_flow(hass, sandbox, platform)
    wrong = {key: f"{value}-wrong" for key, value in credentials(platform).items()}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], wrong)
    secret_field = "password" if platform == "flexmeasures" else "client_secret"
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {secret_field: "invalid_auth"}

    # The homeowner corrects them and carries on.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(platform)
    )
    assert result["step_id"] == "site"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_unreachable_platform(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """An unreachable platform or a failing one gives cannot_connect."""
    result = await start_flow(hass, sandbox, platform)
    await sandbox.fault("*", "status", status=503, times=1)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(platform)
    )
    assert result["errors"] == {"base": "cannot_connect"}

    await sandbox.fault("*", "delay", seconds=1.0, times=1)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(platform)
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_closed_port(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Nothing listening at the URL gives cannot_connect."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "platform": "powernaut",
            "environment": "custom",
            "advanced": {"base_url": "http://127.0.0.1:9"},
        },
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("powernaut")
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_base_url_checks(hass: HomeAssistant) -> None:
    """Custom needs an absolute http(s) URL; a URL alone selects custom."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"platform": "flexmeasures", "environment": "custom", "advanced": {}},
    )
    assert result["errors"] == {"base": "base_url_required"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "platform": "flexmeasures",
            "environment": "production",
            "advanced": {"base_url": "ftp://flex.example"},
        },
    )
    assert result["errors"] == {"base": "invalid_base_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "platform": "flexmeasures",
            "environment": "production",
            "advanced": {"base_url": "https://flex.example/"},
        },
    )
    assert result["step_id"] == "credentials"


@pytest.mark.parametrize(
    ("country", "identifier", "error"),
    [
        ("be", "54144882004415709", "invalid_length"),
        ("be", "541448820044157097", "invalid_check_digit"),
        ("be", "54144882004415709A", "invalid_characters"),
        ("es", "ES0021000000000000AA", "invalid_check_letters"),
        ("fr", "1234567890123", "invalid_length"),
    ],
)
async def test_invalid_grid_identifier(
    hass: HomeAssistant,
    sandbox: Sandbox,
    country: str,
    identifier: str,
    error: str,
) -> None:
    """Invalid identifiers are refused with a translated reason; nothing is sent."""
    result = await start_flow(hass, sandbox, "powernaut")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("powernaut")
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**SITE_INPUT["powernaut"], "country": country, "grid_identifier": identifier},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"grid_identifier": error}
    assert sandbox.server.state.powernaut.sites == {}


async def test_identifier_normalised(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Spaces in a typed identifier are dropped before it is used."""
    spaced = " ".join(GSRN_NO[i : i + 6] for i in range(0, 18, 6))
    entry = await setup_site(
        hass, sandbox, "energy_coordination", grid_identifier=spaced
    )
    assert entry.data["grid_identifier"] == GSRN_NO


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_duplicate_entry_aborts(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """The same site on the same platform cannot be added twice."""
    await setup_site(hass, sandbox, platform)
    requests_before = len(sandbox.requests())
    result = await start_flow(hass, sandbox, platform)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(platform)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SITE_INPUT[platform]
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    # Only the credential test reached the platform; no registration was tried.
    assert all(
        r["method"] != "POST" or "auth" in r["path"] or "token" in r["path"].lower()
        for r in sandbox.requests()[requests_before:]
    )


async def test_site_rejected(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A platform refusing the site shows its reason; the homeowner can retry."""
    result = await start_flow(hass, sandbox, "powernaut")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("powernaut")
    )
    await sandbox.fault("/v1/connect/sites", "status", status=503, method="POST")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SITE_INPUT["powernaut"]
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await sandbox.clear_faults()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SITE_INPUT["powernaut"]
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_reauth(hass: HomeAssistant, sandbox: Sandbox, platform: str) -> None:
    """Reauth takes new credentials of the same account and keeps the site."""
    entry = await setup_site(hass, sandbox, platform)
    site_id = entry.data["site_id"]
    result = await start_reauth_flow(hass, entry)
    assert result["step_id"] == "reauth_confirm"

    wrong = {key: f"{value}-wrong" for key, value in credentials(platform).items()}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], wrong)
    assert result["type"] is FlowResultType.FORM
    assert "invalid_auth" in result["errors"].values()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(platform)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data["site_id"] == site_id
    assert entry.state is ConfigEntryState.LOADED


async def test_reauth_other_account(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Credentials of an account that does not hold the site are refused."""
    entry = await setup_site(hass, sandbox, "powernaut")
    # The site vanished from this account (deleted behind GridFlex's back).
    sandbox.server.state.powernaut.sites.clear()
    result = await start_reauth_flow(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("powernaut")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_reconfigure_location(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """Reconfigure moves the site on the platform and keeps it."""
    entry = await setup_site(hass, sandbox, platform)
    site_id = entry.data["site_id"]
    result = await start_reconfigure_flow(hass, entry)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "base_url": sandbox.url,
            "address": "Korenmarkt 1, 9000 Gent, Belgium",
            "location": {"latitude": 51.0543, "longitude": 3.7196},
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["site_id"] == site_id
    assert entry.data["address"] == "Korenmarkt 1, 9000 Gent, Belgium"
    assert entry.data["latitude"] == 51.0543
    if platform == "powernaut":
        site = sandbox.server.state.powernaut.sites[site_id]
        assert site["location"] == {"address": "Korenmarkt 1, 9000 Gent, Belgium"}
    elif platform == "flexmeasures":
        asset = sandbox.server.state.flexmeasures.assets[int(site_id)]
        assert asset["latitude"] == 51.0543


async def test_reconfigure_base_url(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A new base URL must be valid and hold the site."""
    entry = await setup_site(hass, sandbox, "flexmeasures")
    result = await start_reconfigure_flow(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_url": "not a url"}
    )
    assert result["errors"] == {"base_url": "invalid_base_url"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_url": "http://127.0.0.1:9"}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    url_with_slash = f"{sandbox.url}/"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_url": url_with_slash}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["base_url"] == sandbox.url


async def test_reconfigure_site_gone(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Reconfigure tells the homeowner when the site is not at the URL."""
    entry = await setup_site(hass, sandbox, "powernaut")
    result = await start_reconfigure_flow(hass, entry)
    sandbox.server.state.powernaut.sites.clear()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_url": sandbox.url, "address": "Elsewhere 1, Gent"}
    )
    assert result["errors"] == {"base": "site_not_found"}


# Failures the sandbox cannot be made to produce on purpose (an unexpected
# exception, a platform refusing a well-formed site) are raised from the client.
CLIENT = "custom_components.gridflex.platforms.powernaut.PowernautClient"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (GridFlexAuthError("refused"), "invalid_auth"),
        (GridFlexRequestRejectedError(400, "Invalid address"), "site_rejected"),
        (RuntimeError("boom"), "unknown"),
    ],
)
async def test_register_errors(
    hass: HomeAssistant, sandbox: Sandbox, error: Exception, expected: str
) -> None:
    """Registration failures are shown on the form and nothing is created."""
    result = await start_flow(hass, sandbox, "powernaut")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("powernaut")
    )
    with patch(f"{CLIENT}.register_site", side_effect=error):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], SITE_INPUT["powernaut"]
        )
    assert result["errors"] == {"base": expected}
    if expected == "site_rejected":
        assert result["description_placeholders"]["detail"] == "Invalid address"
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_credentials_unexpected_error(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """An unexpected error while testing credentials is reported as unknown."""
    result = await start_flow(hass, sandbox, "powernaut")
    with patch(f"{CLIENT}.authenticate", side_effect=RuntimeError("boom")):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials("powernaut")
        )
    assert result["errors"] == {"base": "unknown"}


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (GridFlexAuthError("refused"), {"base": "invalid_auth"}),
        (
            GridFlexRequestRejectedError(403, "Insufficient permissions"),
            "wrong_account",
        ),
        (
            GridFlexRequestRejectedError(400, "Bad request"),
            {"base": "unexpected_answer"},
        ),
        (GridFlexResponseError("not JSON"), {"base": "unexpected_answer"}),
        (GridFlexConnectionError("down"), {"base": "cannot_connect"}),
        (RuntimeError("boom"), {"base": "unknown"}),
    ],
)
async def test_reauth_site_check_errors(
    hass: HomeAssistant, sandbox: Sandbox, error: Exception, outcome: object
) -> None:
    """Reauth reads the site with the new credentials and reports what failed."""
    entry = await setup_site(hass, sandbox, "powernaut")
    result = await start_reauth_flow(hass, entry)
    with patch(f"{CLIENT}.get_site", side_effect=error):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials("powernaut")
        )
    if isinstance(outcome, str):
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == outcome
    else:
        assert result["errors"] == outcome


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (GridFlexRequestRejectedError(400, "Invalid address"), "site_rejected"),
        (GridFlexAuthError("refused"), "invalid_auth"),
        (GridFlexConnectionError("down"), "cannot_connect"),
        (GridFlexError("odd"), "unknown"),
    ],
)
async def test_reconfigure_update_errors(
    hass: HomeAssistant, sandbox: Sandbox, error: Exception, expected: str
) -> None:
    """A refused location change keeps the form open with the reason."""
    entry = await setup_site(hass, sandbox, "powernaut")
    result = await start_reconfigure_flow(hass, entry)
    with patch(f"{CLIENT}.update_site_location", side_effect=error):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"base_url": sandbox.url, "address": "Elsewhere 1, Gent"}
        )
    assert result["errors"] == {"base": expected}
    assert entry.data["address"] == SITE_INPUT["powernaut"]["address"]


async def test_country_default_outside_platform(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Home Assistant's country is preselected only where the platform serves it."""
    await hass.config.async_update(country="DE")
    result = await start_flow(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("energy_coordination")
    )
    schema = result["data_schema"].schema
    country = next(k for k in schema if k == "country")
    assert country.default() == "no"


async def test_invalid_url_text(hass: HomeAssistant) -> None:
    """A base URL yarl cannot parse is refused."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "platform": "flexmeasures",
            "environment": "custom",
            "advanced": {"base_url": "http://[::1"},
        },
    )
    assert result["errors"] == {"base": "invalid_base_url"}


def _suggested(result: Any, field: str) -> Any:
    """Return the value the form suggests for a field."""
    key = next(k for k in result["data_schema"].schema if k == field)
    return (key.description or {}).get("suggested_value")


async def _site_form(hass: HomeAssistant, sandbox: Sandbox, platform: str) -> Any:
    """Run the flow up to the site step."""
    result = await start_flow(hass, sandbox, platform)
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(platform)
    )


async def test_default_site_name_tells_sites_apart(
    hass: HomeAssistant,
    sandbox: Sandbox,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Two sites whose suggested name was kept get names, devices and ids of their own."""
    await hass.config.async_update(location_name="Home")
    entries = []
    for identifier in (EAN_BE, EAN_BE_OTHER):
        result = await _site_form(hass, sandbox, "powernaut")
        suggested = _suggested(result, "site_name")
        # The home's name and the platform's; the identifier is not known yet.
        assert suggested == "Home · Powernaut"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                **SITE_INPUT["powernaut"],
                "site_name": suggested,
                "grid_identifier": identifier,
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        entries.append(result["result"])

    assert [e.title for e in entries] == [
        "Home · Powernaut …7096",
        "Home · Powernaut …7102",
    ]
    assert [e.data["site_name"] for e in entries] == [e.title for e in entries]
    for entry in entries:
        device = device_registry.async_get_device_by_identifier(
            (DOMAIN, entry.entry_id), entry.entry_id
        )
        assert device is not None
        assert device.name == entry.title
    status_ids = sorted(
        e.entity_id
        for entry in entries
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if e.translation_key == "site_status"
    )
    # No "_2": each site's entities carry its own name.
    assert status_ids == [
        "sensor.home_powernaut_7096_site_status",
        "sensor.home_powernaut_7102_site_status",
    ]


async def test_typed_site_name_kept(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A name the homeowner typed is used exactly (trimmed), nothing appended."""
    entry = await setup_site(hass, sandbox, "flexmeasures", site_name="  Cabin  ")
    assert entry.title == "Cabin"
    assert entry.data["site_name"] == "Cabin"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_unset_home_location_refused(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """Home Assistant's unset home (0, 0) without an address is no site location."""
    await hass.config.async_update(latitude=0, longitude=0)
    result = await _site_form(hass, sandbox, platform)
    assert _suggested(result, "location") == {"latitude": 0, "longitude": 0}
    site = {
        **SITE_INPUT[platform],
        "address": "",
        "location": {"latitude": 0, "longitude": 0},
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], site)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"location": "location_unset"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {key: v for key, v in site.items() if key != "location"}
    )
    assert result["errors"] == {"location": "location_unset"}
    assert not hass.config_entries.async_entries(DOMAIN)

    # A real location, or an address with the unset one, is fine.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**site, "address": "Dok Noord 1, 9000 Gent, Belgium"}
        if platform != "energy_coordination"
        else {**site, "location": SITE_INPUT[platform]["location"]},
    )
    result = await finish_programme_step(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_reconfigure_unset_location_refused(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Reconfigure refuses 0, 0 without an address too."""
    entry = await setup_site(hass, sandbox, "flexmeasures")
    result = await start_reconfigure_flow(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"base_url": sandbox.url, "location": {"latitude": 0, "longitude": 0}},
    )
    assert result["errors"] == {"location": "location_unset"}
    assert entry.data["latitude"] == SITE_INPUT["flexmeasures"]["location"]["latitude"]


async def test_credentials_unexpected_answer(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """An answer that is not the platform's is not "cannot connect"."""
    result = await start_flow(hass, sandbox, "powernaut")
    await sandbox.fault("*", "malformed", times=1)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("powernaut")
    )
    assert result["errors"] == {"base": "unexpected_answer"}
    assert "not JSON" in result["description_placeholders"]["detail"]

    # A URL that is not the platform's answers 404.
    with patch(f"{CLIENT}.authenticate", side_effect=GridFlexNotFoundError()):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials("powernaut")
        )
    assert result["errors"] == {"base": "unexpected_answer"}
    assert result["description_placeholders"]["detail"] == "HTTP 404: not found"


async def test_register_unexpected_answer(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A registration answered with a body that is not JSON says so."""
    result = await _site_form(hass, sandbox, "powernaut")
    await sandbox.fault("/v1/connect/sites*", "malformed", method="POST", times=1)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SITE_INPUT["powernaut"]
    )
    assert result["errors"] == {"base": "unexpected_answer"}
    assert "not JSON" in result["description_placeholders"]["detail"]


async def test_reconfigure_unexpected_answer(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A location change answered with a body that is not JSON says so."""
    entry = await setup_site(hass, sandbox, "powernaut")
    result = await start_reconfigure_flow(hass, entry)
    with patch(
        f"{CLIENT}.update_site_location", side_effect=GridFlexResponseError("not JSON")
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"base_url": sandbox.url, "address": "Elsewhere 1, Gent"}
        )
    assert result["errors"] == {"base": "unexpected_answer"}
