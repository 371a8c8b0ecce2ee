"""The fast model equals the plain reference model (tests/reference_model.py) on random small scenarios.

Scenarios have 1-4 bases of mixed unit types in two jurisdictions, plans of several units per type and level (some
beyond the fleet), escalation, drills off site and at base, traffic windows, units sent on from their way back,
move-up in half of them, and call rates high enough for incidents to queue. Three in four are built for exact ties:
integer travel and access times, fixed durations and dyadic traffic factors, so that units are back, arrive or rank
equal at the same instant; in half of all scenarios the calls come on a one-minute grid too (with drill due times
and returns on it). Every row of both event logs is compared (times within 1e-6 s: the models add some durations in
other orders, so times may differ in the last bit; kinds, incidents, units, counts and levels exactly), and so are
the per-unit status times.
``RESCUESIM_REFERENCE_EXAMPLES`` sets the number of scenarios (default 400).
"""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.eventlog import NO_ID, EventKind
from sim.hazards import TURNOUT_DRAWS_PER_INCIDENT, IncidentStream, generate_incidents
from sim.model import simulate
from sim.routes import ReturnRoutes
from sim.scenario import scenario_from_dict
from sim.world import world_from_matrix
from tests.helpers import stream, tiny_scenario
from tests.reference_model import simulate_reference

EXAMPLES = int(os.environ.get("RESCUESIM_REFERENCE_EXAMPLES", "400"))
TIME_TOLERANCE_S = 1e-6
UNIT_TYPES = ("engine", "foam", "hazmat")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
INCIDENT_TYPES = ("fire", "leak")
SEVERITIES = ({1: 1.0}, {1: 0.5, 2: 0.5}, {1: 0.5, 2: 0.25, 4: 0.25}, {2: 0.5, 3: 0.5}, {3: 0.5, 4: 0.5})
TRAFFIC_SLOTS = ((0.0, 6.0), (6.5, 9.0), (9.0, 12.0), (16.0, 20.0), (21.0, 24.0))  # 9.0: two windows touch


def _duration(draw, ties: bool, low_min: float, high_min: float):
    if ties:
        return int(draw(st.sampled_from([low_min, (low_min + high_min) / 2, high_min])))
    family = draw(st.sampled_from(["fixed", "uniform", "lognormal", "exponential", "triangular"]))
    if family == "fixed":
        return draw(st.floats(low_min, high_min))
    if family == "uniform":
        return {"uniform": {"low": low_min, "high": high_min}}
    if family == "exponential":
        return {"exponential": {"mean": (low_min + high_min) / 2}}
    if family == "triangular":
        return {"triangular": {"low": low_min, "mode": low_min, "high": high_min}}
    return {"lognormal": {"median": low_min, "p90": high_min}}


def _drills(draw, ties: bool) -> dict:
    spec = {
        "interval_days": draw(st.sampled_from([0.25, 0.5, 1.0, 1.5])),
        "duration_h": draw(st.sampled_from([0.5, 2.0, 4.0, 8.0] if ties else [0.5, 1.7, 4.3, 8.1])),
        "kind": draw(st.sampled_from(["tabletop", "functional", "full_scale"])),
        "off_site": draw(st.booleans()),
        "recall_delay_min": draw(st.sampled_from([0.0, 5.0, 12.0])),
    }
    stagger = draw(st.sampled_from([None, None, 0.0, 0.1, 0.3]))
    if stagger is not None:
        spec["stagger_days"] = stagger
    if draw(st.booleans()):
        spec["unit_types"] = sorted(draw(st.sets(st.sampled_from(UNIT_TYPES), min_size=1)))
    if draw(st.booleans()):  # drills only in working hours of some weekdays
        from_h, to_h = draw(st.sampled_from([(8, 17), (0, 6), (6.5, 7.5), (20, 24), (10.25, 14)]))
        weekdays = sorted(draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1, max_size=5)), key=WEEKDAYS.index)
        spec["window"] = {"from_h": from_h, "to_h": to_h, "weekdays": weekdays}
    return spec


@st.composite
def cases(draw, grid_calls: bool = False):
    """A scenario, its world (random travel matrices) and an incident stream (``grid_calls``: a hand-made one with
    calls on a one-minute grid, in scenarios built for ties)."""
    ties = grid_calls or draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_bases, n_sites = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    bases = []
    for b in range(n_bases):
        units = draw(st.dictionaries(st.sampled_from(UNIT_TYPES), st.integers(1, 2), min_size=1, max_size=3))
        base = {
            "id": f"b{b}",
            "lon": 121.0,
            "lat": 30.0,
            "turnout_min": _duration(draw, ties, 0.5 if not ties else 1, 3),
            "jurisdiction": "local" if b == 0 else draw(st.sampled_from(["local", "county"])),
            "units": [{"type": t, "count": c} for t, c in sorted(units.items())],
        }
        if draw(st.integers(0, 3)) == 0:
            base["drills"] = _drills(draw, ties)
        bases.append(base)
    incident_types = {}
    for name in INCIDENT_TYPES:
        incident_types[name] = {
            "severity": draw(st.sampled_from(SEVERITIES)),
            "on_scene_min": _duration(draw, ties, 20, 90),
        }
        if draw(st.booleans()):
            incident_types[name]["on_scene_by_level_min"] = {3: _duration(draw, ties, 60, 180)}
        if draw(st.integers(0, 2)) > 0:
            incident_types[name]["escalation_min"] = _duration(draw, ties, 4, 20)
    plans = {}
    for name in INCIDENT_TYPES:
        levels = draw(st.sets(st.integers(1, 4), min_size=1, max_size=4))
        plans[name] = {
            level: draw(st.dictionaries(st.sampled_from((*UNIT_TYPES, "decon")), st.integers(1, 3), min_size=1))
            for level in sorted(levels)
        }
    traffic = []
    for from_h, to_h in sorted(draw(st.sets(st.sampled_from(TRAFFIC_SLOTS), max_size=3))):
        factor = draw(st.sampled_from([1.25, 1.5, 2.0] if ties else [1.1, 1.37, 2.3]))
        traffic.append({"from_h": from_h, "to_h": to_h, "travel_factor": factor})
    per_day = draw(st.sampled_from([3.0, 8.0, 20.0]))
    raw = {
        "name": "random",
        "horizon_days": draw(st.sampled_from([1.0, 2.0, 3.0])),
        "start_date": f"2026-01-{draw(st.integers(1, 7)):02d}",  # weekdays of drill windows
        "bases": bases,
        "sites": [
            {"id": f"s{k}", "lon": 121.0, "lat": 30.0, "incidents_per_yr": per_day * 365.25 / n_sites}
            for k in range(n_sites)
        ],
        "incident_types": incident_types,
        "incident_mix": {  # with everyday calls of the default types and plans
            "site": {
                "fire": 1.0,
                "leak": draw(st.sampled_from([0.0, 1.0, 3.0])),
                "building_fire": draw(st.sampled_from([0.0, 2.0])),
                "social_assistance": draw(st.sampled_from([0.0, 3.0])),
            }
        },
        "response_plans": plans,
        "traffic": traffic,
        "dispatch": {
            "from_return": draw(st.booleans()),
            "move_up": _move_up(draw),
            "mutual_aid": {
                "activation_delay_min": draw(st.sampled_from([0.0, 5.0, 15.0])),
                "local_eta_limit_min": draw(st.sampled_from([4.0, 10.0, 30.0])),
            },
        },
        "readiness": {
            "half_life_days": draw(st.sampled_from([0.5, 3.0, 300.0])),
            "initial_proficiency": draw(st.sampled_from([1.0, 0.8, 0.4])),
            "turnout_penalty": draw(st.sampled_from([0.0, 0.5, 1.5])),
            "on_scene_penalty": draw(st.sampled_from([0.0, 0.3, 1.0])),
            "escalation_bonus": draw(st.sampled_from([0.0, 0.5])),
        },
    }
    if draw(st.booleans()):
        raw["drills"] = _drills(draw, ties)
    scenario = scenario_from_dict(raw)
    n_active = len(bases)
    if ties:
        out_s = rng.choice([60.0, 120.0, 180.0, 300.0, 600.0], size=(n_active, n_sites))
        in_s = out_s if rng.random() < 0.5 else rng.choice([60.0, 120.0, 300.0, 600.0], size=out_s.shape)
        access_s = rng.choice([0.0, 60.0, 120.0], size=n_sites)
    else:
        out_s = rng.uniform(30.0, 1500.0, size=(n_active, n_sites))
        in_s = rng.uniform(30.0, 1500.0, size=out_s.shape)
        access_s = rng.uniform(0.0, 300.0, size=n_sites) * (rng.random(n_sites) < 0.7)
    routes = _routes(rng, out_s, in_s, ties) if draw(st.booleans()) else None  # else star routes
    base_travel_s = None  # between bases for move-up; None: through the sites (world.via_sites_s)
    if draw(st.booleans()):
        values = [60.0, 120.0, 300.0] if ties else rng.uniform(30.0, 900.0, 8).tolist()
        base_travel_s = np.where(np.eye(n_active, dtype=bool), 0.0, rng.choice(values, (n_active, n_active)))
    world = world_from_matrix(scenario, out_s, in_s, access_s, routes=routes, base_travel_s=base_travel_s)
    if grid_calls:
        stream = _grid_stream(rng, scenario, n_sites)
    else:
        stream = generate_incidents(scenario, world.sites, rng)
    return world, stream


def _move_up(draw) -> dict | None:
    """Move-up off in half the scenarios; else a random rule."""
    if draw(st.booleans()):
        return None
    spec = {
        "uncovered_after_min": draw(st.sampled_from([0.0, 1.0, 3.0, 10.0])),
        "donor_keeps": draw(st.sampled_from([1, 1, 2])),
    }
    if draw(st.integers(0, 3)) == 0:
        spec["unit_types"] = sorted(draw(st.sets(st.sampled_from(UNIT_TYPES), min_size=1)))
    return spec


def _routes(rng: np.random.Generator, out_s: np.ndarray, in_s: np.ndarray, ties: bool) -> ReturnRoutes:
    """Return routes through 0-3 random intermediate points per (base, site), with random times from every point
    to every site (0 from a site's own point; a base's point: the base's travel times)."""
    n_bases, n_sites = out_s.shape
    n_extra = 4
    extra = rng.choice([60.0, 120.0, 300.0], (n_extra, n_sites)) if ties else rng.uniform(10.0, 1500.0, (4, n_sites))
    own = np.where(np.eye(n_sites, dtype=bool), 0.0, rng.uniform(30.0, 1500.0, (n_sites, n_sites)))
    point_to_site_s = np.vstack([own, out_s, extra])
    points, to_base, offset = [], [], [0]
    for b in range(n_bases):
        for s in range(n_sites):
            k = int(rng.integers(0, 4))
            via = rng.choice(n_extra, k, replace=False) + n_sites + n_bases
            whole = float(in_s[b, s])
            cuts = np.sort(rng.choice([0.25, 0.5, 0.75], k, replace=False) if ties else rng.random(k))[::-1] * whole
            points += [s, *via.tolist(), n_sites + b]
            to_base += [whole, *cuts.tolist(), 0.0]
            offset.append(len(points))
    return ReturnRoutes(
        n_sites=n_sites,
        offset=np.asarray(offset, dtype=np.int64),
        point=np.asarray(points, dtype=np.int64),
        to_base_s=np.asarray(to_base, dtype=float),
        point_to_site_s=point_to_site_s,
        point_node=np.arange(len(point_to_site_s), dtype=np.int64) + 1000,
    )


def _grid_stream(rng: np.random.Generator, scenario, n_sites: int) -> IncidentStream:
    """Calls on a one-minute grid (several at once, and at the instants units are back or drills are due)."""
    n = int(rng.integers(3, 40))
    call_at_s = np.sort(rng.integers(0, int(scenario.horizon_s // 60), n) * 60.0)
    types = tuple(sorted(INCIDENT_TYPES))
    escalation_s = np.where(rng.random(n) < 0.5, np.inf, rng.choice([240.0, 600.0, 900.0], n))
    return IncidentStream(
        call_at_s=call_at_s,
        site=rng.integers(0, n_sites, n),
        km=np.full(n, np.nan),
        incident_type=rng.integers(0, len(types), n),
        level=rng.integers(1, 5, n),
        u_on_scene=rng.random(n),
        escalation_s=escalation_s,
        u_turnout=rng.random((n, TURNOUT_DRAWS_PER_INCIDENT)),
        type_names=types,
    )


def _fast_rows(out) -> list[tuple]:
    return [
        (t, EventKind(k), None if i == NO_ID else i, None if u == NO_ID else u, v)
        for t, k, i, u, v in out.events.tolist()
    ]


def _grouped(rows) -> dict[tuple, list[tuple[float, float]]]:
    """Rows by (kind, incident, unit), each group's (time, value) in time order."""
    groups: dict[tuple, list[tuple[float, float]]] = {}
    for t, kind, incident, unit, value in rows:
        groups.setdefault((kind.name, incident, unit), []).append((t, value))
    return {key: sorted(rows) for key, rows in groups.items()}


def _dispatch_order(rows) -> dict[int, list[int]]:
    """Per incident, its units in the order they were sent."""
    order: dict[int, list[tuple[float, int, int]]] = {}
    for n, (t, kind, incident, unit, _) in enumerate(rows):
        if kind == EventKind.DISPATCH:
            order.setdefault(incident, []).append((t, n, unit))
    return {i: [u for _, _, u in sorted(sent)] for i, sent in order.items()}


def differences(fast, ref) -> list[str]:
    """Where the fast model's outcome differs from the reference's (empty if they agree)."""
    problems = []
    fast_rows, ref_rows = _fast_rows(fast), sorted(ref.rows, key=lambda row: row[0])
    got, want = _grouped(fast_rows), _grouped(ref_rows)
    for key in sorted(set(got) | set(want), key=lambda k: (min(t for t, _ in got.get(k) or want[k]), str(k))):
        g, w = got.get(key, []), want.get(key, [])
        same = len(g) == len(w) and all(
            abs(tg - tw) <= TIME_TOLERANCE_S and (vg == vw or (key[0] == "DRILL_END" and math.isclose(vg, vw)))
            for (tg, vg), (tw, vw) in zip(g, w, strict=True)
        )
        if not same:
            problems.append(f"{key}: fast {g[:4]} reference {w[:4]}")
    if not problems and _dispatch_order(fast_rows) != _dispatch_order(ref_rows):
        problems.append(f"dispatch order: fast {_dispatch_order(fast_rows)} reference {_dispatch_order(ref_rows)}")
    if not problems and not np.allclose(fast.status_time_s, ref.status_time_s, rtol=0.0, atol=TIME_TOLERANCE_S):
        problems.append(f"status times: fast {fast.status_time_s.tolist()} reference {ref.status_time_s.tolist()}")
    return problems


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.booleans().flatmap(lambda grid_calls: cases(grid_calls=grid_calls)))
def test_fast_model_equals_reference(case):
    world, stream = case
    problems = differences(simulate(world, stream), simulate_reference(world, stream))
    assert not problems, f"{len(problems)} differences, first:\n" + "\n".join(problems[:8])


def test_an_escalation_and_a_new_call_at_one_instant_are_served_in_incident_order():
    """Incident 1 waits for the engine, gets it at 2100 s and escalates on arrival at 2280 s, wanting the foam; a new
    call (incident 3) wanting the foam comes at 2280 s. Both models give the foam to the older incident 1 (the
    fast model plays first arrivals before calls at one instant; it once gave it to the call, timed earlier)."""
    bases = [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine"}, {"type": "foam"}]}]
    types = {name: {"severity": {1: 1.0}, "on_scene_min": 30} for name in ("big", "small")}
    plans = {"big": {1: {"engine": 1}, 2: {"engine": 1, "foam": 1}}, "small": {1: {"foam": 1}}}
    scenario = tiny_scenario(bases, incident_types=types, incident_mix={"site": {"big": 1.0}}, response_plans=plans)
    world = world_from_matrix(scenario, [[120.0]], [[120.0]])
    never = math.inf
    incidents = stream(
        [0.0, 50.0, 100.0, 2280.0],
        types=[0, 0, 0, 1],
        type_names=("big", "small"),
        escalation_s=[never, 60, never, never],
    )
    assert differences(simulate(world, incidents), simulate_reference(world, incidents)) == []
