"""Energy Coordination's Spark programme in the sandbox: compensation, eligibility, enrollment.

Every platform answer these tests receive is checked against the spec's
response for its operation (``ec_response_problems``).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
import uuid

import pytest
from sandbox_helpers import (
    EC_BASE,
    MPID,
    MPID_2,
    Client,
    WebhookReceiver,
    ec_partner,
    ec_response_problems,
)

from sandbox import SandboxServer, energy_coordination_programme
from sandbox.openapi import validate_webhook_notification
from sandbox.persistence import StateFile

CONTROL = "/_sandbox/energy-coordination"
MPID_3 = "707057500000000003"
SECRET = "Secret123%"


async def call(
    client: Client,
    method: str,
    path: str,
    headers: dict[str, str] | None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """Call an Energy Coordination route; assert the answer is the spec's; return status and JSON."""
    url = client.sandbox.url + EC_BASE + path
    async with client.http.request(method, url, headers=headers, **kwargs) as resp:
        raw = await resp.read()
        status, content_type = resp.status, resp.content_type
    if status != 401:  # the spec documents no 401 (platform-apis.md §5)
        problems = ec_response_problems(
            method, EC_BASE + path.partition("?")[0], status, content_type, raw
        )
        assert problems == [], (method, path, status, raw)
    return status, json.loads(raw) if raw else None


async def control(
    client: Client, method: str, path: str, body: Any = None, *, status: int = 200
) -> Any:
    """Call a programme control route; assert the status; return the JSON answer."""
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    got, answer, _ = await client.request(method, CONTROL + path, **kwargs)
    assert got == status, answer
    return answer


async def add_user(
    client: Client, headers: dict[str, str], user_id: str, **location: Any
) -> None:
    """Register a user, and a location when one is given."""
    status, body, _ = await client.request(
        "POST", f"{EC_BASE}/users", json={"userId": user_id}, headers=headers
    )
    assert status == 201, body
    if location:
        status, body, _ = await client.request(
            "POST",
            f"{EC_BASE}/users/{user_id}/locations",
            json=location,
            headers=headers,
        )
        assert status == 201, body


def oslo_month(year: int, month: int, last_day: int) -> dict[str, str]:
    """The expected ``period`` for a month."""
    return {
        "from": f"{year:04d}-{month:02d}-01",
        "to": f"{year:04d}-{month:02d}-{last_day:02d}",
    }


def freeze(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Make the programme's clock read ``moment``."""
    monkeypatch.setattr(energy_coordination_programme, "utc_now", lambda: moment)


# Authentication, shapes and the spec


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/u1/compensation"),
        ("GET", "/users/u1/eligibility"),
        ("GET", "/users/eligible"),
        ("GET", f"/meters/{MPID}/eligible"),
        ("GET", "/users/u1/enrollment"),
        ("POST", "/users/u1/enrollment"),
        ("DELETE", "/users/u1/enrollment"),
    ],
)
async def test_programme_routes_need_a_token(
    client: Client, sandbox: SandboxServer, method: str, path: str
) -> None:
    """Without a valid Bearer token every programme route answers 401 without body."""
    await ec_partner(client, resources=False)
    assert await call(client, method, path, None) == (401, None)
    assert await call(client, method, path, {"Authorization": "Bearer nope"}) == (
        401,
        None,
    )
    assert sandbox.state.energy_coordination.enrollments == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/ghost/compensation"),
        ("GET", "/users/ghost/eligibility"),
        ("GET", "/users/ghost/enrollment"),
        ("POST", "/users/ghost/enrollment"),
        ("DELETE", "/users/ghost/enrollment"),
    ],
)
async def test_unknown_user_is_404_without_body(
    client: Client, sandbox: SandboxServer, method: str, path: str
) -> None:
    """An unknown user is 404 without body, not a violation."""
    headers = await ec_partner(client, resources=False)
    assert await call(client, method, path, headers) == (404, None)
    assert sandbox.state.violations == []


def test_response_check_catches_answers_the_spec_does_not_allow() -> None:
    """The response check used here refuses what the spec refuses."""
    base = f"{EC_BASE}/users/u1"
    good = {
        "isEnrolled": True,
        "userId": "u1",
        "enrollmentId": str(uuid.uuid4()),
        "enrollmentDate": "2026-12-01T10:00:00+00:00",
    }
    assert (
        ec_response_problems(
            "GET",
            f"{base}/enrollment",
            200,
            "application/json",
            json.dumps(good).encode(),
        )
        == []
    )
    for bad in (
        {**good, "enrollmentId": "not-a-uuid"},
        {**good, "extra": 1},
        {key: value for key, value in good.items() if key != "userId"},
    ):
        assert ec_response_problems(
            "GET",
            f"{base}/enrollment",
            200,
            "application/json",
            json.dumps(bad).encode(),
        )
    # DELETE's 200 is application/json: an empty body is not what it documents.
    assert ec_response_problems(
        "DELETE", f"{base}/enrollment", 200, "application/json", b""
    )
    compensation = {
        "userId": "u1",
        "period": {"from": "2026-12-01", "to": "2026-12-31"},
        "locationCompensations": [{"locationId": "home", "currency": "GBP"}],
    }
    assert ec_response_problems(
        "GET",
        f"{base}/compensation",
        200,
        "application/json",
        json.dumps(compensation).encode(),
    )
    assert ec_response_problems(
        "GET", f"{EC_BASE}/users/eligible", 400, "application/json", b'"bad"'
    )


# Compensation


async def test_compensation_defaults_one_entry_per_location(
    client: Client, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of the user's locations has a zero NOK compensation over the Oslo month."""
    freeze(monkeypatch, datetime(2026, 1, 31, 23, 30, tzinfo=UTC))  # Oslo: 1 February
    headers = await ec_partner(client, meter_points=(MPID, MPID_2), resources=False)
    status, body, _ = await client.request(
        "POST",
        f"{EC_BASE}/users/u1/locations",
        json={"locationId": "cabin", "meterPointIds": [MPID_3]},
        headers=headers,
    )
    assert status == 201, body
    await add_user(
        client, headers, "u2", locationId="other", meterPointIds=["707057500000000004"]
    )
    await add_user(client, headers, "u3")

    status, body = await call(client, "GET", "/users/u1/compensation", headers)

    assert status == 200
    assert body == {
        "userId": "u1",
        "period": oslo_month(2026, 2, 28),
        "locationCompensations": [
            {
                "locationId": "home",
                "meterPointIds": [MPID, MPID_2],
                "activeAmount": 0,
                "blockedAmount": 0,
                "currency": "NOK",
                "problems": [],
            },
            {
                "locationId": "cabin",
                "meterPointIds": [MPID_3],
                "activeAmount": 0,
                "blockedAmount": 0,
                "currency": "NOK",
                "problems": [],
            },
        ],
    }
    assert await call(client, "GET", "/users/u3/compensation", headers) == (
        200,
        {
            "userId": "u3",
            "period": oslo_month(2026, 2, 28),
            "locationCompensations": [],
        },
    )
    assert sandbox.state.violations == []


@pytest.mark.parametrize(
    ("moment", "period"),
    [
        (datetime(2028, 2, 10, 12, tzinfo=UTC), oslo_month(2028, 2, 29)),
        (datetime(2026, 12, 31, 22, 59, tzinfo=UTC), oslo_month(2026, 12, 31)),
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), oslo_month(2027, 1, 31)),
        (datetime(2026, 6, 30, 21, 59, tzinfo=UTC), oslo_month(2026, 6, 30)),
        (datetime(2026, 6, 30, 22, 0, tzinfo=UTC), oslo_month(2026, 7, 31)),
    ],
)
async def test_period_is_the_calendar_month_in_oslo(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    moment: datetime,
    period: dict[str, str],
) -> None:
    """The period follows Europe/Oslo's calendar (winter +01:00, summer +02:00, leap years)."""
    freeze(monkeypatch, moment)
    headers = await ec_partner(client, resources=False)
    status, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert (status, body["period"]) == (200, period)


async def test_location_without_meter_point_has_a_problem(
    client: Client, sandbox: SandboxServer
) -> None:
    """A location registered by coordinates only gets MissingMpidOnLocation."""
    headers = await client.energy_coordination_headers()
    await add_user(
        client,
        headers,
        "u1",
        locationId="home",
        coordinates={"latitude": 79.5, "longitude": 15.9},
    )
    status, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert status == 200
    [entry] = body["locationCompensations"]
    assert entry["meterPointIds"] == []
    assert [p["problemType"] for p in entry["problems"]] == ["MissingMpidOnLocation"]
    assert "home" in entry["problems"][0]["message"]

    # Adding the meter point solves it.
    status, _, _ = await client.request(
        "PATCH",
        f"{EC_BASE}/users/u1/locations/home",
        json={"meterPointIds": [MPID]},
        headers=headers,
    )
    assert status == 200
    status, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["locationCompensations"][0]["problems"] == []
    assert body["locationCompensations"][0]["meterPointIds"] == [MPID]
    assert sandbox.state.violations == []


async def test_compensation_meter_points_that_differ_are_a_problem(
    client: Client,
) -> None:
    """Compensation meter point ids that differ from the location's give a mismatch problem."""
    headers = await ec_partner(client, meter_points=(MPID, MPID_2), resources=False)

    entry = await control(
        client, "PUT", "/locations/home/compensation", {"meterPointIds": [MPID]}
    )
    assert entry["meterPointIds"] == [MPID]
    assert [p["problemType"] for p in entry["problems"]] == [
        "CompensationMpidDoesNotMatchLocation"
    ]
    status, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["locationCompensations"] == [entry]

    # The same ids in another order match.
    entry = await control(
        client, "PUT", "/locations/home/compensation", {"meterPointIds": [MPID_2, MPID]}
    )
    assert entry["problems"] == []

    # Back to the location's own ids; a later change of the location is followed.
    await control(
        client, "PUT", "/locations/home/compensation", {"meterPointIds": None}
    )
    status, _, _ = await client.request(
        "PATCH",
        f"{EC_BASE}/users/u1/locations/home",
        json={"meterPointIds": [MPID_3]},
        headers=headers,
    )
    assert status == 200
    status, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["locationCompensations"][0]["meterPointIds"] == [MPID_3]
    assert body["locationCompensations"][0]["problems"] == []


async def test_both_problems_at_once(client: Client) -> None:
    """No meter point on the location and one on the compensation: both problems."""
    headers = await client.energy_coordination_headers()
    await add_user(
        client,
        headers,
        "u1",
        locationId="home",
        coordinates={"latitude": 60, "longitude": 10},
    )
    entry = await control(
        client, "PUT", "/locations/home/compensation", {"meterPointIds": [MPID]}
    )
    assert [p["problemType"] for p in entry["problems"]] == [
        "MissingMpidOnLocation",
        "CompensationMpidDoesNotMatchLocation",
    ]


async def test_set_amounts_and_currency(client: Client) -> None:
    """The control route sets the amounts and currency; the platform answers them."""
    headers = await ec_partner(client, resources=False)
    entry = await control(
        client,
        "PUT",
        "/locations/home/compensation",
        {"activeAmount": 12.5, "blockedAmount": 3, "currency": "EUR"},
    )
    assert entry == {
        "locationId": "home",
        "meterPointIds": [MPID],
        "activeAmount": 12.5,
        "blockedAmount": 3,
        "currency": "EUR",
        "problems": [],
    }
    # Partial: only the given field changes.
    entry = await control(
        client, "PUT", "/locations/home/compensation", {"activeAmount": 20}
    )
    assert (entry["activeAmount"], entry["blockedAmount"], entry["currency"]) == (
        20,
        3,
        "EUR",
    )
    _, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["locationCompensations"] == [entry]


async def test_earnings_are_blocked_while_a_problem_lasts(client: Client) -> None:
    """Earnings go to activeAmount; while the location has a problem to blockedAmount."""
    headers = await ec_partner(client, resources=False)
    path = "/locations/home/compensation/earnings"

    entry = await control(client, "POST", path, {"amount": 1.1})
    entry = await control(client, "POST", path, {"amount": 2.2})
    assert (entry["activeAmount"], entry["blockedAmount"]) == (3.3, 0)

    await control(
        client, "PUT", "/locations/home/compensation", {"meterPointIds": [MPID_2]}
    )
    entry = await control(client, "POST", path, {"amount": 5})
    assert (entry["activeAmount"], entry["blockedAmount"]) == (3.3, 5)
    assert entry["problems"]

    # Solved: blocked earnings stay blocked, new ones count as active.
    await control(
        client, "PUT", "/locations/home/compensation", {"meterPointIds": None}
    )
    entry = await control(client, "POST", path, {"amount": 0.7})
    assert (entry["activeAmount"], entry["blockedAmount"]) == (4.0, 5)
    _, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["locationCompensations"] == [entry]


async def test_amounts_belong_to_the_month(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new Oslo month starts at zero; currency and meter point ids stay."""
    freeze(monkeypatch, datetime(2026, 11, 30, 22, 0, tzinfo=UTC))  # Oslo 30 Nov 23:00
    headers = await ec_partner(client, meter_points=(MPID, MPID_2), resources=False)
    await control(
        client,
        "PUT",
        "/locations/home/compensation",
        {
            "activeAmount": 40,
            "blockedAmount": 2,
            "currency": "SEK",
            "meterPointIds": [MPID],
        },
    )
    _, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["locationCompensations"][0]["activeAmount"] == 40

    freeze(monkeypatch, datetime(2026, 11, 30, 23, 0, tzinfo=UTC))  # Oslo 1 Dec 00:00
    _, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["period"] == oslo_month(2026, 12, 31)
    [entry] = body["locationCompensations"]
    assert (entry["activeAmount"], entry["blockedAmount"], entry["currency"]) == (
        0,
        0,
        "SEK",
    )
    assert entry["meterPointIds"] == [MPID]
    # Earnings of the new month start from zero (blocked: the mismatch remains).
    entry = await control(
        client, "POST", "/locations/home/compensation/earnings", {"amount": 1.5}
    )
    assert (entry["activeAmount"], entry["blockedAmount"]) == (0, 1.5)


async def test_deleting_a_location_or_user_drops_the_programme_state(
    client: Client, sandbox: SandboxServer
) -> None:
    """A deleted location loses its compensation, a deleted user eligibility and enrollment."""
    headers = await ec_partner(client, resources=False)
    await control(client, "PUT", "/locations/home/compensation", {"activeAmount": 9})
    await control(client, "PUT", "/users/u1/eligibility", {"isEligible": False})
    await control(client, "PUT", "/users/u1/enrollment", {"isEnrolled": True})
    store = sandbox.state.energy_coordination

    status, _, _ = await client.request(
        "DELETE", f"{EC_BASE}/users/u1/locations/home", headers=headers
    )
    assert status == 204
    assert store.compensations == {}
    status, _, _ = await client.request(
        "POST",
        f"{EC_BASE}/users/u1/locations",
        json={"locationId": "home", "meterPointIds": [MPID]},
        headers=headers,
    )
    assert status == 201
    status, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["locationCompensations"][0]["activeAmount"] == 0
    await control(client, "PUT", "/locations/home/compensation", {"activeAmount": 9})

    status, _, _ = await client.request(
        "DELETE", f"{EC_BASE}/users/u1", headers=headers
    )
    assert status == 204
    assert (
        store.compensations,
        store.user_eligibility,
        store.enrollments,
        store.enrollment_history,
    ) == ({}, {}, {}, {})
    await add_user(client, headers, "u1")
    assert await call(client, "GET", "/users/u1/eligibility", headers) == (
        200,
        {"userId": "u1", "isEligible": True},
    )


# Eligibility


async def test_user_eligibility_default_and_control(
    client: Client, sandbox: SandboxServer
) -> None:
    """Users are eligible by default; the control API changes one user or the default."""
    headers = await ec_partner(client, resources=False)
    await add_user(client, headers, "u2")
    assert await call(client, "GET", "/users/u1/eligibility", headers) == (
        200,
        {"userId": "u1", "isEligible": True},
    )

    answer = await control(
        client, "PUT", "/users/u1/eligibility", {"isEligible": False}
    )
    assert answer == {
        "userId": "u1",
        "isEligible": False,
        "changed": True,
        "event": None,
    }
    assert await call(client, "GET", "/users/u1/eligibility", headers) == (
        200,
        {"userId": "u1", "isEligible": False},
    )
    assert await call(client, "GET", "/users/u2/eligibility", headers) == (
        200,
        {"userId": "u2", "isEligible": True},
    )

    # The default changes users without their own setting only.
    assert await control(
        client, "PUT", "/programme/defaults", {"usersEligible": False}
    ) == {"usersEligible": False, "metersEligible": True}
    assert await control(client, "GET", "/programme/defaults") == {
        "usersEligible": False,
        "metersEligible": True,
    }
    await control(client, "PUT", "/users/u1/eligibility", {"isEligible": True})
    _, body = await call(client, "GET", "/users/eligible", headers)
    assert body["users"] == [{"userId": "u1"}]

    # null: back to the default.
    answer = await control(client, "PUT", "/users/u1/eligibility", {"isEligible": None})
    assert (answer["isEligible"], answer["changed"]) == (False, True)
    _, body = await call(client, "GET", "/users/eligible", headers)
    assert body["users"] == []
    assert sandbox.state.energy_coordination.events == {}


async def test_eligible_users_are_paged(client: Client, sandbox: SandboxServer) -> None:
    """GET /users/eligible lists eligible users in registration order with pagination."""
    headers = await client.energy_coordination_headers()
    for user_id in ("a", "b", "c", "d"):
        await add_user(client, headers, user_id)
    await control(client, "PUT", "/users/b/eligibility", {"isEligible": False})

    status, body = await call(
        client, "GET", "/users/eligible?page=2&pageSize=2", headers
    )
    assert (status, body) == (
        200,
        {
            "pagination": {
                "totalRecords": 3,
                "pageSize": 2,
                "currentPage": 2,
                "totalPages": 2,
                "nextPage": None,
                "previousPage": 1,
            },
            "users": [{"userId": "d"}],
        },
    )
    status, body = await call(client, "GET", "/users/eligible", headers)
    assert body["users"] == [{"userId": "a"}, {"userId": "c"}, {"userId": "d"}]
    assert body["pagination"]["pageSize"] == 100
    status, body = await call(client, "GET", "/users/eligible?pageSize=1000", headers)
    assert status == 200
    assert sandbox.state.violations == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("pageSize=1001", "pageSize"),
        ("pageSize=0", "pageSize"),
        ("page=0", "page"),
        ("page=x", "page"),
    ],
)
async def test_eligible_users_bad_paging_is_problem_json(
    client: Client, sandbox: SandboxServer, query: str, field: str
) -> None:
    """Bad paging is 400 application/problem+json (this operation's 400) and a violation."""
    headers = await ec_partner(client, resources=False)
    status, body = await call(client, "GET", f"/users/eligible?{query}", headers)
    assert status == 400
    assert body["status"] == 400
    assert list(body["errors"]) == [field]
    [violation] = sandbox.state.violations
    assert violation["path"] == f"{EC_BASE}/users/eligible"
    # A value that is no int32 is the spec's own rule: the OpenAPI check refuses it.
    assert violation["reason"].startswith("OpenAPI GET /users/eligible") == (
        query == "page=x"
    )


async def test_meter_eligibility(client: Client, sandbox: SandboxServer) -> None:
    """Meter points are eligible by default, settable per id and through the default."""
    headers = await client.energy_coordination_headers()
    assert await call(client, "GET", f"/meters/{MPID}/eligible", headers) == (
        200,
        {"meterPointId": MPID, "isEligible": True},
    )
    assert await control(
        client, "PUT", f"/meters/{MPID}/eligibility", {"isEligible": False}
    ) == {"meterPointId": MPID, "isEligible": False}
    assert await call(client, "GET", f"/meters/{MPID}/eligible", headers) == (
        200,
        {"meterPointId": MPID, "isEligible": False},
    )
    assert (await call(client, "GET", f"/meters/{MPID_2}/eligible", headers))[1][
        "isEligible"
    ]
    # Not a GSRN: never eligible (and no 404: the spec lists none).
    assert await call(client, "GET", "/meters/12345/eligible", headers) == (
        200,
        {"meterPointId": "12345", "isEligible": False},
    )
    await control(client, "PUT", "/programme/defaults", {"metersEligible": False})
    assert not (await call(client, "GET", f"/meters/{MPID_2}/eligible", headers))[1][
        "isEligible"
    ]
    await control(client, "PUT", f"/meters/{MPID_2}/eligibility", {"isEligible": True})
    await control(client, "PUT", f"/meters/{MPID}/eligibility", {"isEligible": None})
    assert (await call(client, "GET", f"/meters/{MPID_2}/eligible", headers))[1][
        "isEligible"
    ]
    assert not (await call(client, "GET", f"/meters/{MPID}/eligible", headers))[1][
        "isEligible"
    ]
    assert sandbox.state.violations == []


async def _register_webhook(
    client: Client, headers: dict[str, str], url: str, **fields: Any
) -> None:
    status, body, _ = await client.request(
        "POST",
        f"{EC_BASE}/webhooks",
        json={"webhookUrl": url, "webhookSecret": SECRET, **fields},
        headers=headers,
    )
    assert status == 201, body


async def test_eligibility_change_published_as_event(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """With ``publish`` the change becomes a UserEligibility event, stored and pushed signed."""
    headers = await ec_partner(client, resources=False)
    await _register_webhook(
        client, headers, receiver.url, notificationTypes=["UserEligibilityUpdated"]
    )
    await _register_webhook(
        client,
        headers,
        receiver.url + "?other",
        notificationTypes=["PriceCurveCreated"],
    )

    answer = await control(
        client, "PUT", "/users/u1/eligibility", {"isEligible": False, "publish": True}
    )
    event = answer["event"]
    assert (answer["isEligible"], answer["changed"]) == (False, True)
    assert event["payload"]["addedUsers"] == []
    assert event["payload"]["removedUsers"] == ["u1"]
    assert event["payload"]["payloadType"] == "UserEligibility"

    [received] = await receiver.wait_for(1)
    await sandbox.webhooks.wait_idle()
    assert len(receiver.received) == 1  # the PriceCurve-only webhook got nothing
    assert validate_webhook_notification(received.raw, received.headers) == []
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), received.raw, hashlib.sha256).digest()
    ).decode()
    assert received.headers["X-Payload-Signature"] == expected
    notification = received.json
    assert notification["eventId"] == event["id"]
    assert notification["notificationType"] == "UserEligibilityUpdated"
    assert notification["payload"] == event["payload"]

    status, body = await call(client, "GET", f"/events/{event['id']}", headers)
    assert (status, body) == (200, event)

    # Eligible again: addedUsers; also published when nothing changed.
    answer = await control(
        client, "PUT", "/users/u1/eligibility", {"isEligible": True, "publish": True}
    )
    assert answer["event"]["payload"]["addedUsers"] == ["u1"]
    assert answer["event"]["payload"]["removedUsers"] == []
    answer = await control(
        client, "PUT", "/users/u1/eligibility", {"isEligible": True, "publish": True}
    )
    assert answer["changed"] is False
    assert answer["event"]["payload"]["addedUsers"] == ["u1"]
    await receiver.wait_for(3)
    _, body = await call(client, "GET", "/events", headers)
    assert body["pagination"]["totalRecords"] == 3


async def test_simulated_eligibility_event_changes_nobody(
    client: Client, sandbox: SandboxServer
) -> None:
    """POST /simulation/events/usereligibility leaves eligibility as it is (the spec says so)."""
    headers = await ec_partner(client, resources=False)
    await control(client, "PUT", "/users/u1/eligibility", {"isEligible": False})
    status, body = await call(
        client, "POST", "/simulation/events/usereligibility", headers
    )
    assert status == 200
    assert body["simulatedEvent"]["payload"]["addedUsers"] == ["u1"]
    assert await call(client, "GET", "/users/u1/eligibility", headers) == (
        200,
        {"userId": "u1", "isEligible": False},
    )


# Enrollment


async def test_enrollment_lifecycle(client: Client, sandbox: SandboxServer) -> None:
    """GET, POST (idempotent) and DELETE (200 ``{}``) of an enrollment."""
    headers = await ec_partner(client, resources=False)
    not_enrolled = {
        "isEnrolled": False,
        "userId": "u1",
        "enrollmentId": None,
        "enrollmentDate": None,
    }
    assert await call(client, "GET", "/users/u1/enrollment", headers) == (
        200,
        not_enrolled,
    )

    before = datetime.now(UTC)
    status, enrolled = await call(client, "POST", "/users/u1/enrollment", headers)
    assert status == 200
    assert (enrolled["isEnrolled"], enrolled["userId"]) == (True, "u1")
    assert uuid.UUID(enrolled["enrollmentId"])
    date = datetime.fromisoformat(enrolled["enrollmentDate"])
    assert before <= date <= datetime.now(UTC)

    assert await call(client, "POST", "/users/u1/enrollment", headers) == (
        200,
        enrolled,
    )
    assert await call(client, "GET", "/users/u1/enrollment", headers) == (200, enrolled)

    assert await call(client, "DELETE", "/users/u1/enrollment", headers) == (200, {})
    assert await call(client, "GET", "/users/u1/enrollment", headers) == (
        200,
        not_enrolled,
    )

    # Enrolling again is a new enrollment.
    status, again = await call(client, "POST", "/users/u1/enrollment", headers)
    assert again["enrollmentId"] != enrolled["enrollmentId"]
    history = await control(client, "GET", "/users/u1/enrollment")
    assert [(h["action"], h["enrollmentId"]) for h in history["history"]] == [
        ("enrolled", enrolled["enrollmentId"]),
        ("unenrolled", enrolled["enrollmentId"]),
        ("enrolled", again["enrollmentId"]),
    ]
    assert {key: history[key] for key in again} == again
    assert sandbox.state.violations == []


async def test_enrollment_refusals(client: Client, sandbox: SandboxServer) -> None:
    """Not eligible: POST is 400 (string); not enrolled: DELETE is 400; neither a violation."""
    headers = await ec_partner(client, resources=False)
    status, body = await call(client, "DELETE", "/users/u1/enrollment", headers)
    assert (status, body) == (400, "User 'u1' is not enrolled in the Spark program")

    await control(client, "PUT", "/users/u1/eligibility", {"isEligible": False})
    status, body = await call(client, "POST", "/users/u1/enrollment", headers)
    assert (status, body) == (400, "User 'u1' is not eligible for the Spark program")
    assert sandbox.state.energy_coordination.enrollments == {}
    assert [r["status"] for r in sandbox.state.requests[-2:]] == [400, 400]
    assert sandbox.state.violations == []

    # Enrolled before losing eligibility: the enrollment stays, POST answers it.
    await control(client, "PUT", "/users/u1/eligibility", {"isEligible": True})
    _, enrolled = await call(client, "POST", "/users/u1/enrollment", headers)
    await control(client, "PUT", "/users/u1/eligibility", {"isEligible": False})
    assert await call(client, "POST", "/users/u1/enrollment", headers) == (
        200,
        enrolled,
    )
    assert await call(client, "GET", "/users/u1/enrollment", headers) == (200, enrolled)


async def test_enrollment_control(client: Client, sandbox: SandboxServer) -> None:
    """The control API enrolls and unenrolls behind the client's back."""
    headers = await ec_partner(client, resources=False)
    await control(client, "PUT", "/users/u1/eligibility", {"isEligible": False})
    state = await control(client, "PUT", "/users/u1/enrollment", {"isEnrolled": True})
    assert state["isEnrolled"] is True
    assert [h["action"] for h in state["history"]] == ["enrolled"]
    _, enrolled = await call(client, "GET", "/users/u1/enrollment", headers)
    assert enrolled == {key: state[key] for key in enrolled}
    # Enrolling an enrolled user keeps the enrollment.
    again = await control(client, "PUT", "/users/u1/enrollment", {"isEnrolled": True})
    assert again == state
    state = await control(client, "PUT", "/users/u1/enrollment", {"isEnrolled": False})
    assert (state["isEnrolled"], state["enrollmentId"]) == (False, None)
    assert [h["action"] for h in state["history"]] == ["enrolled", "unenrolled"]
    assert (await call(client, "GET", "/users/u1/enrollment", headers))[1][
        "isEnrolled"
    ] is False
    assert sandbox.state.violations == []


# Control API errors


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", "/users/u1/eligibility", {}, 400),
        ("PUT", "/users/u1/eligibility", {"isEligible": "yes"}, 400),
        ("PUT", "/users/u1/eligibility", {"isEligible": True, "publish": 1}, 400),
        ("PUT", "/users/u1/eligibility", {"isEligible": True, "extra": 1}, 400),
        ("PUT", "/users/u1/eligibility", [], 400),
        ("PUT", "/users/ghost/eligibility", {"isEligible": True}, 404),
        ("PUT", f"/meters/{MPID}/eligibility", {}, 400),
        ("PUT", f"/meters/{MPID}/eligibility", {"isEligible": 0}, 400),
        ("PUT", "/programme/defaults", {"usersEligible": None}, 400),
        ("PUT", "/programme/defaults", {"others": True}, 400),
        ("PUT", "/locations/home/compensation", {"activeAmount": -1}, 400),
        ("PUT", "/locations/home/compensation", {"blockedAmount": "1"}, 400),
        ("PUT", "/locations/home/compensation", {"activeAmount": True}, 400),
        ("PUT", "/locations/home/compensation", {"currency": "GBP"}, 400),
        ("PUT", "/locations/home/compensation", {"meterPointIds": MPID}, 400),
        ("PUT", "/locations/home/compensation", {"meterPointIds": [""]}, 400),
        ("PUT", "/locations/ghost/compensation", {"activeAmount": 1}, 404),
        ("POST", "/locations/home/compensation/earnings", {}, 400),
        ("POST", "/locations/home/compensation/earnings", {"amount": 0}, 400),
        ("POST", "/locations/home/compensation/earnings", {"amount": -2}, 400),
        ("POST", "/locations/ghost/compensation/earnings", {"amount": 1}, 404),
        ("GET", "/users/ghost/enrollment", None, 404),
        ("PUT", "/users/u1/enrollment", {}, 400),
        ("PUT", "/users/u1/enrollment", {"isEnrolled": None}, 400),
        ("PUT", "/users/ghost/enrollment", {"isEnrolled": True}, 404),
    ],
)
async def test_control_errors(
    client: Client,
    sandbox: SandboxServer,
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    """Bad control bodies are 400, unknown users or locations 404, as ``{"error"}``; nothing changes."""
    await ec_partner(client, resources=False)
    store = sandbox.state.energy_coordination
    before = store.snapshot()
    answer = await control(client, method, path, body, status=status)
    assert isinstance(answer["error"], str)
    assert answer["error"]
    assert store.snapshot() == before


async def test_control_needs_a_json_body(client: Client) -> None:
    """A control body that is not JSON is 400."""
    await ec_partner(client, resources=False)
    status, body, _ = await client.request(
        "PUT",
        f"{CONTROL}/users/u1/eligibility",
        data=b"not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert "error" in body


async def test_control_answers_under_both_spellings(client: Client) -> None:
    """``/_sandbox/energy_coordination/…`` works like ``/_sandbox/energy-coordination/…``."""
    headers = await ec_partner(client, resources=False)
    status, body, _ = await client.request(
        "PUT",
        "/_sandbox/energy_coordination/locations/home/compensation",
        json={"activeAmount": 7},
    )
    assert (status, body["activeAmount"]) == (200, 7)
    _, body = await call(client, "GET", "/users/u1/compensation", headers)
    assert body["locationCompensations"][0]["activeAmount"] == 7


# Persistence


async def test_programme_state_survives_a_restart(
    client: Client, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Eligibility, enrollment and compensation come back from the state file."""
    headers = await ec_partner(client, resources=False)
    await add_user(client, headers, "u2")
    await control(client, "PUT", "/users/u2/eligibility", {"isEligible": False})
    await control(client, "PUT", f"/meters/{MPID_2}/eligibility", {"isEligible": False})
    await control(client, "PUT", "/programme/defaults", {"metersEligible": True})
    await control(
        client,
        "PUT",
        "/locations/home/compensation",
        {"activeAmount": 11.5, "blockedAmount": 1, "currency": "DKK"},
    )
    _, enrolled = await call(client, "POST", "/users/u1/enrollment", headers)
    _, compensation = await call(client, "GET", "/users/u1/compensation", headers)
    path = tmp_path / "state.json"
    assert StateFile(sandbox.state, path).save()

    restarted = SandboxServer(host="127.0.0.1", port=0)
    assert StateFile(restarted.state, path).load()
    await restarted.start()
    try:
        other = Client(restarted, client.http)
        # The token issued before the restart is kept too.
        assert await call(other, "GET", "/users/u1/enrollment", headers) == (
            200,
            enrolled,
        )
        assert await call(other, "GET", "/users/u1/compensation", headers) == (
            200,
            compensation,
        )
        _, body = await call(other, "GET", "/users/eligible", headers)
        assert body["users"] == [{"userId": "u1"}]
        assert (await call(other, "GET", f"/meters/{MPID_2}/eligible", headers))[1][
            "isEligible"
        ] is False
        history = await control(other, "GET", "/users/u1/enrollment")
        assert [h["action"] for h in history["history"]] == ["enrolled"]
        assert restarted.state.violations == []
    finally:
        await restarted.stop()


async def test_reset_forgets_the_programme_state(
    client: Client, sandbox: SandboxServer
) -> None:
    """POST /_sandbox/reset brings the defaults back."""
    await ec_partner(client, resources=False)
    await control(client, "PUT", "/programme/defaults", {"usersEligible": False})
    await control(client, "PUT", "/users/u1/enrollment", {"isEnrolled": True})
    await client.control("POST", "/reset")
    assert await control(client, "GET", "/programme/defaults") == {
        "usersEligible": True,
        "metersEligible": True,
    }
    assert sandbox.state.energy_coordination.enrollments == {}
