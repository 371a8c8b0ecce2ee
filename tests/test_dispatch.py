"""Response plans, escalation and mutual aid on hand-made worlds."""

from __future__ import annotations

from collections import Counter

import numpy as np

from sim.model import EventKind, simulate
from sim.world import world_from_matrix
from tests.helpers import stream, tiny_scenario, trace


def _bases():
    return [
        {
            "id": "near",
            "lon": 121.0,
            "lat": 30.0,
            "turnout_min": 1,
            "units": [{"type": "engine", "count": 1}, {"type": "hazmat", "count": 1}],
        },
        {
            "id": "mid",
            "lon": 121.0,
            "lat": 30.0,
            "turnout_min": 1,
            "units": [{"type": "engine", "count": 2}, {"type": "foam", "count": 1}],
        },
        {
            "id": "far",
            "lon": 121.0,
            "lat": 30.0,
            "turnout_min": 1,
            "units": [{"type": "engine", "count": 1}, {"type": "hazmat", "count": 1}],
        },
    ]


def _dispatched(world, out, incident=0):
    units = [u for _, k, i, u in trace(out) if k == "DISPATCH" and i == incident]
    return [world.units.unit_id[u] for u in units]


def test_plan_two_engines_one_hazmat_dispatches_exactly_that_nearest_first():
    scenario = tiny_scenario(_bases(), response_plans={"call": {1: {"engine": 2, "hazmat": 1}}})
    world = world_from_matrix(scenario, [[60.0], [300.0], [900.0]])
    out = simulate(world, stream([10.0]))
    sent = _dispatched(world, out)
    assert Counter(u.split("/")[1].split("-")[0] for u in sent) == {"engine": 2, "hazmat": 1}
    assert set(sent) == {"near/engine-1", "mid/engine-1", "near/hazmat-1"}


def test_short_of_units_the_rest_comes_as_units_free_up():
    scenario = tiny_scenario(_bases(), response_plans={"call": {1: {"hazmat": 1}, 2: {"hazmat": 2}}})
    world = world_from_matrix(scenario, [[60.0], [300.0], [900.0]])
    out = simulate(world, stream([10.0, 20.0, 30.0]))
    rows = trace(out)
    assert "QUEUED" in [k for _, k, i, _ in rows if i == 2]
    first_back = min(t for t, k, _, _ in rows if k == "AT_BASE")
    assert [t for t, k, i, _ in rows if k == "DISPATCH" and i == 2] == [first_back]


def test_escalation_only_past_the_threshold():
    plans = {"call": {1: {"engine": 1}, 2: {"engine": 2, "foam": 1}}}
    scenario = tiny_scenario(_bases(), response_plans=plans)
    world = world_from_matrix(scenario, [[60.0], [300.0], [900.0]])
    # first arrival is 60 s turnout + 60 s travel = 120 s after the call
    late = simulate(world, stream([0.0], escalation_s=[119.0]))
    on_time = simulate(world, stream([0.0], escalation_s=[121.0]))
    assert [(k, v) for _, k, _, _, v in late.events.tolist() if k == EventKind.ESCALATED] == [
        (EventKind.ESCALATED, 2.0)
    ]
    assert not any(k == EventKind.ESCALATED for k in on_time.events["kind"])
    assert Counter(u.split("/")[1][:4] for u in _dispatched(world, late)) == {"engi": 2, "foam": 1}
    assert len(_dispatched(world, on_time)) == 1


def _aid_bases(local_minutes: float):
    return [
        {
            "id": "home",
            "lon": 121.0,
            "lat": 30.0,
            "turnout_min": 1,
            "units": [{"type": "engine", "count": 1}],
        },
        {
            "id": "aid",
            "lon": 121.0,
            "lat": 30.0,
            "turnout_min": 1,
            "jurisdiction": "neighbour",
            "units": [{"type": "engine", "count": 1}],
        },
    ], [[local_minutes * 60.0], [120.0]]


def test_mutual_aid_only_when_no_local_unit_within_the_limit_and_after_its_activation_delay():
    dispatch = {"mutual_aid": {"activation_delay_min": 15, "local_eta_limit_min": 20}}
    bases, travel = _aid_bases(local_minutes=30)
    world = world_from_matrix(tiny_scenario(bases, dispatch=dispatch), travel)
    out = simulate(world, stream([0.0]))
    assert _dispatched(world, out) == ["aid/engine-1"]
    times = {k: t for t, k, i, u in trace(out) if u == 1}
    assert times["MOBILISED"] - times["DISPATCH"] == 15 * 60
    assert times["ON_SCENE"] == 15 * 60 + 60 + 120

    bases, travel = _aid_bases(local_minutes=10)  # local ETA 11 min is within the 20 min limit
    world = world_from_matrix(tiny_scenario(bases, dispatch=dispatch), travel)
    assert _dispatched(world, simulate(world, stream([0.0]))) == ["home/engine-1"]


def test_mutual_aid_used_when_the_local_unit_is_busy():
    dispatch = {"mutual_aid": {"activation_delay_min": 15, "local_eta_limit_min": 20}}
    bases, travel = _aid_bases(local_minutes=5)
    world = world_from_matrix(tiny_scenario(bases, dispatch=dispatch), travel)
    out = simulate(world, stream([0.0, 60.0]))
    assert _dispatched(world, out, 1) == ["aid/engine-1"]
    assert np.isclose(out.status_time_s.sum(axis=1), out.end_s).all()
