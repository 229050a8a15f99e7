"""Meter data: from the mapped sensors to the platform (stream or interval uploads).

A state change of a mapped sensor is only recorded (``Telemetry``); the
timers do the rest. Every 4 s the recorded changes are read, the stream
publishes the latest values and the figures shown as entities are updated;
every minute finished intervals are closed and queued for upload. Each
reading keeps its own timestamp, so the interval averages are those of every
change, as they came.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
import ssl
from typing import TYPE_CHECKING, Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util
from homeassistant.util.ssl import client_context

from .const import (
    CONF_EDGE_CREDENTIALS,
    CONF_ENVIRONMENT,
    CONF_GRID_EXPORT_ENTITY,
    CONF_GRID_POWER_ENTITY,
    CONF_GRID_POWER_INVERTED,
    CONF_MQTT_BROKER,
    CONF_MQTT_CA_FILE,
    CONF_POWER_ENTITY,
    CONF_RESOLUTION,
    CONF_RESOURCE_ID,
    CONF_RESOURCE_TOPIC,
    CONF_SITE_ID,
    CONF_SITE_TOPIC,
    CONF_STREAM_ADVANCED,
    DOMAIN,
    LOGGER,
)
from .intervals import IntervalAverager
from .outbox import Outbox
from .platforms.base import IntervalUploader
from .platforms.errors import GridFlexError
from .platforms.models import Environment
from .resources import is_group, resource_subentries
from .telemetry import Source, Telemetry

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry
    from .platforms.powernaut_stream import MeasurementStream

SITE_KEY = "site"
STREAM_INTERVAL = timedelta(seconds=4)
"""Powernaut wants the latest value of the site and each resource every 4 s."""
REFRESH_INTERVAL = STREAM_INTERVAL
"""How often the recorded changes are read and the figures updated (no stream)."""
CLOSE_INTERVAL = timedelta(minutes=1)
SITE_RESOLUTION = 15


def site_source(options: dict[str, Any]) -> Source | None:
    """Return the site's grid power as a source, from the entry's options."""
    power = options.get(CONF_GRID_POWER_ENTITY)
    if not power:
        return None
    if export := options.get(CONF_GRID_EXPORT_ENTITY):
        return Source(SITE_KEY, ((power, 1), (export, -1)))
    return Source(
        SITE_KEY, ((power, -1 if options.get(CONF_GRID_POWER_INVERTED) else 1),)
    )


class MeterData:
    """Everything that moves measurements of one site to its platform."""

    def __init__(self, hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
        """Prepare; nothing runs before ``async_start``."""
        self.hass = hass
        self.entry = entry
        self.client = entry.runtime_data.client
        caps = self.client.capabilities
        stream_options = entry.options.get(CONF_STREAM_ADVANCED, {})
        # A custom platform URL (the local sandbox) has no known broker unless
        # one is given in the options.
        self.streams = (
            caps.streams_measurements
            and bool(entry.data.get(CONF_EDGE_CREDENTIALS))
            and (
                entry.data[CONF_ENVIRONMENT] != Environment.CUSTOM
                or bool(stream_options.get(CONF_MQTT_BROKER))
            )
        )
        self.uploads = caps.uploads_intervals and isinstance(
            self.client, IntervalUploader
        )
        self.telemetry: Telemetry | None = None
        self.stream: MeasurementStream | None = None
        self.outbox: Outbox | None = None
        self._last_published: datetime | None = None
        self.sent = 0
        self.unsent = 0
        self._averagers: dict[str, IntervalAverager] = {}
        self._resolutions: dict[str, int] = {}
        self._targets: dict[str, str] = {}  # source key -> platform sensor
        self._held: dict[str, list[tuple[datetime, Decimal | None]]] = {}
        """Closed intervals of a source whose platform sensor is not known yet."""
        self._finding: asyncio.Task[None] | None = None
        self._shown: tuple[Decimal | None, int] = (None, 0)
        self._resource_keys: list[str] = []
        self._listeners: list[Callable[[], None]] = []
        self._unsubs: list[CALLBACK_TYPE] = []

    @property
    def connected(self) -> bool:
        """Return whether the measurement stream is connected."""
        return self.stream is not None and self.stream.connected

    @property
    def last_sent(self) -> datetime | None:
        """Return when a measurement last reached the platform."""
        if self.outbox is not None:
            return self.outbox.last_delivery
        return self._last_published

    @property
    def queued(self) -> int:
        """Return the intervals waiting in the outbox."""
        return self.outbox.queued if self.outbox else 0

    @property
    def dropped(self) -> int:
        """Return measurements that will never reach the platform."""
        return (self.outbox.dropped if self.outbox else 0) + self.unsent

    @property
    def site_kw(self) -> Decimal | None:
        """Return the site's latest grid power (import positive)."""
        return self.telemetry.latest.get(SITE_KEY) if self.telemetry else None

    @property
    def skipped(self) -> int:
        """Return invalid readings that were skipped."""
        return self.telemetry.skipped if self.telemetry else 0

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``listener`` when the figures change."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _sources(self) -> list[Source]:
        """Return the site and every resource with a power sensor (groups excluded)."""
        sources: list[Source] = []
        if (site := site_source(dict(self.entry.options))) is not None:
            sources.append(site)
        self._resource_keys = []
        for subentry in resource_subentries(self.entry).values():
            power = subentry.data.get(CONF_POWER_ENTITY)
            resource_id = subentry.data.get(CONF_RESOURCE_ID)
            if is_group(subentry) or not power or not resource_id:
                continue
            self._resource_keys.append(resource_id)
            sources.append(Source(resource_id, ((power, 1),)))
        return sources

    async def async_start(self) -> None:
        """Map the sources to the platform and start moving data."""
        self.telemetry = None
        self.stream = None
        self.outbox = None
        self._averagers = {}
        self._resolutions = {}
        self._targets = {}
        self._held = {}
        sources = self._sources()
        if not sources:
            return
        now = dt_util.utcnow()
        if self.uploads:
            await self._async_start_uploads(sources, now)
        self.telemetry = Telemetry(self.hass, sources, self._on_value)
        self._unsubs.append(self.telemetry.async_start(now))
        self._shown = (self.site_kw, self.skipped)
        if self.streams:
            await self._async_start_stream()
        else:
            self._unsubs.append(
                async_track_time_interval(
                    self.hass, self._async_refresh, REFRESH_INTERVAL
                )
            )

    async def async_stop(self) -> None:
        """Stop everything; keep what is undelivered on disk."""
        while self._unsubs:
            self._unsubs.pop()()
        if self.outbox is not None:
            await self.outbox.async_flush()

    async def async_restart(self) -> None:
        """Pick up changed resources or options."""
        await self.async_stop()
        await self.async_start()
        self._notify()

    async def _async_start_uploads(self, sources: list[Source], now: datetime) -> None:
        """Average each source, load the outbox, close intervals every minute.

        Which platform sensor takes each source is looked up in the
        background (again every minute until it worked); the intervals that
        close meanwhile wait for it.
        """
        resolutions = {
            subentry.data.get(CONF_RESOURCE_ID): int(
                subentry.data.get(CONF_RESOLUTION, 15)
            )
            for subentry in resource_subentries(self.entry).values()
        }
        for source in sources:
            resolution = (
                SITE_RESOLUTION
                if source.key == SITE_KEY
                else resolutions.get(source.key, 15)
            )
            self._resolutions[source.key] = resolution
            self._averagers[source.key] = IntervalAverager(resolution, now)
        assert isinstance(self.client, IntervalUploader)
        self.outbox = Outbox(
            self.hass,
            self.entry.entry_id,
            self.entry.title,
            self.client.post_power_series,
            self._notify,
        )
        await self.outbox.async_load()
        self._unsubs.append(
            async_track_time_interval(self.hass, self._async_close, CLOSE_INTERVAL)
        )
        if self.outbox.queued:
            self.hass.async_create_background_task(
                self.outbox.async_drain(), f"{DOMAIN} outbox {self.entry.entry_id}"
            )
        self._async_find_sensors()
        self._unsubs.append(self._async_stop_finding)

    @callback
    def _async_find_sensors(self) -> None:
        """Look up the platform sensors still unknown, in the background."""
        if self._finding is None and self._averagers.keys() - self._targets.keys():
            self._finding = self.entry.async_create_background_task(
                self.hass,
                self._async_lookup_sensors(),
                f"{DOMAIN} meter sensors {self.entry.entry_id}",
            )

    @callback
    def _async_stop_finding(self) -> None:
        if self._finding is not None:
            self._finding.cancel()
            self._finding = None

    async def _async_lookup_sensors(self) -> None:
        """Find each source's platform sensor; pass on the intervals held for it."""
        assert isinstance(self.client, IntervalUploader)
        site_id = self.entry.data[CONF_SITE_ID]
        try:
            sensors = {
                resource.resource_id: resource.power_sensor_id
                for resource in await self.client.list_resources(site_id)
            }
            for key in list(self._averagers.keys() - self._targets.keys()):
                sensor: str | None
                if key == SITE_KEY:
                    sensor = await self.client.ensure_site_power_sensor(
                        site_id, SITE_RESOLUTION
                    )
                else:
                    sensor = sensors.get(key)
                if sensor is None:
                    LOGGER.warning("No power sensor on the platform for %s", key)
                    self._averagers.pop(key, None)
                    self._held.pop(key, None)
                    continue
                self._targets[key] = sensor
                if held := self._held.pop(key, None):
                    self._queue(key, held)
        except GridFlexError as err:
            LOGGER.debug("Cannot look up the meter's platform sensors yet: %s", err)
        finally:
            if self._finding is asyncio.current_task():
                self._finding = None

    @callback
    def _on_value(self, key: str, moment: datetime, value: Decimal | None) -> None:
        """Feed a new value to its interval averager."""
        if (averager := self._averagers.get(key)) is not None:
            self._queue(key, averager.add(moment, value))

    @callback
    def _async_close(self, now: datetime) -> None:
        """Close finished intervals even when no sensor changed."""
        if self.telemetry is not None:
            self.telemetry.drain()
        for key, averager in self._averagers.items():
            self._queue(key, averager.close_until(now))
        self._async_find_sensors()

    @callback
    def _queue(self, key: str, closed: list[tuple[datetime, Decimal | None]]) -> None:
        if not closed or self.outbox is None:
            return
        if (sensor := self._targets.get(key)) is None:
            self._held.setdefault(key, []).extend(closed)
            return
        self.outbox.add(sensor, self._resolutions[key], closed)

    @callback
    def _async_refresh(self, now: datetime) -> None:
        """Read the recorded changes; update the figures when they changed."""
        assert self.telemetry is not None
        self.telemetry.drain()
        shown = (self.site_kw, self.skipped)
        if shown != self._shown:
            self._shown = shown
            self._notify()

    async def _async_start_stream(self) -> None:
        """Connect the measurement stream and publish every 4 s."""
        from .platforms.powernaut_stream import (
            MeasurementStream,
            StreamTopics,
            broker_for,
        )
        from .setpoints import SetpointInbox

        options = dict(self.entry.options.get(CONF_STREAM_ADVANCED, {}))
        host, port, tls = broker_for(
            Environment(self.entry.data[CONF_ENVIRONMENT]),
            options.get(CONF_MQTT_BROKER),
        )
        context: ssl.SSLContext | None = None
        if tls:
            if ca_file := options.get(CONF_MQTT_CA_FILE):
                context = await self.hass.async_add_executor_job(
                    partial(ssl.create_default_context, cafile=ca_file)
                )
            else:
                context = client_context()
        topics = StreamTopics(
            **{
                name: options[key]
                for name, key in (
                    ("site", CONF_SITE_TOPIC),
                    ("resource", CONF_RESOURCE_TOPIC),
                )
                if options.get(key)
            }
        )
        edge = self.entry.data[CONF_EDGE_CREDENTIALS]
        self.stream = MeasurementStream(
            host=host,
            port=port,
            tls_context=context,
            client_id=f"gridflex-{self.entry.entry_id}",
            username=edge["key"],
            password=edge["secret"],
            site_id=self.entry.data[CONF_SITE_ID],
            topics=topics,
            on_connection_change=lambda _connected: self._notify(),
            # Powernaut's setpoint commands (sent when no webhook is set).
            setpoint_resources=list(self._resource_keys),
            on_setpoint=SetpointInbox(self.hass, self.entry).async_receive,
        )
        task = self.entry.async_create_background_task(
            self.hass, self.stream.run(), f"{DOMAIN} stream {self.entry.entry_id}"
        )

        @callback
        def _cancel() -> None:
            task.cancel()

        self._unsubs.append(_cancel)
        self._unsubs.append(
            async_track_time_interval(self.hass, self._async_tick, STREAM_INTERVAL)
        )

    @callback
    def _async_tick(self, now: datetime) -> None:
        """Start this tick's publish; it runs after the timer callbacks are done."""
        self.entry.async_create_background_task(
            self.hass,
            self._async_publish(now),
            f"{DOMAIN} publish {self.entry.entry_id}",
            eager_start=False,
        )

    async def _async_publish(self, now: datetime) -> None:
        """Publish the latest value of the site and each resource."""
        assert self.stream is not None and self.telemetry is not None
        latest = self.telemetry.latest  # reads the changes recorded since the last tick
        resources = {
            key: value
            for key in self._resource_keys
            if (value := latest.get(key)) is not None
        }
        site = latest.get(SITE_KEY)
        expected = len(resources) + (site is not None)
        if not expected:
            self._async_refresh(now)
            return
        published = await self.stream.publish(now, site, resources)
        self.sent += published
        self.unsent += expected - published
        if published:
            self._last_published = now
        self._shown = (self.site_kw, self.skipped)
        self._notify()
