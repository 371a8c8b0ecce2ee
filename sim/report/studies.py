"""Figures of planning studies: the drill-frequency trade-off."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from sim.report.figures import finish_figure
from sim.report.fonts import use_cjk_font


def _label(objective: str) -> str:
    if objective.startswith("target:"):
        return f"share within target '{objective[7:]}'"
    return objective.replace("_s", " (min)").replace("_", " ")


def plot_drill_tradeoff(
    table: pd.DataFrame,
    objective: str,
    *,
    title: str = "",
    save: bool = False,
    show: bool = False,
    filepath: Path | None = None,
    dpi: int = 120,
):
    """Each interval's objective as a paired difference from the best interval (95% CI over replications on common
    random numbers), above proficiency and drill downtime."""
    use_cjk_font()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.5), sharex=True)
    x = table["interval_days"].to_numpy(float)
    scale = 60.0 if objective.endswith("_s") else 1.0
    y = table[f"{objective}_vs_best"].to_numpy(float) / scale
    err = table[f"{objective}_vs_best_ci"].to_numpy(float) / scale
    top.errorbar(x, y, yerr=np.nan_to_num(err), marker="o", capsize=4)
    top.axhline(0.0, color="grey", linewidth=0.8)
    best = table["best"].to_numpy(bool)
    top.scatter(x[best], y[best], s=160, facecolors="none", edgecolors="crimson", linewidths=2, label="best", zorder=3)
    best_value = float(table.loc[best, objective].iloc[0]) / scale
    top.set_ylabel(f"{_label(objective)}\nminus the best's ({best_value:.3g})")
    top.ticklabel_format(axis="y", useOffset=False)
    top.grid(alpha=0.3)
    top.legend(loc="best")
    bottom.plot(x, table["mean_proficiency"], marker="s", color="tab:green", label="mean proficiency (0-1)")
    bottom.set_ylabel("mean proficiency (0-1)")
    bottom.set_ylim(0, 1.05)
    twin = bottom.twinx()
    twin.plot(
        x,
        table["drill_downtime_h_per_unit_yr"],
        marker="^",
        color="tab:orange",
        label="drill downtime (h per unit-year)",
    )
    twin.set_ylabel("drill downtime (h per unit-year)")
    bottom.set_xscale("log")
    bottom.set_xticks(x, [f"{v:g}" for v in x])
    bottom.xaxis.set_minor_formatter(NullFormatter())
    bottom.set_xlabel("drill interval (days, log scale)")
    bottom.grid(alpha=0.3)
    lines = bottom.get_lines() + twin.get_lines()
    bottom.legend(lines, [ln.get_label() for ln in lines], loc="lower left", fontsize=8)
    top.set_title(title or "Drill-frequency trade-off (common random numbers, paired 95% CI)")
    return finish_figure(fig, (top, bottom), save=save, show=show, filepath=filepath, dpi=dpi)


STUDY_FIGURE_KPIS = (("first_arrival_mean_s", "first arrival, mean"), ("first_arrival_p90_s", "first arrival, p90"))


def plot_study_differences(
    table: pd.DataFrame, *, save: bool = False, show: bool = False, filepath: Path | None = None, dpi: int = 120
):
    """Each cell's paired difference from the baseline (the first cell) in first arrival, mean and p90 (minutes,
    seconds when every difference is under a minute), with 95% CIs over replications on common random numbers."""
    use_cjk_font()
    spans = [table[f"{k}_vs_baseline"].abs() + table[f"{k}_vs_baseline_ci"].fillna(0) for k, _ in STUDY_FIGURE_KPIS]
    scale, unit = (1.0, "s") if max(float(s.max()) for s in spans) < 60 else (60.0, "min")
    fig, axes = plt.subplots(1, len(STUDY_FIGURE_KPIS), figsize=(11, 0.6 * len(table) + 2.0), sharey=True)
    y = np.arange(len(table))[::-1]
    for ax, (kpi, label) in zip(axes, STUDY_FIGURE_KPIS, strict=True):
        diff = table[f"{kpi}_vs_baseline"].to_numpy(float) / scale
        err = np.nan_to_num(table[f"{kpi}_vs_baseline_ci"].to_numpy(float) / scale)
        ax.errorbar(diff, y, xerr=err, fmt="o", capsize=4)
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_xlabel(f"{label}: minus the baseline's ({unit})")
        ax.grid(alpha=0.3)
    axes[0].set_yticks(y, table["cell"].astype(str).tolist())
    axes[0].set_title(f"baseline: {table['cell'].iloc[0]}", loc="left", fontsize=9)
    return finish_figure(fig, axes, save=save, show=show, filepath=filepath, dpi=dpi)


def plot_bases_curve(
    curve: pd.DataFrame,
    objective: str,
    *,
    title: str = "",
    save: bool = False,
    show: bool = False,
    filepath: Path | None = None,
    dpi: int = 120,
):
    """What one more base buys: each p's optimal model objective above its simulated ``objective`` with the 95% CI
    over replications (the same incidents for every p)."""
    use_cjk_font()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6.0), sharex=True)
    p = curve["p"].to_numpy(int)
    top.plot(p, curve["model_objective"], marker="o", color="tab:purple")
    top.set_ylabel("model objective (optimal)")
    top.grid(alpha=0.3)
    scale = 60.0 if objective.endswith("_s") else 1.0
    bottom.errorbar(
        p,
        curve[objective].to_numpy(float) / scale,
        yerr=np.nan_to_num(curve[f"{objective}_ci"].to_numpy(float) / scale),
        marker="s",
        capsize=4,
    )
    bottom.set_ylabel(f"simulated {_label(objective)}")
    bottom.set_xlabel("bases (p)")
    bottom.set_xticks(p)
    bottom.grid(alpha=0.3)
    top.set_title(title or "Trade-off: what one more base buys")
    return finish_figure(fig, (top, bottom), save=save, show=show, filepath=filepath, dpi=dpi)
