"""Exact event traces on tiny scenarios, and the M/M/c check against Erlang C."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.eventlog import NO_ID, EventKind, LogWriter
from sim.experiment import run_replications
from sim.forces import UnitStatus
from sim.model import simulate
from sim.world import world_from_matrix
from tests.helpers import stream, tiny_scenario, trace

ONE_ENGINE = [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine", "count": 1}]}]


def test_exact_trace_one_unit_two_incidents():
    world = world_from_matrix(tiny_scenario(ONE_ENGINE), [[120.0]], [[150.0]])
    out = simulate(world, stream([100.0, 200.0]))
    assert trace(out) == [
        (100.0, "CALL", 0, None),
        (100.0, "DISPATCH", 0, 0),
        (100.0, "MOBILISED", 0, 0),
        (160.0, "EN_ROUTE", 0, 0),
        (200.0, "CALL", 1, None),
        (200.0, "QUEUED", 1, None),
        (280.0, "AT_ROAD_END", 0, 0),
        (280.0, "ON_SCENE", 0, 0),
        (2080.0, "CLEARED", 0, None),
        (2080.0, "RELEASED", 0, 0),
        (2230.0, "AT_BASE", 0, 0),
        (2230.0, "DISPATCH", 1, 0),
        (2230.0, "MOBILISED", 1, 0),
        (2290.0, "EN_ROUTE", 1, 0),
        (2410.0, "AT_ROAD_END", 1, 0),
        (2410.0, "ON_SCENE", 1, 0),
        (4210.0, "CLEARED", 1, None),
        (4210.0, "RELEASED", 1, 0),
        (4360.0, "AT_BASE", 1, 0),
    ]


def test_status_times_add_up_and_match_phases():
    world = world_from_matrix(tiny_scenario(ONE_ENGINE), [[120.0]], [[150.0]])
    out = simulate(world, stream([100.0, 200.0]))
    row = out.status_time_s[0]
    assert row.sum() == pytest.approx(out.end_s)
    assert row[UnitStatus.MOBILISING] == pytest.approx(120.0)
    assert row[UnitStatus.EN_ROUTE] == pytest.approx(240.0)
    assert row[UnitStatus.ON_SCENE] == pytest.approx(3600.0)
    assert row[UnitStatus.RETURNING] == pytest.approx(300.0)


def test_incident_table_parts_sum_to_first_arrival():
    scenario = tiny_scenario(ONE_ENGINE)
    world = world_from_matrix(scenario, [[120.0]], [[150.0]], access_s=[30.0])
    from sim.metrics import incident_table

    s = stream([100.0, 200.0])
    table = incident_table(world, s, simulate(world, s), replication=0)
    assert table["waited_s"].tolist() == [0.0, 2230.0 + 30 * 2 - 200.0]
    parts = table[["waited_s", "activation_s", "turnout_s", "travel_s", "access_s"]].sum(axis=1)
    assert np.allclose(parts, table["first_arrival_s"])
    assert table.loc[0, "first_arrival_s"] == pytest.approx(60 + 120 + 30)


def erlang_c(c: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load ``offered`` = lambda / mu."""
    top = offered**c / math.factorial(c) / (1 - offered / c)
    return top / (sum(offered**k / math.factorial(k) for k in range(c)) + top)


def test_mmc_matches_erlang_c():
    """c units, Poisson calls, exponential work, no travel or turnout: P(wait) and mean wait are Erlang C's."""
    c, lam_per_h, mean_work_min = 3, 2.0, 60.0
    scenario = tiny_scenario(
        [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 0, "units": [{"type": "engine", "count": c}]}],
        [{"id": "s", "lon": 121.0, "lat": 30.0, "incidents_per_yr": lam_per_h * 24 * 365.25}],
        incident_types={"call": {"severity": {1: 1.0}, "on_scene_min": {"exponential": {"mean": mean_work_min}}}},
        horizon_days=60,
        replications=12,
    )
    world = world_from_matrix(scenario, [[0.0]])
    result = run_replications(world, workers=1)
    offered = lam_per_h * mean_work_min / 60
    p_wait = erlang_c(c, offered)
    mean_wait_s = p_wait / (c / (mean_work_min * 60) - lam_per_h / 3600)
    per_rep = result.incidents.groupby("replication")
    for observed, theory in (
        (per_rep["waited_s"].apply(lambda w: (w > 0).mean()), p_wait),
        (per_rep["waited_s"].mean(), mean_wait_s),
    ):
        v = observed.to_numpy()
        half = stats.t.ppf(0.995, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
        assert abs(v.mean() - theory) <= half, (v.mean(), theory, half)
        assert half < 0.25 * theory  # the check is tight enough to catch a wrong model


def test_rush_hours_slow_road_travel_both_ways_every_day():
    """Road travel (not the last leg) is multiplied by the factor of the window in which the drive starts."""
    traffic = [{"from_h": 0, "to_h": 1, "travel_factor": 2.0}, {"from_h": 1, "to_h": 2, "travel_factor": 1.5}]
    world = world_from_matrix(tiny_scenario(ONE_ENGINE, traffic=traffic), [[120.0]], [[150.0]], access_s=[30.0])
    day3 = 3 * 86400.0
    rows = trace(simulate(world, stream([100.0, day3 + 5400.0])), {"EN_ROUTE", "AT_ROAD_END", "RELEASED", "AT_BASE"})
    assert rows == [
        (160.0, "EN_ROUTE", 0, 0),
        (400.0, "AT_ROAD_END", 0, 0),  # starts at 0.04 h: 2 x 120 s
        (2230.0, "RELEASED", 0, 0),
        (2560.0, "AT_BASE", 0, 0),  # 30 s on foot, then 2 x 150 s from 0.63 h
        (day3 + 5460.0, "EN_ROUTE", 1, 0),
        (day3 + 5640.0, "AT_ROAD_END", 1, 0),  # 1.52 h on day 3: 1.5 x 120 s
        (day3 + 7470.0, "RELEASED", 1, 0),
        (day3 + 7650.0, "AT_BASE", 1, 0),  # the drive back starts at 2.08 h: free flow
    ]


def test_traffic_windows_are_checked():
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"traffic\[1\]: overlaps traffic\[0\] \(7-9 h\)"):
        tiny_scenario(
            ONE_ENGINE,
            traffic=[{"from_h": 7, "to_h": 9, "travel_factor": 1.2}, {"from_h": 8, "to_h": 10, "travel_factor": 1.3}],
        )
    with pytest.raises(ScenarioError, match=r"traffic\[0\]: to_h must be after from_h, got from_h=12, to_h=11"):
        tiny_scenario(ONE_ENGINE, traffic=[{"from_h": 12, "to_h": 11, "travel_factor": 1.5}])
    with pytest.raises(ScenarioError, match=r"traffic\[0\]\.travel_factor: must be >= 1"):
        tiny_scenario(ONE_ENGINE, traffic=[{"from_h": 7, "to_h": 9, "travel_factor": 0.8}])


def test_a_replication_in_which_no_unit_moves():
    """No incident and no drill: every unit is available all the time (nothing in the log changes a status)."""
    world = world_from_matrix(tiny_scenario(ONE_ENGINE), [[120.0]])
    out = simulate(world, stream([]))
    assert len(out.events) == 0
    assert out.status_time_s.tolist() == [[out.end_s] + [0.0] * (len(UnitStatus) - 1)]


def test_event_log_unpacks_records_in_time_order_keeping_the_order_rows_were_made_at_equal_times():
    writer = LogWriter()
    writer.call(5.0, 0, 2)
    writer.dispatched(5.0, 5.0, 6.0, 8.0, 10.0, 0, 2, False)
    writer.drill(2.0, 10.0, 1, 1.0, 0.9)
    writer.returned(10.0, 12.0, 0, 2)
    log = writer.events()
    K = EventKind
    assert [(t, EventKind(k).name, i, u, v) for t, k, i, u, v in log.tolist()] == [
        (2.0, K.DRILL_START.name, NO_ID, 1, 1.0),
        (5.0, K.CALL.name, 0, NO_ID, 2.0),
        (5.0, K.DISPATCH.name, 0, 2, 0.0),
        (5.0, K.MOBILISED.name, 0, 2, 0.0),
        (6.0, K.EN_ROUTE.name, 0, 2, 0.0),
        (8.0, K.AT_ROAD_END.name, 0, 2, 0.0),
        (10.0, K.ON_SCENE.name, 0, 2, 0.0),
        (10.0, K.DRILL_END.name, NO_ID, 1, 0.9),
        (10.0, K.RELEASED.name, 0, 2, 0.0),
        (12.0, K.AT_BASE.name, 0, 2, 0.0),
    ]
    assert len(LogWriter().events()) == 0


def test_units_back_at_one_instant_serve_the_oldest_waiting_incident_first():
    """A hazmat and a foam come back together; the older waiting call wants the foam, the younger both: the foam
    goes to the older one although the hazmat's return is looked at first."""
    bases = [
        {"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "foam"}]},
        {"id": "b", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "hazmat"}]},
    ]
    types = {t: {"severity": {1: 1.0}, "on_scene_min": 30} for t in ("big", "small")}
    plans = {"big": {1: {"foam": 1, "hazmat": 1}}, "small": {1: {"foam": 1}}}
    scenario = tiny_scenario(bases, incident_types=types, incident_mix={"site": {"big": 1.0}}, response_plans=plans)
    world = world_from_matrix(scenario, [[120.0], [60.0]], [[150.0], [150.0]])
    incidents = stream([100.0, 200.0, 300.0], types=[0, 1, 0], type_names=("big", "small"))
    rows = [row for row in trace(simulate(world, incidents), {"AT_BASE", "DISPATCH"}) if row[0] == 2170.0]
    assert sorted(rows) == [
        (2170.0, "AT_BASE", 0, 0),
        (2170.0, "AT_BASE", 0, 1),
        (2170.0, "DISPATCH", 1, 0),  # the foam to the older call
        (2170.0, "DISPATCH", 2, 1),
    ]


def test_a_unit_back_as_a_new_call_comes_goes_to_the_older_waiting_call():
    """The engine is back at 2230 s, when a new call comes: the call waiting since 200 s gets it."""
    world = world_from_matrix(tiny_scenario(ONE_ENGINE), [[120.0]], [[150.0]])
    rows = trace(simulate(world, stream([100.0, 200.0, 2230.0])), {"QUEUED", "DISPATCH"})
    assert rows == [
        (100.0, "DISPATCH", 0, 0),
        (200.0, "QUEUED", 1, None),
        (2230.0, "DISPATCH", 1, 0),
        (2230.0, "QUEUED", 2, None),
        (4360.0, "DISPATCH", 2, 0),
    ]
