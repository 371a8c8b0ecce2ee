"""Drills take units out of service; proficiency follows its formula."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import simulate
from sim.readiness import after_drill, decayed, proficiency_curve, proficiency_curves
from sim.world import world_from_matrix
from tests.helpers import stream, tiny_scenario, trace

TWO_ENGINES = [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine", "count": 2}]}]
DAY = 86400.0


def test_proficiency_formula():
    assert decayed(0.8, 300 * DAY, 300 * DAY) == pytest.approx(0.4)
    assert decayed(1.0, 0.0, 10.0) == 1.0
    assert after_drill(0.4, 0.5) == pytest.approx(0.7)
    from sim.scenario import ReadinessSpec

    r = ReadinessSpec(half_life_days=100, initial_proficiency=1.0)
    t = np.array([0.0, 50 * DAY, 100 * DAY, 150 * DAY])
    curve = proficiency_curve(t, drill_end_s=[100 * DAY], level_after=[0.9], readiness=r)
    assert curve == pytest.approx([1.0, 2**-0.5, 0.9, 0.9 * 2**-0.5])


def test_proficiency_curves_of_many_units_equal_each_unit_alone():
    """Units sharing drill times (fewer distinct times than units: decay factors computed once per time) or not,
    and a unit without drills."""
    from sim.scenario import ReadinessSpec

    r = ReadinessSpec(half_life_days=30, initial_proficiency=0.7)
    t = np.linspace(0.0, 365 * DAY, 366)
    rng = np.random.default_rng(1)
    shared = np.array([40.25, 100.25, 160.25, 400.0]) * DAY  # the last one after the end
    drills = {u: shared for u in range(20)} | {20: np.sort(rng.uniform(0, 365, 5)) * DAY, 21: np.array([])}
    levels = {u: rng.uniform(0.5, 1.0, len(d)) for u, d in drills.items()}
    owner = np.concatenate([np.full(len(d), u) for u, d in drills.items()])
    ends = np.concatenate(list(drills.values()))
    curves = proficiency_curves(t, owner, ends, np.concatenate(list(levels.values())), len(drills), r)
    for u in drills:
        assert (curves[u] == proficiency_curve(t, drills[u], levels[u], r)).all()
    assert curves[21] == pytest.approx(0.7 * 0.5 ** (t / (30 * DAY)))


def test_unit_on_off_site_drill_is_never_dispatched():
    drills = {"interval_days": 2, "duration_h": 12, "off_site": True}
    scenario = tiny_scenario(TWO_ENGINES, drills=drills)
    world = world_from_matrix(scenario, [[60.0]])
    calls = np.arange(0.0, 10 * DAY, 1800.0)  # a call every half hour
    out = simulate(world, stream(calls))
    rows = trace(out)
    for unit in (0, 1):
        starts = [t for t, k, _, u in rows if k == "DRILL_START" and u == unit]
        ends = [t for t, k, _, u in rows if k == "DRILL_END" and u == unit]
        assert len(starts) == len(ends) >= 4
        dispatches = [t for t, k, _, u in rows if k == "DISPATCH" and u == unit]
        for s, e in zip(starts, ends, strict=True):
            assert not any(s <= t < e for t in dispatches)


def test_drill_due_during_a_call_starts_on_return():
    drills = {"interval_days": 1, "duration_h": 1, "off_site": True}
    one = [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine", "count": 1}]}]
    world = world_from_matrix(tiny_scenario(one, drills=drills), [[60.0]])
    due = 0.5 * DAY  # one unit: first drill at half the interval
    out = simulate(world, stream([due - 600.0]))
    rows = trace(out)
    back = next(t for t, k, _, _ in rows if k == "AT_BASE")
    assert back > due
    assert next(t for t, k, _, _ in rows if k == "DRILL_START") == back


def test_proficiency_slows_turnout():
    slow = {"initial_proficiency": 0.5, "turnout_penalty": 1.0}
    drills = {"interval_days": 1000, "duration_h": 0}
    base = tiny_scenario(TWO_ENGINES, drills=drills)
    worse = tiny_scenario(TWO_ENGINES, drills=drills, readiness=slow)
    t_ok = trace(simulate(world_from_matrix(base, [[60.0]]), stream([10.0])), {"EN_ROUTE"})[0][0]
    t_slow = trace(simulate(world_from_matrix(worse, [[60.0]]), stream([10.0])), {"EN_ROUTE"})[0][0]
    assert t_ok - 10 == pytest.approx(60.0)
    assert t_slow - 10 == pytest.approx(60.0 * 1.5)


def test_expected_turnout_is_the_slowed_mean_plus_recall():
    """The dispatch hot path writes proficiency and slowdown out: it must agree with them exactly."""
    from sim.eventlog import LogWriter
    from sim.fleet import Fleet, fleet_tables
    from sim.readiness import slowdown

    drills = {"interval_days": 3, "duration_h": 2, "off_site": False, "recall_delay_min": 4}
    scenario = tiny_scenario(TWO_ENGINES, drills=drills, readiness={"turnout_penalty": 0.7, "half_life_days": 2})
    tables = fleet_tables(world_from_matrix(scenario, [[60.0]]))
    fleet = Fleet(tables, LogWriter(), lambda unit, at_s: None)
    fleet.prof_last[1], fleet.prof_at_s[1], fleet.recall_s[1] = 0.8, 1000.0, 240.0
    fleet.now = 5 * DAY
    for unit in (0, 1):
        expected = (
            tables.turnout_mean_s[unit] * slowdown(fleet.proficiency(unit, fleet.now), 0.7) + fleet.recall_s[unit]
        )
        assert fleet.expected_turnout_s(unit) == expected
    assert fleet.expected_turnout_s(1) > fleet.expected_turnout_s(0) + 240.0


def test_a_call_during_an_at_base_drill_adds_the_recall_delay_to_the_turnout():
    """The drill ends at the call (and counts) and the unit turns out recall_delay_min later than it would."""
    one = [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine", "count": 1}]}]
    drills = {"interval_days": 1, "duration_h": 2, "off_site": False, "recall_delay_min": 4, "stagger_days": 0}
    scenario = tiny_scenario(one, drills=drills, readiness={"turnout_penalty": 0.0})
    rows = trace(simulate(world_from_matrix(scenario, [[60.0]]), stream([600.0])), {"DRILL_END", "EN_ROUTE"})
    assert rows[:2] == [(600.0, "DRILL_END", None, 0), (600.0 + 60.0 + 240.0, "EN_ROUTE", 0, 0)]


def test_units_back_together_serve_a_waiting_call_before_an_overdue_drill():
    """Engine and foam of one base come back at one instant to a waiting call: both go, the foam's overdue drill
    waits (calls before drills), whichever of the two the model looks at first."""
    pair = [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine"}, {"type": "foam"}]}]
    drills = {"interval_days": 0.1, "duration_h": 2, "off_site": False, "recall_delay_min": 4, "unit_types": ["foam"]}
    plans = {"call": {1: {"engine": 1, "foam": 1}}}
    scenario = tiny_scenario(pair, drills=drills, response_plans=plans, readiness={"turnout_penalty": 0.0})
    out = simulate(world_from_matrix(scenario, [[120.0]], [[150.0]]), stream([4000.0, 4100.0]))
    rows = [row for row in trace(out, {"AT_BASE", "DISPATCH", "EN_ROUTE", "DRILL_START"}) if 6000 < row[0] < 8000]
    assert rows == [
        (6130.0, "AT_BASE", 0, 0),
        (6130.0, "AT_BASE", 0, 1),
        (6130.0, "DISPATCH", 1, 0),
        (6130.0, "DISPATCH", 1, 1),
        (6190.0, "EN_ROUTE", 1, 0),
        (6190.0, "EN_ROUTE", 1, 1),  # no recall delay: the drill did not start
    ]
