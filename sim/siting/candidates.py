"""Siting inputs: candidate sites, risk-weighted demand, the travel-time matrix between them, and turning a chosen
layout back into a scenario the simulator can run.

Candidates are the scenario's existing bases (fixed open, fixed closed or free, by their ``siting`` field), bases
marked ``candidate: true``, the ``siting.candidates`` list or file, and optionally road nodes on a grid; each must lie
within ``network.max_snap_m`` of a road, like every base and incident site. Demand points are the incident sites
weighted by their incident rate. Costs are the time a unit from the site needs to reach the demand point: a turnout
allowance plus road travel (from the site, as units drive) plus the last leg.

A layout is the set of open sites. Turned into a scenario (:func:`layout_scenario`), existing local bases that stay
open keep their units; units of closed bases move to newly opened sites (paired by least total distance); a new site
with no units to inherit gets ``siting.new_base_units``. Bases of other jurisdictions are not sited.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from sim.distributions import Duration
from sim.errors import FarFromRoadError
from sim.geo import haversine_m
from sim.scenario import Scenario, with_overrides
from sim.world import World


@dataclass(frozen=True, eq=False)
class Candidates:
    """One row per candidate site."""

    site_id: tuple[str, ...]
    name: tuple[str, ...]
    lon: np.ndarray
    lat: np.ndarray
    existing: np.ndarray  # bool: an existing local base with units
    status: tuple[str, ...]  # "free" | "fixed_open" | "fixed_closed"
    node: np.ndarray  # road node index

    def __len__(self) -> int:
        return len(self.site_id)

    def indices(self, status: str) -> list[int]:
        return [i for i, s in enumerate(self.status) if s == status]


def build_candidates(scenario: Scenario, network, world: World) -> Candidates:
    """Existing local bases first (in scenario order), then candidate bases, listed sites and grid sites.

    Every candidate must lie within ``network.max_snap_m`` of a road node, as bases and incident sites must: one
    error lists every one farther away.
    """
    from sim.network import far_from_road

    home = scenario.dispatch.home_jurisdiction
    rows: list[tuple] = []  # (field, id, name, lon, lat, existing, status)
    for b in scenario.bases:
        if b.jurisdiction != home:
            continue
        if b.units:
            rows.append(("bases", b.id, b.name or b.id, b.lon, b.lat, True, b.siting))
        elif b.candidate:
            rows.append(("bases", b.id, b.name or b.id, b.lon, b.lat, False, b.siting))
    rows += [
        ("siting.candidates", c.id, c.name or c.id, c.lon, c.lat, False, "free") for c in scenario.siting.candidates
    ]
    if scenario.siting.grid is not None:
        taken = [r[1] for r in rows]
        rows += [("siting.grid", *row) for row in _grid_sites(scenario, network, world, taken)]
    fields, ids, names, lon, lat, existing, status = zip(*rows, strict=True)
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    node, dist_m = network.snap(lon, lat)
    problems = []
    for field in dict.fromkeys(fields):
        k = [i for i, f in enumerate(fields) if f == field]
        problems += far_from_road(field, [ids[i] for i in k], lon[k], lat[k], dist_m[k], scenario.network.max_snap_m)
    if problems:
        raise FarFromRoadError(problems)
    return Candidates(
        site_id=ids,
        name=names,
        lon=lon,
        lat=lat,
        existing=np.asarray(existing, bool),
        status=status,
        node=np.asarray(node, np.int64),
    )


def _grid_sites(scenario: Scenario, network, world: World, taken: list[str]) -> list[tuple]:
    """Road nodes nearest the centres of a square grid of ``spacing_m`` over the bbox (default: the sites' extent
    plus one spacing)."""
    grid = scenario.siting.grid
    if grid.bbox is not None:
        west, south, east, north = grid.bbox
    else:
        pad_lat = grid.spacing_m / 111_320.0
        pad_lon = pad_lat / np.cos(np.radians(world.sites.lat.mean()))
        west, east = world.sites.lon.min() - pad_lon, world.sites.lon.max() + pad_lon
        south, north = world.sites.lat.min() - pad_lat, world.sites.lat.max() + pad_lat
    step_lat = grid.spacing_m / 111_320.0
    step_lon = step_lat / np.cos(np.radians((south + north) / 2))
    lons = np.arange(west + step_lon / 2, east, step_lon)
    lats = np.arange(south + step_lat / 2, north, step_lat)
    glon, glat = (a.ravel() for a in np.meshgrid(lons, lats))
    node, dist_m = network.snap(glon, glat)
    keep = dist_m <= grid.spacing_m / 2
    rows, seen = [], set()
    for k in np.flatnonzero(keep):
        n = int(node[k])
        if n in seen:
            continue
        seen.add(n)
        site_id = f"grid-{len(rows) + 1}"
        if site_id not in taken:
            rows.append((site_id, site_id, float(network.lon[n]), float(network.lat[n]), False, "free"))
    return rows


def demand_weights(world: World) -> np.ndarray:
    """Incidents per year at each incident site (the risk weighting)."""
    return world.sites.rate_per_s * 365.25 * 86400.0


def cost_matrix_s(
    scenario: Scenario, network, world: World, candidates: Candidates, *, cache_dir=None, workers: int | None = None
) -> np.ndarray:
    """(n_demand, n_candidates) seconds: turnout allowance + road travel from the site + last leg."""
    from sim.network import TravelTimes
    from sim.world import default_cache_dir

    travel = TravelTimes.from_graph(
        network, candidates.node, cache_dir=cache_dir or default_cache_dir(), workers=workers
    )
    rows = np.asarray([travel.row(int(n)) for n in candidates.node])
    drive_s = travel.outbound_s[rows][:, world.site_node].astype(float).T
    return drive_s + world.access_s[:, None] + turnout_allowance_s(scenario)


def turnout_allowance_s(scenario: Scenario) -> float:
    spec = scenario.siting
    if spec.turnout_allowance_min is not None:
        return spec.turnout_allowance_min * 60.0
    from sim import defaults

    return Duration.model_validate(defaults.DEFAULT_TURNOUT_MIN[spec.new_base_kind]).mean_s()


@dataclass(frozen=True)
class FleetPlan:
    """What a layout does to today's fleet: bases kept, closed bases whose units move to a new site (``inherit``:
    new site -> closed base) or, without a new site, to the nearest open one (``extra``), and new sites."""

    kept: list[int]
    closed: list[int]
    new: list[int]
    inherit: dict[int, int]
    extra: dict[int, list[int]]  # open site -> closed bases whose units it takes in besides its own


def fleet_plan(candidates: Candidates, open_sites) -> FleetPlan:
    """Closed bases are paired with new sites by least total distance; a closed base left without a new site hands
    its units to the nearest open site, so the fleet stays the same whenever the layout has no more sites than
    today (new sites beyond that get ``siting.new_base_units``)."""
    open_set = sorted(set(int(i) for i in open_sites))
    existing = [int(i) for i in np.flatnonzero(candidates.existing)]
    closed = [i for i in existing if i not in open_set]
    new = [i for i in open_set if not candidates.existing[i]]
    inherit: dict[int, int] = {}
    if closed and new:
        r, c = linear_sum_assignment(_distance_m(candidates, closed, new))
        inherit = {new[j]: closed[i] for i, j in zip(r, c, strict=True)}
    extra: dict[int, list[int]] = {i: [] for i in open_set}
    for i in [c for c in closed if c not in inherit.values()]:
        extra[open_set[int(np.argmin(_distance_m(candidates, [i], open_set)[0]))]].append(i)
    return FleetPlan([i for i in existing if i in open_set], closed, new, inherit, extra)


def fleet_changes(scenario: Scenario, candidates: Candidates, open_sites) -> list[dict]:
    """One row per base of today's or of the layout: what happens to it and its units (kept, closed and moved,
    opened with moved or new units), for the siting results."""
    plan = fleet_plan(candidates, open_sites)
    by_id = {b.id: b for b in scenario.bases}
    sid = candidates.site_id

    def units(i: int) -> str:
        base = by_id.get(sid[i])
        return ", ".join(f"{g.count} {g.type}" for g in base.units) if base and base.units else ""

    rows = []
    for i in plan.kept:
        taken = [sid[c] for c in plan.extra[i]]
        what = "kept" + (f", takes in the units of {', '.join(taken)}" if taken else "")
        rows.append({"base": sid[i], "change": what, "units": units(i)})
    for c in plan.closed:
        to = next((n for n, donor in plan.inherit.items() if donor == c), None)
        to = to if to is not None else next(o for o, cs in plan.extra.items() if c in cs)
        rows.append({"base": sid[c], "change": f"closed, its units move to {sid[to]}", "units": units(c)})
    new_units = ", ".join(f"{g.count} {g.type}" for g in scenario.siting.new_base_units)
    for n in plan.new:
        if n in plan.inherit:
            rows.append({"base": sid[n], "change": f"opened with the units of {sid[plan.inherit[n]]}", "units": ""})
        else:
            rows.append({"base": sid[n], "change": "opened with new units", "units": units(n) or new_units})
    return rows


def layout_scenario(scenario: Scenario, candidates: Candidates, open_sites: tuple[int, ...] | list[int]) -> Scenario:
    """The scenario with the layout's bases: kept, moved (units of closed bases to new sites) and new
    (:func:`fleet_plan`)."""
    plan = fleet_plan(candidates, open_sites)
    by_id = {b.id: b for b in scenario.bases}
    extra_units = {
        i: [g.model_dump() for c in closed for g in by_id[candidates.site_id[c]].units]
        for i, closed in plan.extra.items()
    }
    index = {sid: i for i, sid in enumerate(candidates.site_id)}
    closed_ids = {candidates.site_id[i] for i in plan.closed}
    new_ids = {candidates.site_id[i] for i in plan.new}
    raw_bases = []
    for b in scenario.raw.get("bases", []):
        if b["id"] in closed_ids or b["id"] in new_ids or (b.get("candidate") and not b.get("units")):
            continue  # closed; opening (written below); or a candidate that stays closed
        if b["id"] in index and extra_units.get(index[b["id"]]):
            b = dict(b, units=list(b.get("units") or []) + extra_units[index[b["id"]]])
        raw_bases.append(b)
    spec = scenario.siting
    for i in plan.new:
        if i in plan.inherit:
            donor = by_id[candidates.site_id[plan.inherit[i]]]
            units, kind = [g.model_dump() for g in donor.units], donor.kind
        else:
            template = by_id.get(candidates.site_id[i])
            units = [g.model_dump() for g in (template.units if template and template.units else spec.new_base_units)]
            kind = spec.new_base_kind
        raw_bases.append(
            {
                "id": candidates.site_id[i],
                "name": candidates.name[i],
                "lon": float(candidates.lon[i]),
                "lat": float(candidates.lat[i]),
                "kind": kind,
                "units": units + extra_units[i],
            }
        )
    return with_overrides(scenario, {"bases": raw_bases})


def _distance_m(candidates: Candidates, rows: list[int], cols: list[int]) -> np.ndarray:
    return haversine_m(
        candidates.lon[rows][:, None],
        candidates.lat[rows][:, None],
        candidates.lon[cols][None, :],
        candidates.lat[cols][None, :],
    )
