"""Variants of a scenario run on common random numbers, the base every study builds on.

A variant is a name and dotted-path overrides of the scenario (``drills.interval_days: 91``). Every variant runs the
same replications with the same seed, so every variant faces identical incident streams; differences between
variants are then differences of policy, not of luck.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.experiment import RunResult, run_replications
from sim.metrics import mean_ci
from sim.scenario import with_overrides
from sim.world import World, variant_world


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


def kpi_row(kpis: pd.DataFrame) -> dict[str, float]:
    """Each KPI's mean over the replications and its 95% confidence half-width (``<kpi>_ci``), in column order."""
    row: dict[str, float] = {}
    for col in [c for c in kpis.columns if c != "replication"]:
        ci = mean_ci(kpis[col].to_numpy(float))
        row[col] = ci["mean"]
        row[f"{col}_ci"] = ci["half_width"]
    return row


PAIRED_KPIS = ("first_arrival_mean_s", "first_arrival_p90_s", "full_response_mean_s", "waited_share")


def paired_row(kpis: pd.DataFrame, baseline: pd.DataFrame) -> dict[str, float]:
    """The paired difference from the baseline of the headline KPIs and every target, replication by replication
    (common random numbers: the same incidents), as mean and 95% half-width (``<kpi>_vs_baseline[_ci]``); only the
    replications both have."""
    joined = kpis.merge(baseline, on="replication", suffixes=("", "__baseline"))
    row: dict[str, float] = {}
    for col in [c for c in kpis.columns if c in PAIRED_KPIS or c.startswith("target:")]:
        if f"{col}__baseline" in joined:
            ci = mean_ci((joined[col] - joined[f"{col}__baseline"]).to_numpy(float))
            row[f"{col}_vs_baseline"] = ci["mean"]
            row[f"{col}_vs_baseline_ci"] = ci["half_width"]
    return row
