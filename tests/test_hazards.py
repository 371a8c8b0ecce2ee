"""Incident sources and streams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.geo import line_length_m
from sim.hazards import build_sites, generate_incidents, installation_rate_per_yr
from sim.scenario import scenario_from_dict

BASE = {"id": "b", "lon": 121.0, "lat": 30.0, "units": [{"type": "engine", "count": 1}]}


def _line_km(length_km: float):
    """A west-east line at 30 N of about ``length_km``."""
    dlon = length_km / (111.32 * math.cos(math.radians(30.0)))
    return [[121.0, 30.0], [121.0 + dlon, 30.0]]


def test_pipeline_incidents_follow_the_rate_weighting():
    coords = _line_km(10.0)
    length_km = line_length_m(coords) / 1000
    raw = {
        "name": "p",
        "horizon_days": 365,
        "bases": [BASE],
        "pipelines": [
            {
                "id": "gas",
                "product": "natural_gas",
                "coordinates": coords,
                "failures_per_1000km_yr": 20000,
                "hca": [{"from_km": 2, "to_km": 4, "rate_multiplier": 3}],
            }
        ],
    }
    scenario = scenario_from_dict(raw)
    sites = build_sites(scenario)
    stream = generate_incidents(scenario, sites, np.random.default_rng(7))
    n = len(stream)
    expected_rate = 20000 / 1000 * (length_km - 2 + 2 * 3)
    assert abs(n - expected_rate) < 4 * math.sqrt(expected_rate)
    share_hca = np.mean((stream.km >= 2) & (stream.km < 4))
    p = 2 * 3 / (length_km - 2 + 2 * 3)
    assert abs(share_hca - p) < 4 * math.sqrt(p * (1 - p) / n)
    # outside the HCA, positions are uniform: compare the two halves 4-7 km and 7-10 km
    a = np.sum((stream.km >= 4) & (stream.km < 7))
    b = np.sum((stream.km >= 7) & (stream.km < 10))
    assert abs(a - b) < 4 * math.sqrt(a + b)
    in_hca = sites.in_hca[stream.site]
    assert np.all((stream.km[in_hca] > 2 - 0.1) & (stream.km[in_hca] < 4 + 0.1))


def test_installation_default_rate_is_kind_times_grade_times_level():
    raw = {
        "name": "p",
        "horizon_days": 10,
        "bases": [BASE],
        "parks": [
            {
                "id": "east",
                "risk_grade": "A",
                "installations": [
                    {"id": "t", "kind": "tank_farm", "hazard_source_level": 1, "lon": 121.0, "lat": 30.0},
                    {"id": "w", "kind": "warehouse", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 7},
                ],
            }
        ],
    }
    scenario = scenario_from_dict(raw)
    assert installation_rate_per_yr(scenario, 0, 0) == pytest.approx(0.8 * 2.0 * 1.6)
    assert installation_rate_per_yr(scenario, 0, 1) == 7


def test_stream_does_not_depend_on_bases():
    raw = {
        "name": "p",
        "horizon_days": 100,
        "bases": [BASE],
        "sites": [{"id": "s", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 100}],
    }
    more = dict(raw, bases=[BASE, dict(BASE, id="c", units=[{"type": "hazmat", "count": 3}])])
    a = scenario_from_dict(raw)
    b = scenario_from_dict(more)
    sa = generate_incidents(a, build_sites(a), np.random.default_rng(3))
    sb = generate_incidents(b, build_sites(b), np.random.default_rng(3))
    assert np.array_equal(sa.call_at_s, sb.call_at_s) and np.array_equal(sa.u_turnout, sb.u_turnout)


def test_types_and_levels_follow_each_source_kinds_mix_and_each_types_severity():
    raw = {
        "name": "p",
        "horizon_days": 365,
        "bases": [BASE],
        "pipelines": [
            {"id": "gas", "product": "natural_gas", "coordinates": _line_km(10.0), "failures_per_1000km_yr": 3e5}
        ],
        "sites": [{"id": "depot", "lon": 121.01, "lat": 30.0, "incidents_per_yr": 3000}],
        "incident_types": {
            "odd": {"severity": {2: 0.25, 4: 0.75}, "on_scene_min": 30, "escalation_min": 5},
            "fire": {"severity": {1: 0.0, 3: 1.0}, "on_scene_min": 60},
        },
        "incident_mix": {"pipeline": {"odd": 0.2, "fire": 0.8}, "site": {"odd": 1.0, "fire": 0.0}},
    }
    scenario = scenario_from_dict(raw)
    sites = build_sites(scenario)
    stream = generate_incidents(scenario, sites, np.random.default_rng(11))
    name = np.asarray(stream.type_names)[stream.incident_type]
    kind = sites.source_kind[stream.site]

    def close(hits: np.ndarray, p: float) -> bool:  # a share within 4 binomial standard errors
        return abs(hits.mean() - p) < 4 * math.sqrt(p * (1 - p) / len(hits))

    assert close(name[kind == "pipeline"] == "odd", 0.2)
    assert set(name[kind == "site"]) == {"odd"}  # weight 0: never drawn
    assert close(stream.level[name == "odd"] == 2, 0.25)
    assert set(stream.level[name == "odd"]) == {2, 4} and set(stream.level[name == "fire"]) == {3}
    assert np.isfinite(stream.escalation_s[name == "odd"]).all() and np.isinf(stream.escalation_s[name == "fire"]).all()
