"""Tables and KPIs derived for all replications at once: equal to one replication at a time, rows checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.experiment import run_replications
from sim.metrics import (
    ReplicationOutputs,
    breakdown,
    event_table,
    event_table_of,
    incident_table,
    incident_table_of,
    kpis_per_replication,
    mean_ci,
    unit_table,
    unit_table_of,
)
from sim.model import simulate
from sim.readiness import SECONDS_PER_DAY, proficiency_curves
from sim.scenario import ReadinessSpec
from sim.world import world_from_matrix
from tests.helpers import base, stream, tiny_scenario

DAY = SECONDS_PER_DAY
TWO_BASES = [base("a", 1, engine=2), base("b", 2, lon=121.1, engine=1)]
TWO_SITES = [
    {"id": "s1", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 400},
    {"id": "s2", "lon": 121.1, "lat": 30.0, "incidents_per_yr": 300},
]


def _congested_world(**extra):
    """Three engines, plans of two, calls close together (waits), drills every 3 days."""
    scenario = tiny_scenario(
        TWO_BASES,
        TWO_SITES,
        response_plans={"call": {1: {"engine": 2}}},
        drills={"interval_days": 3, "duration_h": 6},
        **extra,
    )
    return world_from_matrix(scenario, [[300.0, 500.0], [200.0, 90.0]], access_s=[30.0, 0.0])


def test_batch_tables_equal_per_replication_tables_concatenated():
    world = _congested_world()
    streams = {
        3: stream([100.0, 200.0, 250.0, 5000.0], site=[0, 1, 0, 1]),
        7: stream([]),  # no incident in this replication
        8: stream([10.0, 20.0, 4 * DAY], site=[1, 1, 0]),
    }
    outs = {r: simulate(world, s) for r, s in streams.items()}
    batch = ReplicationOutputs.concat([ReplicationOutputs.of_one(r, outs[r], streams[r]) for r in streams])
    expected = {
        "incidents": [incident_table(world, streams[r], outs[r], r) for r in streams if len(streams[r])],
        "units": [unit_table(world, outs[r], r) for r in streams],
        "events": [event_table(world, outs[r], r) for r in streams],
    }
    derived = {
        "incidents": incident_table_of(world, batch),
        "units": unit_table_of(world, batch),
        "events": event_table_of(world, batch),
    }
    for name, parts in expected.items():
        pd.testing.assert_frame_equal(derived[name], pd.concat(parts, ignore_index=True), check_exact=True)
    incidents = derived["incidents"]
    alone = incident_table(world, streams[3], outs[3], 3)
    assert incidents.dtypes.equals(alone.dtypes)  # a replication without incidents changes no column's dtype
    assert incidents["replication"].tolist() == [3] * 4 + [8] * 3
    assert incidents["incident"].tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert (incidents["waited_s"] > 0).any() and incidents["units_sent"].tolist() == [2] * 7


def test_incident_row_by_hand_mutual_aid_arrives_first():
    """One local engine far away, one neighbouring engine close by (mutual aid, activated after 60 s)."""
    bases = [base("a", 1, engine=1), base("b", 2, "neighbour", lon=121.1, engine=1)]
    scenario = tiny_scenario(
        bases,
        response_plans={"call": {1: {"engine": 2}}},
        dispatch={"mutual_aid": {"activation_delay_min": 1}},
    )
    world = world_from_matrix(scenario, [[600.0], [60.0]], access_s=[30.0])
    s = stream([100.0])
    row = incident_table(world, s, simulate(world, s), replication=5).iloc[0].to_dict()
    # a: dispatched 100, en route 160, road end 760, on scene 790; b: mobilised 160, en route 280, road end 340,
    # on scene 370; work 30 min from 370, cleared 2170
    assert row == {
        "replication": 5,
        "incident": 0,
        "call_at_s": 100.0,
        "call_hour": 0,
        "site_id": "s",
        "source": "site",
        "source_kind": "site",
        "owner_id": "s",
        "km": pytest.approx(math.nan, nan_ok=True),
        "in_hca": False,
        "lon": 121.0,
        "lat": 30.0,
        "incident_type": "call",
        "level_initial": 1,
        "dispatched_at_s": 100.0,
        "waited_s": 0.0,
        "first_unit": "b/engine-1",
        "first_base": "b",
        "first_mutual_aid": True,
        "activation_s": 60.0,
        "turnout_s": 120.0,
        "travel_s": 60.0,
        "access_s": 30.0,
        "first_arrival_s": 270.0,
        "cleared_at_s": 2170.0,
        "on_scene_s": 1800.0,
        "full_response_s": 690.0,
        "escalated": False,
        "level_final": 1,
        "units_sent": 2,
        "units_sent_on": 0,
        "first_sent_on": False,
        "mutual_aid_units": 1,
        "nearest_drilling": False,
    }


def test_first_unit_tie_goes_to_the_lower_unit():
    scenario = tiny_scenario(TWO_BASES, response_plans={"call": {1: {"engine": 2}}})
    world = world_from_matrix(scenario, [[100.0], [900.0]])
    s = stream([100.0])  # both engines of base a: same turnout and travel, on scene together at 260
    row = incident_table(world, s, simulate(world, s), replication=0).iloc[0]
    assert row["first_unit"] == "a/engine-1" and row["first_arrival_s"] == 160.0
    assert row["full_response_s"] == row["first_arrival_s"]


def test_incident_without_any_unit_has_no_response():
    scenario = tiny_scenario(
        TWO_BASES,
        incident_types={
            "call": {"severity": {1: 1.0}, "on_scene_min": 30},
            "leak": {"severity": {1: 1.0}, "on_scene_min": 30},
        },
        incident_mix={"site": {"call": 0.5, "leak": 0.5}},
        response_plans={"call": {1: {"engine": 1}}, "leak": {1: {"hazmat": 1}}},  # there is no hazmat unit
    )
    world = world_from_matrix(scenario, [[120.0], [240.0]])
    s = stream([100.0, 200.0], types=[1, 0], type_names=("call", "leak"))
    table = incident_table(world, s, simulate(world, s), replication=0)
    leak, call = table.iloc[0], table.iloc[1]
    assert leak["incident_type"] == "leak" and call["incident_type"] == "call"
    for col in ("dispatched_at_s", "waited_s", "activation_s", "turnout_s", "travel_s", "access_s"):
        assert math.isnan(leak[col]) and not math.isnan(call[col])
    for col in ("first_arrival_s", "cleared_at_s", "on_scene_s", "full_response_s"):
        assert math.isnan(leak[col]) and not math.isnan(call[col])
    assert pd.isna(leak["first_unit"]) and pd.isna(leak["first_base"]) and call["first_unit"] == "a/engine-1"
    assert (leak["units_sent"], leak["mutual_aid_units"], leak["level_final"]) == (0, 0, 1)
    assert not leak["escalated"] and not leak["first_mutual_aid"]
    kpis = kpis_per_replication(table, (), replications=2).iloc[0]
    assert kpis["incidents"] == 2.0 and kpis["first_arrival_mean_s"] == call["first_arrival_s"]
    assert kpis["full_response_share"] == 0.5 and kpis["waited_share"] == 0.0


def _direct_kpis(incidents: pd.DataFrame, target) -> dict[str, float]:
    """A few KPIs of one replication, straight from numpy."""
    fa = incidents["first_arrival_s"].to_numpy(float)
    fa = fa[np.isfinite(fa)]
    fr = incidents["full_response_s"].to_numpy(float)
    met = np.nan_to_num(incidents["first_arrival_s"].to_numpy(float), nan=np.inf) <= target.limit_s
    return {
        "incidents": float(len(incidents)),
        "first_arrival_mean_s": fa.mean(),
        "first_arrival_median_s": np.quantile(fa, 0.5),
        "first_arrival_p90_s": np.quantile(fa, 0.9),
        "full_response_share": np.isfinite(fr).mean(),
        "waited_share": (incidents["waited_s"].to_numpy(float) > 0).mean(),
        "mutual_aid_share": incidents["mutual_aid_units"].sum() / incidents["units_sent"].sum(),
        f"target:{target.name}": met.mean(),
    }


def test_kpis_per_replication_equal_each_replication_alone():
    targets = [{"name": "first 7 min", "applies_to": "all", "first_arrival_min": 7, "share": 0.9}]
    turnout = {"turnout_min": {"lognormal": {"median": 1, "p90": 3}}}  # arrivals all differ
    bases = [{**TWO_BASES[0], **turnout}, {**TWO_BASES[1], **turnout, "jurisdiction": "neighbour"}]
    scenario = tiny_scenario(bases, TWO_SITES, response_plans={"call": {1: {"engine": 2}}}, targets=targets)
    world = world_from_matrix(scenario, [[300.0, 500.0], [200.0, 90.0]], access_s=[30.0, 0.0])
    result = run_replications(world, replications=5, workers=1)
    target = world.scenario.targets[0]
    kpis = kpis_per_replication(result.incidents, world.scenario.targets, replications=6)
    assert kpis["replication"].tolist() == list(range(6))
    for r in range(5):
        direct = _direct_kpis(result.incidents[result.incidents["replication"] == r], target)
        assert kpis.loc[r, list(direct)].to_dict() == direct
    assert kpis.loc[5, "incidents"] == 0.0 and kpis.drop(columns=["replication", "incidents"]).iloc[5].isna().all()
    assert (kpis.loc[:4, "mutual_aid_share"] > 0).any()


def test_load_kpis_split_hazmat_incidents_from_everyday_calls():
    from sim.metrics import load_kpis

    result = run_replications(_congested_world(), replications=4, workers=1)
    incidents = result.incidents.copy()
    everyday = np.arange(len(incidents)) % 3 == 0
    incidents.loc[everyday, "source"] = "everyday"
    split = load_kpis(incidents, 4)
    assert list(split) == ["hazmat", "everyday"]
    for load, mask in (("hazmat", ~everyday), ("everyday", everyday)):
        per = kpis_per_replication(incidents[mask], (), 4)
        assert split[load]["first_arrival_mean_s"] == mean_ci(per["first_arrival_mean_s"].to_numpy())
        assert split[load]["incidents"]["mean"] == mask.sum() / 4
    assert list(load_kpis(result.incidents, 4)) == ["hazmat"]  # no everyday call: no everyday entry


def test_breakdown_equals_kpis_of_each_group():
    world = _congested_world()
    result = run_replications(world, replications=4, workers=1)
    table = breakdown(result.incidents, "first_base", (), 4)
    assert table["first_base"].tolist() == sorted(result.incidents["first_base"].dropna().unique())
    for _, row in table.iterrows():
        group = result.incidents[result.incidents["first_base"] == row["first_base"]]
        per = kpis_per_replication(group, (), 4)
        assert row["incidents_per_replication"] == mean_ci(per["incidents"].to_numpy())["mean"]
        for key in ("first_arrival_mean_s", "first_arrival_p90_s", "escalation_share", "mutual_aid_share"):
            ci = mean_ci(per[key].to_numpy())
            assert row[key] == pytest.approx(ci["mean"], nan_ok=True, rel=0, abs=0)
            assert row[f"{key}_ci"] == pytest.approx(ci["half_width"], nan_ok=True, rel=0, abs=0)


def test_proficiency_curves_by_hand():
    r = ReadinessSpec(half_life_days=100, initial_proficiency=0.8)
    t = np.array([0.0, 50 * DAY, 100 * DAY, 150 * DAY])
    curves = proficiency_curves(
        t,
        owner=[0, 2, 2, 2],  # unit 1 never drills; unit 2 twice at day 100 (the second holds), once after the end
        drill_end_s=np.array([100, 100, 100, 400]) * DAY,
        level_after=[0.9, 0.7, 1.0, 0.5],
        n_curves=3,
        readiness=r,
    )
    half = 2**-0.5
    assert curves[0] == pytest.approx([0.8, 0.8 * half, 0.9, 0.9 * half])
    assert curves[1] == pytest.approx([0.8, 0.8 * half, 0.4, 0.8 * half**3])
    assert curves[2] == pytest.approx([0.8, 0.8 * half, 1.0, half])


def test_unit_table_drill_gaps_and_proficiency_by_hand():
    drills = {"interval_days": 3, "duration_h": 6, "off_site": True}
    one_engine = [{"id": "a", "lon": 121.0, "lat": 30.0, "units": [{"type": "engine", "count": 1}]}]
    readiness = {"half_life_days": 5, "initial_proficiency": 0.5, "drill_gain": {"tabletop": 0.5}}
    scenario = tiny_scenario(one_engine, drills={**drills, "kind": "tabletop"}, readiness=readiness)
    world = world_from_matrix(scenario, [[60.0]])
    row = unit_table(world, simulate(world, stream([])), replication=0).iloc[0]
    assert row["drills"] == 3  # starts at days 1.5, 4.5, 7.5 of 10
    assert row["max_drill_gap_days"] == 3.0
    assert row["drill_off_site_s"] == 3 * 6 * 3600.0
    p, at, levels = 0.5, 0.0, []  # the daily curve, drill by drill
    ends = [1.5 + 0.25, 4.5 + 0.25, 7.5 + 0.25]
    for day in range(11):
        while ends and ends[0] <= day:
            p = p * 0.5 ** ((ends[0] - at) / 5)
            p, at = p + 0.5 * (1 - p), ends.pop(0)
        levels.append(p * 0.5 ** ((day - at) / 5))
    assert row["mean_proficiency"] == pytest.approx(np.mean(levels), rel=1e-12)


def test_a_target_is_met_only_when_its_interval_lies_above_the_requirement():
    from sim.metrics import mean_ci, target_verdict

    above, below = mean_ci(np.array([0.95, 0.97, 0.96, 0.94])), mean_ci(np.array([0.5, 0.6, 0.55, 0.52]))
    straddles = mean_ci(np.array([0.8, 1.0, 0.85, 0.99]))  # mean 0.91, interval about 0.76-1.06
    assert target_verdict(above, 0.9)["verdict"] == "met" and target_verdict(above, 0.9)["met"] is True
    assert target_verdict(below, 0.9)["verdict"] == "not met" and target_verdict(below, 0.9)["met"] is False
    undecided = target_verdict(straddles, 0.9)
    assert undecided["verdict"] == "undecided" and undecided["met"] is None
    assert undecided["replications_to_decide"] > 4 * 100  # the mean is 0.01 from the requirement
    assert target_verdict(mean_ci(np.array([np.nan])), 0.9)["verdict"] == "no incidents"
