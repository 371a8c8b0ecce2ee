"""Response plans, escalation and mutual aid on hand-made worlds."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from sim.eventlog import EventKind
from sim.model import simulate
from sim.world import world_from_matrix
from tests.helpers import base, stream, tiny_scenario, trace


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


def test_nearest_eta_scan_agrees_with_ranking_every_unit():
    """The early-stopping scan picks exactly what ranking every available unit would, ties included."""
    from sim.dispatch import NearestEta

    rng = np.random.default_rng(3)
    bases = [
        base(f"b{k}", float(rng.choice([0.5, 1.0, 2.0])), "local" if k < 4 else "other", engine=int(rng.integers(1, 3)))
        for k in range(7)
    ]
    sites = [{"id": f"s{k}", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 1} for k in range(5)]
    mutual_aid = {"activation_delay_min": 4, "local_eta_limit_min": 6}
    scenario = tiny_scenario(bases, sites, dispatch={"mutual_aid": mutual_aid})
    travel = rng.choice([60.0, 120.0, 180.0, 300.0], size=(7, 5))  # exact, repeated values make ties
    world = world_from_matrix(scenario, travel, access_s=rng.choice([0.0, 30.0], size=5))
    policy = NearestEta(world)
    n = len(world.units)
    mean_s = [d.mean_s() for d in world.units.turnout]
    for _ in range(2000):
        available = (rng.random(n) < 0.6).tolist()
        extra_s = rng.choice([0.0, 0.0, 30.0, 60.0, 300.0], size=n)
        slow = rng.choice([1.0, 1.0, 1.5, 2.0], size=n)
        turnout = lambda u, slow=slow, extra_s=extra_s: float(mean_s[u] * slow[u] + extra_s[u])  # noqa: E731
        site, count = int(rng.integers(5)), int(rng.integers(1, 5))
        keys = []
        for u in range(n):
            if available[u]:
                eta = turnout(u) + travel[world.units.base[u], site] + world.access_s[site]
                local = bool(world.units.local[u])
                keys.append((not (local and eta <= 360.0), eta if local else eta + 240.0, u))
        expected = [u for _, _, u in sorted(keys)[:count]]
        assert [unit for unit, _, _ in policy.choose(site, "engine", count, available, turnout)] == expected


def test_local_unit_within_limit_beats_a_sooner_mutual_aid_unit_met_first():
    """Mutual aid (scan bound 330 s) is met before the local unit (bound 360 s), yet the local one within the
    6-minute limit must win: the scan may not stop at the first bound beyond the chosen unit's estimate."""
    from sim.dispatch import NearestEta

    bases = [base("local", 1, engine=1), base("other", 0.5, "other", engine=1)]
    mutual_aid = {"activation_delay_min": 4, "local_eta_limit_min": 6}
    world = world_from_matrix(tiny_scenario(bases, dispatch={"mutual_aid": mutual_aid}), [[300.0], [60.0]])
    mean_s = [d.mean_s() for d in world.units.turnout]
    chosen = NearestEta(world).choose(0, "engine", 1, [True, True], lambda u: mean_s[u])
    assert chosen == [(0, False, 360.0)]


def test_rush_hour_favours_the_unit_with_the_shorter_drive():
    """Free flow: B (30 s turnout + 180 s drive) beats A (120 s + 100 s); with drives doubled, A (320 s) beats B."""
    from sim.dispatch import NearestEta

    bases = [base("a", 2, engine=1), base("b", 0.5, engine=1)]
    world = world_from_matrix(tiny_scenario(bases), [[100.0], [180.0]])
    policy = NearestEta(world)
    mean_s = [d.mean_s() for d in world.units.turnout]
    assert policy.choose(0, "engine", 1, [True, True], lambda u: mean_s[u]) == [(1, False, 210.0)]
    assert policy.choose(0, "engine", 1, [True, True], lambda u: mean_s[u], 2.0) == [(0, False, 320.0)]


def _served_after_the_first(queue: str) -> list[int]:
    """One engine; calls at 0 s (level 1), 60 s (level 1) and 120 s (level 3): the order the waiting two get it."""
    scenario = tiny_scenario([base("a", engine=1)], dispatch={"queue": queue})
    out = simulate(world_from_matrix(scenario, [[60.0]]), stream([0.0, 60.0, 120.0], level=[1, 1, 3]))
    return [i for _, kind, i, _ in trace(out, {"DISPATCH"})][1:]


def test_waiting_line_first_come_first_served():
    assert _served_after_the_first("fifo") == [1, 2]


def test_waiting_line_by_level_then_age():
    assert _served_after_the_first("level_then_age") == [2, 1]


def test_a_new_policy_is_a_class_and_a_registration(monkeypatch):
    """A policy registered by name is accepted by the scenario and used by the model (here: the farthest unit)."""
    import sim.dispatch as dispatch
    from sim.errors import ScenarioError

    monkeypatch.setattr(dispatch, "POLICIES", dict(dispatch.POLICIES))

    @dispatch.register_policy("farthest_first")
    class FarthestFirst:
        def __init__(self, world):
            self.travel = world.travel_out_s

        def assign(self, site, wanted, fleet, travel_factor):
            chosen = []
            for unit_type, count in wanted.items():
                free = [u for u in fleet.units_of_type[unit_type] if fleet.available[u]]
                free.sort(key=lambda u: -fleet.road_out_s(u, site))
                chosen += [(u, False, 0.0) for u in free[:count]]
            return chosen

    bases = [base("near", engine=1), base("far", engine=1)]
    travel = [[60.0], [600.0]]
    near = simulate(world_from_matrix(tiny_scenario(bases), travel), stream([0.0]))
    far = simulate(
        world_from_matrix(tiny_scenario(bases, dispatch={"policy": "farthest_first"}), travel), stream([0.0])
    )
    assert [u for *_, u in trace(near, {"DISPATCH"})] == [0]
    assert [u for *_, u in trace(far, {"DISPATCH"})] == [1]
    with pytest.raises(ScenarioError, match="unknown policy 'nearest'; choose from farthest_first, nearest_eta"):
        tiny_scenario(bases, dispatch={"policy": "nearest"})


def _hypercube_cross_share(lam1_h: float, lam2_h: float, mu_h: float, prefer_own: bool = True) -> float:
    """Larson's hypercube for two units with districts (infinite line, same service rate): the share of district-1
    calls sent at once to unit 2, P(state 10) by PASTA, from (lam + mu) P10 = lam_1 P00 + mu P11 with P00 and P11
    of M/M/2. ``prefer_own=False``: every call prefers unit 1 (a wrong model)."""
    lam, a = lam1_h + lam2_h, (lam1_h + lam2_h) / mu_h
    p0 = 1.0 / (1.0 + a + a * a / 2.0 / (1.0 - a / 2.0))
    p2 = a * a / 2.0 * p0
    return ((lam1_h if prefer_own else lam) * p0 + mu_h * p2) / (lam + mu_h)


def test_two_districts_match_the_hypercube_model():
    """Two single-engine bases, each 1 s from its own district's site and 2 s from the other (drives back 0 s),
    exponential work: the share of each district's calls answered at once from the other base is Larson's P(10)
    (P(01)) within Bonferroni CIs; the model where everyone prefers unit 1 lies outside."""
    from scipy import stats

    from sim.experiment import run_replications

    lam1_h, lam2_h, mu_h = 1.0, 0.5, 1.0
    sites = [
        {"id": "s1", "lon": 121.0, "lat": 30.0, "incidents_per_yr": lam1_h * 24 * 365.25},
        {"id": "s2", "lon": 121.0, "lat": 30.0, "incidents_per_yr": lam2_h * 24 * 365.25},
    ]
    scenario = tiny_scenario(
        [base("a", 0, engine=1), base("b", 0, engine=1)],
        sites,
        incident_types={"call": {"severity": {1: 1.0}, "on_scene_min": {"exponential": {"mean": 60 / mu_h}}}},
        horizon_days=60,
        replications=30,
    )
    world = world_from_matrix(scenario, [[1.0, 2.0], [2.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]])
    incidents = run_replications(world, workers=1).incidents
    at_once = incidents[incidents["waited_s"] == 0]
    for site, own, lam_own, lam_other in (("s1", "a", lam1_h, lam2_h), ("s2", "b", lam2_h, lam1_h)):
        calls = incidents[incidents["site_id"] == site].groupby("replication").size()
        crossed = at_once[(at_once["site_id"] == site) & (at_once["first_base"] != own)].groupby("replication").size()
        share = (crossed.reindex(calls.index, fill_value=0) / calls).to_numpy()
        half = stats.t.ppf(1 - 0.01 / 4, len(share) - 1) * share.std(ddof=1) / np.sqrt(len(share))
        theory = _hypercube_cross_share(lam_own, lam_other, mu_h)
        assert abs(share.mean() - theory) <= half, (site, share.mean(), theory, half)
    wrong = _hypercube_cross_share(lam1_h, lam2_h, mu_h, prefer_own=False)
    s1 = incidents[incidents["site_id"] == "s1"].groupby("replication").size()
    crossed = at_once[(at_once["site_id"] == "s1") & (at_once["first_base"] == "b")].groupby("replication").size()
    share = (crossed.reindex(s1.index, fill_value=0) / s1).to_numpy()
    assert abs(share.mean() - wrong) > 3 * share.std(ddof=1) / np.sqrt(len(share))
