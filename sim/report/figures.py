"""Static figures (matplotlib). Every function takes keyword-only ``save/show/filepath/dpi`` and returns (fig, ax)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from sim.report.fonts import use_cjk_font


def _finish(fig, ax, *, save: bool, show: bool, filepath: Path | None, dpi: int):
    fig.tight_layout()
    if save:
        if filepath is None:
            raise ValueError("filepath is required with save=True")
        fig.savefig(filepath, dpi=dpi)
    if show:
        plt.show()
    else:
        plt.close(fig)
    return fig, ax


def ecdf_band(values_by_rep: list[np.ndarray], grid: np.ndarray, level: float = 0.95):
    """Mean empirical CDF over replications on ``grid`` with a Student-t band (NaN values count as never)."""
    curves = np.array(
        [
            np.searchsorted(np.sort(np.nan_to_num(v, nan=np.inf)), grid, side="right") / max(len(v), 1)
            for v in values_by_rep
        ]
    )
    mean = curves.mean(axis=0)
    n = len(curves)
    if n < 2:
        return mean, mean, mean
    half = stats.t.ppf((1 + level) / 2, n - 1) * curves.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1)


def plot_response_cdf(
    incidents: pd.DataFrame,
    targets=(),
    *,
    title: str = "",
    save: bool = False,
    show: bool = False,
    filepath: Path | None = None,
    dpi: int = 120,
):
    """CDF of first arrival and full response (minutes) with 95% bands over replications and target lines."""
    use_cjk_font()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    reps = sorted(incidents["replication"].unique())
    top_min = np.nanpercentile(incidents["full_response_s"].to_numpy(float) / 60, 99) if len(incidents) else 30
    top_min = float(np.nan_to_num(max(top_min, incidents["first_arrival_s"].max() / 60 if len(incidents) else 0, 10)))
    grid = np.linspace(0, top_min * 60, 400)
    for column, label, style in (
        ("first_arrival_s", "first arrival", "-"),
        ("full_response_s", "full response", "--"),
    ):
        per = [incidents.loc[incidents["replication"] == r, column].to_numpy(float) for r in reps]
        mean, low, high = ecdf_band(per, grid)
        (line,) = ax.plot(grid / 60, mean, style, label=label)
        ax.fill_between(grid / 60, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    for t in targets:
        ax.axvline(t.limit_s / 60, color="grey", linestyle=":", linewidth=1)
        ax.text(t.limit_s / 60, 0.02, f" {t.name}", rotation=90, va="bottom", fontsize=8, color="dimgrey")
        ax.axhline(t.share, color="grey", linestyle=":", linewidth=0.6)
    ax.set_xlabel("time from call (min)")
    ax.set_ylabel("share of incidents")
    ax.set_ylim(0, 1.01)
    ax.set_xlim(0, top_min)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title or f"Response times over {len(reps)} replications (95% band)")
    return _finish(fig, ax, save=save, show=show, filepath=filepath, dpi=dpi)
