"""OpenAPI validation of every platform request against the vendor specs (``sandbox/openapi.py``)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import json
import re
import shutil
from typing import TYPE_CHECKING, Any

import aiohttp
from hypothesis import given, settings, strategies as st
from openapi_spec_validator import validate as validate_spec
import pytest
from sandbox_helpers import EC_BASE, MPID, Client, WebhookReceiver, ec_partner
from test_sandbox_powernaut_bids import place as place_bid, setup as bid_setup

from sandbox import SandboxServer, create_app
from sandbox.envelopes import ENERGY_COORDINATION, FLEXMEASURES, POWERNAUT
from sandbox.openapi import (
    DOCUMENTED_BEHAVIOUR,
    ERRATA,
    PATH_ALIASES,
    SANDBOX_RULES,
    SPEC_FILES,
    SPECS_DIR_ENV,
    UNVALIDATED_ROUTES,
    WAIVERS,
    WEBHOOK_SPEC_FILE,
    RequestValidator,
    SpecsNotFoundError,
    Waiver,
    load_specs,
    specs_dir,
    validate_webhook_notification,
)

if TYPE_CHECKING:
    from pathlib import Path

SITES = "/v1/connect/sites"
RESOURCES = "/v1/connect/resources"
BIDS = "/v1/connect/bids"
REPORTS = f"{EC_BASE}/reports"
ASSETS = "/api/v3_0/assets"
SENSORS = "/api/v3_0/sensors"
SITE = {
    "location": {"address": "Dok Noord 1, 9000 Gent"},
    "supply_points": [{"grid_identifier": "541448820000000001"}],
}


def openapi_violations(server: SandboxServer) -> list[dict[str, Any]]:
    """The violations the OpenAPI validation recorded."""
    return [v for v in server.state.violations if v["reason"].startswith("OpenAPI ")]


# Powernaut


async def powernaut_site(client: Client) -> tuple[dict[str, str], str]:
    headers = await client.powernaut_headers()
    status, site, _ = await client.request("POST", SITES, json=SITE, headers=headers)
    assert status == 201, site
    return headers, site["id"]


def resource_body(site_id: str, **power: str) -> dict[str, Any]:
    limits = {"minimum": "0.0", "maximum": "7.4", **power}
    return {"site_id": site_id, "type": "heat_pump", "power": {"active": limits}}


async def test_powernaut_valid_request_passes(
    client: Client, sandbox: SandboxServer
) -> None:
    """A request the spec allows reaches the handler; nothing is recorded."""
    headers, site_id = await powernaut_site(client)
    status, body, _ = await client.request(
        "POST", RESOURCES, json=resource_body(site_id), headers=headers
    )
    assert status == 201, body
    status, body, _ = await client.request(
        "GET", BIDS, params={"status": "open", "page": "1"}, headers=headers
    )
    assert status == 200, body
    assert sandbox.state.violations == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"colour": "red"}, "body.colour: is not allowed", id="unknown"),
        pytest.param(
            {"type": 7}, "body.type: 7 is not of type 'string'", id="wrong-type"
        ),
        pytest.param({"power": None}, "body.power: may not be null", id="null"),
        pytest.param({"site_id": None}, "body.site_id: may not be null", id="null-id"),
    ],
)
async def test_powernaut_body_violations(
    client: Client, sandbox: SandboxServer, change: dict[str, Any], message: str
) -> None:
    """Unknown fields and wrong types are 400 in Powernaut's envelope, recorded."""
    headers, site_id = await powernaut_site(client)
    status, body, _ = await client.request(
        "POST", RESOURCES, json={**resource_body(site_id), **change}, headers=headers
    )
    assert status == 400
    assert body["error"] == "Bad Request"
    assert body["status_code"] == 400
    assert any(text.startswith(message) for text in body["message"]), body
    assert sandbox.state.powernaut.resources == {}
    [violation] = sandbox.state.violations
    assert violation["reason"].startswith(f"OpenAPI POST {RESOURCES}: ")
    assert (violation["platform"], violation["status"]) == (POWERNAUT, 400)


async def test_powernaut_missing_field_and_bad_query(
    client: Client, sandbox: SandboxServer
) -> None:
    """A missing required field, and query parameters outside their schema."""
    headers, site_id = await powernaut_site(client)
    body = resource_body(site_id)
    del body["power"]
    status, answer, _ = await client.request(
        "POST", RESOURCES, json=body, headers=headers
    )
    assert (status, answer["message"]) == (400, ["body.power: is required"])
    for query, message in (
        ({"status": "expired"}, "query.status: 'expired' is not one of"),
        ({"page": "0"}, "query.page: 0.0 is less than the minimum of 1"),
        ({"page_size": "ten"}, "query.page_size: 'ten' is not a valid number"),
    ):
        status, answer, _ = await client.request(
            "GET", BIDS, params=query, headers=headers
        )
        assert status == 400
        assert answer["message"][0].startswith(message), answer
    assert [v["status"] for v in openapi_violations(sandbox)] == [400] * 4


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("7.0", True),
        ("0.0", True),
        ("0", True),  # the published pattern refuses "0" and "7"
        ("7", True),
        ("-5.123456", True),
        ("7,4", False),  # ... and lets "7,4" through
        ("7.1234567", False),
        ("7.", False),
        (".5", False),
        ("1e3", False),
    ],
)
async def test_powernaut_decimal_erratum(
    client: Client, sandbox: SandboxServer, value: str, accepted: bool
) -> None:
    r"""§5: decimals are ``^-?[0-9]{1,15}(\.[0-9]{1,6})?$``, not the spec's broken pattern."""
    headers, site_id = await powernaut_site(client)
    status, body, _ = await client.request(
        "POST",
        RESOURCES,
        json=resource_body(site_id, minimum="-9.0", maximum=value),
        headers=headers,
    )
    if accepted:
        assert status == 201, body
        assert openapi_violations(sandbox) == []
    else:
        assert status == 400
        [violation] = openapi_violations(sandbox)
        assert (
            f"body.power.active.maximum: {value!r} does not match"
            in (violation["reason"])
        )


def _decimal_pattern() -> re.Pattern[str]:
    schema = load_specs().platforms[POWERNAUT].document["components"]["schemas"]
    return re.compile(
        schema["ResourcePowerConstraints"]["properties"]["maximum"]["pattern"]
    )


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(
        min_value=Decimal(-(10**14)),
        max_value=Decimal(10**14),
        places=6,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_powernaut_decimal_pattern_takes_every_plain_decimal(number: Decimal) -> None:
    """Any decimal of up to 6 places, written with a dot, fits; with a comma it never does."""
    pattern = _decimal_pattern()
    text = f"{number:f}"
    assert pattern.match(text), text
    assert not pattern.match(text.replace(".", ",")) or "." not in text


async def test_powernaut_patch_null_refused(
    client: Client, sandbox: SandboxServer
) -> None:
    """PATCH resource: ``null`` for a non-nullable field is refused; an empty webhooks clears it."""
    headers, site_id = await powernaut_site(client)
    status, resource, _ = await client.request(
        "POST",
        RESOURCES,
        json={
            **resource_body(site_id),
            "capacity": {"minimum": "0.0", "maximum": "9.5"},
            "webhooks": {"accepted": "https://partner.example/hook"},
        },
        headers=headers,
    )
    assert status == 201, resource
    status, body, _ = await client.request(
        "PATCH",
        f"{RESOURCES}/{resource['id']}",
        json={"webhooks": None, "capacity": None, "name": None},
        headers=headers,
    )
    # The spec does not make them nullable, and the service refuses null.
    assert status == 400, body
    status, body, _ = await client.request(
        "PATCH", f"{RESOURCES}/{resource['id']}", json={"webhooks": {}}, headers=headers
    )
    assert status == 202, body
    assert "webhooks" not in body
    status, body, _ = await client.request(
        "PATCH", f"{RESOURCES}/{resource['id']}", json={"power": None}, headers=headers
    )
    assert (status, body["message"]) == (400, ["body.power: may not be null"])
    assert len(openapi_violations(sandbox)) == 2  # the nulls, then power: null


# Energy Coordination


async def lpc_event(client: Client) -> str:
    event = await client.control(
        "POST",
        "/energy-coordination/events",
        {
            "payload": {
                "targets": [
                    {
                        "locationId": "home",
                        "meterPointId": MPID,
                        "resolution": "01:00:00",
                        "points": [
                            {
                                "maxPowerInKiloWatts": 3.5,
                                "timestamp": "2024-09-12T11:00:00+00:00",
                            }
                        ],
                    }
                ],
                "payloadType": "LocationLPC",
            }
        },
    )
    return str(event["id"])


@pytest.mark.parametrize(
    "payload_type", ["LocationLPCAcknowledgement", "LocationLPCAcknowledged"]
)
async def test_energy_coordination_valid_report_passes(
    client: Client, sandbox: SandboxServer, payload_type: str
) -> None:
    """§5: report payloads validate once ``payloadType`` discriminates (both spellings)."""
    headers = await ec_partner(client)
    event_id = await lpc_event(client)
    ack = {
        "payloadType": payload_type,
        "acknowledgedTargets": [{"locationId": "home", "meterPointId": MPID}],
    }
    usage = {
        "locationId": "home",
        "meterPointId": MPID,
        "points": [{"timestamp": "2024-09-12T11:00:00+00:00", "kiloWattHours": 2}],
        "resolution": "01:00:00",
        "payloadType": "LocationEnergyUsage",
    }
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={"eventId": event_id, "payloads": [ack, usage]},
        headers=headers,
    )
    assert status == 200, body
    assert sandbox.state.violations == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(
            {"payloadType": "LocationLPCAcknowledgement", "acknowledged": True},
            "body.payloads[0].acknowledged: is not allowed",
            id="unknown",
        ),
        pytest.param(
            {
                "payloadType": "LocationEnergyUsage",
                "locationId": "home",
                "meterPointId": MPID,
                "resolution": "01:00:00",
                "points": [{"timestamp": "2024-09-12T11:00:00Z", "kiloWattHours": "2"}],
            },
            "body.payloads[0].points[0].kiloWattHours: '2' is not of type 'number'",
            id="wrong-type",
        ),
        pytest.param(
            {
                "payloadType": "LocationEnergyUsage",
                "locationId": "home",
                "meterPointId": MPID,
            },
            "body.payloads[0].resolution: is required",
            id="missing",
        ),
        pytest.param(
            {"payloadType": "LocationLPCAcknowledgment"},
            "body.payloads[0].payloadType: 'LocationLPCAcknowledgment' is not one of",
            id="unknown-type",
        ),
    ],
)
async def test_energy_coordination_report_violations(
    client: Client, sandbox: SandboxServer, payload: dict[str, Any], message: str
) -> None:
    """Report violations are 400 with a JSON string (the spec's 400), recorded."""
    headers = await ec_partner(client)
    event_id = await lpc_event(client)
    status, body, response = await client.request(
        "POST",
        REPORTS,
        json={"eventId": event_id, "payloads": [payload]},
        headers=headers,
    )
    assert (status, response.content_type) == (400, "application/json")
    assert isinstance(body, str)
    assert body.startswith(message), body
    assert sandbox.state.energy_coordination.reports == []
    [violation] = sandbox.state.violations
    assert violation["reason"].startswith("OpenAPI POST /reports: ")
    assert violation["platform"] == ENERGY_COORDINATION


async def test_energy_coordination_bad_query_is_problem_json(
    client: Client, sandbox: SandboxServer
) -> None:
    """GET /events documents problem+json for 400: errors keyed by parameter."""
    headers = await client.energy_coordination_headers()
    status, body, response = await client.request(
        "GET", f"{EC_BASE}/events", params={"pageSize": "many"}, headers=headers
    )
    assert (status, response.content_type) == (400, "application/problem+json")
    assert body["errors"] == {"pageSize": ["'many' is not a valid integer"]}
    status, body, response = await client.request(
        "PUT", f"{EC_BASE}/webhooks/w1/enabled", headers=headers
    )
    assert (status, body["errors"]) == (400, {"enabled": ["is required"]})
    assert len(openapi_violations(sandbox)) == 2


# FlexMeasures


async def fm_sensor(client: Client) -> tuple[dict[str, str], int, int]:
    headers = await client.flexmeasures_headers()
    status, asset, _ = await client.request(
        "POST",
        ASSETS,
        json={"name": "Home", "generic_asset_type_id": 6, "account_id": 1},
        headers=headers,
    )
    assert status == 201, asset
    status, sensor, _ = await client.request(
        "POST",
        SENSORS,
        json={
            "name": "power",
            "unit": "kW",
            "event_resolution": "PT15M",
            "generic_asset_id": asset["id"],
        },
        headers=headers,
    )
    assert status == 201, sensor
    return headers, asset["id"], sensor["id"]


async def test_flexmeasures_valid_requests_and_errata(
    client: Client, sandbox: SandboxServer
) -> None:
    """§5: no ``sensor`` in the data body, timestamps without seconds, one flex-context object, partial PATCH."""
    headers, asset_id, sensor_id = await fm_sensor(client)
    status, body, _ = await client.request(
        "POST",
        f"{SENSORS}/{sensor_id}/data",
        json={
            "start": "2026-11-22T10:00+01:00",
            "duration": "PT30M",
            "values": [1.5, None],
            "unit": "kW",
        },
        headers=headers,
    )
    assert status == 200, body
    status, body, _ = await client.request(
        "POST",
        f"{ASSETS}/{asset_id}/schedules/trigger",
        json={
            "start": "2026-11-22T10:00+01:00",
            "duration": "PT2H",
            "flex-model": [
                {
                    "sensor": sensor_id,
                    "soc-at-start": 12.1,
                    "soc-max": "25 kWh",
                    "power-capacity": "7.4 kW",
                }
            ],
            "flex-context": {"consumption-price": "0.2 EUR/kWh"},
        },
        headers=headers,
    )
    assert status == 202, body
    status, body, _ = await client.request(
        "PATCH", f"{ASSETS}/{asset_id}", json={"latitude": 51.0}, headers=headers
    )
    assert status == 200, body
    assert sandbox.state.violations == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"colour": "red"}, {"colour": ["Unknown field."]}, id="unknown"),
        pytest.param(
            {"values": [1.0], "duration": 30},
            {"duration": ["Not a valid string."]},
            id="wrong-type",
        ),
        pytest.param({"unit": None}, {"unit": ["Field may not be null."]}, id="null"),
        pytest.param(
            {"start": "2026-11-22T10:00:00"},
            {"start": ["Not a valid aware datetime."]},
            id="naive",
        ),
    ],
)
async def test_flexmeasures_body_violations(
    client: Client,
    sandbox: SandboxServer,
    body: dict[str, Any],
    expected: dict[str, list[str]],
) -> None:
    """FlexMeasures answers schema errors 422 in webargs' shape; recorded."""
    headers, _, sensor_id = await fm_sensor(client)
    data = {
        "start": "2026-11-22T10:00:00+01:00",
        "duration": "PT15M",
        "values": [1.0],
        "unit": "kW",
        **body,
    }
    status, answer, _ = await client.request(
        "POST", f"{SENSORS}/{sensor_id}/data", json=data, headers=headers
    )
    assert status == 422
    assert answer == {
        "message": {"combined_sensor_data_description": expected},
        "result": "Rejected",
        "status": "UNPROCESSABLE_ENTITY",
    }
    assert sandbox.state.flexmeasures.beliefs == {}
    [violation] = sandbox.state.violations
    assert violation["reason"].startswith("OpenAPI POST /api/v3_0/sensors/{id}/data: ")
    assert (violation["platform"], violation["status"]) == (FLEXMEASURES, 422)


async def test_flexmeasures_missing_field_and_bad_query(
    client: Client, sandbox: SandboxServer
) -> None:
    """A missing required field and a query parameter of the wrong type."""
    headers, asset_id, _ = await fm_sensor(client)
    status, answer, _ = await client.request(
        "POST", ASSETS, json={"generic_asset_type_id": 6}, headers=headers
    )
    assert (status, answer["message"]) == (
        422,
        {"json": {"name": ["Missing data for required field."]}},
    )
    status, answer, _ = await client.request(
        "GET", SENSORS, params={"asset": "home"}, headers=headers
    )
    assert (status, answer["message"]) == (
        422,
        {"query": {"asset": ["Not a valid integer."]}},
    )
    status, answer, _ = await client.request(
        "GET", f"{ASSETS}/{asset_id}", params={"fields": "id"}, headers=headers
    )
    assert status == 200  # an undeclared query parameter is not the spec's business
    assert len(openapi_violations(sandbox)) == 2


# The machinery


async def test_validation_can_be_switched_off(
    client: Client, sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    """The spec refuses a bid PATCH with ``webhooks: null`` (the handler takes it): on by default."""
    headers, _, resource = await bid_setup(client)
    bid = await place_bid(client, headers, resource["id"])
    status, body, _ = await client.request(
        "PATCH", f"{BIDS}/{bid['id']}", json={"webhooks": None}, headers=headers
    )
    assert (status, body["message"]) == (400, ["body.webhooks: may not be null"])
    assert len(openapi_violations(sandbox)) == 1

    async with SandboxServer(openapi_validation=False) as lax:
        lax_client = Client(lax, http)
        headers, _, resource = await bid_setup(lax_client)
        bid = await place_bid(lax_client, headers, resource["id"])
        status, body, _ = await lax_client.request(
            "PATCH", f"{BIDS}/{bid['id']}", json={"webhooks": None}, headers=headers
        )
        assert status == 202, body
        assert lax.state.violations == []


async def test_authentication_comes_first(
    client: Client, sandbox: SandboxServer
) -> None:
    """Without valid credentials a malformed request gets the handler's 401, like the services."""
    for method, path, body in (
        ("POST", RESOURCES, {"colour": "red"}),
        ("POST", REPORTS, {"payloads": "x"}),
        ("POST", SENSORS, {"name": 5}),
    ):
        status, _, _ = await client.request(
            method, path, json=body, headers={"Authorization": "Bearer nope"}
        )
        assert status == 401, path
    assert sandbox.state.violations == []


async def test_a_faulted_request_is_still_validated(
    client: Client, sandbox: SandboxServer
) -> None:
    """The fault answers, but the spec violation is recorded all the same."""
    headers = await client.powernaut_headers()
    await client.control(
        "POST", "/faults", {"path": RESOURCES, "kind": "status", "status": 503}
    )
    status, _, _ = await client.request(
        "POST", RESOURCES, json={"colour": "red"}, headers=headers
    )
    assert status == 503
    [violation] = sandbox.state.violations
    assert violation["reason"].startswith(f"OpenAPI POST {RESOURCES}: ")
    assert sandbox.state.requests[-1]["status"] == 503


def test_every_route_is_a_spec_operation_or_listed() -> None:
    """Each platform route the sandbox serves maps to an operation of its vendor's spec."""
    validator = RequestValidator()
    app = create_app()
    unmapped = []
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        template = resource.canonical
        platform = (
            POWERNAUT
            if template.startswith("/v1/")
            else ENERGY_COORDINATION
            if template.startswith(("/energy-coordination/", "/connect/"))
            else FLEXMEASURES
            if template.startswith("/api/")
            else None
        )
        if platform is None:
            assert template.startswith("/_sandbox/"), template
            continue
        if any(
            method in ("*", route.method) and template == pattern
            for method, pattern, _ in UNVALIDATED_ROUTES
        ):
            continue
        if validator.operation_for(platform, route.method, template) is None:
            unmapped.append((route.method, template))
    assert unmapped == []
    assert set(PATH_ALIASES) <= {r.resource.canonical for r in app.router.routes()}  # type: ignore[union-attr]


def test_waivers_are_documented_and_few() -> None:
    """Every waiver has a reason, and there are few."""
    assert all(waiver.reason for waiver in WAIVERS)
    assert len(WAIVERS) <= 3
    waiver = Waiver("POST", "/energy-coordination/v1/reports", "x", error="payloadType")
    assert waiver.covers("POST", "/energy-coordination/v1/reports", ["a payloadType b"])
    assert not waiver.covers("POST", "/energy-coordination/v1/reports", ["other"])
    assert not waiver.covers("GET", "/energy-coordination/v1/reports", ["payloadType"])


def test_errata_say_what_the_spec_and_the_service_do() -> None:
    """Each patch names its source, what the spec says and what the service does."""
    for erratum in (*ERRATA, *DOCUMENTED_BEHAVIOUR, *SANDBOX_RULES):
        assert erratum.spec_says, erratum.name
        assert erratum.service_does, erratum.name
        assert erratum.source, erratum.name
    assert {erratum.platform for erratum in ERRATA} == {
        POWERNAUT,
        ENERGY_COORDINATION,
        FLEXMEASURES,
    }
    assert all("§5" in erratum.source for erratum in ERRATA)


@pytest.mark.parametrize("platform", [POWERNAUT, ENERGY_COORDINATION])
def test_patched_specs_are_still_valid_openapi(platform: str) -> None:
    """The errata leave valid OpenAPI documents (FlexMeasures' published file is not one)."""
    validate_spec(copy.deepcopy(load_specs().platforms[platform].document))


def test_specs_directory_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SANDBOX_SPECS_DIR`` points elsewhere; a missing spec is a clear error."""
    assert (specs_dir() / SPEC_FILES[POWERNAUT]).is_file()
    for name in (*SPEC_FILES.values(), WEBHOOK_SPEC_FILE):
        shutil.copy(specs_dir() / name, tmp_path / name)
    monkeypatch.setenv(SPECS_DIR_ENV, str(tmp_path))
    assert specs_dir() == tmp_path.resolve()
    specs = load_specs()
    assert specs.directory == tmp_path.resolve()
    assert load_specs() is specs  # read once per process and directory
    (tmp_path / SPEC_FILES[FLEXMEASURES]).unlink()
    monkeypatch.setenv(SPECS_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(SpecsNotFoundError, match=SPECS_DIR_ENV):
        load_specs()


async def test_notifications_match_the_receiver_spec(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """The sandbox's deliveries are valid ``EventNotification``s, signature header included."""
    headers = await ec_partner(client)
    for secret in ("Secret123%", None):
        body: dict[str, Any] = {"webhookUrl": receiver.url}
        if secret is not None:
            body["webhookSecret"] = secret
        status, webhook, _ = await client.request(
            "POST", f"{EC_BASE}/webhooks", json=body, headers=headers
        )
        assert status == 201, webhook
    await lpc_event(client)
    received = await receiver.wait_for(2)
    await sandbox.webhooks.wait_idle()
    problems = [
        validate_webhook_notification(delivery.raw, delivery.headers)
        for delivery in received
    ]
    assert sorted(problems, key=len) == [
        [],
        ["header.x-payload-signature: is required"],
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    junk = {
        "notificationId": "n",
        "eventId": "e",
        "eventCreatedAtUtc": start.isoformat(),
        "notificationSentUtc": (start + timedelta(seconds=1)).isoformat(),
        "notificationType": "LocationLPCRequested",
        "payload": {"payloadType": "LocationLPC", "targets": "all"},
    }
    assert validate_webhook_notification(
        json.dumps(junk).encode(), {"X-Payload-Signature": "x"}
    ) == ["body.payload.targets: 'all' is not of type 'array'"]
