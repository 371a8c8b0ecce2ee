"""Everyday call areas, time profiles, replayed calls and drill windows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.calendar import Calendar
from sim.errors import FarFromRoadError, ScenarioError
from sim.eventlog import EventKind
from sim.hazards import SourceKind, build_sites, generate_incidents, without_roadless_points
from sim.model import simulate
from sim.scenario import scenario_from_dict
from sim.world import world_from_matrix
from tests.helpers import stream

BASE = {"id": "b", "lon": 121.0, "lat": 30.0, "units": [{"type": "engine", "count": 1}]}
ALPHA = 0.001  # per verdict; Bonferroni over the checks of one test where several share it


def _square(lon0: float, lat0: float, side_deg: float) -> list[list[float]]:
    return [[lon0, lat0], [lon0 + side_deg, lat0], [lon0 + side_deg, lat0 + side_deg], [lon0, lat0 + side_deg]]


def _areas_scenario(**extra):
    raw = {
        "name": "areas",
        "horizon_days": 365,
        "bases": [BASE],
        "call_areas": [
            {"id": "town", "polygon": _square(121.0, 30.0, 0.02), "calls_per_yr": 3000, "cell_m": 500},
            {"id": "rural", "polygon": _square(121.1, 30.0, 0.04), "calls_per_yr": 1000, "cell_m": 1000},
        ],
    }
    return scenario_from_dict(raw | extra)


def test_area_calls_follow_the_area_rates_and_spread_evenly_over_the_grid():
    scenario = _areas_scenario()
    sites = build_sites(scenario)
    assert set(sites.source) == {SourceKind.EVERYDAY}
    town = sites.owner_id == "town"
    assert town.sum() == 16 and (~town).sum() == 16  # 2 km squares (about 1.9 x 2.2 km): 4 x 4 points each
    calls = generate_incidents(scenario, sites, np.random.default_rng(5))
    n_town = int(town[calls.site].sum())
    n = len(calls)
    # share of town calls: binomial given the total; a 50:50 split (a wrong model) is far outside the bounds
    low, high = stats.binom.ppf([ALPHA / 4, 1 - ALPHA / 4], n, 0.75)
    assert low <= n_town <= high
    assert not stats.binom.ppf(ALPHA / 4, n, 0.5) <= n_town <= stats.binom.ppf(1 - ALPHA / 4, n, 0.5)
    # within the town: the same rate at every grid point (chi-square, Bonferroni over the two checks)
    per_point = np.bincount(calls.site[town[calls.site]], minlength=len(sites))[town]
    assert stats.chisquare(per_point).pvalue > ALPHA / 2
    total = stats.poisson.ppf([ALPHA / 4, 1 - ALPHA / 4], 4000)
    assert total[0] <= n <= total[1]


def test_roadless_grid_points_give_their_calls_to_the_rest_of_their_area():
    scenario = _areas_scenario()
    sites = build_sites(scenario)
    snap_m = np.where(np.arange(len(sites)) % 4 == 0, 900.0, 50.0)
    kept, notes = without_roadless_points(sites, snap_m, 500.0)
    for area, calls_per_yr in (("town", 3000), ("rural", 1000)):
        rows = kept.owner_id == area
        assert kept.rate_per_s[rows].sum() == pytest.approx(sites.rate_per_s[rows].sum())
        assert kept.rate_per_s[rows].sum() * 365.25 * 86400 == pytest.approx(calls_per_yr)
    assert (kept.rate_per_s[snap_m > 500] == 0).all() and len(notes) == 2
    with pytest.raises(FarFromRoadError, match=r"call_areas\[town\]"):
        without_roadless_points(sites, np.full(len(sites), 900.0), 500.0)


NIGHT_OFF = [0.0] * 6 + [1.0] * 2 + [3.0] * 10 + [1.0] * 6  # nothing 0-6 h, three times the rate 8-18 h


def test_calls_per_hour_follow_the_hour_profile():
    scenario = _areas_scenario(time_profiles={"day": {"hour_of_day": NIGHT_OFF}})
    flat_sites = build_sites(scenario)
    raw = scenario.raw | {"time_profiles": {"day": {"hour_of_day": NIGHT_OFF}}}
    raw["call_areas"] = [a | {"profile": "day"} for a in raw["call_areas"]]
    shaped = scenario_from_dict(raw)
    calls = generate_incidents(shaped, build_sites(shaped), np.random.default_rng(9))
    hours = np.bincount((calls.call_at_s % 86400 // 3600).astype(int), minlength=24)
    assert hours[:6].sum() == 0
    expected = np.asarray(NIGHT_OFF) / sum(NIGHT_OFF) * hours.sum()
    on = expected > 0
    assert stats.chisquare(hours[on], expected[on]).pvalue > ALPHA / 2  # the profile fits
    flat = np.full(24, hours.sum() / 24)
    assert stats.chisquare(hours, flat).pvalue < ALPHA / 2  # a flat model would be rejected
    # the profile keeps the yearly rate (Poisson bounds on the total)
    low, high = stats.poisson.ppf([ALPHA / 2, 1 - ALPHA / 2], 4000)
    assert low <= len(calls) <= high
    assert len(flat_sites) == len(build_sites(shaped))


def test_weekday_and_month_profiles_follow_the_start_date():
    raw = _areas_scenario().raw | {
        "start_date": "2026-03-02",  # a Monday
        "time_profiles": {
            "weekdays": {"day_of_week": [1, 1, 1, 1, 1, 0, 0], "month": [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]}
        },
    }
    raw["call_areas"] = [a | {"profile": "weekdays"} for a in raw["call_areas"]]
    scenario = scenario_from_dict(raw)
    calls = generate_incidents(scenario, build_sites(scenario), np.random.default_rng(2))
    when = [dt.datetime(2026, 3, 2) + dt.timedelta(seconds=float(t)) for t in calls.call_at_s]
    assert when and all(w.weekday() < 5 and w.month in (3, 4) for w in when)
    calendar = Calendar.of(dt.date(2026, 3, 2), 400 * 86400.0)
    assert calendar.weekday(np.array([0.0, 5 * 86400.0]))[[0, 1]].tolist() == [0, 5]


def test_profiles_are_checked_when_loaded():
    with pytest.raises(ScenarioError) as err:
        _areas_scenario(time_profiles={"p": {"hour_of_day": [1.0] * 23, "month": [-1.0] + [1.0] * 11}})
    text = str(err.value)
    assert "time_profiles.p.hour_of_day: needs 24 values, got 23" in text
    assert "time_profiles.p.month: values must be >= 0" in text
    raw = _areas_scenario().raw
    raw["call_areas"][0]["profile"] = "nope"
    with pytest.raises(ScenarioError, match=r"call_areas\[0\]\.profile: unknown time profile 'nope'"):
        scenario_from_dict(raw)


REPLAY_CSV = """id,time,lon,lat,type,level,observed_first_arrival_min
h1,2026-01-01 08:30,121.001,30.001,building_fire,1,6.5
h2,2026-01-03 23:59:30,121.002,30.0,road_accident,2,
h3,2026-01-02 12:00,121.0,30.002,fire,1,9
"""


def _replay_scenario(tmp_path, mode="instead", text=REPLAY_CSV):
    (tmp_path / "calls.csv").write_text(text, encoding="utf-8")
    raw = {
        "name": "replay",
        "horizon_days": 5,
        "bases": [BASE],
        "sites": [{"id": "s", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 2000}],
        "replay": {"file": "calls.csv", "mode": mode},
    }
    return scenario_from_dict(raw, source=str(tmp_path / "s.yaml"), base_dir=tmp_path)


def test_a_replay_gives_exactly_its_calls_at_their_times_and_places(tmp_path):
    scenario = _replay_scenario(tmp_path)
    sites = build_sites(scenario)
    for seed in (1, 2):
        calls = generate_incidents(scenario, sites, np.random.default_rng(seed))
        assert sites.site_id[calls.site].tolist() == ["h1", "h3", "h2"]
        assert calls.call_at_s.tolist() == [8.5 * 3600, 36 * 3600, 2 * 86400 + 86400 - 30]
        assert [calls.type_names[t] for t in calls.incident_type] == ["building_fire", "fire", "road_accident"]
        assert calls.level.tolist() == [1, 1, 2]
        assert sites.lon[calls.site].tolist() == [121.001, 121.0, 121.002]
    beside = _replay_scenario(tmp_path, mode="beside")
    both = generate_incidents(beside, build_sites(beside), np.random.default_rng(1))
    replayed = build_sites(beside).replayed[both.site]
    assert replayed.sum() == 3 and (~replayed).sum() > 10 and (np.diff(both.call_at_s) >= 0).all()


def test_a_bad_replay_row_is_named(tmp_path):
    bad = REPLAY_CSV + "h4,2026-02-01 00:00,121.0,30.0,fire,1,\nh5,2026-01-01 01:00,121.0,30.0,meteor,1,\n"
    with pytest.raises(ScenarioError) as err:
        _replay_scenario(tmp_path, text=bad)
    text = str(err.value)
    assert "replay.calls[3] (h4).time: 2026-02-01 00:00:00 is outside the horizon" in text
    assert "replay.calls[4] (h5).type: unknown incident type 'meteor'" in text


def test_a_drill_due_outside_its_window_starts_when_the_window_opens():
    raw = {
        "name": "window",
        "horizon_days": 14,
        "start_date": "2026-01-01",  # a Thursday
        "bases": [BASE],
        "sites": [{"id": "s", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 1}],
        "drills": {
            "interval_days": 2,
            "duration_h": 3,
            "window": {"from_h": 9, "to_h": 12, "weekdays": ["mon", "tue", "wed", "thu", "fri"]},
        },
    }
    scenario = scenario_from_dict(raw)
    world = world_from_matrix(scenario, [[60.0]])
    out = simulate(world, stream([], type_names=("fire",)))
    starts = out.events["time_s"][out.events["kind"] == EventKind.DRILL_START]
    when = [dt.datetime(2026, 1, 1) + dt.timedelta(seconds=float(t)) for t in starts]
    due = [dt.datetime(2026, 1, 2) + dt.timedelta(days=2 * k) for k in range(7)]  # first due mid-interval: day 1
    assert when and all(w.weekday() < 5 and 9 <= w.hour < 12 for w in when)
    expected, free_at = [], dt.datetime(2026, 1, 1)
    for d in due:  # the next opening at or after both the due time and the end of the last drill
        at = max(d, free_at)
        while not (at.weekday() < 5 and 9 <= at.hour < 12):
            at = (at + dt.timedelta(days=1)).replace(hour=9, minute=0) if at.hour >= 12 or at.weekday() >= 5 else at
            if at.weekday() < 5 and at.hour < 9:
                at = at.replace(hour=9, minute=0)
        expected.append(at)
        free_at = at + dt.timedelta(hours=3)
    assert when == expected
    assert dt.datetime(2026, 1, 13, 9) in when  # the Monday drill pushed by the one deferred from Saturday


def test_a_call_whose_nearest_unit_is_drilling_is_flagged():
    """Base a (60 s away) drills off site from day 1.5 for 4 h; base b (600 s away) does not drill."""
    from sim.metrics import incident_table
    from tests.helpers import base, tiny_scenario

    a = base("a", 1, engine=1) | {"drills": {"interval_days": 3, "duration_h": 4, "off_site": True}}
    scenario = tiny_scenario([a, base("b", 1, engine=1)], horizon_days=3)
    world = world_from_matrix(scenario, [[60.0], [600.0]])
    calls = stream([86400.0, 1.5 * 86400 + 3600, 1.5 * 86400 + 5 * 3600])  # before, during, after the drill
    incidents = incident_table(world, calls, simulate(world, calls), 0)
    assert incidents["nearest_drilling"].tolist() == [False, True, False]
    assert incidents["first_base"].tolist() == ["a", "b", "a"]


def test_a_replay_with_observed_times_gets_a_calibration_table(tmp_path):
    from sim.calibration import calibration_summary, calibration_table
    from sim.experiment import run_replications

    scenario = _replay_scenario(tmp_path)
    world = world_from_matrix(scenario, [[240.0] * len(build_sites(scenario))])
    tables = []
    for _ in range(2):
        result = run_replications(world, replications=3, workers=1)
        tables.append(calibration_table(world, result.incidents))
    pd.testing.assert_frame_equal(tables[0], tables[1])  # the same figures on rerun
    table = tables[0]
    assert table[["call", "part"]].values.tolist() == [["h1", "first_arrival"], ["h3", "first_arrival"]]
    first = result.incidents[result.incidents["site_id"] == "h1"]["first_arrival_s"].mean() / 60
    assert table["simulated_min"].iloc[0] == pytest.approx(first)
    summary = calibration_summary(table).iloc[0]
    errors = table["simulated_min"] - table["observed_min"]
    assert summary["bias_min"] == pytest.approx(errors.mean()) and summary["mae_min"] == pytest.approx(
        errors.abs().mean()
    )


def test_the_shipped_example_of_historical_calls_replays_on_the_demo_county():
    from pathlib import Path

    from sim.scenario import load_scenario

    demo = Path(__file__).resolve().parents[1] / "scenarios" / "demo_park.yaml"
    scenario = load_scenario(demo, overrides={"replay": {"file": "demo_calls.csv", "mode": "instead"}})
    calls = scenario.replay.calls
    assert len(calls) == 8 and {c.source for c in calls} == {"everyday", "park", "pipeline"}
    sites = build_sites(scenario)
    stream_ = generate_incidents(scenario, sites, np.random.default_rng(0))
    assert sites.site_id[stream_.site].tolist() == [c.id for c in calls]  # the file is in time order


def test_erlang_c_holds_when_the_calls_come_from_call_areas_at_zero_travel():
    """Two call areas (Poisson at every grid point: their sum is Poisson) on c engines with no turnout or travel and
    exponential work: P(wait) and the mean wait are Erlang C's; c - 1 or c + 1 engines (a wrong model) lie outside."""
    from sim.experiment import run_replications
    from tests.test_model import erlang_c

    c, lam_per_h, mean_work_min = 3, 1.5, 60.0
    per_yr = lam_per_h * 24 * 365.25
    scenario = _areas_scenario(
        horizon_days=60,
        replications=12,
        bases=[BASE | {"turnout_min": 0, "units": [{"type": "engine", "count": c}]}],
        call_areas=[
            {"id": "town", "polygon": _square(121.0, 30.0, 0.02), "calls_per_yr": 0.75 * per_yr, "cell_m": 500},
            {"id": "rural", "polygon": _square(121.1, 30.0, 0.04), "calls_per_yr": 0.25 * per_yr, "cell_m": 1000},
        ],
        incident_types={"call": {"severity": {1: 1.0}, "on_scene_min": {"exponential": {"mean": mean_work_min}}}},
        incident_mix={"everyday": {"call": 1.0}},
        response_plans={"call": {1: {"engine": 1}}},
    )
    world = world_from_matrix(scenario, [[0.0] * len(build_sites(scenario))])
    result = run_replications(world, workers=1)
    assert set(result.incidents["source"]) == {"everyday"}
    mu_per_s = 1 / (mean_work_min * 60)

    def theory(servers: int) -> tuple[float, float]:
        p_wait = erlang_c(servers, lam_per_h * mean_work_min / 60)
        return p_wait, p_wait / (servers * mu_per_s - lam_per_h / 3600)

    per_rep = result.incidents.groupby("replication")["waited_s"]
    observed = (per_rep.apply(lambda w: (w > 0).mean()).to_numpy(), per_rep.mean().to_numpy())
    for k, v in enumerate(observed):  # two checks share the verdict: Bonferroni, 0.5% each
        half = stats.t.ppf(1 - 0.005 / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
        assert abs(v.mean() - theory(c)[k]) <= half, (k, v.mean(), theory(c)[k], half)
        for wrong in (c - 1, c + 1):
            assert abs(v.mean() - theory(wrong)[k]) > half, (k, wrong)
