"""The "keep under limit" controller's decision core (pure: no Home Assistant)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import event, given, settings, strategies as st
import pytest

from custom_components.gridflex.limit_control import (
    ActionKind,
    Decision,
    Level,
    LimitSettings,
    Load,
    LoadKind,
    LoadSpec,
    LoadState,
    Reason,
    battery_number_load,
    battery_select_load,
    climate_load,
    decide,
    kw_per_amp,
    min_off_for,
    number_load,
    switch_load,
    target_kw,
)

NOW = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)
LONG_AGO = NOW - timedelta(hours=1)
EV_KW_PER_A = 0.69  # 3 phases at 230 V


def ev(key: str = "ev") -> LoadSpec:
    """An EV charger, 6-16 A on 3 phases, 0 A pauses it."""
    return number_load(
        key, minimum=6, maximum=16, step=1, kw_per_unit=EV_KW_PER_A, stop_value=0
    )


def at(spec: LoadSpec, level: int = 0, **changes: object) -> Load:
    """The load drawing the nominal power of its level, last changed an hour ago."""
    values: dict[str, object] = {
        "level": level,
        "changed_at": LONG_AGO,
        "previous_level": 0,
        "power_kw": spec.levels[level].power_kw,
    }
    values.update(changes)
    return Load(spec, LoadState(**values))  # type: ignore[arg-type]


def run(
    loads: list[Load], import_kw: float | None, limit: float | None = 6.0, **kw: object
) -> Decision:
    """Decide with a fresh reading taken now."""
    return decide(
        loads,
        now=NOW,
        limit_kw=limit,
        import_kw=import_kw,
        import_at=NOW if import_kw is not None else None,
        **kw,  # type: ignore[arg-type]
    )


def moves(decision: Decision) -> list[tuple[str, str, int]]:
    return [(a.key, a.kind.value, a.level) for a in decision.actions]


def test_ladders() -> None:
    """Each factory builds its ladder: level 0 at nominal, soft steps, then hard ones."""
    assert kw_per_amp(230, 3) == pytest.approx(EV_KW_PER_A)
    assert kw_per_amp() == pytest.approx(0.23)
    charger = ev()
    assert [lv.value for lv in charger.levels] == [
        None,
        15,
        14,
        13,
        12,
        11,
        10,
        9,
        8,
        7,
        6,
        0,
    ]
    assert charger.nominal_kw == pytest.approx(16 * EV_KW_PER_A)
    assert charger.soft_count == 11 and charger.levels[-1].hard
    assert charger.dwell == timedelta(seconds=10) and charger.switch_dwell == timedelta(
        seconds=60
    )
    heater = switch_load("wh", nominal_kw=2)
    assert [(lv.value, lv.power_kw, lv.hard) for lv in heater.levels] == [
        (None, 2, False),
        ("off", 0.0, True),
    ]
    assert heater.dwell == timedelta(seconds=60) and heater.thermostatic
    pump = climate_load("hp", nominal_kw=1.5)
    assert [(lv.value, lv.power_kw, lv.hard) for lv in pump.levels] == [
        (None, 1.5, False),
        (-3.0, 0.0, True),
    ]
    assert pump.dwell == timedelta(seconds=300)
    graded = climate_load("hp", nominal_kw=1.5, kw_per_degree=0.4, max_offset=5)
    assert [lv.value for lv in graded.levels] == [None, -1.0, -2.0, -3.0, -4.0]
    assert [lv.hard for lv in graded.levels] == [False, False, False, False, True]
    battery = battery_number_load("bat", max_discharge_kw=5, step_kw=2)
    assert [(lv.value, lv.power_kw) for lv in battery.levels] == [
        (None, 0.0),
        (2, -2),
        (4, -4),
        (5, -5),
    ]
    mode = battery_select_load("bat", option="discharge", discharge_kw=3)
    assert mode.kind is LoadKind.SELECT and mode.levels[1].power_kw == -3
    plain = number_load("kw", minimum=1.0, maximum=2.5, step=1.0)
    assert [(lv.value, lv.hard) for lv in plain.levels] == [
        (None, False),
        (2.0, False),
        (1.0, False),
    ]
    assert plain.soft_count == 3
    with pytest.raises(ValueError):
        number_load("x", minimum=6, maximum=16, step=0)
    with pytest.raises(ValueError):
        replace(heater, levels=(Level("off", 0.0, hard=True),))
    with pytest.raises(ValueError):
        replace(heater, levels=(*heater.levels, Level("eco", 1.0)))
    with pytest.raises(ValueError):
        battery_number_load("x", max_discharge_kw=5, step_kw=0)


def test_sheds_lowest_priority_first() -> None:
    """Three 2 kW switches, 3 kW too much: the last two go off, the last first."""
    loads = [at(switch_load(k, nominal_kw=2)) for k in ("a", "b", "c")]
    decision = run(loads, 8.7)  # target 5.7: 3.0 kW too much
    assert moves(decision) == [("c", "curtail", 1), ("b", "curtail", 1)]
    assert decision.expected_import_kw == pytest.approx(4.7)
    assert decision.target_kw == pytest.approx(5.7)
    assert {a.reason for a in decision.actions} == {Reason.OVER_LIMIT}
    assert not decision.stale and decision.shortfall_kw == 0


def test_restores_in_reverse_order() -> None:
    """Room for one 2 kW load only: the most important curtailed one comes back first."""
    loads = [at(switch_load(k, nominal_kw=2), 1) for k in ("a", "b", "c")]
    # target 5.7, hysteresis 0.6: up to 5.1 kW after a restore.
    decision = run(loads, 2.5)
    assert moves(decision) == [("a", "restore", 0)]
    assert decision.actions[0].reason is Reason.HEADROOM
    assert decision.expected_import_kw == pytest.approx(4.5)
    # With room for all three, in the same order.
    assert [m[0] for m in moves(run(loads, 0.0, limit=20))] == ["a", "b", "c"]


def test_no_restore_while_a_restore_is_on_its_way() -> None:
    """Load a came back 3 s ago, a switch takes up to 5 s: b waits for the meter to show it."""
    heater = switch_load("a", nominal_kw=2)
    others = [at(switch_load(k, nominal_kw=2), 1) for k in ("b", "c")]
    for seconds, restored in ((3, []), (6, [("b", "restore", 0)])):
        back = at(
            heater,
            0,
            changed_at=NOW - timedelta(seconds=seconds),
            previous_level=1,
            power_kw=0.0,
        )
        assert moves(run([back, *others], 0.5)) == restored, seconds


def test_strict_order_blocks_the_loads_behind() -> None:
    """A big important load that does not fit keeps the small ones behind it off."""
    loads = [
        at(switch_load("big", nominal_kw=4), 1),
        at(switch_load("small", nominal_kw=1), 1),
    ]
    assert moves(run(loads, 2.0)) == []  # 2 + 4 > 5.1; 2 + 1 would fit


def test_throttles_setpoints_before_switching_off() -> None:
    """The EV is the most important, yet it is turned down before the heater goes off."""
    loads = [at(ev()), at(switch_load("wh", nominal_kw=2))]
    decision = run(loads, 5.7 + 1.0)
    # Just enough: two 0.69 kW steps (16 A -> 14 A) cover 1.0 kW.
    assert moves(decision) == [("ev", "curtail", 2)]
    assert decision.actions[0].value == 14
    assert decision.actions[0].expected_kw == pytest.approx(14 * EV_KW_PER_A)
    # Without throttle_first the priority alone decides: the heater goes off.
    decision = run(loads, 6.7, settings=LimitSettings(throttle_first=False))
    assert moves(decision) == [("wh", "curtail", 1)]


def test_switches_off_when_throttling_is_not_enough() -> None:
    """Down to 6 A first, then off: the heater (lowest) before the EV."""
    loads = [at(ev()), at(switch_load("wh", nominal_kw=2))]
    base = 1.0
    decision = run(loads, base + 16 * EV_KW_PER_A + 2)
    # The EV moved first (throttled), the heater second (switched off).
    assert moves(decision) == [("ev", "curtail", 10), ("wh", "curtail", 1)]
    assert decision.expected_import_kw == pytest.approx(base + 6 * EV_KW_PER_A)
    # A bigger base load: the EV stops as well.
    decision = run(loads, 3.0 + 16 * EV_KW_PER_A + 2)
    assert moves(decision) == [("ev", "curtail", 11), ("wh", "curtail", 1)]
    assert decision.actions[0].value == 0


def test_partial_throttle_counts_what_the_load_draws() -> None:
    """An EV drawing 3 kW at 16 A gains nothing from 8 A: it goes to the step that helps."""
    loads = [at(ev(), power_kw=3.0)]
    decision = run(loads, 5.7 + 0.5)  # 0.5 kW too much
    (action,) = decision.actions
    # 4 A (2.76 kW) is below the minimum: 6 A caps at 4.14 kW, not enough; stop it.
    assert action.level == 11 and action.expected_kw == 0


def test_dwell_time_in_the_margin_band() -> None:
    """Between the target and the limit, a load changed 30 s ago is left alone."""
    recent = NOW - timedelta(seconds=30)
    loads = [
        at(switch_load("a", nominal_kw=2)),
        at(switch_load("b", nominal_kw=2), changed_at=recent),
    ]
    decision = run(loads, 5.9)  # above 5.7, below 6.0
    assert moves(decision) == [("a", "curtail", 1)]
    assert decision.actions[0].reason is Reason.OVER_TARGET
    # Both too recent: nothing now, the shortfall is reported.
    loads[0] = at(switch_load("a", nominal_kw=2), changed_at=recent)
    decision = run(loads, 5.9)
    assert decision.actions == () and decision.shortfall_kw == pytest.approx(0.2)
    # Above the limit itself the limit wins over the dwell time.
    decision = run(loads, 6.5)
    assert moves(decision) == [("b", "curtail", 1)]
    assert decision.actions[0].reason is Reason.OVER_LIMIT
    # A hard tolerance of 1 kW keeps the dwell time up to 7 kW.
    assert run(loads, 6.5, settings=LimitSettings(hard_tolerance_kw=1.0)).actions == ()


def test_dwell_time_before_a_restore() -> None:
    """A switched-off load stays off its minimum off time (300 s), a throttled EV its 10 s."""
    heater = switch_load("wh", nominal_kw=2)
    for seconds, restored in ((59, False), (299, False), (300, True)):
        loads = [
            at(heater, 1, changed_at=NOW - timedelta(seconds=seconds), previous_level=0)
        ]
        assert bool(run(loads, 1.0).actions) is restored, seconds
    for seconds, restored in ((9, False), (16, True)):
        loads = [
            at(ev(), 10, changed_at=NOW - timedelta(seconds=seconds), previous_level=9)
        ]
        assert bool(run(loads, 0.5).actions) is restored, seconds


def test_min_off_backs_off_per_switch_off() -> None:
    """Each switch-off after the first doubles the minimum off time, up to 60 min."""
    heater = switch_load("wh", nominal_kw=2)
    minutes = [min_off_for(heater, n).total_seconds() / 60 for n in range(7)]
    assert minutes == [5, 5, 10, 20, 40, 60, 60]
    assert min_off_for(heater, 10**6) == timedelta(minutes=60)
    tuning = LimitSettings(min_off_backoff=3.0, min_off_max=timedelta(minutes=30))
    assert min_off_for(heater, 2, tuning) == timedelta(minutes=15)
    assert min_off_for(heater, 3, tuning) == timedelta(minutes=30)
    # The cap never shortens a load's own minimum off time.
    slow = replace(heater, min_off=timedelta(hours=2))
    assert min_off_for(slow, 4) == timedelta(hours=2)
    off = LimitSettings(min_off_backoff=1.0)
    assert min_off_for(heater, 5, off) == timedelta(minutes=5)


def test_switched_off_again_waits_longer_before_a_restore() -> None:
    """A heater switched off for the second time in a window stays off 10 min, the third 20."""
    heater = switch_load("wh", nominal_kw=2)
    cases = (
        (1, 301, True),
        (2, 301, False),
        (2, 599, False),
        (2, 600, True),
        (3, 1199, False),
        (3, 1200, True),
        (9, 3599, False),
        (9, 3600, True),
    )
    for sheds, seconds, restored in cases:
        loads = [
            at(
                heater,
                1,
                changed_at=NOW - timedelta(seconds=seconds),
                previous_level=0,
                hard_sheds=sheds,
            )
        ]
        decision = run(loads, 1.0)
        assert bool(decision.actions) is restored, (sheds, seconds)
        no_backoff = run(loads, 1.0, settings=LimitSettings(min_off_backoff=1.0))
        assert moves(no_backoff) == [("wh", "restore", 0)]
    # The back-off holds restores out of a hard level only: an EV throttled
    # (not paused) is restored after its dwell time, whatever its count.
    loads = [at(ev(), 10, changed_at=NOW - timedelta(seconds=16), hard_sheds=5)]
    assert [a.kind for a in run(loads, 4.3).actions] == [ActionKind.RESTORE]


def test_keep_off_holds_a_switched_off_load_until_the_limit_ends() -> None:
    """With ``keep_off`` a load switched off is not restored under the limit, only after it."""
    keep = LimitSettings(keep_off=True)
    kw = number_load("n", minimum=1, maximum=3, step=1)  # 3, 2, 1 kW
    loads = [at(switch_load("wh", nominal_kw=2), 1), at(kw, 2)]
    assert moves(run(loads, 1.0)) == [("wh", "restore", 0), ("n", "restore", 0)]
    # The heater stays off; the throttled load behind it still comes back.
    assert moves(run(loads, 1.0, settings=keep)) == [("n", "restore", 0)]
    assert moves(run(loads, 1.0, limit=None, settings=keep)) == [
        ("wh", "restore", 0),
        ("n", "restore", 0),
    ]


def test_margin_band_grace_throttles_but_does_not_switch_off() -> None:
    """Above the target but under the limit, for 180 s only soft levels are used."""
    heater = switch_load("wh", nominal_kw=2)
    loads = [at(heater), at(ev(), 9)]  # the EV at 7 A (4.83 kW) is curtailed first
    # 5.9 kW: above the target (5.7), under the limit (6.0).
    for since, expected in (
        (None, [("ev", "curtail", 10)]),
        (0, [("ev", "curtail", 10)]),
        (179, [("ev", "curtail", 10)]),
        (180, [("ev", "curtail", 10)]),
    ):
        stamp = None if since is None else NOW - timedelta(seconds=since)
        assert moves(run(loads, 5.9, over_target_since=stamp)) == expected
    # The EV at its minimum (6 A): only switching off is left.
    loads = [at(heater), at(ev(), 10)]
    for since, expected in (
        (None, [("ev", "curtail", 11)]),
        (0, []),
        (179, []),
        (180, [("ev", "curtail", 11)]),
    ):
        stamp = None if since is None else NOW - timedelta(seconds=since)
        decision = run(loads, 5.9, over_target_since=stamp)
        assert moves(decision) == expected, since
        if not expected:
            assert decision.shortfall_kw == pytest.approx(0.2)
    # Above the limit, or with a stale meter, there is no grace.
    over = run(loads, 6.2, over_target_since=NOW)
    assert moves(over) == [("ev", "curtail", 11)]
    assert over.actions[0].reason is Reason.OVER_LIMIT
    stale = decide(
        loads,
        now=NOW,
        limit_kw=6.0,
        import_kw=5.9 + 4.14,
        import_at=NOW - timedelta(seconds=60),
        over_target_since=NOW,
    )
    assert stale.stale and ("ev", "curtail", 11) in moves(stale)
    none = LimitSettings(band_grace=timedelta(0))
    assert moves(run(loads, 5.9, over_target_since=NOW, settings=none)) == [
        ("ev", "curtail", 11)
    ]
    assert target_kw(6.0) == pytest.approx(5.7)
    assert target_kw(6.0, LimitSettings(margin_kw=0.5)) == pytest.approx(5.5)


def closed_loop(
    specs: list[LoadSpec],
    base: list[float],
    tuning: LimitSettings | None = None,
) -> tuple[int, dict[str, int]]:
    """Decide every 2 s on a house whose loads follow at once; count the changes.

    ``base`` is the rest of the house, one value per report, used in turn.
    Asserts that every decision leaves the import at or under the target.
    """
    state = {s.key: LoadState(power_kw=s.nominal_kw) for s in specs}
    changes = 0
    for report in range(900):
        now = NOW + timedelta(seconds=2 * report)
        house = base[report % len(base)]
        reading = house + sum(s.levels[state[s.key].level].power_kw for s in specs)
        loads = [Load(s, state[s.key]) for s in specs]
        decision = decide(
            loads,
            now=now,
            limit_kw=6.0,
            import_kw=reading,
            import_at=now,
            settings=tuning,
        )
        for action in decision.actions:
            changes += 1
            spec = next(s for s in specs if s.key == action.key)
            state[action.key] = LoadState(
                level=action.level,
                changed_at=now,
                previous_level=state[action.key].level,
                power_kw=spec.levels[action.level].power_kw,
            )
        after = house + sum(s.levels[state[s.key].level].power_kw for s in specs)
        assert after <= 5.7 + 1e-9 or decision.shortfall_kw > 0
    return changes, {key: st.level for key, st in state.items()}


def test_steady_house_settles_after_one_shed() -> None:
    """30 minutes of a steady house: one decision sheds, then nothing moves."""
    specs = [ev(), switch_load("wh", nominal_kw=2), climate_load("hp", nominal_kw=1.5)]
    changes, levels = closed_loop(specs, [1.2])
    # The EV to its minimum, then the heat pump and the heater off.
    assert changes == 3
    assert levels == {"ev": 10, "wh": 1, "hp": 1}


def test_hysteresis_prevents_flapping() -> None:
    """A house swinging 0.4 kW every 2 s: the band keeps the EV where it is.

    At 1.06 kW the EV fits at 6 A (5.2 kW, 0.5 kW under the target); at
    0.66 kW it would fit at 7 A (5.49 kW). Without the band it follows the
    swing every 10 s (its dwell time); with the 0.6 kW band it does not.
    """
    swing = [1.06, 0.66]
    changes, levels = closed_loop([ev()], swing)
    assert (changes, levels) == (1, {"ev": 10})
    no_band = LimitSettings(hysteresis_fraction=0.0, hysteresis_min_kw=0.0)
    changes, _ = closed_loop([ev()], swing, no_band)
    assert changes > 100


def test_restore_stops_inside_the_hysteresis_band() -> None:
    """0.5 kW under the target with a 0.6 kW band: nothing comes back."""
    loads = [at(ev(), 10)]
    assert run(loads, 5.2).actions == ()
    # 1.4 kW under: up by one step (0.69 kW) keeps 0.71 kW clear of the target.
    assert moves(run(loads, 4.3)) == [("ev", "restore", 9)]


def test_thermostatic_loads_are_reserved_while_idle() -> None:
    """An idle water heater that is on may start: the EV waits for room for both."""
    loads = [at(switch_load("wh", nominal_kw=2), power_kw=0.0), at(ev(), 11)]
    assert run(loads, 0.5).actions == ()  # 0.5 + 2 (reserved) + 4.14 > 5.1
    # Limit 9 kW: up to 7.65 kW after a restore; 0.5 + 2 leaves 5.15 kW: 7 A.
    assert moves(run(loads, 0.5, limit=9)) == [("ev", "restore", 9)]


def test_recent_peak_of_the_house_blocks_a_restore() -> None:
    """An oven that paused a moment ago: the EV stays off until it would fit the peak too."""
    loads = [at(ev(), 11)]
    assert moves(run(loads, 0.5)) == [("ev", "restore", 10)]
    assert run(loads, 0.5, base_peak_kw=2.8).actions == ()
    assert moves(run(loads, 0.5, base_peak_kw=0.9)) == [("ev", "restore", 10)]


def test_changes_on_their_way_are_not_shed_twice() -> None:
    """The EV was told 6 A two seconds ago and still draws 11 kW: nothing more to shed."""
    told = NOW - timedelta(seconds=2)
    loads = [
        at(switch_load("wh", nominal_kw=2), power_kw=0.0),
        at(ev(), 10, changed_at=told, power_kw=11.04),
    ]
    decision = run(loads, 1.0 + 11.04, limit=8.0)
    assert decision.actions == ()
    assert decision.expected_import_kw == pytest.approx(1.0 + 6 * EV_KW_PER_A)
    # Without a power reading the reduction from its previous level (9) is on its way.
    loads[1] = at(ev(), 10, changed_at=told, previous_level=0, power_kw=None)
    assert run(loads, 1.0 + 2 + 11.04, limit=8.0).actions == ()
    # Once its reaction time (15 s) has passed, the reading is what counts again.
    loads[1] = at(ev(), 10, changed_at=NOW - timedelta(seconds=20), power_kw=11.04)
    assert moves(run(loads, 1.0 + 11.04, limit=8.0)) == [("ev", "curtail", 11)]
    # After its reaction time a load above its level counts at what it draws.
    late = NOW - timedelta(seconds=200)
    loads = [
        at(switch_load("wh", nominal_kw=2)),
        at(climate_load("hp", nominal_kw=1.5), 1, changed_at=late, power_kw=1.5),
    ]
    decision = run(loads, 1.0 + 2 + 1.5 + 2.0)
    assert moves(decision) == [("wh", "curtail", 1)]


def test_unknown_power_counts_at_nominal() -> None:
    """A load without a reading is assumed at the nominal power of its level."""
    loads = [
        at(switch_load("a", nominal_kw=2), power_kw=None),
        at(switch_load("b", nominal_kw=2), power_kw=None),
    ]
    decision = run(loads, 6.0)
    (action,) = decision.actions
    assert action.key == "b" and decision.expected_import_kw == pytest.approx(4.0)


def test_override_releases_the_load() -> None:
    """A load the homeowner changed is released once and never moved again; it still counts."""
    heater = switch_load("wh", nominal_kw=2)
    loads = [at(heater, 1, overridden=True, power_kw=2.0), at(ev())]
    decision = run(loads, 1.0 + 2 + 11.04, limit=8.0)  # target 7.6
    assert moves(decision)[0] == ("wh", "release", 0)
    assert decision.actions[0].reason is Reason.OVERRIDDEN
    # The EV makes up for it (the heater's 2 kW count): 6 A.
    assert moves(decision)[1:] == [("ev", "curtail", 10)]
    # Released (level 0 now): no more actions for it, not even when there is room.
    loads[0] = at(heater, 0, overridden=True, power_kw=None)
    assert all(a.key != "wh" for a in run(loads, 20.0).actions)
    assert all(a.key != "wh" for a in run(loads, 0.1, limit=None).actions)
    assert run([loads[0]], 0.1).actions == ()


def test_stale_meter_curtails_conservatively() -> None:
    """No reading for 31 s: every load at nominal, shed until the sum fits, say "stale"."""
    loads = [
        at(ev(), power_kw=2.0),
        at(switch_load("wh", nominal_kw=2), power_kw=0.0),
        at(climate_load("hp", nominal_kw=1.5), power_kw=0.0),
    ]
    old = NOW - timedelta(seconds=31)
    decision = decide(loads, now=NOW, limit_kw=6.0, import_kw=2.5, import_at=old)
    assert decision.stale
    assert {a.reason for a in decision.actions} == {Reason.STALE_METER}
    # 0.5 kW (2.5 - 2.0) that no load explains + 11.04 + 2 + 1.5 must fit 5.7:
    # the EV to 6 A first, then the heat pump (lowest) and the heater off.
    assert moves(decision) == [
        ("ev", "curtail", 10),
        ("hp", "curtail", 1),
        ("wh", "curtail", 1),
    ]
    assert decision.expected_import_kw == pytest.approx(0.5 + 6 * EV_KW_PER_A)
    # 29 s old is fresh: 2.5 kW is well under the limit, nothing to do.
    fresh = decide(
        loads,
        now=NOW,
        limit_kw=6.0,
        import_kw=2.5,
        import_at=NOW - timedelta(seconds=29),
    )
    assert not fresh.stale and fresh.actions == ()
    # Never a reading: stale too, with no base load assumed.
    never = decide(loads, now=NOW, limit_kw=6.0, import_kw=None, import_at=None)
    assert never.stale and moves(never) == moves(decision)
    assert never.expected_import_kw == pytest.approx(6 * EV_KW_PER_A)
    # Stale never restores.
    curtailed = [at(switch_load("wh", nominal_kw=2), 1)]
    assert (
        decide(curtailed, now=NOW, limit_kw=6.0, import_kw=0.1, import_at=old).actions
        == ()
    )


def test_no_limit_restores_everything() -> None:
    """The window is over: every curtailed load back to level 0 at once, dwell or not."""
    just_now = NOW - timedelta(seconds=1)
    loads = [
        at(climate_load("hp", nominal_kw=1.5), 1, changed_at=just_now),
        at(switch_load("wh", nominal_kw=2), 0),
        at(ev(), 11, changed_at=just_now),
    ]
    decision = run(loads, 1.0, limit=None)
    assert moves(decision) == [("hp", "restore", 0), ("ev", "restore", 0)]
    assert {a.reason for a in decision.actions} == {Reason.NO_LIMIT}
    assert all(a.value is None for a in decision.actions)
    assert decision.target_kw is None and not decision.stale
    assert decision.expected_import_kw == pytest.approx(1.0 + 1.5 + 11.04)
    assert run(loads, None, limit=None).expected_import_kw is None


def test_resource_limit_with_one_load() -> None:
    """A ResourceLPC limit: the resource's own power is the import, it is the only load."""
    charger = ev()
    decision = run([at(charger)], 11.04, limit=7.0)  # target 6.65
    assert moves(decision) == [("ev", "curtail", 7)]  # 9 A = 6.21 kW
    assert decision.expected_import_kw == pytest.approx(9 * EV_KW_PER_A)
    restored = run([at(charger, 7)], 9 * EV_KW_PER_A, limit=11.04 / 0.85)
    assert moves(restored)[0][1] == "restore"


def test_battery_discharges_to_cover_the_excess() -> None:
    """A battery through a setpoint discharges just enough; through a mode, all or nothing."""
    battery = battery_number_load("bat", max_discharge_kw=5, step_kw=0.5)
    decision = run([at(battery, power_kw=0.0)], 6.6)  # 0.9 kW too much
    assert moves(decision) == [("bat", "curtail", 2)]
    assert decision.actions[0].value == 1.0
    mode = battery_select_load("bat", option="force_discharge", discharge_kw=3)
    decision = run([at(mode, power_kw=0.0)], 6.6)
    assert decision.actions[0].value == "force_discharge"
    assert decision.expected_import_kw == pytest.approx(3.6)


def test_shortfall_when_the_loads_cannot_do_more() -> None:
    """Everything is off and the house alone is above the limit: the shortfall says how far."""
    loads = [at(switch_load("wh", nominal_kw=2), 1)]
    decision = run(loads, 7.0)
    assert decision.actions == () and decision.shortfall_kw == pytest.approx(1.3)


def test_margin_and_hysteresis_settings() -> None:
    """A fixed margin and band replace the fractions of the limit."""
    loads = [at(switch_load("wh", nominal_kw=2), 1)]
    tuned = LimitSettings(margin_kw=1.0, hysteresis_fraction=0.0, hysteresis_min_kw=1.0)
    assert run(loads, 3.0, settings=tuned).actions == ()  # 3 + 2 > 6 - 1 - 1
    assert run(loads, 2.0, settings=tuned).target_kw == 5.0
    assert moves(run(loads, 2.0, settings=tuned)) == [("wh", "restore", 0)]


# Property tests -----------------------------------------------------------

_SPECS = st.one_of(
    st.builds(
        lambda n, lo, span, step: number_load(
            n,
            minimum=lo,
            maximum=lo + span,
            step=step,
            kw_per_unit=EV_KW_PER_A,
            stop_value=0,
        ),
        st.just("n"),
        st.integers(1, 8),
        st.integers(0, 26),
        st.sampled_from([0.5, 1.0, 2.0]),
    ),
    st.builds(
        lambda n, kw: switch_load(n, nominal_kw=kw), st.just("s"), st.floats(0.1, 5.0)
    ),
    st.builds(
        lambda n, kw, k: climate_load(n, nominal_kw=kw, kw_per_degree=k),
        st.just("c"),
        st.floats(0.3, 4.0),
        st.one_of(st.none(), st.floats(0.1, 1.0)),
    ),
    st.builds(
        lambda n, kw: battery_number_load(n, max_discharge_kw=kw, step_kw=0.5),
        st.just("b"),
        st.floats(0.5, 5.0),
    ),
)


def _keyed(specs: list[LoadSpec]) -> list[LoadSpec]:
    return [replace(spec, key=f"{spec.key}{i}") for i, spec in enumerate(specs)]


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(_SPECS, min_size=1, max_size=8),
    data=st.data(),
    base=st.floats(0.0, 15.0),
    limit=st.floats(1.0, 40.0),
)
def test_shedding_reaches_the_target_whenever_the_loads_can(
    specs: list[LoadSpec], data: st.DataObject, base: float, limit: float
) -> None:
    """Shedding reaches the target whenever the loads can make it so.

    With loads drawing their level's nominal power and no dwell pending, the
    import once the actions took effect is <= target whenever the deepest
    curtailment of every load makes it so, and never more than before.
    """
    specs = _keyed(specs)
    levels = [data.draw(st.integers(0, len(s.levels) - 1)) for s in specs]
    loads = [at(s, lv) for s, lv in zip(specs, levels, strict=True)]
    reading = base + sum(
        s.levels[lv].power_kw for s, lv in zip(specs, levels, strict=True)
    )
    decision = run(loads, reading, limit=limit)
    after = dict(zip([s.key for s in specs], levels, strict=True))
    for action in decision.actions:
        assert action.kind is not ActionKind.RELEASE
        after[action.key] = action.level
    result = base + sum(s.levels[after[s.key]].power_kw for s in specs)
    target = limit * 0.95
    assert decision.expected_import_kw == pytest.approx(result, abs=1e-6)
    if reading > target + 1e-9:
        event("shed")
        assert all(a.kind is ActionKind.CURTAIL for a in decision.actions)
        assert result <= reading + 1e-9
        floor = base + sum(
            min(lv.power_kw for lv in s.levels[after[s.key] :]) for s in specs
        )
        if floor <= target:
            event("shed to the target")
            assert result <= target + 1e-6
        else:
            assert decision.shortfall_kw > 0
    else:
        assert all(a.kind is ActionKind.RESTORE for a in decision.actions)


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(_SPECS, min_size=1, max_size=8),
    data=st.data(),
    base=st.floats(0.0, 10.0),
    limit=st.floats(1.0, 40.0),
)
def test_restore_never_pushes_the_import_over_the_limit(
    specs: list[LoadSpec], data: st.DataObject, base: float, limit: float
) -> None:
    """A restore never pushes the import over the limit.

    Whatever the loads draw below their level's cap, a restore leaves room for
    every restored load at full power and every thermostatic load starting.
    """
    specs = _keyed(specs)
    loads = []
    for spec in specs:
        level = data.draw(st.integers(0, len(spec.levels) - 1))
        cap = spec.levels[level].power_kw
        power = data.draw(st.floats(min(0.0, cap), max(0.0, cap))) if cap > 0 else cap
        loads.append(at(spec, level, power_kw=power))
    reading = base + sum(ld.state.power_kw or 0.0 for ld in loads)
    decision = run(loads, reading, limit=limit)
    event("restore" if decision.actions else "no action")
    if not decision.actions or decision.actions[0].kind is not ActionKind.RESTORE:
        return
    new = {a.key: a.level for a in decision.actions}
    worst = base
    for ld in loads:
        if ld.spec.key in new:
            worst += ld.spec.levels[new[ld.spec.key]].power_kw
        elif ld.spec.thermostatic:
            worst += max(
                ld.spec.levels[ld.state.level].power_kw, ld.state.power_kw or 0.0
            )
        else:
            worst += ld.state.power_kw or 0.0
    hysteresis = max(0.1 * limit, 0.2)
    assert worst <= limit * 0.95 - hysteresis + 1e-6
    assert decision.expected_import_kw is not None
    assert decision.expected_import_kw <= limit


@settings(max_examples=200, deadline=None)
@given(
    specs=st.lists(_SPECS, min_size=0, max_size=10),
    data=st.data(),
    reading=st.one_of(st.none(), st.floats(-10.0, 60.0)),
    limit=st.one_of(st.none(), st.floats(0.5, 40.0)),
    age=st.integers(0, 120),
)
def test_any_input_gives_a_valid_decision(
    specs: list[LoadSpec],
    data: st.DataObject,
    reading: float | None,
    limit: float | None,
    age: int,
) -> None:
    """Random states, dwell times, readings: valid levels, one action per load, deterministic."""
    specs = _keyed(specs)
    loads = [
        Load(
            spec,
            LoadState(
                level=data.draw(st.integers(0, len(spec.levels) - 1)),
                changed_at=data.draw(
                    st.one_of(
                        st.none(),
                        st.integers(0, 600).map(lambda s: NOW - timedelta(seconds=s)),
                    )
                ),
                previous_level=data.draw(
                    st.one_of(st.none(), st.integers(0, len(spec.levels) - 1))
                ),
                power_kw=data.draw(st.one_of(st.none(), st.floats(-5.0, 20.0))),
                overridden=data.draw(st.booleans()),
                hard_sheds=data.draw(st.integers(0, 12)),
            ),
        )
        for spec in specs
    ]
    stamp = NOW - timedelta(seconds=age)
    tuning = LimitSettings(keep_off=data.draw(st.booleans()))
    since = data.draw(
        st.one_of(
            st.none(), st.integers(0, 400).map(lambda s: NOW - timedelta(seconds=s))
        )
    )
    decision = decide(
        loads,
        now=NOW,
        limit_kw=limit,
        import_kw=reading,
        import_at=stamp,
        over_target_since=since,
        settings=tuning,
    )
    again = decide(
        loads,
        now=NOW,
        limit_kw=limit,
        import_kw=reading,
        import_at=stamp,
        over_target_since=since,
        settings=tuning,
    )
    assert decision == again
    by_key = {ld.spec.key: ld for ld in loads}
    assert len({a.key for a in decision.actions}) == len(decision.actions)
    for action in decision.actions:
        load = by_key[action.key]
        assert 0 <= action.level < len(load.spec.levels)
        if load.state.overridden:
            assert action.kind is ActionKind.RELEASE
        assert (
            action.value == load.spec.levels[action.level].value
            or action.kind is ActionKind.RELEASE
        )
    assert decision.stale == (limit is not None and (reading is None or age > 30))


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(_SPECS, min_size=1, max_size=8),
    data=st.data(),
    limit=st.floats(1.0, 40.0),
    over=st.floats(0.0, 1.0),
    since=st.integers(0, 179),
)
def test_no_switch_off_inside_the_margin_band_grace(
    specs: list[LoadSpec],
    data: st.DataObject,
    limit: float,
    over: float,
    since: int,
) -> None:
    """Within the grace, an import between the target and the limit never switches a load off."""
    specs = _keyed(specs)
    loads = [at(s, data.draw(st.integers(0, len(s.levels) - 1))) for s in specs]
    target = limit * 0.95
    reading = target + over * (limit - target)
    decision = run(
        loads,
        reading,
        limit=limit,
        over_target_since=NOW - timedelta(seconds=since),
    )
    by_key = {ld.spec.key: ld for ld in loads}
    for action in decision.actions:
        spec = by_key[action.key].spec
        event("throttled")
        assert action.kind is ActionKind.CURTAIL
        assert not spec.levels[action.level].hard
