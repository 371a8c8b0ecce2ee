"""Planning studies: variants of a scenario compared on common random numbers, and the drill-frequency study.

A variant is a name and dotted-path overrides of the scenario (``drills.interval_days: 91``). Every variant runs the
same replications with the same seed, so every variant faces identical incident streams; differences between
variants are then differences of policy, not of luck.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import RescuesimError
from sim.experiment import RunResult, run_replications
from sim.forces import active_bases, build_units
from sim.metrics import mean_ci
from sim.scenario import Scenario, with_overrides
from sim.world import World, build_world

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]


def variant_world(world: World, scenario: Scenario, network=None) -> World:
    """The world of a variant: rebuilt on the network, or (without one) reusing the travel times when the bases and
    sites are unchanged."""
    if network is not None:
        return build_world(scenario, network)
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
            variant_world(world, scenario, network), replications=replications, seed=seed, workers=workers
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
    """One row per interval: KPIs with 95% CI half-widths, drill downtime, proficiency; the best marked."""
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
    best = int(np.nanargmax(values) if larger_is_better else np.nanargmin(values))
    table["best"] = False
    table.loc[best, "best"] = True
    table.attrs["objective"] = objective
    return table


def best_margin(table: pd.DataFrame, objective: str) -> tuple[float, float]:
    """The best interval's objective and its margin over the runner-up."""
    values = table[objective].to_numpy(float)
    best = int(np.flatnonzero(table["best"].to_numpy())[0])
    others = np.delete(values, best)
    margin = float(np.nanmin(np.abs(others - values[best]))) if len(others) else math.nan
    return float(values[best]), margin
