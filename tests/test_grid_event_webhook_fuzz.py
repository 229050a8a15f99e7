"""Generated webhook bodies against GridFlex's webhook inside Home Assistant.

Hypothesis generates the bodies (hostile JSON, plausible notifications with
extreme values); each is signed with the site's secret and posted over real
HTTP. Nothing may escape: every answer is 200 or 400, no error is logged, and
the grid events keep working afterwards.
"""

from __future__ import annotations

from datetime import datetime
import json
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import GSRN_NO, Sandbox
from .test_grid_event_ledger import _acks, _event, _lpc_payload, _push, _pushing_site

BODIES = 1000

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
# st.datetimes takes naive bounds; the "Z" makes each time UTC.
_NAIVE_MIN = datetime(1, 1, 1)  # noqa: DTZ001
_NAIVE_MAX = datetime(9999, 12, 31)  # noqa: DTZ001
_times = st.one_of(
    st.datetimes(min_value=_NAIVE_MIN, max_value=_NAIVE_MAX).map(
        lambda d: d.isoformat() + "Z"
    ),
    st.text(max_size=30),
    st.integers(),
    st.none(),
)
_spans = st.one_of(
    st.sampled_from(
        [
            "01:00:00",
            "00:15:00",
            "10675199.02:48:05",
            "00:00:00",
            "-01:00:00",
            "1.00:00:01",
        ]
    ),
    st.text(max_size=20),
    st.integers(),
)
_limits = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    st.none(),
)


def _notification(location: str) -> st.SearchStrategy[Any]:
    point = st.fixed_dictionaries({"timestamp": _times, "maxPowerInKiloWatts": _limits})
    target = st.fixed_dictionaries(
        {
            "locationId": st.sampled_from([location, "elsewhere"]),
            "meterPointId": st.sampled_from([GSRN_NO, "0"]),
            "resolution": _spans,
            "points": st.lists(point, max_size=4),
        },
        optional={"resourceId": st.text(max_size=8)},
    )
    payload = st.fixed_dictionaries(
        {
            "payloadType": st.sampled_from(
                ["LocationLPC", "ResourceLPC", "LPCReservation", "PriceCurve", "Other"]
            ),
            "targets": st.one_of(st.lists(target, max_size=3), _json),
        }
    )
    return st.fixed_dictionaries(
        {
            "notificationId": st.text(min_size=1, max_size=12),
            "eventId": st.one_of(st.text(min_size=1, max_size=12), _json),
            "eventCreatedAtUtc": _times,
            "notificationSentUtc": _times,
            "notificationType": st.text(max_size=20),
            "payload": st.one_of(payload, _json),
        }
    )


def _bodies(location: str) -> list[bytes]:
    """Generate the bodies with Hypothesis (no shrinking needed: none may fail)."""
    found: list[bytes] = []
    raw = st.one_of(
        _notification(location).map(lambda v: json.dumps(v).encode()),
        _json.map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=200),
        st.integers(min_value=1, max_value=5000).map(
            lambda depth: b"[" * depth + b"]" * depth
        ),
        st.integers(min_value=1, max_value=5000).map(
            lambda depth: b'{"a":' * depth + b"1" + b"}" * depth
        ),
    )

    @settings(
        max_examples=BODIES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(raw)
    def collect(body: bytes) -> None:
        found.append(body)

    collect()
    return found


@pytest.mark.timeout(300)
async def test_generated_webhook_bodies(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """≥ 1,000 signed bodies: only 200 or 400, no error, events still work."""
    entry = await _pushing_site(hass, sandbox)
    client = await hass_client_no_auth()
    bodies = _bodies(entry.data["site_id"].split("/", 1)[1])
    assert len(bodies) >= BODIES
    caplog.set_level(logging.ERROR)
    statuses: dict[int, int] = {}
    for body in bodies:
        status = await _push(client, entry, body)
        statuses[status] = statuses.get(status, 0) + 1
    await hass.async_block_till_done(wait_background_tasks=True)
    assert set(statuses) <= {200, 400}, statuses
    assert statuses.get(400, 0) > 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    events = entry.runtime_data.event_coordinator
    assert events.last_update_success
    # A real event after all that is still received and acknowledged once.
    event_id = await _event(sandbox, _lpc_payload(entry, [4]))
    await events.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _acks(sandbox, event_id) == 1
