"""Bids: keep each bidding resource's open bids in line with what it can do.

Every 15 minutes, when a bidding resource's state of charge or a car's
connection changes (at most once a minute), when an activation arrives and
when the resources change, GridFlex:

1. reads the partner's open and accepted bids (one paged ``GET``);
2. plans each bidding battery's or connected car's offer per quarter-hour
   for the coming hours (``bid_planner``), counting its accepted bids;
3. places a bid for each quarter-hour with an offer, or updates the open one
   in place when the offer changed (Powernaut updates the open bid of the
   same window); a window whose offer fell to nothing has its open bid
   withdrawn, as have the open bids of a resource whose bidding was switched
   off, and those of a car that is not connected or has left (a car's
   quarter-hours after its departure keep none). Bids Powernaut expired
   when it accepted another bid of the site are no longer listed, so the
   same pass places them again;
4. books the delivery report of every accepted bid once (energy delivered
   and earnings = the accepted point's price x the energy delivered), kept
   on disk so the totals only grow.

Nothing is bid for a resource until the homeowner switches bidding on in its
settings (off by default). A bid point's price is the homeowner's minimum
price per kWh, in the site's currency. Each bid expires 5 minutes into its
quarter-hour, so an acceptance leaves at least 10 minutes to deliver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .bid_planner import (
    BatteryState,
    Offer,
    VehicleState,
    first_window,
    plan_battery,
    plan_vehicle,
)
from .bid_settings import (
    CONF_CONNECTED_ENTITY,
    CONF_DEPARTURE_TIME,
    CONF_EV_CAPACITY,
    CONF_EV_SOC_ENTITY,
    CONF_TARGET_SOC,
    DEFAULT_TARGET_SOC,
    VEHICLE_TYPES,
    departures,
    parse_departure,
)
from .const import (
    CONF_BID_ENABLED,
    CONF_BID_MIN_PRICE,
    CONF_BIDDING,
    CONF_CAPACITY,
    CONF_COUNTRY,
    CONF_MAX_SOC,
    CONF_POWER_MAX,
    CONF_POWER_MIN,
    CONF_RESERVE_SOC,
    CONF_RESOURCE_ID,
    CONF_RESOURCE_TYPE,
    CONF_SOC_ENTITY,
    DEFAULT_MAX_SOC,
    DEFAULT_RESERVE_SOC,
    DOMAIN,
    LOGGER,
)
from .coordinator import GridFlexConfigEntry
from .platforms.base import FlexPlatform
from .platforms.bids import Bid, BidPlatform, BidPoint, BidRequest, BidStatus
from .platforms.errors import (
    GridFlexError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
)
from .platforms.models import GridEventKind, ResourceType
from .resources import resource_subentries

if TYPE_CHECKING:
    from .event_coordinator import GridEventCoordinator

BID_INTERVAL: Final = timedelta(minutes=15)
SOC_COOLDOWN: Final = 60.0
"""Seconds between two re-plans caused by state-of-charge changes."""
BID_EXPIRY: Final = timedelta(minutes=5)
"""How far into its quarter-hour a bid can still be accepted."""
BIDDING_TYPES: Final = frozenset({ResourceType.BATTERY, *VEHICLE_TYPES})
"""The resource types that bid (see ``bid_planner`` for why the others do not)."""
_STORAGE_VERSION: Final = 1
_CURRENCIES: Final[dict[str, str]] = {"GB": "GBP"}
"""The currency of a site's country where it is not the euro."""


@callback
def async_start_bids(
    hass: HomeAssistant, entry: GridFlexConfigEntry, client: FlexPlatform
) -> BidManager | None:
    """Start bidding for a platform that takes bids; None for the others.

    Nothing is read or bid before setup returns: the first pass runs as a
    background task, and only resources the homeowner switched bidding on
    for bid.
    """
    if not client.capabilities.bids or not isinstance(client, BidPlatform):
        return None
    manager = BidManager(hass, entry, client)
    manager.async_start()
    return manager


def site_currency(entry: GridFlexConfigEntry) -> str:
    """Return the currency of the site: the one of its country (euro by default)."""
    return _CURRENCIES.get(str(entry.data.get(CONF_COUNTRY, "")).upper(), "EUR")


def bids_enabled(subentry: ConfigSubentry) -> bool:
    """Return whether the homeowner switched bidding on for the resource."""
    return bool(_bidding(subentry).get(CONF_BID_ENABLED)) and (
        subentry.data.get(CONF_RESOURCE_TYPE) in BIDDING_TYPES
    )


def _bidding(subentry: ConfigSubentry) -> Mapping[str, Any]:
    """Return the resource's bidding settings (the form's ``bidding`` section)."""
    value = subentry.data.get(CONF_BIDDING)
    return value if isinstance(value, Mapping) else {}


def _is_vehicle(subentry: ConfigSubentry) -> bool:
    return subentry.data.get(CONF_RESOURCE_TYPE) in VEHICLE_TYPES


def _soc_entity(subentry: ConfigSubentry) -> str | None:
    """The state-of-charge sensor: an EV charger maps its car's in the bidding section."""
    if subentry.data.get(CONF_RESOURCE_TYPE) == ResourceType.EV_CHARGER:
        return _bidding(subentry).get(CONF_EV_SOC_ENTITY) or None
    return subentry.data.get(CONF_SOC_ENTITY) or None


def _capacity(subentry: ConfigSubentry) -> Any:
    if subentry.data.get(CONF_RESOURCE_TYPE) == ResourceType.EV_CHARGER:
        return _bidding(subentry).get(CONF_EV_CAPACITY)
    return subentry.data.get(CONF_CAPACITY)


def _watched(subentry: ConfigSubentry) -> list[str]:
    """The entities whose changes re-plan a bidding resource's bids."""
    entities = [_soc_entity(subentry)]
    if _is_vehicle(subentry):
        entities.append(_bidding(subentry).get(CONF_CONNECTED_ENTITY) or None)
    return [entity for entity in entities if entity]


@dataclass(frozen=True, slots=True)
class ResourceBids:
    """What a resource's sensors show."""

    open_bids: int = 0
    accepted_today: int = 0
    energy_delivered_kwh: Decimal = Decimal(0)
    earnings: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class BidSummary:
    """What the sensors show."""

    open_bids: int = 0
    accepted_today: int = 0
    energy_delivered_kwh: Decimal = Decimal(0)
    earnings: Decimal = Decimal(0)
    open_windows: tuple[str, ...] = ()
    """The starts (ISO 8601) of the open bids, for the sensor's attributes."""
    resources: Mapping[str, ResourceBids] = field(default_factory=dict)
    """The same figures per resource id (the site's are their sums)."""


@dataclass(slots=True)
class _Settings:
    resource_id: str
    soc_entity: str | None
    min_price: Decimal | None
    battery: BatteryState | None = None
    vehicle: VehicleState | None = None
    notes: list[str] = field(default_factory=list)


def _activations(events: GridEventCoordinator) -> frozenset[tuple[str, bool]]:
    """The activations GridFlex knows of, and whether each stands (not cancelled)."""
    return frozenset(
        (event_id, bool(event.windows))
        for event_id, event in events.ledger.events.items()
        if event.kind is GridEventKind.ACTIVATION
    )


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation, ValueError:
        return None
    return number if number.is_finite() else None


def _total(
    reports: list[dict[str, str]], key: str, resource_id: str | None = None
) -> Decimal:
    """Sum one figure of the booked reports (of one resource, or all)."""
    return sum(
        (
            Decimal(item[key])
            for item in reports
            if resource_id is None or item.get("resource_id") == resource_id
        ),
        Decimal(0),
    )


def _percent(value: Any, default: int) -> Decimal:
    number = _decimal(value)
    return Decimal(default) if number is None else number


class BidManager(DataUpdateCoordinator[BidSummary]):
    """Places and updates the site's bids; sums up what they earned."""

    config_entry: GridFlexConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: GridFlexConfigEntry, client: BidPlatform
    ) -> None:
        """Bid for the entry's resources through ``client``."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} bids",
            update_interval=BID_INTERVAL,
            request_refresh_debouncer=Debouncer(
                hass, LOGGER, cooldown=SOC_COOLDOWN, immediate=True
            ),
            always_update=False,
        )
        self.client = client
        self.currency = site_currency(entry)
        self._store: Store[dict[str, Any]] = Store(
            hass, _STORAGE_VERSION, f"{DOMAIN}.bids.{entry.entry_id}"
        )
        self._reports: dict[str, dict[str, str]] | None = None
        self._knows_open = True
        """Whether the platform may hold open bids of ours (unknown at start)."""
        self._unsub_soc: Any = None
        self._settings_seen: dict[str, dict[str, Any]] | None = None
        self._events_seen: frozenset[tuple[str, bool]] = frozenset()
        self.last_errors: dict[str, str] = {}
        self.data = BidSummary()

    # Lifecycle

    @callback
    def async_start(self) -> None:
        """Follow the batteries' state of charge and bid now, in the background."""
        self.async_resources_changed()
        self.config_entry.async_on_unload(self._async_stop)
        if (events := self.config_entry.runtime_data.event_coordinator) is not None:
            self._events_seen = _activations(events)

            @callback
            def activation_arrived() -> None:
                # An acceptance expires the site's other open bids: bid again.
                if (seen := _activations(events)) != self._events_seen:
                    self._events_seen = seen
                    self.config_entry.async_create_background_task(
                        self.hass, self.async_request_refresh(), f"{DOMAIN} bids"
                    )

            self.config_entry.async_on_unload(
                events.async_add_listener(activation_arrived)
            )
        self.config_entry.async_create_background_task(
            self.hass, self.async_refresh(), f"{DOMAIN} first bids"
        )

    @callback
    def async_resources_changed(self) -> None:
        """Follow the state of charge of the batteries that bid now; bid again.

        Does nothing while the resources' settings are unchanged.
        """
        settings = {
            subentry_id: dict(subentry.data)
            for subentry_id, subentry in resource_subentries(self.config_entry).items()
        }
        if settings == self._settings_seen:
            return
        self._settings_seen = settings
        if self._unsub_soc is not None:
            self._unsub_soc()
            self._unsub_soc = None
        entities = sorted(
            {
                entity
                for subentry in resource_subentries(self.config_entry).values()
                if bids_enabled(subentry)
                for entity in _watched(subentry)
            }
        )
        if entities:
            self._unsub_soc = async_track_state_change_event(
                self.hass, entities, self._async_soc_changed
            )
        if self.data is not None and self._reports is not None:
            self.config_entry.async_create_background_task(
                self.hass, self.async_request_refresh(), f"{DOMAIN} bids"
            )

    @callback
    def _async_stop(self) -> None:
        if self._unsub_soc is not None:
            self._unsub_soc()
            self._unsub_soc = None

    @callback
    def _async_soc_changed(self, event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if new is None or (old is not None and old.state == new.state):
            return
        self.config_entry.async_create_background_task(
            self.hass, self.async_request_refresh(), f"{DOMAIN} bids"
        )

    # Settings

    def _settings(self, subentry: ConfigSubentry, now: datetime) -> _Settings:
        """Read a bidding resource's settings and state; notes say what is missing."""
        data = subentry.data
        bidding = _bidding(subentry)
        settings = _Settings(
            resource_id=data[CONF_RESOURCE_ID],
            soc_entity=_soc_entity(subentry),
            min_price=_decimal(bidding.get(CONF_BID_MIN_PRICE)),
        )
        capacity = _decimal(_capacity(subentry))
        low = _decimal(data.get(CONF_POWER_MIN))
        high = _decimal(data.get(CONF_POWER_MAX))
        soc: Decimal | None = None
        if settings.soc_entity is None:
            settings.notes.append("no state-of-charge sensor")
        elif (state := self.hass.states.get(settings.soc_entity)) is None or (
            state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE)
        ):
            settings.notes.append("state of charge unknown")
        elif (soc := _decimal(state.state)) is None:
            settings.notes.append("state of charge unreadable")
        if capacity is None or capacity <= 0:
            settings.notes.append("no capacity")
        departure = self._departure(subentry, now, settings.notes)
        if soc is None or capacity is None or low is None or high is None:
            return settings
        reserve = _percent(bidding.get(CONF_RESERVE_SOC), DEFAULT_RESERVE_SOC)
        ceiling = _percent(bidding.get(CONF_MAX_SOC), DEFAULT_MAX_SOC)
        if not _is_vehicle(subentry):
            settings.battery = BatteryState(
                power_min_kw=low,
                power_max_kw=high,
                capacity_kwh=capacity,
                soc_percent=soc,
                reserve_soc_percent=reserve,
                max_soc_percent=ceiling,
            )
        elif departure is not None:
            settings.vehicle = VehicleState(
                power_min_kw=low,
                power_max_kw=high,
                capacity_kwh=capacity,
                soc_percent=soc,
                target_soc_percent=_percent(
                    bidding.get(CONF_TARGET_SOC), DEFAULT_TARGET_SOC
                ),
                departure=departure,
                reserve_soc_percent=reserve,
                max_soc_percent=ceiling,
            )
        return settings

    def _departure(
        self, subentry: ConfigSubentry, now: datetime, notes: list[str]
    ) -> datetime | None:
        """Return when a connected car leaves next; None (and why) when it bids nothing.

        A car still connected after today's departure, plugged in since
        before it, bids nothing until the next day: it may be leaving late.
        Plugged in again after the departure, it bids towards the next one.
        """
        if not _is_vehicle(subentry):
            return None
        bidding = _bidding(subentry)
        entity = bidding.get(CONF_CONNECTED_ENTITY)
        if not entity:
            notes.append("no connected sensor")
            return None
        if (state := self.hass.states.get(entity)) is None or state.state not in (
            STATE_ON,
            STATE_OFF,
        ):
            notes.append("connection unknown")
            return None
        if state.state == STATE_OFF:
            notes.append("not connected")
            return None
        if (departure := parse_departure(bidding.get(CONF_DEPARTURE_TIME))) is None:
            notes.append("no departure time")
            return None
        previous, following = departures(departure, now)
        if state.last_changed <= previous and (
            dt_util.as_local(now).date() == dt_util.as_local(previous).date()
        ):
            notes.append("departed")
            return None
        return following

    # The cycle

    async def _async_update_data(self) -> BidSummary:
        if self._reports is None:
            stored = await self._store.async_load() or {}
            self._reports = dict(stored.get("reports", {}))
        subentries = resource_subentries(self.config_entry)
        ours = {
            subentry.data[CONF_RESOURCE_ID]: subentry
            for subentry in subentries.values()
            if subentry.data.get(CONF_RESOURCE_ID)
        }
        bidding = {rid: sub for rid, sub in ours.items() if bids_enabled(sub)}
        if not bidding and not self._knows_open:
            return self._summary([])
        try:
            bids = [b for b in await self.client.list_bids() if b.resource_id in ours]
        except GridFlexError as err:
            raise UpdateFailed(f"Could not read the bids: {err}") from err
        now = dt_util.utcnow()
        errors: dict[str, str] = {}
        placed: dict[str, Bid] = {}
        withdrawn: set[str] = set()
        for resource_id, subentry in ours.items():
            mine = [bid for bid in bids if bid.resource_id == resource_id]
            try:
                if resource_id in bidding:
                    placed.update(
                        await self._async_bid(
                            bidding[resource_id], mine, now, errors, withdrawn
                        )
                    )
                else:
                    withdrawn.update(await self._async_withdraw(mine))
            except GridFlexError as err:
                LOGGER.warning("Could not bid for %s: %s", subentry.title, err)
                errors[subentry.title] = str(err)
        self.last_errors = errors
        current = [
            bid
            for bid in bids
            if bid.status is not BidStatus.OPEN
            or (
                bid.resource_id in bidding
                and bid.bid_id not in placed
                and bid.bid_id not in withdrawn
            )
        ]
        current += placed.values()
        self._knows_open = any(bid.status is BidStatus.OPEN for bid in current)
        self._book_reports(bids)
        return self._summary(current)

    async def _async_bid(
        self,
        subentry: ConfigSubentry,
        bids: list[Bid],
        now: datetime,
        errors: dict[str, str],
        withdrawn: set[str],
    ) -> dict[str, Bid]:
        """Bring one resource's open bids in line with its offers; return those placed."""
        settings = self._settings(subentry, now)
        if settings.battery is None and settings.vehicle is None:
            # Without its state (or its car), what it offered may be wrong now.
            errors[subentry.title] = ", ".join(settings.notes)
            withdrawn.update(await self._async_withdraw(bids))
            return {}
        accepted = [bid for bid in bids if bid.status is BidStatus.ACCEPTED]
        committed = {
            bid.start: bid.activation_power_kw
            for bid in accepted
            if bid.activation_power_kw is not None and bid.end > now
        }
        skip = frozenset(bid.start for bid in accepted)
        offers = (
            plan_battery(settings.battery, now, committed_kw=committed, skip=skip)
            if settings.battery is not None
            else plan_vehicle(settings.vehicle, now, committed_kw=committed, skip=skip)
            if settings.vehicle is not None
            else []
        )
        open_bids = {bid.start: bid for bid in bids if bid.status is BidStatus.OPEN}
        # Coming quarter-hours without an offer (a car's after its departure)
        # keep no open bid.
        offered = {offer.start for offer in offers}
        stale = [
            bid
            for start, bid in open_bids.items()
            if start >= first_window(now) and start not in offered
        ]
        withdrawn.update(await self._async_withdraw(stale))
        placed: dict[str, Bid] = {}
        for offer in offers:
            existing = open_bids.get(offer.start)
            request = self._request(offer, settings.min_price)
            if request is None:
                if existing is not None:
                    withdrawn.update(await self._async_withdraw([existing]))
                continue
            if (
                existing is not None
                and existing.curve == request.curve
                and existing.expires_at == request.expires_at
            ):
                continue
            try:
                bid = await self.client.place_bid(settings.resource_id, request)
            except GridFlexRequestRejectedError as err:
                if err.status != 409:
                    raise
                # Accepted meanwhile: that window is taken.
                LOGGER.debug("The bid of %s was accepted meanwhile", offer.start)
                continue
            placed[bid.bid_id] = bid
        return placed

    @staticmethod
    def _request(offer: Offer, min_price: Decimal | None) -> BidRequest | None:
        if offer.empty:
            return None
        points = [
            BidPoint(power_kw=kw, min_price=min_price)
            for kw in (offer.low_kw, offer.high_kw)
            if kw is not None
        ]
        return BidRequest(
            start=offer.start,
            end=offer.end,
            curve=tuple(points),
            expires_at=offer.start + BID_EXPIRY,
        )

    async def _async_withdraw(self, bids: list[Bid]) -> set[str]:
        """Withdraw the open bids among ``bids``; return their ids."""
        withdrawn: set[str] = set()
        for bid in bids:
            if bid.status is not BidStatus.OPEN:
                continue
            try:
                await self.client.delete_bid(bid.bid_id)
            except GridFlexNotFoundError:
                pass
            except GridFlexRequestRejectedError as err:
                if err.status != 409:
                    raise
                continue
            withdrawn.add(bid.bid_id)
        return withdrawn

    # Reports and totals

    def _book_reports(self, bids: list[Bid]) -> None:
        """Book each accepted bid's report once; keep the totals on disk."""
        assert self._reports is not None
        booked = False
        for bid in bids:
            if (known := self._reports.get(bid.bid_id)) is not None:
                if "resource_id" not in known:
                    # Booked before the totals were kept per resource.
                    known["resource_id"] = bid.resource_id
                    booked = True
                continue
            if bid.status is not BidStatus.ACCEPTED or bid.report is None:
                continue
            # The report names no sign convention: delivered energy counts
            # whichever way it went. The API has no settlement price; the
            # accepted point's price (informative, the spec says) stands in.
            energy = abs(bid.report.energy_delivered_kwh)
            price = bid.activation_price or Decimal(0)
            self._reports[bid.bid_id] = {
                "resource_id": bid.resource_id,
                "start": bid.start.isoformat(),
                "energy_kwh": str(energy),
                "earnings": str(energy * price),
            }
            booked = True
        if booked:
            reports = {key: dict(item) for key, item in self._reports.items()}
            self._store.async_delay_save(lambda: {"reports": reports}, 1)

    def _summary(self, bids: list[Bid]) -> BidSummary:
        reports = list((self._reports or {}).values())
        today = dt_util.start_of_local_day()
        open_bids = sorted(
            (bid for bid in bids if bid.status is BidStatus.OPEN),
            key=lambda bid: bid.start,
        )
        accepted = [
            bid
            for bid in bids
            if bid.status is BidStatus.ACCEPTED
            and today <= bid.start < today + timedelta(days=1)
        ]
        resource_ids = {bid.resource_id for bid in bids} | {
            str(item["resource_id"]) for item in reports if "resource_id" in item
        }
        return BidSummary(
            open_bids=len(open_bids),
            accepted_today=len(accepted),
            energy_delivered_kwh=_total(reports, "energy_kwh"),
            earnings=_total(reports, "earnings"),
            open_windows=tuple(
                dt_util.as_utc(bid.start).isoformat() for bid in open_bids
            ),
            resources={
                resource_id: ResourceBids(
                    open_bids=sum(1 for b in open_bids if b.resource_id == resource_id),
                    accepted_today=sum(
                        1 for b in accepted if b.resource_id == resource_id
                    ),
                    energy_delivered_kwh=_total(reports, "energy_kwh", resource_id),
                    earnings=_total(reports, "earnings", resource_id),
                )
                for resource_id in resource_ids
            },
        )

    def diagnostics(self) -> Mapping[str, Any]:
        """Return what the diagnostics show of the bids."""
        data = self.data or BidSummary()
        return {
            "bidding_resources": [
                subentry.title
                for subentry in resource_subentries(self.config_entry).values()
                if bids_enabled(subentry)
            ],
            "currency": self.currency,
            "open_bids": data.open_bids,
            "open_windows": list(data.open_windows),
            "accepted_today": data.accepted_today,
            "energy_delivered_kwh": str(data.energy_delivered_kwh),
            "earnings": str(data.earnings),
            "reports_booked": len(self._reports or {}),
            "last_errors": dict(self.last_errors),
            "last_update_success": self.last_update_success,
        }
