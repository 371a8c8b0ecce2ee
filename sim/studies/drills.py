"""The drill-frequency study: one variant per drill interval, a table of KPIs with confidence intervals, drill
downtime and proficiency, the best interval and its paired differences from the others (common random numbers)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.experiment import RunResult
from sim.metrics import mean_ci
from sim.scenario import Scenario
from sim.studies.variants import Variant, kpi_row

SECONDS_PER_HOUR = 3600.0


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


def drill_table(
    intervals_days: Sequence[float], results: dict[str, RunResult], objective: str, larger_is_better: bool
) -> pd.DataFrame:
    """One row per interval: KPIs with 95% CI half-widths, drill downtime, proficiency; the best marked (on an
    exact tie, the longest interval: the same response for less time out of service)."""
    rows = []
    for days, (name, result) in zip(intervals_days, results.items(), strict=True):
        row: dict[str, Any] = {"interval_days": float(days), "variant": name}
        row |= kpi_row(result.kpis)
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
    table["tied_with_best"] = [k != best and _includes_zero(d) for k, d in enumerate(paired)]
    table.attrs["objective"] = objective
    return table


def _includes_zero(ci: dict[str, float]) -> bool:
    """Whether a paired difference is not distinguishable from 0 (its 95% CI includes it; no CI: exactly 0)."""
    if math.isnan(ci["half_width"]):
        return ci["mean"] == 0
    return abs(ci["mean"]) <= ci["half_width"]


def best_margin(table: pd.DataFrame, objective: str) -> tuple[float, float]:
    """The best interval's objective and its margin over the runner-up."""
    values = table[objective].to_numpy(float)
    best = int(np.flatnonzero(table["best"].to_numpy())[0])
    others = np.delete(values, best)
    margin = float(np.nanmin(np.abs(others - values[best]))) if len(others) else math.nan
    return float(values[best]), margin
