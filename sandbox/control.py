"""The sandbox's own control API under ``/_sandbox`` (no auth; not part of any platform).

Routes:

- ``POST /_sandbox/reset``: back to the seeded state (stores, tokens,
  revocations, faults, request log, violations); cancels running webhook
  deliveries.
- ``GET /_sandbox/faults``: the registered faults.
- ``POST /_sandbox/faults`` ``{"method": "*", "path": "<glob>", "kind":
  "status"|"delay"|"delay_after"|"rate_limit"|"malformed", "status": 503, "seconds": 0.5,
  "retry_after": 1, "times": null}`` → 201 ``{"id"}``.
- ``DELETE /_sandbox/faults`` (all) and ``DELETE /_sandbox/faults/{id}`` (one).
- ``POST /_sandbox/tokens/expire`` ``{"platform": <key>|null}``: every token
  issued so far stops working; new tokens can be fetched.
- ``PUT /_sandbox/tokens/lifetime`` ``{"platform": <key>|null, "seconds":
  int >= 1 | null}``: tokens issued from now on live (and announce) that
  many seconds; ``null`` seconds goes back to the platform's default → 200
  ``{"lifetimes": {<key>: seconds}}``. ``GET /_sandbox/state`` counts the
  tokens issued per platform under ``auth.issued``.
- ``POST /_sandbox/credentials/revoke`` / ``restore`` ``{"platform":
  <key>|null}``: revoke refuses the platform's credentials at its token
  endpoint and expires its tokens; restore accepts them again.
- ``PATCH /_sandbox/powernaut/sites/{id}`` ``{"status"?, "upstream_status"?}``:
  change a site's statuses.
- ``PUT /_sandbox/powernaut/sites/{id}/markets``: a list of market objects,
  as the markets endpoint returns them.
- ``PATCH /_sandbox/powernaut/resources/{id}`` ``{"status"?:
  onboarding|operational|degraded|suspended|null, "health_checks"?:
  {availability?, activation_compliance?, baselines?, bids?, meter_data?} |
  null}``: add the product docs' status and health checks to a resource's
  ``ResourceDto`` (given checks are merged, missing ones start ``initial``);
  ``null`` removes the field again.
Energy Coordination routes answer under ``/_sandbox/energy-coordination/``
and, as before, ``/_sandbox/energy_coordination/`` (both spellings):

- ``POST /_sandbox/energy-coordination/events`` ``{payload, id?,
  createdAt?}`` (or a bare payload with ``payloadType``): store the event
  exactly as given after checking the payload (``id`` defaults to a new
  uuid, ``createdAt`` to now; an id in use is 400) and push it to the
  subscribed webhooks → 201 ``GetEventResponse``. Locations and resources
  named in it need not exist.
- ``POST /_sandbox/energy-coordination/webhooks/deliver`` ``{eventId,
  webhookId?, reuseNotificationId?: bool}``: push an existing event again
  (to every subscribed webhook, or one), under new notification ids unless
  ``reuseNotificationId`` → 200 ``{eventId, notifications: [{webhookId,
  notificationId}]}`` at once (deliveries run in the background); 404 for
  an unknown event or webhook.
- ``POST /_sandbox/energy-coordination/events/{eventId}/deliver``
  ``{"times"?: 1..100 (default 1), "webhookId"?}``: deliver a stored event
  ``times`` times **concurrently** to each enabled subscribed webhook (or
  the one named), each delivery with its own ``notificationId`` (retries
  as usual), and answer once all have finished: 200 ``{eventId,
  deliveries: [{webhookId, notificationId, delivered, attempts,
  responseStatusCode, requestTimeout}]}``; 404 for an unknown event or
  webhook. Disabled webhooks get nothing (an empty list).
- ``POST /_sandbox/energy-coordination/events/raw`` ``{"event": {...},
  "push"?: false, "notificationType"?}``: store ``event`` exactly as given,
  **without any validation** (hostile events: year-9999 timestamps,
  resolution ``"10675199.02:48:05"``, non-numeric limits, nested junk),
  under its ``id`` when that is a string (an id in use is 400) or a new
  uuid; ``GET /events`` lists it like the others. With ``push`` it is sent
  (signed) to the enabled subscribed webhooks, announced as
  ``notificationType`` (default: from ``payload.payloadType``, else
  ``Unknown``) → 201 ``{key, event, notifications}``.
- ``PATCH /_sandbox/energy-coordination/webhooks/{webhookId}``
  ``{"status"?: New|Healthy|Unhealthy|TimeOut, "enabled"?: bool}``: set a
  registered webhook's status or enabled flag behind the client's back
  (deliveries set ``status`` again) → 200 ``GetWebhookResponse``; 404.
- ``DELETE /_sandbox/energy-coordination/webhooks/{webhookId}``: delete a
  webhook behind the client's back (pending retries stop) → 200
  ``{"deleted": webhookId}``; 404.
- ``GET /_sandbox/energy-coordination/duplicates``: reports repeated per
  event and payload type, ``{eventId: {payloadType: reports}}`` (see
  ``EnergyCoordinationState.duplicate_reports``).
- The Spark programme's control routes (eligibility, compensation,
  enrollment) are in ``control_programme.py``.
- ``GET /_sandbox/state``: all state as JSON.
- ``GET /_sandbox/requests``: the request log (``method, path, query, status,
  platform, fault``).
- ``GET /_sandbox/violations``: requests rejected as invalid (``method, path,
  platform, status, reason``).

Errors are ``{"error": "<what is wrong>"}`` with 400 or 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
import uuid

from aiohttp import web

from .energy_coordination_events import (
    Errors,
    check_event_payload,
    describe,
    iso,
    new_event,
    parse_date_time,
    utc_now,
)
from .energy_coordination_webhooks import (
    NOTIFICATION_TYPES,
    WEBHOOK_STATUSES,
    WEBHOOKS_KEY,
    publish_event,
)
from .envelopes import PLATFORMS
from .faults import FaultSpecError, parse_fault
from .powernaut import SITE_STATUSES, UPSTREAM_STATUSES, validate_markets
from .powernaut_resources import RESOURCE_NOT_FOUND, apply_status_control
from .state import JSONDict, get_state
from .validation import BodyError, is_int, read_json, unknown_fields, utc_now_iso

routes = web.RouteTableDef()

PREFIX = "/_sandbox"
#: Energy Coordination control routes answer under both spellings.
EC_CONTROL_PREFIXES = (f"{PREFIX}/energy-coordination", f"{PREFIX}/energy_coordination")
MAX_DELIVERIES = 100

type _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ec_route(method: str, tail: str) -> Callable[[_Handler], _Handler]:
    """Register an Energy Coordination control route under both spellings."""

    def register(handler: _Handler) -> _Handler:
        for prefix in EC_CONTROL_PREFIXES:
            routes.route(method, prefix + tail)(handler)
        return handler

    return register


class ControlError(Exception):
    """A control request is invalid."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the status and the explanation."""
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        """Return the ``{"error"}`` response."""
        return web.json_response({"error": self.message}, status=self.status)


async def _json(request: web.Request, *, optional: bool = False) -> Any:
    if optional and not request.can_read_body:
        return {}
    try:
        return await read_json(request)
    except BodyError as err:
        raise ControlError(400, str(err)) from err


def _platform(body: Any) -> str | None:
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    if extra := unknown_fields(body, ("platform",)):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    platform = body.get("platform")
    if platform is not None and platform not in PLATFORMS:
        raise ControlError(
            400, f"platform must be one of {', '.join(PLATFORMS)}, or null for all"
        )
    return platform


@routes.post(f"{PREFIX}/reset")
async def reset(request: web.Request) -> web.Response:
    """Go back to the seeded state (and stop running webhook deliveries)."""
    request.app[WEBHOOKS_KEY].cancel_all()
    get_state(request).reset()
    return web.json_response({"reset": True})


@routes.get(f"{PREFIX}/faults")
async def list_faults(request: web.Request) -> web.Response:
    """List the registered faults."""
    return web.json_response(get_state(request).faults.as_list())


@routes.post(f"{PREFIX}/faults")
async def add_fault(request: web.Request) -> web.Response:
    """Register a fault (201 ``{"id"}``)."""
    try:
        fault = parse_fault(await _json(request))
    except FaultSpecError as err:
        raise ControlError(400, str(err)) from err
    get_state(request).faults.add(fault)
    return web.json_response({"id": fault.id}, status=201)


@routes.delete(f"{PREFIX}/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Remove every fault."""
    return web.json_response({"cleared": get_state(request).faults.clear()})


@routes.delete(f"{PREFIX}/faults/{{fault_id}}")
async def delete_fault(request: web.Request) -> web.Response:
    """Remove one fault."""
    if not get_state(request).faults.remove(request.match_info["fault_id"]):
        raise ControlError(404, "No such fault")
    return web.json_response({"cleared": 1})


@routes.post(f"{PREFIX}/tokens/expire")
async def expire_tokens(request: web.Request) -> web.Response:
    """Invalidate every token issued so far."""
    platform = _platform(await _json(request, optional=True))
    return web.json_response({"expired": get_state(request).expire_tokens(platform)})


@routes.put(f"{PREFIX}/tokens/lifetime")
async def token_lifetime(request: web.Request) -> web.Response:
    """Set the lifetime of the tokens issued from now on."""
    body = await _json(request)
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    seconds = body.get("seconds")
    if seconds is not None and (not is_int(seconds) or seconds < 1):
        raise ControlError(400, "seconds must be an integer >= 1, or null")
    platform = _platform({k: v for k, v in body.items() if k != "seconds"})
    state = get_state(request)
    for key in PLATFORMS if platform is None else (platform,):
        state.set_token_lifetime(key, seconds)
    return web.json_response(
        {"lifetimes": {key: state.token_lifetime(key) for key in PLATFORMS}}
    )


@routes.post(f"{PREFIX}/credentials/revoke")
async def revoke_credentials(request: web.Request) -> web.Response:
    """Refuse a platform's credentials and expire its tokens."""
    platform = _platform(await _json(request, optional=True))
    state = get_state(request)
    platforms = PLATFORMS if platform is None else (platform,)
    for key in platforms:
        state.revoke_credentials(key)
    return web.json_response({"revoked": sorted(state.auth.revoked)})


@routes.post(f"{PREFIX}/credentials/restore")
async def restore_credentials(request: web.Request) -> web.Response:
    """Accept a platform's credentials again."""
    platform = _platform(await _json(request, optional=True))
    state = get_state(request)
    platforms = PLATFORMS if platform is None else (platform,)
    for key in platforms:
        state.restore_credentials(key)
    return web.json_response({"revoked": sorted(state.auth.revoked)})


def _powernaut_site(request: web.Request) -> JSONDict:
    site = get_state(request).powernaut.sites.get(request.match_info["id"])
    if site is None:
        raise ControlError(404, "Site does not exist")
    return site


@routes.patch(f"{PREFIX}/powernaut/sites/{{id}}")
async def set_site_status(request: web.Request) -> web.Response:
    """Change a Powernaut site's status and/or upstream status."""
    body = await _json(request)
    site = _powernaut_site(request)
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    if extra := unknown_fields(body, ("status", "upstream_status")):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    for name, allowed in (
        ("status", SITE_STATUSES),
        ("upstream_status", UPSTREAM_STATUSES),
    ):
        if name in body and body[name] not in allowed:
            raise ControlError(400, f"{name} must be one of {', '.join(allowed)}")
    changed = {key: value for key, value in body.items() if site[key] != value}
    if changed:
        site.update(changed)
        site["modified_at"] = utc_now_iso()
    return web.json_response(site)


@routes.put(f"{PREFIX}/powernaut/sites/{{id}}/markets")
async def set_markets(request: web.Request) -> web.Response:
    """Replace the markets a Powernaut site reports."""
    body = await _json(request)
    site = _powernaut_site(request)
    try:
        markets = validate_markets(body)
    except (TypeError, ValueError) as err:
        raise ControlError(400, str(err)) from err
    get_state(request).powernaut.markets[site["id"]] = markets
    return web.json_response(markets)


@routes.patch(f"{PREFIX}/powernaut/resources/{{id}}")
async def set_resource_status(request: web.Request) -> web.Response:
    """Set or remove a Powernaut resource's status and health checks."""
    body = await _json(request)
    resource = get_state(request).powernaut.resources.get(request.match_info["id"])
    if resource is None:
        raise ControlError(404, RESOURCE_NOT_FOUND)
    try:
        apply_status_control(resource, body)
    except (TypeError, ValueError) as err:
        raise ControlError(400, str(err)) from err
    return web.json_response(resource)


def _control_event(body: Any, events: dict[str, JSONDict]) -> JSONDict:
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    wrapped = "payload" in body or "payloadType" not in body
    if wrapped and (extra := unknown_fields(body, ("payload", "id", "createdAt"))):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    payload = body.get("payload") if wrapped else body
    event_id = body.get("id") if wrapped else None
    created_at = body.get("createdAt") if wrapped else None
    if event_id is not None and (not isinstance(event_id, str) or not event_id.strip()):
        raise ControlError(400, "id must be a non-empty string")
    if event_id in events:
        raise ControlError(400, f"An event with id {event_id!r} exists already")
    if created_at is not None and parse_date_time(created_at) is None:
        raise ControlError(
            400, "createdAt must be an ISO 8601 date-time with seconds and an offset"
        )
    errors: Errors = {}
    check_event_payload(payload, errors)
    if errors or not isinstance(payload, dict):
        raise ControlError(400, describe(errors))
    return new_event(payload, event_id=event_id, created_at=created_at)


@_ec_route("POST", "/events")
async def create_energy_coordination_event(request: web.Request) -> web.Response:
    """Create an Energy Coordination event as given and push it to webhooks (201)."""
    body = await _json(request)
    event = _control_event(body, get_state(request).energy_coordination.events)
    publish_event(request.app, event)
    return web.json_response(event, status=201)


@_ec_route("POST", "/webhooks/deliver")
async def deliver_energy_coordination_event(request: web.Request) -> web.Response:
    """Push an existing event to the subscribed webhooks again."""
    body = await _json(request)
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    if extra := unknown_fields(body, ("eventId", "webhookId", "reuseNotificationId")):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    event_id, webhook_id = body.get("eventId"), body.get("webhookId")
    reuse = body.get("reuseNotificationId", False)
    if not isinstance(event_id, str):
        raise ControlError(400, "eventId is required and must be a string")
    if webhook_id is not None and not isinstance(webhook_id, str):
        raise ControlError(400, "webhookId must be a string or null")
    if not isinstance(reuse, bool):
        raise ControlError(400, "reuseNotificationId must be a boolean")
    state = get_state(request)
    event = state.energy_coordination.events.get(event_id)
    if event is None:
        raise ControlError(404, f"No event {event_id!r}")
    if webhook_id is not None and webhook_id not in state.energy_coordination.webhooks:
        raise ControlError(404, f"No webhook {webhook_id!r}")
    notifications = request.app[WEBHOOKS_KEY].notify(
        state, event, webhook_id=webhook_id, reuse_notification_id=reuse
    )
    return web.json_response({"eventId": event_id, "notifications": notifications})


def _object(body: Any, allowed: tuple[str, ...]) -> JSONDict:
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    if extra := unknown_fields(body, allowed):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    return body


@_ec_route("POST", "/events/{eventId}/deliver")
async def deliver_event_concurrently(request: web.Request) -> web.Response:
    """Deliver a stored event N times at once to each subscriber; answer when done."""
    body = _object(await _json(request, optional=True), ("times", "webhookId"))
    times, webhook_id = body.get("times", 1), body.get("webhookId")
    if not is_int(times) or not 1 <= times <= MAX_DELIVERIES:
        raise ControlError(400, f"times must be an integer from 1 to {MAX_DELIVERIES}")
    if webhook_id is not None and not isinstance(webhook_id, str):
        raise ControlError(400, "webhookId must be a string or null")
    state = get_state(request)
    event_id = request.match_info["eventId"]
    event = state.energy_coordination.events.get(event_id)
    if event is None:
        raise ControlError(404, f"No event {event_id!r}")
    if webhook_id is not None and webhook_id not in state.energy_coordination.webhooks:
        raise ControlError(404, f"No webhook {webhook_id!r}")
    deliveries = await request.app[WEBHOOKS_KEY].deliver(
        state, event, times=times, webhook_id=webhook_id
    )
    return web.json_response({"eventId": event_id, "deliveries": deliveries})


@_ec_route("POST", "/events/raw")
async def insert_raw_event(request: web.Request) -> web.Response:
    """Store an event exactly as given, unchecked; optionally push it (201)."""
    body = _object(await _json(request), ("event", "push", "notificationType"))
    event, push = body.get("event"), body.get("push", False)
    notification_type = body.get("notificationType")
    if not isinstance(event, dict):
        raise ControlError(400, "event must be a JSON object (its contents are free)")
    if not isinstance(push, bool):
        raise ControlError(400, "push must be a boolean")
    if notification_type is not None and notification_type not in NOTIFICATION_TYPES:
        raise ControlError(
            400, f"notificationType must be one of {', '.join(NOTIFICATION_TYPES)}"
        )
    state = get_state(request)
    events = state.energy_coordination.events
    key = event["id"] if isinstance(event.get("id"), str) else str(uuid.uuid4())
    if key in events:
        raise ControlError(400, f"An event with id {key!r} exists already")
    events[key] = event
    notifications = (
        request.app[WEBHOOKS_KEY].notify(
            state, event, notification_type=notification_type
        )
        if push
        else []
    )
    return web.json_response(
        {"key": key, "event": event, "notifications": notifications}, status=201
    )


def _ec_webhook(request: web.Request) -> JSONDict:
    webhook_id = request.match_info["webhookId"]
    webhook = get_state(request).energy_coordination.webhooks.get(webhook_id)
    if webhook is None:
        raise ControlError(404, f"No webhook {webhook_id!r}")
    return webhook


@_ec_route("PATCH", "/webhooks/{webhookId}")
async def set_webhook_state(request: web.Request) -> web.Response:
    """Set a webhook's status and/or enabled flag behind the client's back."""
    body = _object(await _json(request), ("status", "enabled"))
    webhook = _ec_webhook(request)
    if "status" in body and body["status"] not in WEBHOOK_STATUSES:
        raise ControlError(400, f"status must be one of {', '.join(WEBHOOK_STATUSES)}")
    if "enabled" in body and not isinstance(body["enabled"], bool):
        raise ControlError(400, "enabled must be a boolean")
    webhook.update(body)
    if body:
        webhook["modifiedDate"] = iso(utc_now())
    return web.json_response(webhook)


@_ec_route("DELETE", "/webhooks/{webhookId}")
async def delete_webhook_behind_back(request: web.Request) -> web.Response:
    """Delete a webhook behind the client's back (pending retries stop)."""
    webhook = _ec_webhook(request)
    store = get_state(request).energy_coordination
    del store.webhooks[webhook["webhookId"]]
    store.webhook_secrets.pop(webhook["webhookId"], None)
    return web.json_response({"deleted": webhook["webhookId"]})


@_ec_route("GET", "/duplicates")
async def list_duplicate_reports(request: web.Request) -> web.Response:
    """Return the reports repeated per event and payload type."""
    return web.json_response(get_state(request).energy_coordination.duplicate_reports())


@routes.get(f"{PREFIX}/state")
async def dump_state(request: web.Request) -> web.Response:
    """Return all state."""
    return web.json_response(get_state(request).snapshot())


@routes.get(f"{PREFIX}/requests")
async def list_requests(request: web.Request) -> web.Response:
    """Return the request log."""
    return web.json_response(get_state(request).requests)


@routes.get(f"{PREFIX}/violations")
async def list_violations(request: web.Request) -> web.Response:
    """Return the requests rejected as invalid."""
    return web.json_response(get_state(request).violations)
