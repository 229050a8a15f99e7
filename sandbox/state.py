"""The sandbox's in-memory state: one object per server, plain dict stores.

``SandboxState`` holds a sub-state per platform (``powernaut``,
``energy_coordination``, ``flexmeasures``), the issued tokens and revoked
credentials, the injected faults, the request log and the violations. Stores
keep objects in their wire format, keyed by id, so tests can read and seed
them directly (``state.powernaut.sites[site_id]["status"]``). ``reset()``
brings everything back to the seeded state in place, so references to the
state object stay valid.

Seeded state: no sites, resources, users, locations, assets or sensors;
FlexMeasures has account 1 with one user (``SANDBOX_CREDENTIALS["flexmeasures"]``)
and its default asset types.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import secrets
import time
from typing import Any

from aiohttp import web

from .envelopes import ENERGY_COORDINATION, FLEXMEASURES, PLATFORMS, POWERNAUT
from .faults import FaultStore

type JSONDict = dict[str, Any]

SANDBOX_CREDENTIALS: dict[str, dict[str, str]] = {
    POWERNAUT: {"client_id": "gridflex-sandbox", "client_secret": "sandbox-secret"},
    ENERGY_COORDINATION: {
        "client_id": "gridflex-sandbox",
        "client_secret": "sandbox-secret",
    },
    FLEXMEASURES: {
        "email": "homeowner@gridflex.example",
        "password": "sandbox-password",
    },
}

#: Token lifetimes in seconds: Powernaut and Energy Coordination announce 3600;
#: FlexMeasures' default ``SECURITY_TOKEN_MAX_AGE`` is 6 hours.
TOKEN_LIFETIMES: dict[str, int] = {
    POWERNAUT: 3600,
    ENERGY_COORDINATION: 3600,
    FLEXMEASURES: 21600,
}

#: FlexMeasures' default asset types (``flexmeasures add initial-structure``),
#: plus ``heat-pump``, which a server set up for homes typically adds.
FLEXMEASURES_ASSET_TYPES: tuple[tuple[str, str], ...] = (
    ("solar", "solar panel(s)"),
    ("wind", "wind turbine"),
    ("one-way_evse", "uni-directional Electric Vehicle Supply Equipment"),
    ("two-way_evse", "bi-directional Electric Vehicle Supply Equipment"),
    ("battery", "stationary battery"),
    ("building", "building"),
    ("process", "process"),
    ("heat-storage", "thermal storage / buffer"),
    ("heat-pump", "heat pump"),
)
FLEXMEASURES_ACCOUNT_ID = 1
FLEXMEASURES_USER_ID = 1

STATE_KEY: web.AppKey[SandboxState] = web.AppKey("sandbox_state")

#: Report payloads a client sends once per event: a second report on the same
#: event carrying one of them is a duplicate (``duplicate_reports``). The
#: docs' ``…Acknowledged`` spelling counts as the spec's ``…Acknowledgement``.
ONCE_PER_EVENT_PAYLOADS: tuple[str, ...] = (
    "LocationLPCAcknowledgement",
    "ResourceLPCAcknowledgement",
    "LocationEnergyUsage",
    "LocationEnergyUsagePlan",
    "EnergyUsage",
)
_DOCS_SPELLING = {
    "LocationLPCAcknowledged": "LocationLPCAcknowledgement",
    "ResourceLPCAcknowledged": "ResourceLPCAcknowledgement",
}


@dataclass(slots=True)
class IssuedToken:
    """A bearer token the sandbox handed out."""

    platform: str
    token: str
    issued_at: float
    expires_at: float


@dataclass(slots=True)
class PowernautState:
    """Powernaut Connect: sites and what hangs off them.

    ``sites`` holds ``ConnectionPointDto`` objects by id, oldest first.
    ``site_credentials`` maps site id → credential name → ``{name, key,
    secret, is_rotating}``. ``markets`` maps site id → the list the markets
    endpoint returns. ``resources`` holds ``ResourceDto`` objects by id,
    oldest first, exactly as ``GET /v1/connect/resources/{id}`` returns them
    (with ``status``/``health_checks`` only once the control API set them).
    """

    sites: dict[str, JSONDict] = field(default_factory=dict)
    site_credentials: dict[str, dict[str, JSONDict]] = field(default_factory=dict)
    markets: dict[str, list[JSONDict]] = field(default_factory=dict)
    resources: dict[str, JSONDict] = field(default_factory=dict)
    bids: dict[str, JSONDict] = field(default_factory=dict)
    """Bids by id, in the wire form (``sandbox/powernaut_bids.py``)."""
    webhook_deliveries: list[JSONDict] = field(default_factory=list)
    """``bidAccepted`` webhook calls made, with their outcome."""
    baselines: dict[str, dict[str, str]] = field(default_factory=dict)
    """Baselines by ``site/<id>`` or ``resource/<id>``: quarter-hour start (as
    ``iso``) → value (``sandbox/powernaut_baselines.py``)."""
    baseline_posts: list[JSONDict] = field(default_factory=list)
    """Every baseline POST accepted: ``{target, start, values, skipped,
    received_at}``, oldest first."""


@dataclass(slots=True)
class EnergyCoordinationState:
    """Energy Coordination: users, locations, resources, events, reports, webhooks.

    ``users`` holds ``{userId}`` objects by user id; ``locations`` holds
    ``GetLocationResponse`` objects (with ``userId``) by location id;
    ``resources`` holds ``GetResourceResponse`` objects (``resourceId,
    resourceType, userId, locationId, meterPointId``) by resource id.

    ``events`` holds ``GetEventResponse`` objects (``{id, createdAt,
    payload}``) by event id, in creation order (``GET /events`` answers newest
    first). ``reports`` lists every report ``POST /reports`` accepted, oldest
    first: ``{id, eventId, createdAt, payloadTypes, body}`` with the body as
    received and ``payloadTypes`` in the spec's spelling (a docs spelling
    ``LocationLPCAcknowledged`` is listed as ``LocationLPCAcknowledgement``).

    ``webhooks`` holds ``GetWebhookResponse`` objects by webhook id;
    ``webhook_secrets`` the registered secrets (``None`` when registered
    without one), never part of an answer. ``webhook_logs`` lists one
    ``WebhookNotificationLog`` per delivery attempt, oldest first;
    ``notifications`` maps notification id → ``{notificationId, webhookId,
    eventId, notificationType, content}`` (``content``: the raw body of the
    latest attempt, ``None`` before the first attempt finished).

    The Spark programme (``energy_coordination_programme.py``): eligibility
    (``users_eligible`` / ``meters_eligible`` defaults and explicit
    ``user_eligibility`` / ``meter_eligibility``), ``enrollments`` and their
    ``enrollment_history``, and ``compensations`` per location.
    """

    users: dict[str, JSONDict] = field(default_factory=dict)
    locations: dict[str, JSONDict] = field(default_factory=dict)
    resources: dict[str, JSONDict] = field(default_factory=dict)
    events: dict[str, JSONDict] = field(default_factory=dict)
    reports: list[JSONDict] = field(default_factory=list)
    webhooks: dict[str, JSONDict] = field(default_factory=dict)
    webhook_secrets: dict[str, str | None] = field(default_factory=dict)
    webhook_logs: list[JSONDict] = field(default_factory=list)
    notifications: dict[str, JSONDict] = field(default_factory=dict)
    users_eligible: bool = True
    """Eligibility of users without an explicit setting (the Spark programme)."""
    meters_eligible: bool = True
    """Eligibility of meter points without an explicit setting."""
    user_eligibility: dict[str, bool] = field(default_factory=dict)
    """Explicit eligibility by user id (set through the control API)."""
    meter_eligibility: dict[str, bool] = field(default_factory=dict)
    """Explicit eligibility by meter point id (set through the control API)."""
    enrollments: dict[str, JSONDict] = field(default_factory=dict)
    """Current enrollments by user id: ``{enrollmentId, enrollmentDate}``."""
    enrollment_history: dict[str, list[JSONDict]] = field(default_factory=dict)
    """Per user id, every enrollment change: ``{action, enrollmentId, at}``."""
    compensations: dict[str, JSONDict] = field(default_factory=dict)
    """Per location id: ``{activeAmount, blockedAmount, currency, meterPointIds,
    month}`` (``meterPointIds`` ``None``: the location's; ``month``
    ``"YYYY-MM"`` in Europe/Oslo, the month the amounts belong to)."""

    def user_is_eligible(self, user_id: str) -> bool:
        """Return whether a user is eligible for the Spark programme."""
        return self.user_eligibility.get(user_id, self.users_eligible)

    def meter_is_eligible(self, meter_point_id: str) -> bool:
        """Return whether a meter point is eligible (explicit setting, else the default)."""
        return self.meter_eligibility.get(meter_point_id, self.meters_eligible)

    def forget_user(self, user_id: str) -> None:
        """Drop a deleted user's programme state (eligibility, enrollment)."""
        self.user_eligibility.pop(user_id, None)
        self.enrollments.pop(user_id, None)
        self.enrollment_history.pop(user_id, None)

    def forget_location(self, location_id: str) -> None:
        """Drop a deleted location's compensation."""
        self.compensations.pop(location_id, None)

    def reports_for(self, event_id: str) -> list[JSONDict]:
        """Return the accepted reports for one event, oldest first."""
        return [report for report in self.reports if report["eventId"] == event_id]

    def count_payloads(self, event_id: str, payload_type: str) -> int:
        """Count accepted report payloads of one type (spec spelling) for an event.

        ``count_payloads(event_id, "LocationLPCAcknowledgement")`` counts
        acknowledgements sent with either spelling;
        ``count_payloads(event_id, "LocationEnergyUsage")`` energy reports.
        """
        return sum(
            report["payloadTypes"].count(payload_type)
            for report in self.reports_for(event_id)
        )

    def duplicate_reports(self) -> dict[str, dict[str, int]]:
        """Return ``{event id: {payloadType: reports}}`` where a payload came more than once.

        Counts, per event, the accepted reports carrying an acknowledgement
        (``LocationLPCAcknowledgement``, ``ResourceLPCAcknowledgement``, docs
        spelling ``…Acknowledged`` included) or energy usage
        (``LocationEnergyUsage``, ``EnergyUsage``) or an energy usage plan
        (``LocationEnergyUsagePlan``); only counts above 1 are
        listed. Several ``EnergyUsage`` payloads in one report (one per
        resource) are one report: a second *report* is the duplicate. An
        empty dict means no duplicates.
        """
        counts: dict[str, dict[str, int]] = {}
        for report in self.reports:
            kinds = {_DOCS_SPELLING.get(kind, kind) for kind in report["payloadTypes"]}
            per_event = counts.setdefault(str(report["eventId"]), {})
            for kind in kinds.intersection(ONCE_PER_EVENT_PAYLOADS):
                per_event[kind] = per_event.get(kind, 0) + 1
        duplicates: dict[str, dict[str, int]] = {}
        for event_id, per_type in counts.items():
            repeated = {kind: n for kind, n in sorted(per_type.items()) if n > 1}
            if repeated:
                duplicates[event_id] = repeated
        return duplicates

    def logs_for(self, event_id: str) -> list[JSONDict]:
        """Return the webhook delivery attempts for one event, oldest first."""
        return [log for log in self.webhook_logs if log["partnerEventId"] == event_id]

    def snapshot(self) -> JSONDict:
        """Return the stores as JSON-ready data, secrets reduced to whether one is set."""
        data = asdict(self)
        data["webhook_secrets"] = {
            webhook_id: secret is not None
            for webhook_id, secret in self.webhook_secrets.items()
        }
        return data


def _seed_flexmeasures_accounts() -> dict[int, JSONDict]:
    return {
        FLEXMEASURES_ACCOUNT_ID: {
            "id": FLEXMEASURES_ACCOUNT_ID,
            "name": "GridFlex Sandbox Home",
            "roles": [],
            "consultancy_account_id": None,
        }
    }


def _seed_flexmeasures_users() -> dict[int, JSONDict]:
    return {
        FLEXMEASURES_USER_ID: {
            "id": FLEXMEASURES_USER_ID,
            "email": SANDBOX_CREDENTIALS[FLEXMEASURES]["email"],
            "username": "homeowner",
            "account_id": FLEXMEASURES_ACCOUNT_ID,
            "active": True,
            "timezone": "Europe/Amsterdam",
            "flexmeasures_roles": [],
            "last_login_at": None,
        }
    }


def _seed_flexmeasures_asset_types() -> dict[int, JSONDict]:
    return {
        index: {"id": index, "name": name, "description": description}
        for index, (name, description) in enumerate(FLEXMEASURES_ASSET_TYPES, start=1)
    }


@dataclass(slots=True)
class FlexMeasuresState:
    """FlexMeasures: accounts, users, asset types, assets, sensors and their data.

    ``assets`` holds assets by id in the form ``GET /assets/{id}`` returns
    (without the ``status`` field FlexMeasures adds to that answer);
    ``sensors`` holds sensors by id in the form ``POST /sensors`` returns;
    ``passwords`` maps user id → password.

    Sensor data (``POST /sensors/{id}/data``): ``beliefs`` maps sensor id →
    event start (ISO 8601 in UTC, ``"2026-11-22T10:00:00+00:00"``) → the
    current value in the sensor's unit (the most recent belief, what ``GET
    /sensors/{id}/data`` answers); ``belief_history`` maps sensor id → event
    start → belief time (UTC ISO 8601 with microseconds) → value, every belief
    a POST stored. ``data_posts`` counts POSTs answered 200 (``PROCESSED`` or
    ``ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED``), ``replays`` those
    answered ``ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED``.
    """

    accounts: dict[int, JSONDict] = field(default_factory=_seed_flexmeasures_accounts)
    users: dict[int, JSONDict] = field(default_factory=_seed_flexmeasures_users)
    passwords: dict[int, str] = field(
        default_factory=lambda: {
            FLEXMEASURES_USER_ID: SANDBOX_CREDENTIALS[FLEXMEASURES]["password"]
        }
    )
    asset_types: dict[int, JSONDict] = field(
        default_factory=_seed_flexmeasures_asset_types
    )
    assets: dict[int, JSONDict] = field(default_factory=dict)
    next_asset_id: int = 1
    sensors: dict[int, JSONDict] = field(default_factory=dict)
    next_sensor_id: int = 1
    beliefs: dict[int, dict[str, float]] = field(default_factory=dict)
    belief_history: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    jobs: dict[str, JSONDict] = field(default_factory=dict)
    """Scheduling jobs by uuid (``sandbox/flexmeasures_schedules.py``)."""
    schedules: dict[str, JSONDict] = field(default_factory=dict)
    """Computed schedules by uuid."""
    data_posts: int = 0
    replays: int = 0

    def forget_sensor_data(self, sensor_id: int) -> None:
        """Drop a sensor's data (when the sensor is deleted)."""
        self.beliefs.pop(sensor_id, None)
        self.belief_history.pop(sensor_id, None)


@dataclass(slots=True)
class AuthState:
    """Issued tokens and which platforms' credentials are revoked.

    ``issued`` counts the tokens handed out per platform since the last
    reset (expired ones included); ``lifetimes`` holds the lifetimes set
    through the control API, in place of ``TOKEN_LIFETIMES``.
    """

    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    issued: dict[str, int] = field(default_factory=dict)
    lifetimes: dict[str, int] = field(default_factory=dict)


class SandboxState:
    """Everything the sandbox remembers; ``reset()`` restores the seeded state."""

    powernaut: PowernautState
    energy_coordination: EnergyCoordinationState
    flexmeasures: FlexMeasuresState
    auth: AuthState
    faults: FaultStore
    requests: list[JSONDict]
    violations: list[JSONDict]

    def __init__(self) -> None:
        """Start in the seeded state."""
        self.reset()

    def reset(self) -> None:
        """Go back to the seeded state (stores, tokens, faults, logs)."""
        self.powernaut = PowernautState()
        self.energy_coordination = EnergyCoordinationState()
        self.flexmeasures = FlexMeasuresState()
        self.auth = AuthState()
        self.faults = FaultStore()
        self.requests = []
        self.violations = []

    # Tokens and credentials

    def credentials_valid(self, platform: str, **given: str) -> bool:
        """Return whether the given credentials are the platform's and not revoked."""
        if platform in self.auth.revoked:
            return False
        expected = SANDBOX_CREDENTIALS[platform]
        return all(
            secrets.compare_digest(given.get(name, ""), value)
            for name, value in expected.items()
        )

    def issue_token(self, platform: str) -> IssuedToken:
        """Hand out a new bearer token for the platform."""
        now = time.time()
        token = IssuedToken(
            platform=platform,
            token=secrets.token_urlsafe(32),
            issued_at=now,
            expires_at=now + self.token_lifetime(platform),
        )
        self.auth.tokens[token.token] = token
        self.auth.issued[platform] = self.auth.issued.get(platform, 0) + 1
        return token

    def token_lifetime(self, platform: str) -> int:
        """Return the seconds a new token of the platform lives."""
        return self.auth.lifetimes.get(platform, TOKEN_LIFETIMES[platform])

    def set_token_lifetime(self, platform: str, seconds: int | None) -> None:
        """Make new tokens of the platform live ``seconds`` (``None``: the default)."""
        if seconds is None:
            self.auth.lifetimes.pop(platform, None)
        else:
            self.auth.lifetimes[platform] = seconds

    def token_valid(self, platform: str, token: str) -> bool:
        """Return whether the token was issued for the platform and is still valid."""
        issued = self.auth.tokens.get(token)
        return (
            issued is not None
            and issued.platform == platform
            and issued.expires_at > time.time()
        )

    def expire_tokens(self, platform: str | None = None) -> int:
        """Invalidate every token issued so far (for one platform or all)."""
        expired = [
            key
            for key, issued in self.auth.tokens.items()
            if platform is None or issued.platform == platform
        ]
        for key in expired:
            del self.auth.tokens[key]
        return len(expired)

    def revoke_credentials(self, platform: str) -> None:
        """Refuse the platform's credentials from now on, and expire its tokens."""
        self.auth.revoked.add(platform)
        self.expire_tokens(platform)

    def restore_credentials(self, platform: str) -> None:
        """Accept the platform's credentials again."""
        self.auth.revoked.discard(platform)

    # Logs

    def record_request(
        self,
        *,
        method: str,
        path: str,
        query: str,
        status: int | None,
        platform: str | None,
        fault: str | None,
    ) -> None:
        """Append an entry to the request log."""
        self.requests.append(
            {
                "method": method,
                "path": path,
                "query": query,
                "status": status,
                "platform": platform,
                "fault": fault,
            }
        )

    def record_violation(
        self,
        *,
        method: str,
        path: str,
        platform: str | None,
        status: int,
        reason: str,
    ) -> None:
        """Append a request the sandbox rejected as invalid."""
        self.violations.append(
            {
                "method": method,
                "path": path,
                "platform": platform,
                "status": status,
                "reason": reason,
            }
        )

    def snapshot(self) -> JSONDict:
        """Return all state as JSON-ready data (``GET /_sandbox/state``)."""
        return {
            POWERNAUT: asdict(self.powernaut),
            ENERGY_COORDINATION: self.energy_coordination.snapshot(),
            FLEXMEASURES: {
                "accounts": list(self.flexmeasures.accounts.values()),
                "users": list(self.flexmeasures.users.values()),
                "asset_types": list(self.flexmeasures.asset_types.values()),
                "assets": list(self.flexmeasures.assets.values()),
                "sensors": list(self.flexmeasures.sensors.values()),
                "beliefs": {
                    str(sensor_id): dict(values)
                    for sensor_id, values in self.flexmeasures.beliefs.items()
                },
                "data_posts": self.flexmeasures.data_posts,
                "replays": self.flexmeasures.replays,
            },
            "auth": {
                "tokens": {
                    platform: sum(
                        1
                        for issued in self.auth.tokens.values()
                        if issued.platform == platform
                    )
                    for platform in PLATFORMS
                },
                "revoked": sorted(self.auth.revoked),
                "issued": {
                    platform: self.auth.issued.get(platform, 0)
                    for platform in PLATFORMS
                },
                "lifetimes": {
                    platform: self.token_lifetime(platform) for platform in PLATFORMS
                },
            },
            "faults": self.faults.as_list(),
            "requests": len(self.requests),
            "violations": len(self.violations),
        }


def get_state(request: web.Request) -> SandboxState:
    """Return the sandbox state of the app serving the request."""
    return request.app[STATE_KEY]
