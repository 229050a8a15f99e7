"""Powernaut baselines in the sandbox, over real HTTP: the platform's rules."""

from __future__ import annotations

from typing import Any

import aiohttp
from sandbox_helpers import Client, basic
from test_sandbox_powernaut_bids import (
    activate,
    create_resource,
    create_site,
    place,
    quarter,
    setup,
    z,
)

from sandbox import SandboxServer

SITES = "/v1/connect/sites"
RESOURCES = "/v1/connect/resources"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
ACTIVATED = {
    "message": "Cannot update baseline: there have been activations in this time window",
    "error": "Conflict",
    "status_code": 409,
}


def zs(offset: int) -> str:
    """A quarter-hour as the partner writes it (no milliseconds)."""
    return z(quarter(offset)).replace(".000Z", "Z")


async def post(
    client: Client, headers: dict[str, str], path: str, body: Any
) -> tuple[int, Any]:
    status, answer, _ = await client.request("POST", path, json=body, headers=headers)
    return status, answer


async def test_site_and_resource_baselines(
    client: Client, sandbox: SandboxServer
) -> None:
    """Stored per quarter-hour, overwritten by overlap, read back per step."""
    headers, site, resource = await setup(client)
    site_path = f"{SITES}/{site['id']}/baseline"
    body = {"start": zs(1), "values": ["1.0", "2.0", "3.0", "4.0"]}
    assert await post(client, headers, site_path, body) == (201, None)
    overlap = {"start": zs(3), "values": ["5.5", "6.5"], "power_type": "active"}
    assert await post(client, headers, site_path, overlap) == (201, None)
    status, answer, _ = await client.request(
        "GET",
        site_path,
        params={"amount": "2", "start": zs(1), "granularity": "PT30M"},
        headers=headers,
    )
    assert (status, answer) == (200, {"items": ["1.500000", "6.000000"]})
    status, answer, _ = await client.request(
        "GET",
        site_path,
        params={"amount": "5", "start": zs(1), "granularity": "PT15M"},
        headers=headers,
    )
    assert answer["items"] == [
        "1.000000",
        "2.000000",
        "5.500000",
        "6.500000",
        "0.000000",
    ]
    resource_path = f"{RESOURCES}/{resource['id']}/baseline"
    full = {"start": zs(2), "values": ["0.25"] * 192, "skip_activated_windows": True}
    assert await post(client, headers, resource_path, full) == (201, None)
    posts = sandbox.state.powernaut.baseline_posts
    assert [post["target"] for post in posts] == [
        f"site/{site['id']}",
        f"site/{site['id']}",
        f"resource/{resource['id']}",
    ]
    assert len(sandbox.state.powernaut.baselines[f"resource/{resource['id']}"]) == 192


async def test_rules(client: Client, sandbox: SandboxServer) -> None:
    """Every rule of CreateBaselineDto is a 400 with its message; 404 for unknown ids.

    The spec's own rules are caught by the OpenAPI validation first; the
    platform's further rules (quarter-hours, the window, decimals) by the route.
    """
    headers, site, _ = await setup(client)
    site_path = f"{SITES}/{site['id']}/baseline"
    cases: list[tuple[Any, str]] = [
        (
            {"start": zs(1), "values": ["1.0"], "extra": 1},
            "extra",
        ),
        ({"values": ["1.0"]}, "start: is required"),
        ({"start": "2026-01-01T10:00:00", "values": ["1.0"]}, "timezone"),
        (
            {"start": z(quarter(1)).replace(":00.000Z", ":07.000Z"), "values": ["1.0"]},
            "quarter-hour",
        ),
        ({"start": zs(-1), "values": ["1.0"]}, "at least the current quarter-hour"),
        ({"start": zs(193), "values": ["1.0"]}, "192 quarter-hours"),
        ({"start": zs(1), "values": []}, "should be non-empty"),
        ({"start": zs(1), "values": ["1.0"] * 193}, "more than 192 items"),
        ({"start": zs(1), "values": [1.0]}, "is not of type 'string'"),
        ({"start": zs(1), "values": ["1.1234567"]}, "values.0 must be a decimal"),
        (
            {"start": zs(1), "values": ["1.0"], "power_type": "apparent"},
            "power_type: 'apparent'",
        ),
        (
            {"start": zs(1), "values": ["1.0"], "skip_activated_windows": "yes"},
            "boolean",
        ),
    ]
    for body, message in cases:
        status, answer = await post(client, headers, site_path, body)
        assert status == 400, body
        assert message in str(answer["message"]), (body, answer)
    status, answer = await post(
        client,
        headers,
        f"{SITES}/{UNKNOWN_ID}/baseline",
        {"start": zs(1), "values": ["1.0"]},
    )
    assert (status, answer["message"]) == (404, "Site does not exist")
    status, answer = await post(
        client,
        headers,
        f"{RESOURCES}/{UNKNOWN_ID}/baseline",
        {"start": zs(1), "values": ["1.0"]},
    )
    assert (status, answer["message"]) == (404, "Resource does not exist")
    assert sandbox.state.powernaut.baseline_posts == []
    sandbox.state.violations.clear()


async def test_activated_windows(client: Client, sandbox: SandboxServer) -> None:
    """An accepted bid's window: 409 without skip, kept as it was with it."""
    headers, site, resource = await setup(client)
    resource_path = f"{RESOURCES}/{resource['id']}/baseline"
    site_path = f"{SITES}/{site['id']}/baseline"
    first = {"start": zs(1), "values": ["1.0", "1.0", "1.0"]}
    for path in (resource_path, site_path):
        assert await post(client, headers, path, first) == (201, None)
    bid = await place(client, headers, resource["id"], offset=2)
    await activate(client, bid["id"])
    later = {"start": zs(1), "values": ["2.0", "2.0", "2.0"]}
    for path in (resource_path, site_path):
        status, answer = await post(client, headers, path, later)
        assert (status, answer) == (409, ACTIVATED)
        skip = {**later, "skip_activated_windows": True}
        assert await post(client, headers, path, skip) == (201, None)
    for target in (f"resource/{resource['id']}", f"site/{site['id']}"):
        stored = sandbox.state.powernaut.baselines[target]
        assert [stored[zs(offset)] for offset in (1, 2, 3)] == ["2.0", "1.0", "2.0"]
    assert sandbox.state.powernaut.baseline_posts[-1]["skipped"] == [zs(2)]


async def test_edge_scope_ids_and_reads(client: Client, sandbox: SandboxServer) -> None:
    """Edge-cloud credentials reach their own site only; bad ids and queries are 400."""
    headers, site, resource = await setup(client)
    other_site = await create_site(client, headers)
    other = await create_resource(client, headers, other_site["id"])
    credentials = site["credentials"]
    edge = {"Authorization": basic(credentials["key"], credentials["secret"])}
    body = {"start": zs(1), "values": ["1.0"]}
    assert await post(client, edge, f"{SITES}/{site['id']}/baseline", body) == (
        201,
        None,
    )
    assert await post(client, edge, f"{RESOURCES}/{resource['id']}/baseline", body) == (
        201,
        None,
    )
    for path in (
        f"{SITES}/{other_site['id']}/baseline",
        f"{RESOURCES}/{other['id']}/baseline",
    ):
        status, answer = await post(client, edge, path, body)
        assert (status, answer["message"]) == (403, "Insufficient permissions")
    for path in (f"{SITES}/not-a-uuid/baseline", f"{RESOURCES}/not-a-uuid/baseline"):
        status, answer = await post(client, headers, path, body)
        assert status == 400
    # A reactive baseline is checked and logged, not read back as active power.
    reactive = {"start": zs(1), "values": ["9.0"], "power_type": "reactive"}
    assert await post(client, headers, f"{SITES}/{site['id']}/baseline", reactive) == (
        201,
        None,
    )
    path = f"{SITES}/{site['id']}/baseline"
    status, answer, _ = await client.request(
        "GET",
        path,
        params={"amount": "1", "start": zs(1), "granularity": "PT1H"},
        headers=edge,
    )
    assert (status, answer) == (200, {"items": ["0.250000"]})
    for params in (
        {"amount": "0", "start": zs(1), "granularity": "PT15M"},
        {"amount": "1", "start": "yesterday", "granularity": "PT15M"},
        {"amount": "1", "start": zs(1), "granularity": "PT10M"},
    ):
        status, answer, _ = await client.request(
            "GET", path, params=params, headers=headers
        )
        assert status == 400, params
    status, answer, _ = await client.request(
        "GET",
        f"{SITES}/{UNKNOWN_ID}/baseline",
        params={"amount": "1", "start": zs(1), "granularity": "PT15M"},
        headers=headers,
    )
    assert status == 404
    sandbox.state.violations.clear()


async def test_own_checks_without_openapi_validation(
    socket_enabled: None, http: aiohttp.ClientSession
) -> None:
    """With the spec's validation off, the route itself refuses what the spec does."""
    server = SandboxServer(host="127.0.0.1", port=0, openapi_validation=False)
    await server.start()
    try:
        client = Client(server, http)
        headers, site, _ = await setup(client)
        path = f"{SITES}/{site['id']}/baseline"
        cases: list[tuple[Any, str]] = [
            (["1.0"], "must be an object"),
            ({"start": zs(1), "values": ["1.0"], "extra": 1}, "property extra"),
            ({"values": ["1.0"]}, "start should not be empty"),
            ({"start": zs(1), "values": "1.0"}, "values must be an array"),
            ({"start": zs(1), "values": []}, "1 to 192"),
            ({"start": zs(1), "values": ["1.0"], "power_type": "x"}, "power_type"),
            (
                {"start": zs(1), "values": ["1.0"], "skip_activated_windows": 1},
                "boolean",
            ),
        ]
        for body, message in cases:
            status, answer = await post(client, headers, path, body)
            assert status == 400, body
            assert message in str(answer["message"]), (body, answer)
    finally:
        await server.stop()
