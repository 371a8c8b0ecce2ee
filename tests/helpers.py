"""Small hand-made scenarios and incident streams for exact-trace tests."""

from __future__ import annotations

import numpy as np

from sim.hazards import TURNOUT_DRAWS_PER_INCIDENT, IncidentStream
from sim.scenario import Scenario, scenario_from_dict

# a two-base, two-site world for studies: base a (2 engines) near s1, base b (1 engine) near s2
TWO_BASES = [
    {"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine", "count": 2}]},
    {"id": "b", "lon": 121.1, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine", "count": 1}]},
]
TWO_SITES = [
    {"id": "s1", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 300},
    {"id": "s2", "lon": 121.1, "lat": 30.0, "incidents_per_yr": 200},
]
TWO_BY_TWO_TRAVEL_S = [[120.0, 600.0], [500.0, 90.0]]


def two_site_raw(name: str, **extra) -> dict:
    """The scenario mapping of the two-base, two-site world (30 days, 3 replications, exponential 40 min calls)."""
    import copy

    raw = {
        "name": name,
        "horizon_days": 30,
        "replications": 3,
        "bases": TWO_BASES,
        "sites": TWO_SITES,
        "incident_types": {"call": {"severity": {1: 1.0}, "on_scene_min": {"exponential": {"mean": 40}}}},
        "incident_mix": {"site": {"call": 1.0}},
        "response_plans": {"call": {1: {"engine": 1}}},
    }
    return copy.deepcopy(raw | extra)


def base(base_id: str, turnout_min: float = 1, jurisdiction: str = "local", lon: float = 121.0, **units: int) -> dict:
    """A base of a tiny scenario: ``base("a", 2, engine=1, hazmat=1)``."""
    return {
        "id": base_id,
        "lon": lon,
        "lat": 30.0,
        "turnout_min": turnout_min,
        "jurisdiction": jurisdiction,
        "units": [{"type": t, "count": c} for t, c in units.items()],
    }


def tiny_scenario(bases: list[dict], sites: list[dict] | None = None, **extra) -> Scenario:
    """A scenario with one incident type 'call' (fixed 30 min on scene, one engine, no escalation); units are sent
    only from base (``dispatch.from_return`` off) unless ``dispatch`` says otherwise."""
    raw = {
        "name": "tiny",
        "horizon_days": 10,
        "replications": 2,
        "bases": bases,
        "sites": sites or [{"id": "s", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 10}],
        "incident_types": {"call": {"severity": {1: 1.0}, "on_scene_min": 30}},
        "incident_mix": {"site": {"call": 1.0}},
        "response_plans": {"call": {1: {"engine": 1}}},
    }
    for key, value in extra.items():
        raw[key] = value
    raw["dispatch"] = {"from_return": False} | raw.get("dispatch", {})
    return scenario_from_dict(raw)


def stream(call_at_s, *, site=None, level=None, escalation_s=None, type_names=("call",), types=None) -> IncidentStream:
    """An incident stream with given call times (every uniform 0.5)."""
    n = len(call_at_s)
    return IncidentStream(
        call_at_s=np.asarray(call_at_s, dtype=float),
        site=np.zeros(n, dtype=np.int64) if site is None else np.asarray(site, dtype=np.int64),
        km=np.full(n, np.nan),
        incident_type=np.zeros(n, dtype=np.int64) if types is None else np.asarray(types, dtype=np.int64),
        level=np.ones(n, dtype=np.int64) if level is None else np.asarray(level, dtype=np.int64),
        u_on_scene=np.full(n, 0.5),
        escalation_s=np.full(n, np.inf) if escalation_s is None else np.asarray(escalation_s, dtype=float),
        u_turnout=np.full((n, TURNOUT_DRAWS_PER_INCIDENT), 0.5),
        type_names=tuple(type_names),
    )


def trace(out, kinds=None) -> list[tuple]:
    """The event log as (time_s, kind name, incident, unit) tuples, ids None where absent."""
    from sim.eventlog import NO_ID, EventKind

    rows = []
    for t, k, i, u, _ in out.events.tolist():
        if kinds is None or EventKind(k).name in kinds:
            rows.append((round(t, 6), EventKind(k).name, None if i == NO_ID else i, None if u == NO_ID else u))
    return rows
