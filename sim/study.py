"""Planning studies: variants of a scenario compared on common random numbers, and the drill-frequency study.

A variant is a name and dotted-path overrides of the scenario (``drills.interval_days: 91``). Every variant runs the
same replications with the same seed, so every variant faces identical incident streams; differences between
variants are then differences of policy, not of luck.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, ValidationError, field_validator

from sim.errors import RescuesimError, ScenarioError
from sim.experiment import RunResult, run_replications
from sim.forces import active_bases, build_units
from sim.metrics import mean_ci
from sim.results import slugify, write_json
from sim.scenario import Scenario, with_overrides
from sim.schema_base import StrictModel
from sim.world import World, build_world

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]


def variant_world(world: World, scenario: Scenario, network=None, *, workers: int | None = None) -> World:
    """The world of a variant: rebuilt on the network, or (without one) reusing the travel times when the bases and
    sites are unchanged."""
    if network is not None:
        return build_world(scenario, network, workers=workers)
    same_bases = [b.id for b in active_bases(scenario)] == [b.id for b in world.bases]
    if not same_bases:
        raise RescuesimError("this variant changes which bases hold units: it needs the road network")
    return dataclasses.replace(world, scenario=scenario, bases=active_bases(scenario), units=build_units(scenario))


def run_variants(
    world: World,
    variants: Sequence[Variant],
    *,
    network=None,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, RunResult]:
    """Run every variant on the same replications and seed (common random numbers)."""
    results = {}
    for v in variants:
        scenario = with_overrides(world.scenario, v.overrides) if v.overrides else world.scenario
        if progress:
            progress(v.name)
        results[v.name] = run_replications(
            variant_world(world, scenario, network, workers=workers),
            replications=replications,
            seed=seed,
            workers=workers,
        )
    return results


# --- the drill-frequency study ------------------------------------------------------------------------------------

OBJECTIVES = {  # KPI column -> True when larger is better
    "first_arrival_mean_s": False,
    "first_arrival_p90_s": False,
    "full_response_mean_s": False,
    "full_response_p90_s": False,
    "escalation_share": False,
}


def drill_variants(scenario: Scenario, intervals_days: Sequence[float]) -> list[Variant]:
    """One variant per interval, applied to the scenario's drills and to every base with drills of its own."""
    variants = []
    for days in intervals_days:
        overrides: dict[str, Any] = {}
        if scenario.drills is not None or not any(b.drills for b in scenario.bases):
            overrides["drills.interval_days"] = float(days)
        for i, b in enumerate(scenario.bases):
            if b.drills is not None:
                overrides[f"bases[{i}].drills.interval_days"] = float(days)
        variants.append(Variant(name=f"{days:g} days", overrides=overrides))
    return variants


def resolve_objective(scenario: Scenario, objective: str | None) -> tuple[str, bool]:
    """The KPI to optimise and whether larger is better (default: the first target's compliance)."""
    targets = {f"target:{t.name}": True for t in scenario.targets}
    if objective is None:
        return (next(iter(targets)), True) if targets else ("first_arrival_mean_s", False)
    if objective in targets:
        return objective, True
    if objective in OBJECTIVES:
        return objective, OBJECTIVES[objective]
    choices = ", ".join([*OBJECTIVES, *targets])
    raise RescuesimError(f"--objective: unknown objective {objective!r}; choose from {choices}")


def drill_table(
    intervals_days: Sequence[float], results: dict[str, RunResult], objective: str, larger_is_better: bool
) -> pd.DataFrame:
    """One row per interval: KPIs with 95% CI half-widths, drill downtime, proficiency; the best marked (on an
    exact tie, the longest interval: the same response for less time out of service)."""
    rows = []
    for days, (name, result) in zip(intervals_days, results.items(), strict=True):
        row: dict[str, Any] = {"interval_days": float(days), "variant": name}
        for col in [c for c in result.kpis.columns if c != "replication"]:
            ci = mean_ci(result.kpis[col].to_numpy(float))
            row[col] = ci["mean"]
            row[f"{col}_ci"] = ci["half_width"]
        units = result.units
        horizon_yr = result.world.scenario.horizon_days / 365.25
        per_rep = units.groupby("replication")
        row["drill_downtime_h_per_unit_yr"] = mean_ci(
            (per_rep["drill_downtime_s"].mean() / SECONDS_PER_HOUR / horizon_yr).to_numpy(float)
        )["mean"]
        row["mean_proficiency"] = mean_ci(per_rep["mean_proficiency"].mean().to_numpy(float))["mean"]
        row["max_drill_gap_days"] = float(units["max_drill_gap_days"].max())
        row["statutory_ok"] = bool(
            row["max_drill_gap_days"] <= result.world.scenario.readiness.statutory_interval_days + 1e-9
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    values = table[objective].to_numpy(float)
    target = np.nanmax(values) if larger_is_better else np.nanmin(values)
    tied = np.flatnonzero(np.isclose(values, target, rtol=0, atol=1e-12))
    best = int(tied[np.argmax(table["interval_days"].to_numpy()[tied])])  # a tie goes to the lighter drill load
    table["best"] = False
    table.loc[best, "best"] = True
    # common random numbers: compare with the best interval replication by replication (paired differences)
    best_kpis = list(results.values())[best].kpis[objective].to_numpy(float)
    paired = [mean_ci(r.kpis[objective].to_numpy(float) - best_kpis) for r in results.values()]
    table[f"{objective}_vs_best"] = [d["mean"] for d in paired]
    table[f"{objective}_vs_best_ci"] = [d["half_width"] for d in paired]
    table.attrs["objective"] = objective
    return table


def best_margin(table: pd.DataFrame, objective: str) -> tuple[float, float]:
    """The best interval's objective and its margin over the runner-up."""
    values = table[objective].to_numpy(float)
    best = int(np.flatnonzero(table["best"].to_numpy())[0])
    others = np.delete(values, best)
    margin = float(np.nanmin(np.abs(others - values[best]))) if len(others) else math.nan
    return float(values[best]), margin


# --- study files ---------------------------------------------------------------------------------------------------


class StudyVariant(StrictModel):
    name: str
    overrides: dict[str, Any] = Field(default_factory=dict)


class StudySpec(StrictModel):
    """A study file: a scenario, named variants and/or a grid over fields, all on common random numbers."""

    name: str
    scenario: Path
    replications: int | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, ge=0)
    variants: tuple[StudyVariant, ...] = ()
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="dotted path -> values (cartesian product)")

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [k for k, values in v.items() if not values]
        if empty:
            raise ValueError(f"every grid field needs at least one value, got none for {empty}")
        return v


def load_study(path: Path) -> StudySpec:
    """Read and validate a study file (the scenario path resolves relative to it)."""
    from sim.scenario import _format_errors  # one error format for every file the user writes

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(str(path), ["file not found"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [f"not valid YAML: {exc}"]) from None
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(str(path), _format_errors(exc, StudySpec)) from None
    if not spec.scenario.is_absolute():
        spec = spec.model_copy(update={"scenario": Path(path).parent / spec.scenario})
    return spec


def study_cells(spec: StudySpec) -> list[Variant]:
    """Every (variant x grid point) cell, each with a stable id made of its name and a hash of its overrides."""
    variants = list(spec.variants) or [StudyVariant(name="base")]
    keys = list(spec.grid)
    points = list(itertools.product(*(spec.grid[k] for k in keys))) if keys else [()]
    cells = []
    for v in variants:
        for point in points:
            overrides = dict(v.overrides) | dict(zip(keys, point, strict=True))
            label = v.name + "".join(f" {k.split('.')[-1]}={val}" for k, val in zip(keys, point, strict=True))
            cells.append(Variant(name=label, overrides=overrides))
    return cells


def cell_id(cell: Variant) -> str:
    digest = hashlib.sha256(json.dumps(cell.overrides, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{slugify(cell.name)[:60]}-{digest}"


def run_study(
    spec: StudySpec,
    results_root: Path,
    *,
    world_for: Callable[[Scenario], World] | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run every cell not finished yet; each cell is written atomically, so an interrupted study resumes.

    ``world_for`` resolves a variant scenario into a world (default: on the scenario's road network, loaded once).
    """
    from sim.scenario import load_scenario

    scenario = load_scenario(spec.scenario)
    cells = study_cells(spec)
    folder = Path(results_root) / slugify(scenario.name) / f"study-{slugify(spec.name)}"
    (folder / "cells").mkdir(parents=True, exist_ok=True)
    world_for = world_for or _network_worlds(scenario, workers)
    rows = []
    for cell in cells:
        cell_dir = folder / "cells" / cell_id(cell)
        if not (cell_dir / "summary.json").is_file():
            if progress:
                progress(cell.name)
            variant = with_overrides(scenario, cell.overrides) if cell.overrides else scenario
            result = run_replications(
                world_for(variant), replications=spec.replications, seed=spec.seed, workers=workers, dask=dask
            )
            _write_cell(cell_dir, cell, result)
        elif progress:
            progress(f"{cell.name} (done before, skipped)")
        rows.append(_cell_row(cell, cell_dir))
    table = pd.DataFrame(rows)
    _atomic(folder / "study.csv", lambda p: table.to_csv(p, index=False, lineterminator="\n"))
    _atomic(
        folder / "study.json",
        lambda p: write_json({"study": spec.name, "scenario": str(spec.scenario), "cells": [c.name for c in cells]}, p),
    )
    return folder


def _network_worlds(scenario: Scenario, workers: int | None = None) -> Callable[[Scenario], World]:
    """Worlds on the scenario's road network, loaded on first use."""
    from sim.world import load_network

    network = None

    def world_for(variant: Scenario) -> World:
        nonlocal network
        network = network if network is not None else load_network(scenario)
        return build_world(variant, network, workers=workers)

    return world_for


def _write_cell(cell_dir: Path, cell: Variant, result: RunResult) -> None:
    from sim.metrics import run_summary

    tmp = cell_dir.with_name(f".partial-{cell_dir.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        result.kpis.to_parquet(tmp / "kpis.parquet", index=False)
        write_json({"cell": cell.name, "overrides": cell.overrides} | run_summary(result), tmp / "summary.json")
        shutil.rmtree(cell_dir, ignore_errors=True)
        tmp.rename(cell_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _cell_row(cell: Variant, cell_dir: Path) -> dict[str, Any]:
    kpis = pd.read_parquet(cell_dir / "kpis.parquet")
    row: dict[str, Any] = {"cell": cell.name, "cell_id": cell_dir.name} | {k: v for k, v in cell.overrides.items()}
    for col in [c for c in kpis.columns if c != "replication"]:
        ci = mean_ci(kpis[col].to_numpy(float))
        row[col] = ci["mean"]
        row[f"{col}_ci"] = ci["half_width"]
    return row


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    write(tmp)
    os.replace(tmp, path)


# --- the siting study ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SitingOutcome:
    table: pd.DataFrame  # one row per simulated layout, ranked
    layouts: list[dict]  # name, open site ids, coordinates, optimisation objective
    candidates: Any


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
) -> SitingOutcome:
    """Solve the location model to optimality, then simulate its best layouts and the current one on common
    random numbers and rank them by a simulated KPI."""
    from sim.candidates import build_candidates, cost_matrix_s, demand_weights, layout_scenario
    from sim.siting import top_layouts

    scenario = world.scenario
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
    solved = top_layouts(
        model,
        cost_s,
        weights,
        simulate_top,
        p=p,
        target_s=target_s,
        backup=backup,
        fixed_open=candidates.indices("fixed_open"),
        fixed_closed=candidates.indices("fixed_closed"),
    )
    current = tuple(int(i) for i in np.flatnonzero(candidates.existing))
    entries = [("current", current, _layout_objective(model, cost_s, weights, current, target_s))]
    entries += [(f"{model} #{k + 1}", tuple(r.open_sites), r.objective) for k, r in enumerate(solved)]
    kpi, larger = resolve_objective(scenario, objective)
    rows, layouts = [], []
    for name, open_sites, model_value in entries:
        if progress:
            progress(name)
        variant = layout_scenario(scenario, candidates, open_sites)
        result = run_replications(
            build_world(variant, network, workers=workers),
            replications=replications,
            seed=seed,
            workers=workers,
            dask=dask,
        )
        ids = [candidates.site_id[i] for i in open_sites]
        row: dict[str, Any] = {
            "layout": name,
            "sites": " ".join(ids),
            "bases": len(ids),
            "model_objective": model_value,
            "covered_share_model": _covered(cost_s, weights, open_sites, target_s),
        }
        for col in [c for c in result.kpis.columns if c != "replication"]:
            ci = mean_ci(result.kpis[col].to_numpy(float))
            row[col], row[f"{col}_ci"] = ci["mean"], ci["half_width"]
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
    return SitingOutcome(table=table, layouts=layouts, candidates=candidates)


def _layout_objective(model: str, cost_s: np.ndarray, weights: np.ndarray, open_sites, target_s) -> float:
    """The location model's objective evaluated for a given layout (for the current one)."""
    if not open_sites:
        return math.nan
    nearest = cost_s[:, list(open_sites)].min(axis=1)
    if model == "pmedian":
        return float((weights * nearest).sum())
    if model == "pcenter":
        return float(nearest[weights > 0].max())
    if model == "lscp":
        return float(len(open_sites))
    return float(weights[nearest <= target_s].sum())


def _covered(cost_s: np.ndarray, weights: np.ndarray, open_sites, target_s) -> float:
    if target_s is None or not open_sites or weights.sum() == 0:
        return math.nan
    return float(weights[cost_s[:, list(open_sites)].min(axis=1) <= target_s].sum() / weights.sum())


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
