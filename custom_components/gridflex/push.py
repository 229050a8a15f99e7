"""Grid events pushed by the platform to a Home Assistant webhook."""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.hdrs import METH_POST
from homeassistant.components import webhook
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.network import NoURLAvailableError

from .const import CONF_PLATFORM, CONF_RESOURCE_ID, CONF_SITE_ID, DOMAIN, LOGGER
from .issues import async_sync_webhook_health_issue
from .platforms import capabilities
from .platforms.energy_coordination import (
    MAX_NOTIFICATION_BYTES,
    NOTIFICATION_TYPES,
    SIGNATURE_HEADER,
    read_notification,
    verify_signature,
)
from .platforms.errors import GridFlexError, GridFlexNotFoundError
from .platforms.models import InvalidGridEvent, PlatformKey, Resource, WebhookInfo
from .resources import is_group, resource_subentries

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry
    from .event_coordinator import GridEventCoordinator

CONF_WEBHOOK_ID = "webhook_id"
CONF_WEBHOOK_SECRET = "webhook_secret"  # noqa: S105 - the key, not a secret
CONF_WEBHOOK_URL = "webhook_url"
CONF_PLATFORM_WEBHOOK_ID = "platform_webhook_id"
CONF_CLOUDHOOK = "cloudhook"
CONF_WEBHOOK_RESOURCES = "webhook_resources"
"""No longer written: the platform's own ``webhooks.accepted`` is compared."""
SEEN_NOTIFICATIONS = 500
REMOVE_TIMEOUT = 15.0
"""Seconds the removal of an entry may spend clearing resource webhooks."""
WEBHOOK_CHECK_INTERVAL = timedelta(days=1)
UNHEALTHY_STATUSES = frozenset({"Unhealthy", "TimeOut"})
"""The platform's ``WebhookStatus`` values that mean pushes do not arrive."""


def unreachable_issue_id(entry_id: str) -> str:
    """Return the id of the issue saying push cannot reach Home Assistant."""
    return f"webhook_unreachable_{entry_id}"


async def _async_public_url(
    hass: HomeAssistant, webhook_id: str
) -> tuple[str | None, bool]:
    """Return a URL the platform can reach: a cloudhook, else the external URL."""
    if "cloud" in hass.config.components:
        # Imported only when Home Assistant Cloud is loaded (it pulls in the
        # voice pipeline's packages).
        from homeassistant.components import cloud

        if not cloud.async_active_subscription(hass):
            return _external_url(hass, webhook_id), False
        try:
            return await cloud.async_create_cloudhook(hass, webhook_id), True
        except cloud.CloudNotAvailable:
            LOGGER.debug("Home Assistant Cloud is not available for the webhook")
    return _external_url(hass, webhook_id), False


def _external_url(hass: HomeAssistant, webhook_id: str) -> str | None:
    """Return the webhook's URL on Home Assistant's external address, if any."""
    try:
        return webhook.async_generate_url(
            hass, webhook_id, allow_internal=False, allow_ip=True
        )
    except NoURLAvailableError:
        return None


async def async_setup_push(
    hass: HomeAssistant, entry: GridFlexConfigEntry, events: GridEventCoordinator
) -> None:
    """Receive grid events at a webhook; poll only when the platform cannot reach it.

    The webhook is served at once; registering it on the platform and checking
    its health run in the background, at start and once a day.
    """
    client: Any = entry.runtime_data.client
    data = dict(entry.data)
    if not data.get(CONF_WEBHOOK_ID):
        data[CONF_WEBHOOK_ID] = webhook.async_generate_id()
        data[CONF_WEBHOOK_SECRET] = secrets.token_urlsafe(32)
        _async_store(hass, entry, data)
    webhook_id: str = data[CONF_WEBHOOK_ID]
    secret: str = data[CONF_WEBHOOK_SECRET]
    webhook.async_register(
        hass,
        DOMAIN,
        entry.title,
        webhook_id,
        _make_handler(entry, events, client, secret),
        allowed_methods=[METH_POST],
    )
    entry.async_on_unload(lambda: webhook.async_unregister(hass, webhook_id))

    async def _check(_now: Any = None) -> None:
        await async_check_push(hass, entry)

    entry.async_create_background_task(hass, _check(), f"{DOMAIN} webhook check")
    entry.async_on_unload(
        async_track_time_interval(hass, _check, WEBHOOK_CHECK_INTERVAL)
    )


@callback
def _async_store(
    hass: HomeAssistant, entry: GridFlexConfigEntry, data: dict[str, Any]
) -> None:
    """Store what GridFlex keeps of the webhook without reloading the entry."""
    if data == dict(entry.data):
        return
    entry.runtime_data.data = dict(data)
    hass.config_entries.async_update_entry(entry, data=data)


async def async_check_push(hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
    """Make sure the platform pushes to Home Assistant, and say when it cannot.

    Without a reachable URL a repair says events arrive by polling only. With
    one, the webhook is registered when missing (deleted on the platform, or
    never registered), enabled again when disabled, and a repair follows the
    platform's verdict on its health (``Unhealthy``, ``TimeOut``).
    """
    client: Any = entry.runtime_data.client
    data = dict(entry.data)
    url, cloudhook = await _async_public_url(hass, data[CONF_WEBHOOK_ID])
    if not _async_reachable(hass, entry, url):
        return
    assert url is not None
    platform_id = data.get(CONF_PLATFORM_WEBHOOK_ID)
    info: WebhookInfo | None = None
    if platform_id and url == data.get(CONF_WEBHOOK_URL):
        try:
            info = await client.get_webhook(platform_id)
        except GridFlexNotFoundError:
            LOGGER.warning("The grid event webhook is gone on the platform")
        except GridFlexError as err:
            LOGGER.debug("Could not check the grid event webhook: %s", err)
            return
    if info is None:
        data |= await _async_register_on_platform(client, data, url, cloudhook)
        _async_store(hass, entry, data)
        return
    if not info.enabled:
        try:
            await client.enable_webhook(info.webhook_id)
        except GridFlexError as err:
            LOGGER.warning("Could not enable the grid event webhook: %s", err)
        else:
            LOGGER.warning("The grid event webhook was disabled; enabled it again")
    healthy = info.status not in UNHEALTHY_STATUSES
    async_sync_webhook_health_issue(
        hass, entry, healthy=healthy, status=info.status or "?"
    )


def _async_reachable(
    hass: HomeAssistant, entry: GridFlexConfigEntry, url: str | None
) -> bool:
    """Raise or clear the repair saying the platform cannot reach Home Assistant."""
    issue_id = unreachable_issue_id(entry.entry_id)
    if url is not None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return True
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="webhook_unreachable",
        translation_placeholders={"site": entry.title},
    )
    return False


async def _async_read_limited(request: web.Request, limit: int) -> bytes | None:
    """Return the body, or ``None`` when it is longer than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _make_handler(
    entry: GridFlexConfigEntry,
    events: GridEventCoordinator,
    client: Any,
    secret: str,
) -> webhook.HandlerType:
    """Return the handler: check, store, answer; the worker acknowledges later.

    The answer goes out as soon as the notification is verified and in the
    ledger on disk: acknowledging is the worker's job, off this path, so a
    slow platform never makes the push late.
    """
    seen: deque[str] = deque(maxlen=SEEN_NOTIFICATIONS)

    async def _handle(
        hass: HomeAssistant, _webhook_id: str, request: web.Request
    ) -> web.Response:
        body = await _async_read_limited(request, MAX_NOTIFICATION_BYTES)
        if body is None:
            LOGGER.warning("Refused a grid event notification larger than allowed")
            return web.Response(status=400)
        if not verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER)):
            LOGGER.warning("Refused a grid event notification with a bad signature")
            return web.Response(status=400)
        try:
            notification = read_notification(body)
        except GridFlexError as err:
            LOGGER.warning("Refused a grid event notification: %s", err)
            return web.Response(status=400)
        notification_id = str(notification.get("notificationId"))
        if notification_id in seen:
            return web.Response(status=200)
        try:
            event = client.parse_notification(entry.data[CONF_SITE_ID], notification)
        except GridFlexError as err:
            event_id = notification.get("eventId")
            if isinstance(event_id, str) and event_id:
                payload = notification.get("payload")
                raw_type = (
                    payload.get("payloadType") if isinstance(payload, dict) else None
                )
                await events.async_receive(
                    [],
                    [
                        InvalidGridEvent(
                            event_id=event_id[:200],
                            reason=str(err),
                            raw_type=raw_type if isinstance(raw_type, str) else None,
                        )
                    ],
                )
            else:
                LOGGER.warning("Refused a grid event notification: %s", err)
            return web.Response(status=400)
        seen.append(notification_id)
        await events.async_receive([] if event is None else [event])
        return web.Response(status=200)

    return _handle


async def _async_register_on_platform(
    client: Any, data: dict[str, Any], url: str, cloudhook: bool
) -> dict[str, Any]:
    """Register the webhook on the platform; return what to store of it."""
    try:
        platform_id = await client.register_webhook(
            url, data[CONF_WEBHOOK_SECRET], list(NOTIFICATION_TYPES)
        )
    except GridFlexError as err:
        # Polling still brings every event; registering is tried at the next start.
        LOGGER.warning("Could not register the grid event webhook: %s", err)
        return {}
    if old := data.get(CONF_PLATFORM_WEBHOOK_ID):
        await _async_delete_platform_webhook(client, old)
    return {
        CONF_WEBHOOK_URL: url,
        CONF_PLATFORM_WEBHOOK_ID: platform_id,
        CONF_CLOUDHOOK: cloudhook,
    }


async def _async_delete_platform_webhook(client: Any, platform_id: str) -> None:
    try:
        await client.delete_webhook(platform_id)
    except GridFlexError as err:
        LOGGER.debug("Could not delete the old webhook registration: %s", err)


async def async_remove_push(hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
    """Unregister the webhook on the platform and the cloudhook (entry removed).

    Powernaut resources get their ``webhooks.accepted`` cleared, so that the
    platform goes back to MQTT instead of calling a webhook nobody serves.
    """
    from .client import async_create_platform_client

    client: Any = async_create_platform_client(hass, entry.data)
    if platform_id := entry.data.get(CONF_PLATFORM_WEBHOOK_ID):
        await _async_delete_platform_webhook(client, platform_id)
    elif callable(getattr(client, "set_resource_webhook", None)):
        await _async_clear_resource_webhooks(client, entry)
    if entry.data.get(CONF_CLOUDHOOK) and "cloud" in hass.config.components:
        from homeassistant.components import cloud

        try:
            await cloud.async_delete_cloudhook(hass, entry.data[CONF_WEBHOOK_ID])
        except cloud.CloudNotAvailable:
            LOGGER.debug(
                "Home Assistant Cloud is not available to delete the cloudhook"
            )


def _make_activation_handler(
    client: Any, events: GridEventCoordinator
) -> webhook.HandlerType:
    """Return the handler: read the accepted bid back and hand over its activation."""

    async def _handle(
        hass: HomeAssistant, _webhook_id: str, request: web.Request
    ) -> web.Response:
        try:
            bid_id = str((await request.json())["id"])
        except ValueError, KeyError, TypeError:
            return web.Response(status=400)
        try:
            event = await client.get_activation(bid_id)
        except GridFlexError as err:
            LOGGER.warning("Could not read accepted bid %s: %s", bid_id, err)
            return web.Response(status=503)  # the platform retries
        if event is not None:
            await events.async_receive([event])
        return web.Response(status=200)

    return _handle


def activation_webhook_url(entry: GridFlexConfigEntry) -> str | None:
    """Return where Powernaut announces accepted bids, when Home Assistant is reachable.

    ``None`` for platforms with their own webhook registration (Energy
    Coordination) or none (FlexMeasures).
    """
    if capabilities(PlatformKey(entry.data[CONF_PLATFORM])).lpc_events:
        return None
    url = entry.data.get(CONF_WEBHOOK_URL)
    return str(url) if url else None


async def async_setup_activation_push(
    hass: HomeAssistant, entry: GridFlexConfigEntry, events: GridEventCoordinator
) -> None:
    """Receive Powernaut's bid-accepted calls; polling stays the fallback.

    Powernaut signs nothing (none is documented): the webhook id is a random
    secret, and the call only says which bid to read back from the platform.
    A new resource gets the webhook when it is created; each read of the
    site's resources (at start, after any change of the resources, every few
    minutes) sets it, in the background, on those that lack it.
    """
    client: Any = entry.runtime_data.client
    data = dict(entry.data)
    if not data.get(CONF_WEBHOOK_ID):
        data[CONF_WEBHOOK_ID] = webhook.async_generate_id()
    webhook_id: str = data[CONF_WEBHOOK_ID]

    webhook.async_register(
        hass,
        DOMAIN,
        entry.title,
        webhook_id,
        _make_activation_handler(client, events),
        allowed_methods=[METH_POST],
    )
    entry.async_on_unload(lambda: webhook.async_unregister(hass, webhook_id))
    url, cloudhook = await _async_public_url(hass, webhook_id)
    data.pop(CONF_WEBHOOK_RESOURCES, None)
    if _async_reachable(hass, entry, url):
        assert url is not None
        data |= {CONF_WEBHOOK_URL: url, CONF_CLOUDHOOK: cloudhook}
        _async_follow_resource_webhooks(hass, entry, url)
    else:
        data.pop(CONF_WEBHOOK_URL, None)
    if data != dict(entry.data):
        hass.config_entries.async_update_entry(entry, data=data)


@callback
def _async_follow_resource_webhooks(
    hass: HomeAssistant, entry: GridFlexConfigEntry, url: str
) -> None:
    """Set the webhook on each resource whose platform copy lacks it.

    Runs after every read of the site (its resources are listed with it),
    one run at a time; a failure is tried again at the next read.
    """
    coordinator = entry.runtime_data.site_coordinator
    running: set[asyncio.Task[None]] = set()
    again: list[bool] = [False]

    async def _sync() -> None:
        while True:
            again[0] = False
            listed = coordinator.data.resources if coordinator.data else {}
            await _async_set_missing_webhooks(entry, listed, url)
            if not again[0]:
                return

    @callback
    def _on_update() -> None:
        if not coordinator.last_update_success:
            return
        if running:
            again[0] = True  # read again while a run was busy: one more run
            return
        task = entry.async_create_background_task(
            hass, _sync(), f"{DOMAIN} resource webhooks"
        )
        running.add(task)
        task.add_done_callback(running.discard)

    entry.async_on_unload(coordinator.async_add_listener(_on_update))
    _on_update()


async def _async_set_missing_webhooks(
    entry: GridFlexConfigEntry, listed: dict[str, Resource], url: str
) -> None:
    """PATCH the webhook onto the (non-group) resources whose platform copy lacks it."""
    client: Any = entry.runtime_data.client
    for subentry in resource_subentries(entry).values():
        resource = listed.get(str(subentry.data.get(CONF_RESOURCE_ID)))
        if resource is None or is_group(subentry) or resource.webhook_url == url:
            continue
        try:
            await client.set_resource_webhook(resource.resource_id, url)
        except GridFlexError as err:
            LOGGER.warning(
                "Could not set the activation webhook of %s: %s", subentry.title, err
            )


async def _async_clear_resource_webhooks(
    client: Any, entry: GridFlexConfigEntry
) -> None:
    """Clear ``webhooks.accepted`` of the site's resources (best effort, bounded).

    Clears every resource whose webhook is this entry's, and those the
    resource subentries hold; what the platform does not answer for within
    ``REMOVE_TIMEOUT`` keeps its webhook.
    """
    url = entry.data.get(CONF_WEBHOOK_URL)
    held = {
        str(subentry.data[CONF_RESOURCE_ID])
        for subentry in resource_subentries(entry).values()
        if subentry.data.get(CONF_RESOURCE_ID) and not is_group(subentry)
    }
    try:
        async with asyncio.timeout(REMOVE_TIMEOUT):
            try:
                listed: list[Resource] = await client.list_resources(
                    entry.data[CONF_SITE_ID]
                )
            except GridFlexNotFoundError:
                return  # the site is gone, and its resources with it
            except GridFlexError as err:
                LOGGER.debug("Could not list the resources: %s", err)
                targets = held
            else:
                targets = {
                    r.resource_id
                    for r in listed
                    if r.webhook_url and (r.webhook_url == url or r.resource_id in held)
                }
            results = await asyncio.gather(
                *(client.set_resource_webhook(rid, None) for rid in sorted(targets)),
                return_exceptions=True,
            )
    except TimeoutError:
        LOGGER.warning(
            "The platform did not answer in time; "
            "resources may keep calling the removed webhook"
        )
        return
    failed = [
        r
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, GridFlexNotFoundError)
    ]
    if failed:
        LOGGER.warning(
            "Could not clear the activation webhook of %s resources: %s",
            len(failed),
            failed[0],
        )
