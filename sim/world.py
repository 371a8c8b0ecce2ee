"""A scenario resolved against its road network: the small, picklable arrays the model runs on.

The model never touches the road graph: it needs travel times from each base to each incident site and back, the
last-leg (access) time of each site and the unit table. :func:`build_world` computes them once (multi-source
shortest paths from the base nodes); :func:`world_from_matrix` takes them directly, for tests and benchmarks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.errors import FarFromRoadError, RescuesimError
from sim.forces import UnitTable, active_bases, build_units
from sim.hazards import SiteTable, SourceKind, build_sites, without_roadless_points
from sim.routes import ROUTE_WORK_LIMIT, ReturnRoutes, network_routes, star_routes
from sim.scenario import Base, Scenario


@dataclass(frozen=True, eq=False)
class World:
    scenario: Scenario
    sites: SiteTable
    bases: tuple[Base, ...]  # bases holding units, in unit-table order
    units: UnitTable
    travel_out_s: np.ndarray  # (n_bases, n_sites) base -> site road node
    travel_in_s: np.ndarray  # (n_bases, n_sites) site road node -> base
    access_s: np.ndarray  # (n_sites,) last leg from the road node to the site
    site_node: np.ndarray | None = None  # road node index per site (None without a network)
    base_node: np.ndarray | None = None
    site_snap_m: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=())
    routes: ReturnRoutes | None = None  # return routes, when units can be sent on from their way back
    base_travel_s: np.ndarray | None = None  # (n_bases, n_bases) road seconds between bases (for move-up)


def default_cache_dir() -> Path:
    """Where travel-time tables and downloads are cached (``RESCUESIM_CACHE_DIR`` or ~/.cache/rescuesim)."""
    env = os.environ.get("RESCUESIM_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rescuesim"


def load_network(scenario: Scenario, cache_dir: Path | None = None):
    """The scenario's road network (paths relative to the scenario file)."""
    from sim.network import build_network

    spec = scenario.network
    path = spec.path
    if path is not None and not path.is_absolute() and scenario.source_path is not None:
        path = scenario.source_path.parent / path
    return build_network(
        spec.source,
        speeds_kph=scenario.speeds(),
        path=path,
        query=spec.query,
        bbox=spec.bbox,
        cache_dir=cache_dir or default_cache_dir(),
        grid_nodes=spec.grid_nodes,
    )


def build_world(
    scenario: Scenario,
    network=None,
    *,
    cache_dir: Path | None = None,
    progress=None,
    workers: int | None = None,
) -> World:
    """Snap sites and bases to the network and compute the base-to-site travel times (``workers``: processes for
    the shortest paths, see :meth:`TravelTimes.from_graph`)."""
    from sim.network import TravelTimes

    network = network if network is not None else load_network(scenario, cache_dir)
    sites = build_sites(scenario)
    bases = active_bases(scenario)
    base_node, site_node, site_snap_m = _snap_all(scenario, network, sites, bases)
    travel = TravelTimes.from_graph(
        network, base_node, cache_dir=cache_dir or default_cache_dir(), progress=progress, workers=workers
    )
    rows = np.asarray([travel.row(int(n)) for n in base_node], dtype=np.int64)
    routes, notes = None, _notes(network)
    if scenario.dispatch.from_return and len(site_node) * network.n_nodes <= ROUTE_WORK_LIMIT:
        routes = network_routes(network, base_node, site_node, travel.inbound_s[rows], travel.outbound_s[rows])
    elif scenario.dispatch.from_return:  # star routes (world_from_matrix): on to base, then out from there
        notes += (
            f"return routes: {len(site_node)} sites x {network.n_nodes} road nodes is too large to route; units on "
            "their way back are sent on via their base (no turnout)",
        )
    base_travel_s = travel.outbound_s[rows][:, base_node] if scenario.dispatch.move_up is not None else None
    return world_from_matrix(
        scenario,
        travel.outbound_s[rows][:, site_node],
        travel.inbound_s[rows][:, site_node],
        site_snap_m / (sites.access_kph / 3.6),
        sites=sites,
        site_node=site_node,
        base_node=base_node,
        site_snap_m=site_snap_m,
        notes=notes,
        routes=routes,
        base_travel_s=base_travel_s,
    )


def world_from_matrix(
    scenario: Scenario,
    travel_out_s,
    travel_in_s=None,
    access_s=None,
    *,
    sites: SiteTable | None = None,
    **network_fields,
) -> World:
    """A world with given base-to-site travel times (seconds): what :func:`build_world` ends with, and what tests
    and benchmarks without a network call directly. ``sites``: the scenario's site table when the caller has built
    it already; ``network_fields`` are the snapping results, if any."""
    sites = build_sites(scenario) if sites is None else sites
    notes = tuple(network_fields.pop("notes", ()))
    if network_fields.get("site_snap_m") is not None:
        sites, lost = without_roadless_points(sites, network_fields["site_snap_m"], scenario.network.max_snap_m)
        notes += tuple(n for n in lost if n not in notes)
    bases = active_bases(scenario)
    out_s = np.asarray(travel_out_s, dtype=float).reshape(len(bases), len(sites))
    in_s = out_s if travel_in_s is None else np.asarray(travel_in_s, dtype=float).reshape(out_s.shape)
    access = np.zeros(len(sites)) if access_s is None else np.asarray(access_s, dtype=float)
    if not scenario.dispatch.from_return:
        network_fields["routes"] = None
    elif network_fields.get("routes") is None:
        network_fields["routes"] = star_routes(out_s, in_s)
    if scenario.dispatch.move_up is None:
        network_fields["base_travel_s"] = None
    elif network_fields.get("base_travel_s") is None:
        network_fields["base_travel_s"] = via_sites_s(out_s, in_s)
    else:
        network_fields["base_travel_s"] = np.asarray(network_fields["base_travel_s"], dtype=float)
    return World(
        scenario=scenario,
        sites=sites,
        bases=bases,
        units=build_units(scenario),
        travel_out_s=out_s,
        travel_in_s=in_s,
        access_s=access,
        notes=notes,
        **network_fields,
    )


def variant_world(world: World, scenario: Scenario, network=None, *, workers: int | None = None) -> World:
    """The world of a variant of ``world``'s scenario, built whole from the variant (sites and their rates, bases,
    units, travel times), so that every override takes effect.

    On the road network when one is given (snapping is redone; the travel tables of bases that did not move come
    from the disk cache). Without one, travel and access times are taken from ``world`` for bases and sites that
    stand where one of its own stands; a variant that moves any point then needs the network."""
    if network is not None:
        return build_world(scenario, network, workers=workers)
    sites, bases = build_sites(scenario), active_bases(scenario)
    site_ix = _same_points(world.sites.site_id, world.sites.lon, world.sites.lat, sites.site_id, sites.lon, sites.lat)
    base_ix = _same_points(*_base_points(world.bases), *_base_points(bases))
    if site_ix is None or base_ix is None:
        raise RescuesimError("this variant moves bases or incident sites: it needs the road network")
    if world.site_snap_m is not None:
        access_s = world.site_snap_m[site_ix] / (sites.access_kph / 3.6)
    elif np.array_equal(world.sites.access_kph[site_ix], sites.access_kph):
        access_s = world.access_s[site_ix]
    else:
        raise RescuesimError("this variant changes off-road speeds: it needs the road network")
    rows, cols = np.ix_(base_ix, site_ix)
    return world_from_matrix(
        scenario,
        world.travel_out_s[rows, cols],
        world.travel_in_s[rows, cols],
        access_s,
        sites=sites,
        site_node=None if world.site_node is None else world.site_node[site_ix],
        base_node=None if world.base_node is None else world.base_node[base_ix],
        site_snap_m=None if world.site_snap_m is None else world.site_snap_m[site_ix],
        notes=world.notes,
        routes=None if world.routes is None else world.routes.subset(base_ix, site_ix),
        base_travel_s=None if world.base_travel_s is None else world.base_travel_s[np.ix_(base_ix, base_ix)],
    )


def via_sites_s(out_s: np.ndarray, in_s: np.ndarray) -> np.ndarray:
    """Base-to-base road seconds when only base-site times are known: the fastest way through a site's road node
    (an upper bound of the direct road; 0 from a base to itself)."""
    through = np.min(in_s.T[np.newaxis, :, :] + out_s[:, :, np.newaxis], axis=1)  # (from base, to base)
    np.fill_diagonal(through, 0.0)
    return through


def _base_points(bases) -> tuple[list, list, list]:
    return [b.id for b in bases], [b.lon for b in bases], [b.lat for b in bases]


def _same_points(old_id, old_lon, old_lat, new_id, new_lon, new_lat) -> np.ndarray | None:
    """For each new point the index of the old point of the same id at exactly the same place (None if one has
    none)."""
    where = {key: i for i, key in enumerate(zip(list(old_id), list(old_lon), list(old_lat), strict=True))}
    found = [where.get(key) for key in zip(list(new_id), list(new_lon), list(new_lat), strict=True)]
    if any(i is None for i in found):
        return None
    return np.asarray(found, dtype=np.int64)


def _snap_all(scenario: Scenario, network, sites: SiteTable, bases: tuple[Base, ...]):
    """Snap bases and sites; collect every point too far from a road into one error."""
    from sim.network import far_from_road

    limit = scenario.network.max_snap_m
    base_lon, base_lat = [b.lon for b in bases], [b.lat for b in bases]
    base_node, base_m = network.snap(base_lon, base_lat)
    problems = far_from_road("bases", [b.id for b in bases], base_lon, base_lat, base_m, limit)
    site_node, site_m = network.snap(sites.lon, sites.lat)
    pieces = (sites.source == SourceKind.PIPELINE) & ~sites.replayed
    fixed = ~pieces & ~sites.area_points  # area points without a road lose their calls instead (hazards)
    problems += far_from_road("sites", sites.site_id[fixed], sites.lon[fixed], sites.lat[fixed], site_m[fixed], limit)
    for line in scenario.pipelines:
        rows = np.flatnonzero(sites.owner_id == line.id)
        rows = rows[pieces[rows]]
        problems += far_from_road(
            f"pipelines[{line.id}]",
            sites.site_id[rows],
            sites.lon[rows],
            sites.lat[rows],
            site_m[rows],
            line.max_offroad_m,
        )
    if problems:
        raise FarFromRoadError(problems)
    return (
        np.asarray(base_node, dtype=np.int64),
        np.asarray(site_node, dtype=np.int64),
        np.asarray(site_m, float),
    )


def _notes(network) -> tuple[str, ...]:
    if network.dropped_nodes:
        return (f"road network: kept the largest strongly connected part, dropped {network.dropped_nodes} nodes",)
    return ()
