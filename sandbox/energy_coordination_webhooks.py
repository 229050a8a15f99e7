"""Energy Coordination webhooks (under ``/energy-coordination/v1``) and their deliveries.

Routes (``Authorization: Bearer``):

- ``GET /webhooks``: ``{webhooks: [GetWebhookResponse]}``, oldest first.
- ``POST /webhooks`` ``{webhookUrl, name?, webhookSecret?,
  notificationTypes?}`` → 201 ``GetWebhookResponse`` ``{webhookId,
  webhookUrl, name, notificationTypes, enabled: true, status: "New",
  modifiedDate, createdDate, lastAnalyzedTimestamp}``. The secret is never
  answered.
- ``GET /webhooks/{webhookId}`` (404 without body); ``PUT`` (``webhookUrl``
  required; ``name`` and ``notificationTypes`` are replaced, a missing or
  ``null`` ``webhookSecret`` and a missing ``enabled`` keep the current
  value) and ``PATCH`` (every field optional, ``null`` leaves it unchanged)
  → 200 ``GetWebhookResponse``; ``DELETE`` → 204 (404 with a JSON string, as
  the spec has it).
- ``PUT /webhooks/{webhookId}/enabled?enabled=true|false`` → 204 (404
  without body; a missing or non-boolean ``enabled`` is 400 problem+json).
- ``GET /webhooks/logs?webhookId&page&pageSize``:
  ``{webhookNotificationLogs: [WebhookNotificationLog], pagination}``, newest
  first, one entry per delivery attempt.
- ``GET /webhooks/logs/{notificationId}``: ``{webhookNotificationLog,
  notificationContent}`` (the latest attempt and its raw body); 404 without
  body.

Bodies: ``webhookUrl`` an absolute ``http``/``https`` URL (the sandbox also
allows plain http, for receivers on 127.0.0.1), ``name`` a string or null,
``webhookSecret`` a non-empty string or null, ``notificationTypes`` distinct
values of ``Unknown, PriceCurveCreated, UserEligibilityUpdated,
LocationLPCRequested, ResourceLPCRequested, LPCReservationCreated``, and
``enabled`` a boolean; unknown fields and wrong types are 400
``application/problem+json``.

Deliveries: when an event is created (``publish_event``) every enabled
webhook whose ``notificationTypes`` include the event's type (every type when
the list is empty) gets ``POST <webhookUrl>`` with the ``EventNotification``
``{notificationId, eventId, eventCreatedAtUtc, notificationSentUtc,
notificationType, payload}`` as compact JSON and ``X-Payload-Signature:
base64(HMAC-SHA256(webhookSecret as UTF-8, raw body))`` (no header when the
webhook has no secret). A non-2xx answer, a timeout or a connection error is
retried up to ``retries`` (3) times after ``retry_base_delay * 2**n``
seconds (1, 2, 4 s by default), with the same notification id and a new
``notificationSentUtc``; then the notification is dropped. Each attempt is
logged (``responseStatusCode``, ``requestDurationMs``, ``requestTimeout``,
``sparkSignature``…) and sets the webhook's ``status`` (``Healthy``,
``Unhealthy`` or ``TimeOut``). Deliveries are background tasks of the
``WebhookDispatcher``; stopping the server cancels them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
import uuid

import aiohttp
from aiohttp import web

from .energy_coordination import (
    BASE,
    PagingError,
    authenticate,
    ec_store,
    not_found,
    paginate,
    parse_paging,
    problem,
    read_body,
)
from .energy_coordination_events import (
    NOTIFICATION_TYPE_OF,
    Errors,
    add_error,
    check_object,
    iso,
    parse_date_time,
    utc_now,
)
from .envelopes import energy_coordination_error
from .state import STATE_KEY, JSONDict, SandboxState
from .validation import RequestRejectedError, json_type

if TYPE_CHECKING:
    from .state import EnergyCoordinationState

routes = web.RouteTableDef()

NOTIFICATION_TYPES: tuple[str, ...] = (
    "Unknown",
    "PriceCurveCreated",
    "UserEligibilityUpdated",
    "LocationLPCRequested",
    "ResourceLPCRequested",
    "LPCReservationCreated",
)
WEBHOOK_STATUSES: tuple[str, ...] = ("New", "Healthy", "Unhealthy", "TimeOut")
#: The tenant id the sandbox's partner has in webhook logs.
SANDBOX_TENANT_ID = "6d1f7a52-9c1e-4c56-8f0e-5a4e2b6c0001"
SIGNATURE_HEADER = "X-Payload-Signature"
DEFAULT_RETRY_BASE_DELAY = 1.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 3
_POST_FIELDS = ("webhookUrl", "name", "webhookSecret", "notificationTypes")
_PUT_FIELDS = (*_POST_FIELDS, "enabled")


def sign_payload(secret: str, body: bytes) -> str:
    """Return Spark's signature: base64(HMAC-SHA256(secret as UTF-8, body))."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


# Deliveries


class WebhookDispatcher:
    """Pushes event notifications to webhooks as background tasks.

    ``retry_base_delay`` (seconds) is the first backoff, doubled per retry;
    ``timeout`` (seconds) bounds each attempt; ``retries`` is how many times a
    failed attempt is repeated. ``wait_idle()`` waits until every delivery
    has finished (tests use it); ``close()`` cancels what is pending.
    """

    def __init__(
        self,
        *,
        retry_base_delay: float = DEFAULT_RETRY_BASE_DELAY,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        """Keep the delivery settings; nothing runs until an event is published."""
        if retry_base_delay < 0 or timeout <= 0 or retries < 0:
            raise ValueError(
                "retry_base_delay must be >= 0, timeout > 0 and retries >= 0"
            )
        self.retry_base_delay = retry_base_delay
        self.timeout = timeout
        self.retries = retries
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None

    @property
    def pending(self) -> int:
        """Return how many deliveries are running (including their backoffs)."""
        return len(self._tasks)

    def notify(
        self,
        state: SandboxState,
        event: JSONDict,
        *,
        webhook_id: str | None = None,
        reuse_notification_id: bool = False,
        notification_type: str | None = None,
    ) -> list[JSONDict]:
        """Start delivering ``event`` to its subscribers; return ``[{webhookId, notificationId}]``.

        ``webhook_id`` narrows the delivery to one webhook;
        ``reuse_notification_id`` sends under the notification id that
        webhook got for the event before (a new one when there is none);
        ``notification_type`` overrides the type derived from the payload
        (raw events: ``Unknown`` when the payload names no known type).
        """
        kind = notification_type or notification_type_of(event)
        started: list[JSONDict] = []
        for webhook in self.subscribers(state, kind, webhook_id=webhook_id):
            notification_id = (
                _previous_notification(
                    state.energy_coordination, event_key(event), webhook["webhookId"]
                )
                if reuse_notification_id
                else None
            ) or str(uuid.uuid4())
            self._start(state, webhook["webhookId"], event, notification_id, kind)
            started.append(
                {"webhookId": webhook["webhookId"], "notificationId": notification_id}
            )
        return started

    async def deliver(
        self,
        state: SandboxState,
        event: JSONDict,
        *,
        times: int = 1,
        webhook_id: str | None = None,
        notification_type: str | None = None,
    ) -> list[JSONDict]:
        """Deliver ``event`` ``times`` times to each subscriber, all at once; wait for them.

        Every delivery has its own notification id (retries included, as
        for any notification). Returns one result per delivery:
        ``{webhookId, notificationId, delivered, attempts,
        responseStatusCode, requestTimeout}`` (the last attempt's answer).
        """
        kind = notification_type or notification_type_of(event)
        tasks = [
            self._start(state, webhook["webhookId"], event, str(uuid.uuid4()), kind)
            for webhook in self.subscribers(state, kind, webhook_id=webhook_id)
            for _ in range(times)
        ]
        return list(await asyncio.gather(*tasks))

    @staticmethod
    def subscribers(
        state: SandboxState, notification_type: str, *, webhook_id: str | None = None
    ) -> list[JSONDict]:
        """Return the enabled webhooks subscribed to a notification type (or the one named)."""
        found: list[JSONDict] = []
        for webhook in state.energy_coordination.webhooks.values():
            if webhook_id is not None and webhook["webhookId"] != webhook_id:
                continue
            types = webhook["notificationTypes"]
            if not webhook["enabled"] or (types and notification_type not in types):
                continue
            found.append(webhook)
        return found

    def _start(
        self,
        state: SandboxState,
        webhook_id: str,
        event: JSONDict,
        notification_id: str,
        notification_type: str,
    ) -> asyncio.Task[JSONDict]:
        store = state.energy_coordination
        store.notifications[notification_id] = {
            "notificationId": notification_id,
            "webhookId": webhook_id,
            "eventId": event_key(event),
            "notificationType": notification_type,
            "content": store.notifications.get(notification_id, {}).get("content"),
        }
        task = asyncio.get_running_loop().create_task(
            self._deliver(state, webhook_id, event, notification_id, notification_type),
            name=f"sandbox-webhook-{notification_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_idle(self) -> None:
        """Wait until every delivery (retries included) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def cancel_all(self) -> int:
        """Cancel every running delivery; return how many there were."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return len(tasks)

    async def close(self) -> None:
        """Cancel the deliveries, wait for them to end and close the HTTP session."""
        self.cancel_all()
        await self.wait_idle()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    async def _deliver(
        self,
        state: SandboxState,
        webhook_id: str,
        event: JSONDict,
        notification_id: str,
        notification_type: str,
    ) -> JSONDict:
        result: JSONDict = {
            "webhookId": webhook_id,
            "notificationId": notification_id,
            "delivered": False,
            "attempts": 0,
            "responseStatusCode": None,
            "requestTimeout": False,
        }
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_base_delay * 2 ** (attempt - 1))
            store = state.energy_coordination
            webhook = store.webhooks.get(webhook_id)
            if webhook is None or not webhook["enabled"]:
                break
            result["attempts"] = attempt + 1
            log = await self._attempt(
                store, webhook, event, notification_id, notification_type
            )
            result["responseStatusCode"] = log["responseStatusCode"]
            result["requestTimeout"] = log["requestTimeout"]
            status = log["responseStatusCode"]
            if status is not None and 200 <= status < 300:
                result["delivered"] = True
                break
        return result

    async def _attempt(
        self,
        store: EnergyCoordinationState,
        webhook: JSONDict,
        event: JSONDict,
        notification_id: str,
        notification_type: str,
    ) -> JSONDict:
        created_at = event.get("createdAt")
        created = parse_date_time(created_at)
        sent = iso(utc_now())
        body = json.dumps(
            {
                "notificationId": notification_id,
                "eventId": event.get("id"),
                "eventCreatedAtUtc": iso(created) if created else created_at,
                "notificationSentUtc": sent,
                "notificationType": notification_type,
                "payload": event.get("payload"),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        secret = store.webhook_secrets.get(webhook["webhookId"])
        signature = sign_payload(secret, body) if secret is not None else None
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        status: int | None = None
        timed_out = False
        started = time.monotonic()
        try:
            async with self._client().post(
                webhook["webhookUrl"],
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            timed_out = True
        except aiohttp.ClientError, OSError:
            pass
        duration_ms = round((time.monotonic() - started) * 1000)
        log: JSONDict = {
            "webhookId": webhook["webhookId"],
            "tenantId": SANDBOX_TENANT_ID,
            "partnerEventId": event_key(event),
            "notificationId": notification_id,
            "notificationType": notification_type,
            "notificationSent": sent,
            "sparkSignature": signature,
            "webhookUrl": webhook["webhookUrl"],
            "requestTimeout": timed_out,
            "responseStatusCode": status,
            "requestDurationMs": duration_ms,
        }
        store.webhook_logs.append(log)
        if (notification := store.notifications.get(notification_id)) is not None:
            notification["content"] = body.decode("utf-8")
        delivered = status is not None and 200 <= status < 300
        webhook["status"] = (
            "Healthy" if delivered else "TimeOut" if timed_out else "Unhealthy"
        )
        webhook["lastAnalyzedTimestamp"] = iso(utc_now())
        return log


def _previous_notification(
    store: EnergyCoordinationState, event_id: str, webhook_id: str
) -> str | None:
    for notification in reversed(store.notifications.values()):
        if (notification["eventId"], notification["webhookId"]) == (
            event_id,
            webhook_id,
        ):
            return str(notification["notificationId"])
    return None


WEBHOOKS_KEY: web.AppKey[WebhookDispatcher] = web.AppKey("sandbox_webhooks")


def event_key(event: JSONDict) -> str:
    """The id an event is stored and logged under (raw events may have a junk ``id``)."""
    event_id = event.get("id")
    return event_id if isinstance(event_id, str) else json.dumps(event_id)


def notification_type_of(event: JSONDict) -> str:
    """The ``NotificationType`` an event is announced with (``Unknown`` for junk)."""
    payload = event.get("payload")
    payload_type = payload.get("payloadType") if isinstance(payload, dict) else None
    return NOTIFICATION_TYPE_OF.get(str(payload_type), "Unknown")


def publish_event(app: web.Application, event: JSONDict) -> list[JSONDict]:
    """Store a new event and push it to the subscribed webhooks."""
    state = app[STATE_KEY]
    state.energy_coordination.events[event["id"]] = event
    return app[WEBHOOKS_KEY].notify(state, event)


# Validation


def _check_url(value: Any, errors: Errors) -> None:
    if not isinstance(value, str):
        add_error(
            errors, "$.webhookUrl", f"must be a string, not a JSON {json_type(value)}"
        )
        return
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in value)
    ):
        add_error(errors, "$.webhookUrl", "must be an absolute http(s) URL")


def _check_notification_types(value: Any, errors: Errors) -> None:
    path = "$.notificationTypes"
    if not isinstance(value, list):
        add_error(errors, path, f"must be an array, not a JSON {json_type(value)}")
        return
    for index, item in enumerate(value):
        if item not in NOTIFICATION_TYPES:
            add_error(
                errors,
                f"{path}[{index}]",
                f"must be one of {', '.join(NOTIFICATION_TYPES)}",
            )
    if len(set(map(str, value))) != len(value):
        add_error(errors, path, "lists the same notification type twice")


def _validate_webhook(body: Any, *, mode: str) -> JSONDict:
    """Check a Post/Put/PatchWebhookRequest; return the given fields (``null``s dropped for PATCH)."""
    errors: Errors = {}
    fields = _POST_FIELDS if mode == "post" else _PUT_FIELDS
    required = () if mode == "patch" else ("webhookUrl",)
    optional = tuple(name for name in fields if name not in required)
    data = check_object(body, "$", errors, required=required, optional=optional)
    if data is None:
        raise problem(errors)
    given = {
        key: value
        for key, value in data.items()
        if key in fields and not (mode == "patch" and value is None)
    }
    if "webhookUrl" in given:
        _check_url(given["webhookUrl"], errors)
    for name in ("name", "webhookSecret"):
        value = given.get(name)
        if value is not None and not isinstance(value, str):
            add_error(
                errors,
                f"$.{name}",
                f"must be a string or null, not a JSON {json_type(value)}",
            )
    if given.get("webhookSecret") == "":
        add_error(
            errors, "$.webhookSecret", "must not be empty (leave it out for no secret)"
        )
    if "notificationTypes" in given:
        _check_notification_types(given["notificationTypes"], errors)
    if "enabled" in given and not isinstance(given["enabled"], bool):
        add_error(
            errors,
            "$.enabled",
            f"must be a boolean, not a JSON {json_type(given['enabled'])}",
        )
    if errors:
        raise problem(errors)
    return given


def _webhook_or_404(request: web.Request) -> JSONDict:
    webhook_id = request.match_info["webhookId"]
    webhook = ec_store(request).webhooks.get(webhook_id)
    if webhook is None:
        raise not_found(f"Webhook {webhook_id!r} does not exist")
    return webhook


def _apply(webhook: JSONDict, secrets: dict[str, str | None], given: JSONDict) -> None:
    if "webhookUrl" in given and given["webhookUrl"] != webhook["webhookUrl"]:
        webhook["webhookUrl"] = given["webhookUrl"]
        webhook["status"] = "New"
    for name in ("name", "notificationTypes", "enabled"):
        if name in given:
            webhook[name] = given[name]
    if given.get("webhookSecret") is not None:
        secrets[webhook["webhookId"]] = given["webhookSecret"]
    webhook["modifiedDate"] = iso(utc_now())


# Routes: the logs first, so that ``/webhooks/logs`` is not taken for a webhook id.


@routes.get(f"{BASE}/webhooks/logs")
async def list_webhook_logs(request: web.Request) -> web.Response:
    """List delivery attempts, newest first, optionally of one webhook."""
    authenticate(request)
    try:
        page, size = parse_paging(request)
    except PagingError as err:
        raise problem({err.field: [err.message]}) from err
    webhook_id = request.query.get("webhookId")
    logs = [
        log
        for log in reversed(ec_store(request).webhook_logs)
        if webhook_id is None or log["webhookId"] == webhook_id
    ]
    block, items = paginate(logs, page, size)
    return web.json_response({"webhookNotificationLogs": items, "pagination": block})


@routes.get(f"{BASE}/webhooks/logs/{{notificationId}}")
async def get_webhook_log(request: web.Request) -> web.Response:
    """Return the latest attempt of one notification and its raw body."""
    authenticate(request)
    notification_id = request.match_info["notificationId"]
    store = ec_store(request)
    logs = [
        log for log in store.webhook_logs if log["notificationId"] == notification_id
    ]
    if not logs:
        raise not_found(f"No delivery logged for notification {notification_id!r}")
    return web.json_response(
        {
            "webhookNotificationLog": logs[-1],
            "notificationContent": store.notifications[notification_id]["content"],
        }
    )


@routes.get(f"{BASE}/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    """List the registered webhooks."""
    authenticate(request)
    return web.json_response({"webhooks": list(ec_store(request).webhooks.values())})


@routes.post(f"{BASE}/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    """Register a webhook (201)."""
    authenticate(request)
    given = _validate_webhook(await read_body(request), mode="post")
    store = ec_store(request)
    now = iso(utc_now())
    webhook: JSONDict = {
        "webhookId": str(uuid.uuid4()),
        "webhookUrl": given["webhookUrl"],
        "name": given.get("name"),
        "notificationTypes": given.get("notificationTypes") or [],
        "enabled": True,
        "status": "New",
        "modifiedDate": now,
        "createdDate": now,
        "lastAnalyzedTimestamp": now,
    }
    store.webhooks[webhook["webhookId"]] = webhook
    store.webhook_secrets[webhook["webhookId"]] = given.get("webhookSecret")
    return web.json_response(webhook, status=201)


@routes.get(f"{BASE}/webhooks/{{webhookId}}")
async def get_webhook(request: web.Request) -> web.Response:
    """Return one webhook."""
    authenticate(request)
    return web.json_response(_webhook_or_404(request))


@routes.put(f"{BASE}/webhooks/{{webhookId}}")
async def replace_webhook(request: web.Request) -> web.Response:
    """Replace a webhook's settings (the secret is kept unless a new one is given)."""
    authenticate(request)
    given = _validate_webhook(await read_body(request), mode="put")
    webhook = _webhook_or_404(request)
    given.setdefault("name", None)
    given.setdefault("notificationTypes", [])
    _apply(webhook, ec_store(request).webhook_secrets, given)
    return web.json_response(webhook)


@routes.patch(f"{BASE}/webhooks/{{webhookId}}")
async def patch_webhook(request: web.Request) -> web.Response:
    """Change the given fields of a webhook (``null`` leaves a field unchanged)."""
    authenticate(request)
    given = _validate_webhook(await read_body(request), mode="patch")
    webhook = _webhook_or_404(request)
    _apply(webhook, ec_store(request).webhook_secrets, given)
    return web.json_response(webhook)


@routes.delete(f"{BASE}/webhooks/{{webhookId}}")
async def delete_webhook(request: web.Request) -> web.Response:
    """Delete a webhook (204); pending deliveries to it stop."""
    authenticate(request)
    webhook_id = request.match_info["webhookId"]
    store = ec_store(request)
    if webhook_id not in store.webhooks:
        message = f"Webhook with id '{webhook_id}' was not found"
        raise RequestRejectedError(energy_coordination_error(404, message), message)
    del store.webhooks[webhook_id]
    store.webhook_secrets.pop(webhook_id, None)
    return web.Response(status=204)


@routes.put(f"{BASE}/webhooks/{{webhookId}}/enabled")
async def set_webhook_enabled(request: web.Request) -> web.Response:
    """Enable or disable a webhook (204)."""
    authenticate(request)
    raw = request.query.get("enabled")
    if raw is None or raw.strip().lower() not in ("true", "false"):
        raise problem({"enabled": ["enabled is required and must be true or false"]})
    webhook = _webhook_or_404(request)
    webhook["enabled"] = raw.strip().lower() == "true"
    webhook["modifiedDate"] = iso(utc_now())
    return web.Response(status=204)
