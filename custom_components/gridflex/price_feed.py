"""The electricity price FlexMeasures schedules against, from the site's options.

A storage schedule needs a consumption price: without one FlexMeasures takes
the trigger and fails the job. The homeowner picks the price source in the
site's options, one of:

- a Home Assistant sensor with the electricity price (a Nord Pool, ENTSO-E,
  Tibber … integration). GridFlex keeps an ``electricity price`` sensor on
  the site asset filled from it, in FlexMeasures' own unit (``<currency>/MWh``,
  15 minutes; hourly prices are repeated per quarter). Read are, in this
  order, the first forecast attribute found:

  - ``raw_today`` + ``raw_tomorrow`` (Nord Pool, Energi Data Service): lists
    of ``{"start", "end", "value"}`` (or ``{"hour", "price"}``);
  - ``prices`` (ENTSO-E): a list of ``{"time", "price"}``;
  - ``prices_today`` + ``prices_tomorrow``, ``forecast``: the same shapes.

  Items name their start ``start``/``time``/``hour``/``startsAt``/``from``,
  their price ``value``/``price``/``total`` and optionally their end
  ``end``/``till``/``to`` (else the spacing of the starts, else an hour);
  starts are datetimes or ISO 8601 strings (without an offset: the home's
  time zone). A sensor without such an attribute gives its state as the
  price of the current quarter hour, at every change and every quarter.
- an existing FlexMeasures price sensor, by id (nothing is posted).

Either way the site asset's ``flex_context`` takes ``consumption-price`` and
``production-price`` from that sensor.

Units: the Home Assistant sensor's unit must be a price per energy:
``EUR/kWh``, ``EUR/MWh``, ``€/kWh``, ``ct/kWh`` (euro cent), ``p/kWh``
(penny), ``NOK/kWh`` … A unit that is none of these, or a currency other
than the one of an existing FlexMeasures price sensor, raises a repair and
posts nothing: no price is converted wrongly, nothing on FlexMeasures is
deleted or overwritten, and posting resumes (from the sensor's forecast)
once the unit fits again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
import re
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import (
    async_track_state_change_event,
    async_track_time_change,
)
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    TextSelector,
)
from homeassistant.util import dt as dt_util
import probatio as vol

from .client import async_create_platform_client
from .const import (
    CONF_PRICE_ENTITY,
    CONF_PRICE_SENSOR_ID,
    CONF_SITE_ID,
    DOMAIN,
    ISSUE_PRICE_SENSOR,
    ISSUE_PRICE_UNIT,
    LOGGER,
)
from .intervals import interval_start
from .platforms.base import Capabilities
from .platforms.errors import GridFlexAuthError, GridFlexError, GridFlexNotFoundError
from .platforms.flexmeasures import FlexMeasuresClient, FlexMeasuresPriceUnitError
from .platforms.models import PriceSensor, PriceSeries

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry

QUARTER: Final = timedelta(minutes=15)
KEEP_POSTED: Final = timedelta(days=3)
"""How long posted prices are remembered (to post only what changed)."""


CURRENCIES: Final = frozenset(
    {
        "EUR",
        "NOK",
        "SEK",
        "DKK",
        "GBP",
        "CHF",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "ISK",
        "USD",
    }
)
"""Currencies FlexMeasures units take (ISO 4217)."""
_SYMBOLS: Final = {"€": "EUR", "£": "GBP", "$": "USD"}
_SUBUNITS: Final = {
    "ct": "EUR",
    "c€": "EUR",
    "€ct": "EUR",
    "€c": "EUR",
    "cent": "EUR",
    "cents": "EUR",
    "eurocent": "EUR",
    "p": "GBP",
}
"""Hundredths with one meaning (not öre/øre: Swedish, Norwegian or Danish)."""
_WH: Final = {
    "wh": Decimal(1),
    "kwh": Decimal(1000),
    "mwh": Decimal(1_000_000),
}
_PLATFORM_UNIT: Final = re.compile(r"^(?P<currency>[A-Z]{3})/(?P<energy>[kM]?Wh)$")

FORECASTS: Final = (
    ("raw_today", "raw_tomorrow"),
    ("prices",),
    ("prices_today", "prices_tomorrow"),
    ("forecast",),
)
"""The forecast attributes read, in order; the first group found is used."""
_START_KEYS: Final = ("start", "time", "hour", "startsAt", "from")
_END_KEYS: Final = ("end", "till", "to")
_VALUE_KEYS: Final = ("value", "price", "total")


@dataclass(frozen=True, slots=True)
class PriceUnit:
    """A Home Assistant price unit: currency, hundredths or not, per energy."""

    currency: str
    scale: Decimal
    """1, or 0.01 for cents and pence."""
    per_wh: Decimal
    """Wh in the energy unit (1000 for kWh)."""

    @property
    def platform_unit(self) -> str:
        """The unit GridFlex gives the price sensor it makes (``EUR/MWh``)."""
        return f"{self.currency}/MWh"

    def factor_to(self, platform_unit: str) -> Decimal | None:
        """What to multiply a price by for ``platform_unit``; None when it cannot be."""
        match = _PLATFORM_UNIT.match(platform_unit)
        if match is None or match["currency"] != self.currency:
            return None
        return self.scale * _WH[match["energy"].lower()] / self.per_wh


def price_unit(unit: str | None) -> PriceUnit | None:
    """Read a price unit (``EUR/kWh``, ``€/MWh``, ``ct/kWh`` …); None when it is none."""
    money, slash, energy = (unit or "").replace(" ", "").partition("/")
    per_wh = _WH.get(energy.lower())
    if not slash or per_wh is None:
        return None
    if money.upper() in CURRENCIES:
        return PriceUnit(money.upper(), Decimal(1), per_wh)
    if money in _SYMBOLS:
        return PriceUnit(_SYMBOLS[money], Decimal(1), per_wh)
    if (currency := _SUBUNITS.get(money.lower())) is not None:
        return PriceUnit(currency, Decimal("0.01"), per_wh)
    return None


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment: datetime | None = value
    elif isinstance(value, str):
        moment = dt_util.parse_datetime(value)
    else:
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_util.get_default_time_zone())
    return moment.astimezone(UTC)


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _first(item: Mapping[str, Any], keys: Iterable[str]) -> Any:
    return next((item[key] for key in keys if key in item), None)


def forecast_prices(
    attributes: Mapping[str, Any],
) -> dict[datetime, Decimal] | None:
    """The forecast in a price sensor's attributes, per quarter hour (UTC).

    ``None`` when the sensor has no forecast attribute (``FORECASTS``);
    items that cannot be read are skipped.
    """
    for names in FORECASTS:
        if not any(isinstance(attributes.get(name), list) for name in names):
            continue
        items = [
            item
            for name in names
            if isinstance(attributes.get(name), list)
            for item in attributes[name]
            if isinstance(item, Mapping)
        ]
        return _quarters(items)
    return None


def _quarters(items: list[Mapping[str, Any]]) -> dict[datetime, Decimal]:
    points: list[tuple[datetime, datetime | None, Decimal]] = []
    for item in items:
        start = _moment(_first(item, _START_KEYS))
        value = _number(_first(item, _VALUE_KEYS))
        if start is None or value is None:
            continue
        points.append((start, _moment(_first(item, _END_KEYS)), value))
    points.sort(key=lambda point: point[0])
    gaps = [
        later[0] - earlier[0]
        for earlier, later in pairwise(points)
        if later[0] > earlier[0]
    ]
    step = min(gaps, default=timedelta(hours=1))
    quarters: dict[datetime, Decimal] = {}
    for start, end, value in points:
        if interval_start(start, QUARTER) != start:
            continue
        finish = end if end is not None and end > start else start + step
        moment = start
        while moment < finish:
            quarters[moment] = value
            moment += QUARTER
    return quarters


def runs(prices: Mapping[datetime, Decimal]) -> list[tuple[datetime, list[Decimal]]]:
    """Consecutive quarters as ``(start, values)``, oldest first."""
    found: list[tuple[datetime, list[Decimal]]] = []
    for moment in sorted(prices):
        if found and found[-1][0] + QUARTER * len(found[-1][1]) == moment:
            found[-1][1].append(prices[moment])
        else:
            found.append((moment, [prices[moment]]))
    return found


class PriceSourceError(Exception):
    """The price source cannot serve (yet); ``key`` names the repair or error."""

    def __init__(self, key: str, placeholders: dict[str, str]) -> None:
        """Keep what to tell the homeowner."""
        super().__init__(key)
        self.key = key
        self.placeholders = placeholders


class PriceFeed:
    """Keep the FlexMeasures price sensor of a site named and (when it is GridFlex's) filled."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridFlexConfigEntry,
        client: FlexMeasuresClient,
        on_ready: Callable[[], None],
    ) -> None:
        """Read the price source from the site's options."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.entity_id: str | None = entry.options.get(CONF_PRICE_ENTITY) or None
        self.platform_sensor_id: str | None = (
            str(entry.options[CONF_PRICE_SENSOR_ID]).strip() or None
            if entry.options.get(CONF_PRICE_SENSOR_ID)
            else None
        )
        self.sensor: PriceSensor | None = None
        """The FlexMeasures price sensor in use, once found and named."""
        self._on_ready = on_ready
        self._posted: dict[datetime, Decimal] = {}
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        """Return whether the homeowner picked a price source."""
        return bool(self.entity_id or self.platform_sensor_id)

    @property
    def sensor_id(self) -> str | None:
        """Return the id of the FlexMeasures price sensor in use, once ready."""
        return None if self.sensor is None else self.sensor.sensor_id

    @callback
    def async_track(self) -> None:
        """Follow the Home Assistant price sensor until the entry unloads."""
        if self.entity_id is None:
            return
        unsubs: list[CALLBACK_TYPE] = [
            async_track_state_change_event(
                self.hass, [self.entity_id], self._async_state_changed
            ),
            async_track_time_change(
                self.hass, self._async_quarter, minute=(0, 15, 30, 45), second=5
            ),
        ]
        for unsub in unsubs:
            self.entry.async_on_unload(unsub)

    async def async_prepare(self) -> PriceSensor:
        """Find (or make) the price sensor and name it in the site's flex-context.

        Raises:
            PriceSourceError: the source cannot serve (no state or no price
                unit yet, a FlexMeasures sensor that is gone or no price).
            GridFlexError: FlexMeasures could not be asked.

        """
        if self.sensor is not None:
            return self.sensor
        site_id = self.entry.data[CONF_SITE_ID]
        if self.platform_sensor_id is not None:
            sensor = await self._async_platform_sensor(self.platform_sensor_id)
        else:
            state = self._state()
            unit = price_unit(state.attributes.get(ATTR_UNIT_OF_MEASUREMENT))
            if unit is None:
                raise self._unit_problem(state, None)
            sensor = await self.client.ensure_price_sensor(site_id, unit.platform_unit)
        await self.client.set_site_prices(site_id, sensor.sensor_id)
        self.sensor = sensor
        return sensor

    async def _async_platform_sensor(self, sensor_id: str) -> PriceSensor:
        issue_id = f"{ISSUE_PRICE_SENSOR}_{self.entry.entry_id}"
        try:
            sensor = await self.client.get_price_sensor(sensor_id)
        except (GridFlexNotFoundError, FlexMeasuresPriceUnitError) as err:
            placeholders = {
                "site": self.entry.title,
                "sensor_id": sensor_id,
                "error": err.detail,
            }
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="price_sensor_unusable",
                translation_placeholders=placeholders,
            )
            raise PriceSourceError("price_sensor_unusable", placeholders) from err
        ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        return sensor

    def _state(self) -> State:
        assert self.entity_id is not None
        state = self.hass.states.get(self.entity_id)
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            raise PriceSourceError(
                "price_source_unavailable",
                {"site": self.entry.title, "entity": self.entity_id},
            )
        return state

    def _unit_problem(
        self, state: State, sensor: PriceSensor | None
    ) -> PriceSourceError:
        """Raise the unit repair (nothing posted, nothing on FlexMeasures touched)."""
        placeholders = {
            "site": self.entry.title,
            "entity": state.entity_id,
            "unit": str(state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) or "—"),
            "sensor_unit": sensor.unit if sensor is not None else "EUR/MWh",
        }
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{ISSUE_PRICE_UNIT}_{self.entry.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="price_unit_mismatch",
            translation_placeholders=placeholders,
        )
        return PriceSourceError("price_unit_mismatch", placeholders)

    async def async_post(self) -> None:
        """Post the prices the Home Assistant sensor gives that FlexMeasures lacks.

        Raises:
            PriceSourceError: the sensor has no state or its unit does not fit.
            GridFlexError: FlexMeasures refused or could not be reached.

        """
        if self.entity_id is None:
            return
        async with self._lock:
            sensor = await self.async_prepare()
            state = self._state()
            unit = price_unit(state.attributes.get(ATTR_UNIT_OF_MEASUREMENT))
            factor = None if unit is None else unit.factor_to(sensor.unit)
            if factor is None:
                raise self._unit_problem(state, sensor)
            ir.async_delete_issue(
                self.hass, DOMAIN, f"{ISSUE_PRICE_UNIT}_{self.entry.entry_id}"
            )
            prices = forecast_prices(state.attributes)
            if prices is None:
                value = _number(state.state)
                now = interval_start(dt_util.utcnow(), QUARTER)
                prices = {} if value is None else {now: value}
            await self._async_post_new(sensor, prices, factor)

    async def _async_post_new(
        self, sensor: PriceSensor, prices: Mapping[datetime, Decimal], factor: Decimal
    ) -> None:
        oldest = dt_util.utcnow() - KEEP_POSTED
        self._posted = {k: v for k, v in self._posted.items() if k >= oldest}
        new = {
            moment: value * factor
            for moment, value in prices.items()
            if moment >= oldest and self._posted.get(moment) != value * factor
        }
        for start, values in runs(new):
            await self.client.post_price_series(
                PriceSeries(
                    sensor.sensor_id,
                    start,
                    int(QUARTER.total_seconds() // 60),
                    tuple(values),
                    sensor.unit,
                )
            )
            for index, value in enumerate(values):
                self._posted[start + index * QUARTER] = value

    async def async_post_logged(self) -> None:
        """Post, logging instead of raising (state changes and the quarter clock)."""
        was_ready = self.sensor is not None
        try:
            await self.async_post()
        except PriceSourceError as err:
            LOGGER.debug("No prices posted for %s: %s", self.entry.title, err.key)
            return
        except GridFlexError as err:
            LOGGER.warning(
                "Could not post the prices of %s to FlexMeasures: %s",
                self.entry.title,
                err,
            )
            return
        if not was_ready:
            self._on_ready()

    @callback
    def _async_state_changed(self, event: Event[EventStateChangedData]) -> None:
        self.entry.async_create_background_task(
            self.hass, self.async_post_logged(), f"{DOMAIN} prices {self.entry.title}"
        )

    @callback
    def _async_quarter(self, now: datetime) -> None:
        state = self.hass.states.get(self.entity_id or "")
        if state is not None and forecast_prices(state.attributes) is None:
            self.entry.async_create_background_task(
                self.hass,
                self.async_post_logged(),
                f"{DOMAIN} prices {self.entry.title}",
            )


def price_source_schema(caps: Capabilities) -> dict[vol.Marker, Any]:
    """The price source fields of a site's options (where the platform schedules)."""
    if not caps.schedules:
        return {}
    return {
        vol.Optional(CONF_PRICE_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="sensor")
        ),
        vol.Optional(CONF_PRICE_SENSOR_ID): TextSelector(),
    }


async def async_check_price_source(
    hass: HomeAssistant,
    entry: ConfigEntry,
    user_input: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Check the price source the homeowner picked (one of the two, and usable).

    Nothing to check on a platform without schedules (no such fields).
    """
    entity_id = user_input.get(CONF_PRICE_ENTITY)
    sensor_id = str(user_input.get(CONF_PRICE_SENSOR_ID) or "").strip()
    if sensor_id:
        user_input[CONF_PRICE_SENSOR_ID] = sensor_id
    else:
        user_input.pop(CONF_PRICE_SENSOR_ID, None)
    if entity_id and sensor_id:
        errors["base"] = "price_source_both"
    elif entity_id:
        if price_unit(_entity_unit(hass, entity_id)) is None:
            errors[CONF_PRICE_ENTITY] = "price_unit"
    elif sensor_id:
        if error := await _async_check_platform_sensor(hass, entry, sensor_id):
            field = "base" if error in ("invalid_auth", "cannot_connect") else None
            errors[field or CONF_PRICE_SENSOR_ID] = error


def _entity_unit(hass: HomeAssistant, entity_id: str) -> str | None:
    if (state := hass.states.get(entity_id)) is not None:
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        if unit is not None:
            return str(unit)
    found = er.async_get(hass).async_get(entity_id)
    return None if found is None else found.unit_of_measurement


async def _async_check_platform_sensor(
    hass: HomeAssistant, entry: ConfigEntry, sensor_id: str
) -> str | None:
    """The error key for a FlexMeasures price sensor id; None when it is usable."""
    if not sensor_id.isdigit():
        return "price_sensor_not_found"
    client = async_create_platform_client(hass, entry.data)
    assert isinstance(client, FlexMeasuresClient)
    try:
        await client.get_price_sensor(sensor_id)
    except GridFlexNotFoundError:
        return "price_sensor_not_found"
    except FlexMeasuresPriceUnitError:
        return "price_sensor_not_price"
    except GridFlexAuthError:
        return "invalid_auth"
    except GridFlexError:
        return "cannot_connect"
    return None
