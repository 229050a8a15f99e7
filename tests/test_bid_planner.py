"""The bid planner: what a battery or an electric vehicle can offer per quarter-hour."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from custom_components.gridflex.bid_planner import (
    BatteryState,
    VehicleState,
    first_window,
    plan_battery,
    plan_vehicle,
)

NOW = datetime.fromisoformat("2026-11-22T10:02:00+00:00")
START = datetime.fromisoformat("2026-11-22T10:15:00+00:00")


def battery(soc: str, **changes: str) -> BatteryState:
    """A 10 kWh battery of -5..5 kW with a 20 % reserve and a 95 % maximum."""
    values = {
        "power_min_kw": Decimal(changes.get("power_min_kw", "-5")),
        "power_max_kw": Decimal(changes.get("power_max_kw", "5")),
        "capacity_kwh": Decimal(10),
        "soc_percent": Decimal(soc),
        "reserve_soc_percent": Decimal(20),
        "max_soc_percent": Decimal(95),
    }
    return BatteryState(**values)


def test_first_window() -> None:
    """The next quarter-hour; a moment on a boundary is itself the start."""
    assert first_window(NOW) == START
    assert first_window(START) == START
    assert first_window(START + timedelta(microseconds=1)) == START + timedelta(
        minutes=15
    )


def test_offers_follow_limits_and_state_of_charge() -> None:
    """Power limits cap the offer; the room to the reserve and maximum too."""
    offers = plan_battery(battery("50"), NOW)
    assert len(offers) == 16
    assert {(o.discharge_kw, o.charge_kw) for o in offers} == {
        (Decimal("5.000"), Decimal("5.000"))
    }
    # 1 kWh above the reserve: 0.95 kWh out in 15 min is 3.8 kW.
    assert plan_battery(battery("30"), NOW)[0].discharge_kw == Decimal("3.800")
    # At the reserve and at the maximum: nothing that way.
    assert plan_battery(battery("20"), NOW)[0].discharge_kw == 0
    assert plan_battery(battery("95"), NOW)[0].charge_kw == 0
    # A battery that cannot discharge (limits 0..5) offers charging only.
    assert plan_battery(battery("50", power_min_kw="0"), NOW)[0].discharge_kw == 0
    # Too small to be worth a point: 0.02 kWh is 0.076 kW.
    assert plan_battery(battery("20.2"), NOW)[0].discharge_kw == 0


def test_accepted_bids_are_counted_over_the_horizon() -> None:
    """An accepted charge at 11:00 limits charging before and after it."""
    accepted = START + timedelta(minutes=45)
    offers = plan_battery(battery("80"), NOW, committed_kw={accepted: Decimal(5)})
    starts = [offer.start for offer in offers]
    assert accepted not in starts
    # 8 kWh + 1.1875 kWh (5 kW for 15 min at 95 %) leaves 0.3125 kWh to 9.5 kWh
    # from 11:00 on: 0.3125 / 0.95 * 4 = 1.315 kW, before and after it alike.
    assert {offer.charge_kw for offer in offers} == {Decimal("1.315")}
    skipped = plan_battery(battery("50"), NOW, skip=frozenset({START}))
    assert skipped[0].start == START + timedelta(minutes=15)


DEPARTURE = NOW + timedelta(hours=4)  # 14:02: the last whole quarter-hour ends 14:00
PER_QUARTER = Decimal(11) / 4 * Decimal("0.95")  # 2.6125 kWh into the car at 11 kW


def vehicle(soc: str, **changes: str) -> VehicleState:
    """A 60 kWh car on an 11 kW charger, 80 % wanted by 14:02, 20 % reserve, 95 % max."""
    return VehicleState(
        power_min_kw=Decimal(changes.get("power_min_kw", "0")),
        power_max_kw=Decimal(11),
        capacity_kwh=Decimal(60),
        soc_percent=Decimal(soc),
        target_soc_percent=Decimal(changes.get("target", "80")),
        departure=DEPARTURE,
        reserve_soc_percent=Decimal(20),
        max_soc_percent=Decimal(95),
    )


def test_vehicle_reduces_charging_only_while_the_target_stays_reachable() -> None:
    """40 % -> 80 % of 60 kWh needs 24 kWh: 10 quarter-hours at 11 kW (9.19)."""
    offers = plan_vehicle(vehicle("40"), NOW)
    starts = [offer.start for offer in offers]
    # The whole quarter-hours before the departure: 10:15 to 13:45.
    assert starts == [START + timedelta(minutes=15 * i) for i in range(15)]
    reducible = [offer.start for offer in offers if offer.low_kw is not None]
    # Quarter-hour k leaves 14 - k quarter-hours after it: 24 kWh needs 10.
    assert reducible == [
        start for k, start in enumerate(starts) if (14 - k) * PER_QUARTER >= 24
    ]
    assert reducible == starts[:5]
    assert {offer.low_kw for offer in offers if offer.low_kw is not None} == {0}
    # Never a discharge without vehicle-to-grid; more charging everywhere
    # (57 kWh maximum, far away).
    assert all(offer.discharge_kw == 0 for offer in offers)
    assert {offer.high_kw for offer in offers} == {Decimal("11.000")}
    # Near the maximum: 93 % leaves 1.2 kWh, 1.2 / 0.95 * 4 = 5.052 kW.
    assert plan_vehicle(vehicle("93"), NOW)[0].high_kw == Decimal("5.052")
    assert plan_vehicle(vehicle("95"), NOW)[0].high_kw is None
    # Already at the target: every quarter-hour may stop charging.
    assert all(o.low_kw == 0 for o in plan_vehicle(vehicle("80"), NOW))


def test_vehicle_offers_nothing_after_its_departure() -> None:
    """From the departure on there is no quarter-hour left to offer."""
    assert plan_vehicle(vehicle("40"), DEPARTURE) == []
    last = plan_vehicle(vehicle("40"), DEPARTURE - timedelta(minutes=20))
    assert [offer.start for offer in last] == [DEPARTURE - timedelta(minutes=17)]
    # 13:45 is the last quarter-hour: nothing after it can charge the car.
    assert last[0].low_kw is None


def test_vehicle_to_grid_discharges_above_the_reserve_and_keeps_the_target() -> None:
    """A negative minimum power lets the car discharge, bounded twice."""
    # 22 %: 1.2 kWh above the 20 % reserve, 1.2 * 0.95 * 4 = 4.56 kW. The
    # target needs 34.8 kWh: only 10:15 has 14 quarter-hours (36.575 kWh) after it.
    offers = plan_vehicle(vehicle("22", power_min_kw="-11"), NOW)
    assert offers[0].low_kw == Decimal("-4.560")
    assert all(offer.low_kw is None for offer in offers[1:])
    # 40 %: at 11:15 only 10 quarter-hours follow (26.125 kWh for 24 needed):
    # 2.125 kWh may go, 2.125 * 0.95 * 4 = 8.075 kW (the reserve allows 11).
    offers = plan_vehicle(vehicle("40", power_min_kw="-11"), NOW)
    assert offers[0].low_kw == Decimal("-11.000")
    assert offers[4].low_kw == Decimal("-8.075")
    assert offers[5].low_kw is None


def test_vehicle_counts_accepted_bids() -> None:
    """Accepted charging before a quarter-hour lets later ones reduce; none is offered twice."""
    accepted = {START: Decimal(11)}
    offers = plan_vehicle(vehicle("40"), NOW, committed_kw=accepted)
    assert START not in [offer.start for offer in offers]
    # 26.6125 kWh from 10:30: quarter-hour k needs (48 - 26.6125) / 2.6125 =
    # 8.19 quarter-hours after it, so 9: 10:30 to 11:30.
    reducible = [offer.start for offer in offers if offer.low_kw is not None]
    assert reducible == [START + timedelta(minutes=15 * k) for k in range(1, 6)]
    # An accepted stop after a quarter-hour takes its charge away.
    stop = {START + timedelta(minutes=15 * 14): Decimal(0)}
    offers = plan_vehicle(vehicle("40"), NOW, committed_kw=stop)
    assert [o.start for o in offers if o.low_kw is not None] == [
        START + timedelta(minutes=15 * k) for k in range(4)
    ]
