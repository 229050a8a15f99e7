"""The bid planner: what a battery can offer per quarter-hour."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from custom_components.gridflex.bid_planner import (
    BatteryState,
    first_window,
    plan_battery,
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
