"""Planning studies: variants of a scenario compared on common random numbers, and the drill-frequency study.

A variant is a name and dotted-path overrides of the scenario (``drills.interval_days: 91``). Every variant runs the
same replications with the same seed, so every variant faces identical incident streams; differences between
variants are then differences of policy, not of luck.
"""

from __future__ import annotations

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
from pydantic import Field, PrivateAttr, ValidationError, field_validator

from sim.errors import RescuesimError, ScenarioError
from sim.experiment import RunResult, run_replications
from sim.metrics import mean_ci
from sim.results import slugify, write_json
from sim.scenario import Scenario, with_overrides
from sim.schema_base import StrictModel
from sim.world import World, build_world, variant_world

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]


def run_variants(
    world: World,
    variants: Sequence[Variant],
    *,
    network=None,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, RunResult]:
    """Run every variant on the same replications and seed (common random numbers)."""
    results = {}
    for v in variants:
        scenario = with_overrides(world.scenario, v.overrides) if v.overrides else world.scenario
        if progress:
            progress(v.name)
        results[v.name] = run_replications(
            variant_world(world, scenario, network, workers=workers) if v.overrides else world,
            replications=replications,
            seed=seed,
            workers=workers,
            dask=dask,
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
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The study file it was read from (None when made in code)."""
        return self._source

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [k for k, values in v.items() if not values]
        if empty:
            raise ValueError(f"every grid field needs at least one value, got none for {empty}")
        return v


def load_study(path: Path) -> StudySpec:
    """Read and validate a study file (the scenario path resolves relative to it)."""
    from sim.scenario import format_errors  # one error format for every file the user writes

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [f"cannot read: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [f"not valid YAML: {exc}"]) from None
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(str(path), format_errors(exc, StudySpec)) from None
    if not spec.scenario.is_absolute():
        resolved = Path(path).parent / spec.scenario
        if not resolved.is_file():
            raise ScenarioError(
                str(path), [f"scenario: file not found: {spec.scenario} (relative to the study file: {resolved})"]
            )
        spec = spec.model_copy(update={"scenario": resolved})
    elif not spec.scenario.is_file():
        raise ScenarioError(str(path), [f"scenario: file not found: {spec.scenario}"])
    spec._source = Path(path)
    return spec


@dataclass(frozen=True)
class Cell:
    """One (variant x grid point) of a study: its label, overrides and where it comes from in the study file."""

    name: str
    overrides: dict[str, Any]
    origin: str  # "variants[1] (two hazmat units), grid drills.interval_days=91"


def study_cells(spec: StudySpec) -> list[Cell]:
    """Every (variant x grid point) cell, in the order of the study file."""
    variants = list(spec.variants) or [StudyVariant(name="base")]
    keys = list(spec.grid)
    points = list(itertools.product(*(spec.grid[k] for k in keys))) if keys else [()]
    cells = []
    for vi, v in enumerate(variants):
        for point in points:
            overrides = dict(v.overrides) | dict(zip(keys, point, strict=True))
            label = v.name + "".join(f" {k.split('.')[-1]}={val}" for k, val in zip(keys, point, strict=True))
            origin = f"variants[{vi}] ({v.name})" if spec.variants else "the base scenario"
            if keys:
                origin += ", grid " + ", ".join(f"{k}={val}" for k, val in zip(keys, point, strict=True))
            cells.append(Cell(name=label, overrides=overrides, origin=origin))
    return cells


def cell_scenarios(spec: StudySpec, scenario: Scenario, cells: Sequence[Cell]) -> list[Scenario]:
    """The scenario of every cell, all validated before any runs: one error naming the study file and, for each
    problem, the variant and grid point it comes from."""
    problems: list[str] = []
    out = []
    for cell in cells:
        try:
            out.append(with_overrides(scenario, cell.overrides) if cell.overrides else scenario)
        except ScenarioError as exc:
            problems += [f"{cell.origin}: {p}" for p in exc.problems]
    if problems:
        raise ScenarioError(str(spec.source or spec.name), problems)
    return out


def run_study(
    spec: StudySpec,
    results_root: Path,
    *,
    world_for: Callable[[Scenario], World] | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run every cell whose results are not on disk yet for exactly its inputs; each cell is written atomically,
    so an interrupted study resumes.

    A finished cell is reused only when its fingerprint (the effective scenario, every referenced file, the travel
    times, seed, replications, rescuesim's version and code; :mod:`sim.provenance`) is unchanged. Cells live in
    ``cells/<name>-<fingerprint>``: a cell computed from other inputs is kept beside, never overwritten.
    ``progress`` hears, for every cell, whether it was reused, new or redone and why. ``world_for`` resolves a
    variant scenario into a world (default: on the scenario's road network, loaded once).
    """
    from sim.provenance import run_fingerprint
    from sim.results import replace_files
    from sim.scenario import load_scenario

    scenario = load_scenario(spec.scenario)
    cells = study_cells(spec)
    scenarios = cell_scenarios(spec, scenario, cells)
    folder = Path(results_root) / slugify(scenario.name) / f"study-{slugify(spec.name)}"
    (folder / "cells").mkdir(parents=True, exist_ok=True)
    before = _cells_before(folder)
    world_for = world_for or _network_worlds(scenario, workers)
    rows, record = [], []
    for cell, variant in zip(cells, scenarios, strict=True):
        world = world_for(variant)
        seed = variant.seed if spec.seed is None else spec.seed
        replications = spec.replications or variant.replications
        fingerprint = run_fingerprint(world, seed=seed, replications=replications)
        cell_dir = folder / "cells" / f"{slugify(cell.name)[:60]}-{fingerprint.key[:12]}"
        if _finished(cell_dir, fingerprint):
            status = "reused (inputs unchanged)"
        else:
            status = _why_run(before.get(cell.name), fingerprint)
        if progress:
            progress(f"{cell.name}: {status}")
        if not status.startswith("reused"):
            result = run_replications(world, replications=replications, seed=seed, workers=workers, dask=dask)
            _write_cell(cell_dir, cell, result, fingerprint)
        rows.append(_cell_row(cell, cell_dir))
        record.append({"cell": cell.name, "cell_id": cell_dir.name, "fingerprint": fingerprint.to_json()})
    table = pd.DataFrame(rows)
    staging = folder / f".partial-study-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        table.to_csv(staging / "study.csv", index=False, lineterminator="\n")
        write_json({"study": spec.name, "scenario": str(spec.scenario), "cells": record}, staging / "study.json")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_files(staging, folder)
    return folder


def _cells_before(folder: Path) -> dict[str, Any]:
    """The fingerprint of each cell of the study's last complete run, by cell name (none if unknown)."""
    from sim.provenance import Fingerprint

    path = folder / "study.json"
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        return {c["cell"]: Fingerprint.from_json(c["fingerprint"]) for c in cells if isinstance(c, dict)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _finished(cell_dir: Path, fingerprint) -> bool:
    """Whether ``cell_dir`` holds a complete cell made from exactly these inputs."""
    from sim.provenance import Fingerprint

    try:
        stored = Fingerprint.from_json(json.loads((cell_dir / "fingerprint.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError):
        return False
    return stored == fingerprint and (cell_dir / "summary.json").is_file() and (cell_dir / "kpis.parquet").is_file()


def _why_run(previous, fingerprint) -> str:
    if previous is None:
        return "new"
    changes = fingerprint.changes_from(previous)
    return "redone: " + (", ".join(changes) if changes else "its results are missing")


def _network_worlds(scenario: Scenario, workers: int | None = None) -> Callable[[Scenario], World]:
    """Worlds on the scenario's road network, loaded on first use."""
    from sim.world import load_network

    network = None

    def world_for(variant: Scenario) -> World:
        nonlocal network
        network = network if network is not None else load_network(scenario)
        return build_world(variant, network, workers=workers)

    return world_for


def _write_cell(cell_dir: Path, cell: Cell, result: RunResult, fingerprint) -> None:
    from sim.metrics import run_summary

    tmp = cell_dir.with_name(f".partial-{cell_dir.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        result.kpis.to_parquet(tmp / "kpis.parquet", index=False)
        write_json({"cell": cell.name, "overrides": cell.overrides} | run_summary(result), tmp / "summary.json")
        write_json(fingerprint.to_json(), tmp / "fingerprint.json")
        shutil.rmtree(cell_dir, ignore_errors=True)
        tmp.rename(cell_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _cell_row(cell: Cell, cell_dir: Path) -> dict[str, Any]:
    kpis = pd.read_parquet(cell_dir / "kpis.parquet")
    row: dict[str, Any] = {"cell": cell.name, "cell_id": cell_dir.name} | {k: v for k, v in cell.overrides.items()}
    for col in [c for c in kpis.columns if c != "replication"]:
        ci = mean_ci(kpis[col].to_numpy(float))
        row[col] = ci["mean"]
        row[f"{col}_ci"] = ci["half_width"]
    return row


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
    from sim.siting import covered_share, evaluate, top_layouts
    from sim.siting.candidates import build_candidates, cost_matrix_s, demand_weights, layout_scenario

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
    entries = [("current", current, evaluate(model, cost_s, weights, current, p=p, target_s=target_s))]
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
            "covered_share_model": covered_share(cost_s, weights, open_sites, target_s),
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
