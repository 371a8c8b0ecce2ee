"""The siting study: solve a location model to optimality, then simulate its best layouts and today's on common
random numbers and rank them by a simulated KPI; the layouts as GeoJSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import RescuesimError
from sim.experiment import run_replications
from sim.siting import AVAILABILITY_MODELS, busy_fraction_from, covered_share, evaluate, solve, top_layouts
from sim.siting.candidates import build_candidates, cost_matrix_s, demand_weights, fleet_changes, layout_scenario
from sim.studies.objectives import resolve_objective
from sim.studies.variants import kpi_row
from sim.world import World, build_world


@dataclass(frozen=True, eq=False)
class SitingOutcome:
    table: pd.DataFrame  # one row per simulated layout, ranked
    layouts: list[dict]  # name, open site ids, coordinates, optimisation objective
    candidates: Any
    fleet: pd.DataFrame  # what the best-ranked layout does to each base (fleet_changes)
    best: Any  # the RunResult of the best-ranked layout (its world included)
    curve: pd.DataFrame | None = None  # the trade-off curve: the optimal layout of each p, simulated
    busy_path: tuple[tuple[str, float], ...] = ()  # availability models: each layout simulated and its busy fraction


def siting_study(
    world: World,
    network,
    *,
    model: str,
    p: int | None,
    target_min: float | None,
    simulate_top: int,
    backup: bool = False,
    objective: str | None = None,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[str], None] | None = None,
    busy_fraction: float | None = None,
    alpha: float | None = None,
    fleet: str = "move",
    curve: Sequence[int] = (),
    iterate: bool = False,
) -> SitingOutcome:
    """Solve the location model to optimality, then simulate its best layouts and the current one on common
    random numbers and rank them by a simulated KPI.

    The availability models (mexclp, malp) treat each base as a server busy with probability ``busy_fraction``
    (default: the busy share of unit time in a simulation of today's layout, which is simulated first) and open
    ``p`` bases, one per site; malp needs ``alpha``, the required chance that some base in reach is free. With
    ``iterate``, the busy fraction is then measured on the model's own layout and the model solved again, until the
    layout repeats (at most ``MAX_BUSY_ROUNDS`` rounds); ``SitingOutcome.busy_path`` lists each layout and its q.

    ``fleet``: ``move`` (today's bases may close; their units move to the new sites, so the fleet stays the same
    unless the layout has more sites than today) or ``keep`` (today's bases stay open with their units; the layout
    adds sites, each with ``siting.new_base_units``). What happens to every base is ``SitingOutcome.fleet``.

    ``curve``: values of p for the trade-off curve (what one more base buys): each p's optimal layout, its model
    objective and its simulated KPIs on the same incidents (``SitingOutcome.curve``)."""
    scenario = world.scenario

    simulated: dict[tuple[int, ...], Any] = {}  # each layout is simulated once (the same seed: the same result)

    def simulate(layout, name: str, keep: bool = True):
        layout = tuple(int(i) for i in layout)
        if layout in simulated:
            return simulated[layout]
        if progress:
            progress(name)
        result = run_replications(
            build_world(layout_scenario(scenario, candidates, layout), network, workers=workers),
            replications=replications,
            seed=seed,
            workers=workers,
            dask=dask,
        )
        if keep:
            simulated[layout] = result
        return result

    candidates = build_candidates(scenario, network, world)
    cost_s = cost_matrix_s(scenario, network, world, candidates, workers=workers)
    weights = demand_weights(world)
    target_s = None if target_min is None else target_min * 60.0
    if model == "lscp":
        far = np.flatnonzero((weights > 0) & (cost_s.min(axis=1) > target_s))
        if len(far):
            names = ", ".join(world.sites.site_id[far[:8]])
            raise RescuesimError(
                f"--target-min: {len(far)} incident sites cannot be reached within {target_min:g} min "
                f"from any candidate (e.g. {names}); raise the time or add candidates"
            )
    current = tuple(int(i) for i in np.flatnonzero(candidates.existing))
    fixed_open = candidates.indices("fixed_open")
    if fleet == "keep":
        if model != "lscp" and p is not None and p < len(current):
            raise RescuesimError(f"--p: with --fleet keep the layout holds today's {len(current)} bases, got p={p}")
        fixed_open = sorted(set(fixed_open) | set(current))
    availability = {}
    busy_path: list[tuple[str, float]] = []

    def model_args(q: float | None) -> dict[str, Any]:
        """The arguments of :func:`solve` (and :func:`top_layouts`) but the number of bases."""
        args = {"target_s": target_s, "backup": backup, "fixed_open": fixed_open}
        args["fixed_closed"] = candidates.indices("fixed_closed")
        if model in AVAILABILITY_MODELS:
            args |= {"busy_fraction": q, "alpha": alpha, "max_units_per_site": 1}
        return args

    if model in AVAILABILITY_MODELS:
        if busy_fraction is None:
            busy_fraction = _busy(simulate(current, "current"))
            busy_path.append(("current", busy_fraction))
        for _ in range(MAX_BUSY_ROUNDS if iterate else 0):  # solve, simulate, update q until the layout repeats
            layout = solve(model, cost_s, weights, p=p, **model_args(busy_fraction)).open_sites
            name = " ".join(candidates.site_id[i] for i in layout)
            if busy_path and busy_path[-1][0] == name:
                break
            busy_fraction = _busy(simulate(layout, f"busy fraction of {name}"))
            busy_path.append((name, busy_fraction))
        availability = {"busy_fraction": busy_fraction, "alpha": alpha}
    solved = top_layouts(model, cost_s, weights, simulate_top, p=p, **model_args(busy_fraction))
    value = evaluate(model, cost_s, weights, current, p=p, target_s=target_s, **availability)
    entries = [("current", current, value)]
    entries += [(f"{model} #{k + 1}", tuple(r.open_sites), r.objective) for k, r in enumerate(solved)]
    kpi, larger = resolve_objective(scenario, objective)
    rows, layouts = [], []
    for name, open_sites, model_value in entries:
        result = simulate(open_sites, name)
        ids = [candidates.site_id[i] for i in open_sites]
        row: dict[str, Any] = {
            "layout": name,
            "sites": " ".join(ids),
            "bases": len(ids),
            "model_objective": model_value,
            "covered_share_model": covered_share(cost_s, weights, open_sites, target_s),
        } | ({"busy_fraction": availability["busy_fraction"]} if availability else {})
        row |= kpi_row(result.kpis)
        rows.append(row)
        layouts.append(
            {
                "layout": name,
                "sites": ids,
                "lon": [float(candidates.lon[i]) for i in open_sites],
                "lat": [float(candidates.lat[i]) for i in open_sites],
                "model_objective": model_value,
            }
        )
    table = pd.DataFrame(rows)
    order = table[kpi].rank(ascending=not larger, method="first")
    table.insert(0, "rank", order.astype(int))
    table = table.sort_values("rank", kind="stable").reset_index(drop=True)
    table.attrs["objective"] = kpi
    for layout in layouts:
        layout["rank"] = int(table.loc[table["layout"] == layout["layout"], "rank"].iloc[0])
    best = next(entry[1] for entry in entries if entry[0] == table.loc[0, "layout"])
    changes = pd.DataFrame(fleet_changes(scenario, candidates, best), columns=["base", "change", "units"])
    points = []
    for k in curve:
        solved_k = solve(model, cost_s, weights, p=k, **model_args(busy_fraction))
        result = simulate(solved_k.open_sites, f"curve p={k}", keep=False)  # (a layout simulated above is reused)
        sites = " ".join(candidates.site_id[i] for i in solved_k.open_sites)
        points.append(
            {"p": k, "sites": sites, "model_objective": solved_k.objective}
            | {"covered_share_model": covered_share(cost_s, weights, solved_k.open_sites, target_s)}
            | kpi_row(result.kpis)
        )
    curve_table = pd.DataFrame(points) if points else None
    if curve_table is not None:
        curve_table.attrs["objective"] = kpi
    return SitingOutcome(
        table=table,
        layouts=layouts,
        candidates=candidates,
        fleet=changes,
        best=simulated[tuple(int(i) for i in best)],
        curve=curve_table,
        busy_path=tuple(busy_path),
    )


MAX_BUSY_ROUNDS = 5


def _busy(result) -> float:
    """The busy share of unit time of a simulation, kept inside (0, 1) as the availability models need."""
    return min(max(busy_fraction_from(result.units), 1e-6), 1 - 1e-6)


def layouts_geojson(outcome: SitingOutcome) -> dict:
    """The simulated layouts as a GeoJSON FeatureCollection of base points."""
    features = []
    for layout in outcome.layouts:
        for site, lon, lat in zip(layout["sites"], layout["lon"], layout["lat"], strict=True):
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {"layout": layout["layout"], "rank": layout["rank"], "base_id": site},
                }
            )
    return {"type": "FeatureCollection", "features": features}
