"""The site's price signal: the platform's price curves as one sensor.

Energy Coordination sends ``PriceCurve`` events: price *deltas* per period
that the programme adds to the spot price. The sensor merges every curve the
site's ledger holds (for each period the newest curve wins), shows the delta
in force now and the curve as an attribute, in the shape Home Assistant's
price integrations use (``prices``: a list of ``{start, end, price}``).

The ledger keeps a price curve 60 days after it was created
(``ledger.KEEP_FOR``; a curve has no windows, so its creation time counts);
this sensor only reads the ledger and never adds to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .coordinator import GridFlexConfigEntry
from .entity import site_device_info
from .event_coordinator import GridEventCoordinator
from .platforms.models import GridEvent, GridEventKind, PricePoint

HISTORY: Final = timedelta(hours=24)
"""How far back the ``prices`` attribute reaches."""
MAX_PRICES: Final = 400
"""The most periods in the ``prices`` attribute (four days of quarter-hours)."""


def _uncovered(
    start: datetime, end: datetime, covered: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """Return the parts of ``[start, end)`` outside the sorted ``covered`` spans."""
    parts: list[tuple[datetime, datetime]] = []
    cursor = start
    for span_start, span_end in covered:
        if span_end <= cursor:
            continue
        if span_start >= end:
            break
        if span_start > cursor:
            parts.append((cursor, span_start))
        cursor = max(cursor, span_end)
        if cursor >= end:
            break
    if cursor < end:
        parts.append((cursor, end))
    return parts


def _cover(
    covered: list[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Return ``covered`` with ``[start, end)`` added, sorted and merged."""
    merged: list[tuple[datetime, datetime]] = []
    for span_start, span_end in sorted([*covered, (start, end)]):
        if merged and span_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], span_end))
        else:
            merged.append((span_start, span_end))
    return merged


def price_curves(events: Iterable[GridEvent]) -> list[GridEvent]:
    """Return the price curves among ``events``, newest first.

    Only curves in the newest curve's currency count: prices in two
    currencies cannot be one signal.
    """
    curves = sorted(
        (e for e in events if e.kind is GridEventKind.PRICE_CURVE and e.prices),
        key=lambda e: (e.created_at, e.event_id),
        reverse=True,
    )
    if not curves:
        return []
    currency = curves[0].currency
    return [curve for curve in curves if curve.currency == currency]


def merge_prices(curves: list[GridEvent], since: datetime) -> list[PricePoint]:
    """Merge curves (newest first) into one: each period from the newest curve.

    Periods that end at or before ``since`` are left out. The result is
    sorted and its periods do not overlap; where a newer curve covers part of
    an older period, the older one keeps only the rest.
    """
    covered: list[tuple[datetime, datetime]] = []
    merged: list[PricePoint] = []
    for curve in curves:
        for point in curve.prices:
            if point.end <= since or point.end <= point.start:
                continue
            merged.extend(
                PricePoint(start=start, end=end, price=point.price)
                for start, end in _uncovered(point.start, point.end, covered)
            )
            covered = _cover(covered, point.start, point.end)
    merged.sort(key=lambda point: point.start)
    return merged


class PriceSignalSensor(CoordinatorEntity[GridEventCoordinator], SensorEntity):
    """The price delta in force now, in the curve's currency per kWh.

    Unknown when no curve covers now. Updated at every period boundary and
    whenever the grid events change; the ledger on disk brings it back after
    a restart.
    """

    _attr_has_entity_name = True
    _attr_translation_key = "price_signal"
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_suggested_display_precision = 4
    # The curve outgrows what the recorder keeps per state; the state is kept.
    _unrecorded_attributes = frozenset({"prices"})

    def __init__(
        self, coordinator: GridEventCoordinator, entry: GridFlexConfigEntry
    ) -> None:
        """Attach the sensor to the site device."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{entry.unique_id}_price_signal"
        self._attr_device_info = site_device_info(entry)
        self._unsub_boundary: CALLBACK_TYPE | None = None

    @property
    def available(self) -> bool:
        """Known curves stay valid while the platform is unreachable."""
        return True

    async def async_added_to_hass(self) -> None:
        """Show the curve the ledger holds and follow its periods."""
        await super().async_added_to_hass()
        self.async_on_remove(self._async_cancel_boundary)
        self._async_refresh()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Merge the curves again: a new one may have come."""
        self._async_refresh()
        super()._handle_coordinator_update()

    @callback
    def _async_cancel_boundary(self) -> None:
        if self._unsub_boundary is not None:
            self._unsub_boundary()
            self._unsub_boundary = None

    @callback
    def _async_boundary(self, _now: datetime) -> None:
        """A period started or ended."""
        self._unsub_boundary = None
        self._async_refresh()
        self.async_write_ha_state()

    @callback
    def _async_refresh(self) -> None:
        """Work out the value now and the curve; wait for the next boundary."""
        now = dt_util.utcnow()
        curves = price_curves(self.coordinator.ledger.events.values())
        prices = merge_prices(curves, now - HISTORY)
        current = next((p for p in prices if p.start <= now < p.end), None)
        newest = curves[0] if curves else None
        currency = newest.currency if newest else None
        self._attr_native_unit_of_measurement = f"{currency}/kWh" if currency else None
        self._attr_native_value = current.price if current else None
        self._attr_extra_state_attributes = _attributes(prices, newest)
        self._async_cancel_boundary()
        upcoming = [
            moment
            for point in prices
            for moment in (point.start, point.end)
            if moment > now
        ]
        if prices:
            upcoming.append(prices[0].end + HISTORY)  # leaves the attribute
        if upcoming:
            self._unsub_boundary = async_track_point_in_utc_time(
                self.hass, self._async_boundary, min(upcoming)
            )


def _attributes(prices: list[PricePoint], newest: GridEvent | None) -> dict[str, Any]:
    """Return the curve and where it came from, as Home Assistant shows them."""
    return {
        "prices": [
            {
                "start": point.start.isoformat(),
                "end": point.end.isoformat(),
                "price": float(point.price),
            }
            for point in prices[:MAX_PRICES]
        ],
        "currency": newest.currency if newest else None,
        "energy_unit": newest.energy_unit if newest else None,
        "price_area": newest.price_area if newest else None,
        "event_id": newest.event_id if newest else None,
    }
