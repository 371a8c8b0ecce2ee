"""Static figures (matplotlib). Every function takes keyword-only ``save/show/filepath/dpi`` and returns (fig, ax)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.layout_engine import PlaceHolderLayoutEngine
from scipy.special import stdtrit  # the Student-t quantile scipy.stats.t.ppf calls, without importing scipy.stats

from sim.eventlog import EventKind, status_after
from sim.forces import UnitStatus
from sim.hazards import load_group, source_group
from sim.report.fonts import use_cjk_font


def finish_figure(fig, ax, *, save: bool, show: bool, filepath: Path | None, dpi: int, tight: bool = True):
    """Lay out, save to ``filepath`` (with ``save``), show or close the figure; return ``(fig, ax)`` (every plot
    function of the report ends here)."""
    if tight:
        fig.tight_layout()
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):  # left by tight_layout: saving would draw twice
        fig.set_layout_engine(None)
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
    """Mean empirical CDF over replications on ``grid`` with a Student-t band (NaN values count as never); all NaN
    without replications (no replication had an incident)."""
    if not values_by_rep:
        nothing = np.full(len(grid), np.nan)
        return nothing, nothing, nothing
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
    half = stdtrit(n - 1, (1 + level) / 2) * curves.std(axis=0, ddof=1) / np.sqrt(n)
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
    return finish_figure(fig, ax, save=save, show=show, filepath=filepath, dpi=dpi)


PARTS = (
    ("waited_s", "waiting"),
    ("activation_s", "mutual-aid activation"),
    ("turnout_s", "turnout"),
    ("travel_s", "road travel"),
    ("access_s", "last leg (on foot / off road)"),
)


def plot_response_parts(
    incidents: pd.DataFrame, *, save: bool = False, show: bool = False, filepath: Path | None = None, dpi: int = 120
):
    """Mean response-time parts of the first-arriving unit (min), by its base and by source; on-scene beside."""
    use_cjk_font()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 3, 2]})
    frame = incidents.assign(source_group=source_group(incidents["source"].to_numpy(), incidents["in_hca"].to_numpy()))
    for ax, by, title in ((axes[0], "first_base", "by first-arriving base"), (axes[1], "source_group", "by source")):
        means = frame.groupby(by)[[c for c, _ in PARTS]].mean().fillna(0) / 60
        left = np.zeros(len(means))
        for column, label in PARTS:
            ax.barh(means.index.astype(str), means[column], left=left, label=label)
            left += means[column].to_numpy()
        ax.set_xlabel("mean time from call to first arrival (min)")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=len(PARTS), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    on_scene = frame.groupby("source_group")["on_scene_s"].mean() / 60
    axes[2].barh(on_scene.index.astype(str), on_scene.to_numpy(), color="tab:gray")
    axes[2].set_xlabel("mean on-scene time (min)")
    axes[2].set_title("on scene, by source")
    return finish_figure(fig, axes, save=save, show=show, filepath=filepath, dpi=dpi, tight=False)


def _daily_mean_level(times_s: np.ndarray, steps: np.ndarray, edges_s: np.ndarray) -> np.ndarray:
    """Time-average of a step function (level changes by ``steps`` at ``times_s``) over each bin of ``edges_s``."""
    level = np.cumsum(steps)
    knots = np.concatenate([[0.0], times_s, [max(edges_s[-1], times_s[-1] if len(times_s) else 0.0)]])
    levels = np.concatenate([[0.0], level])
    area = np.concatenate([[0.0], np.cumsum(levels * np.diff(knots))])
    return np.diff(np.interp(edges_s, knots, area)) / np.diff(edges_s)


def _status_label(status: UnitStatus) -> str:
    return status.name.lower().replace("_", " ")


BUSY_STATUSES = tuple(_status_label(s) for s in UnitStatus if s != UnitStatus.AVAILABLE)


def status_levels(events: pd.DataFrame, horizon_s: float, bin_s: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mean number of units in each busy status per time bin (averaged over replications), from the event log.

    Each unit event sets the unit's status until its next event (or the horizon); bins are ``bin_s`` long."""
    edges_s = np.arange(0.0, horizon_s + bin_s, bin_s)
    levels = {s: np.zeros(len(edges_s) - 1) for s in BUSY_STATUSES}
    codes, names = pd.factorize(events["event"])  # a few distinct names: far faster than mapping every row
    kind = np.asarray([int(EventKind[name]) for name in names], dtype=np.int64)[codes]
    after = status_after(kind, events["value"].to_numpy(float))  # the log's one rule, as for the status times
    ev = events.assign(status=after)[(after >= 0) & events["unit"].notna().to_numpy()]
    if ev.empty:
        return edges_s, levels
    ev = ev.sort_values(["replication", "unit", "time_s"], kind="stable")
    end_s = ev.groupby(["replication", "unit"])["time_s"].shift(-1).fillna(horizon_s).to_numpy(float)
    start_s = ev["time_s"].to_numpy(float)
    status = ev["status"].to_numpy()
    n_reps = max(1, events["replication"].nunique())
    for code in UnitStatus:  # a level summed over replications is the sum of each replication's level
        mask = status == code
        name = _status_label(code)
        if name not in levels or not mask.any():
            continue
        times = np.concatenate([start_s[mask], end_s[mask]])
        steps = np.concatenate([np.ones(mask.sum()), -np.ones(mask.sum())])
        order = np.argsort(times, kind="stable")
        levels[name] += _daily_mean_level(times[order], steps[order], edges_s) / n_reps
    return edges_s, levels


def plot_utilisation(
    events: pd.DataFrame,
    units: pd.DataFrame,
    horizon_s: float,
    *,
    save: bool = False,
    show: bool = False,
    filepath: Path | None = None,
    dpi: int = 120,
):
    """Units in each status over the horizon (stacked, mean over replications) and share of time per status by
    base."""
    use_cjk_font()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5))
    hourly = horizon_s <= 14 * 86400
    bin_s = 3600.0 if hourly else 86400.0
    edges_s, levels = status_levels(events, horizon_s, bin_s)
    x = edges_s[:-1] / bin_s
    shown = {k: v for k, v in levels.items() if v.any()}
    if shown:
        top.stackplot(x, *shown.values(), labels=list(shown), step="post", alpha=0.85)
        top.legend(fontsize=8, ncol=len(shown), loc="upper left")
    else:
        top.text(0.5, 0.5, "no unit left its base", transform=top.transAxes, ha="center", color="grey")
    top.set_xlim(0, x[-1] + 1 if len(x) else 1)
    top.set_xlabel("hour of the horizon" if hourly else "day of the horizon")
    top.set_ylabel("units (mean over replications)")
    top.set_title(f"Units out of service by status ({'hourly' if hourly else 'daily'} means)")
    top.grid(alpha=0.3)
    columns = [c for c in units.columns if c.endswith("_s") and c not in ("available_s", "drill_downtime_s")]
    share = units.groupby("base")[columns].sum()
    share = (
        share.div(
            units.groupby("base")[[c for c in units.columns if c.endswith("_s") and c != "drill_downtime_s"]]
            .sum()
            .sum(axis=1),
            axis=0,
        )
        * 100
    )
    left = np.zeros(len(share))
    for column in columns:
        bottom.barh(
            share.index.astype(str), share[column], left=left, label=column.removesuffix("_s").replace("_", " ")
        )
        left += share[column].to_numpy()
    bottom.set_xlabel("share of unit time (%) — the rest is available at base")
    bottom.set_title("Time per status by base")
    bottom.legend(fontsize=7, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    return finish_figure(fig, (top, bottom), save=save, show=show, filepath=filepath, dpi=dpi)


def hour_of_day_table(incidents: pd.DataFrame, replications: int, days: float) -> pd.DataFrame:
    """Per hour of the day and load (hazmat or everyday): calls per day and mean first arrival (min), mean over
    replications, with the first arrival's 95% CI half-width over replications."""
    frame = incidents.assign(
        load=load_group(incidents["source"].to_numpy()), first_min=incidents["first_arrival_s"] / 60
    )
    per_rep = frame.groupby(["load", "call_hour", "replication"]).agg(
        calls=("first_min", "size"), first_min=("first_min", "mean")
    )
    grouped = per_rep.groupby(["load", "call_hour"])
    n = grouped["first_min"].count()
    half = stdtrit(np.maximum(n - 1, 1), 0.975) * grouped["first_min"].std(ddof=1) / np.sqrt(n)
    return pd.DataFrame(
        {
            "calls_per_day": grouped["calls"].sum() / max(replications, 1) / days,
            "first_arrival_mean_min": grouped["first_min"].mean(),
            "first_arrival_mean_min_ci": half.where(n > 1),
        }
    ).reset_index()


def plot_hour_of_day(
    incidents: pd.DataFrame,
    replications: int,
    days: float,
    targets=(),
    *,
    save: bool = False,
    show: bool = False,
    filepath: Path | None = None,
    dpi: int = 120,
):
    """Calls per day by hour of the call (stacked hazmat and everyday) over the mean first arrival by hour with its
    95% CI, and the first-arrival target lines."""
    use_cjk_font()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    table = hour_of_day_table(incidents, replications, days)
    hours = np.arange(24)
    below = np.zeros(24)
    for load, colour in (("hazmat", "tab:red"), ("everyday", "tab:blue")):
        part = table[table["load"] == load].set_index("call_hour").reindex(hours)
        if part["calls_per_day"].notna().any():
            calls = part["calls_per_day"].fillna(0).to_numpy()
            top.bar(hours, calls, bottom=below, color=colour, alpha=0.8, label=load)
            below += calls
            mean = part["first_arrival_mean_min"].to_numpy(float)
            half = part["first_arrival_mean_min_ci"].fillna(0).to_numpy(float)
            bottom.plot(hours, mean, "o-", color=colour, label=load)
            bottom.fill_between(hours, np.maximum(mean - half, 0), mean + half, color=colour, alpha=0.2, linewidth=0)
    means = table["first_arrival_mean_min"].to_numpy(float)
    top_min = max([t.limit_s / 60 for t in targets if t.measure == "first_arrival"] + list(means[np.isfinite(means)]))
    bottom.set_ylim(0, 1.3 * max(top_min, 1.0))  # a wide band of a rare load is cut rather than flatten the rest
    for t in targets:
        if t.measure == "first_arrival":
            bottom.axhline(t.limit_s / 60, color="grey", linestyle=":", linewidth=1)
            bottom.text(23.4, t.limit_s / 60, f" {t.name}", fontsize=7, color="dimgrey", va="bottom", ha="right")
    top.set_ylabel("calls per day")
    top.set_title("Calls and first arrival by hour of the call (mean over replications)")
    bottom.set_ylabel("mean first arrival (min)")
    bottom.set_xlabel("hour of the day (local time)")
    bottom.set_xticks(hours)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left")
    return finish_figure(fig, (top, bottom), save=save, show=show, filepath=filepath, dpi=dpi)


CALIBRATION_PARTS = ("turnout", "travel", "first_arrival")


def plot_calibration(
    table: pd.DataFrame, *, save: bool = False, show: bool = False, filepath: Path | None = None, dpi: int = 120
):
    """Simulated against observed minutes per replayed call, one panel per part, with the diagonal and a one-minute
    band (the calibration table of :mod:`sim.calibration`)."""
    use_cjk_font()
    fig, axes = plt.subplots(1, len(CALIBRATION_PARTS), figsize=(12, 4.2))
    for ax, part in zip(axes, CALIBRATION_PARTS, strict=True):
        rows = table[table["part"] == part].dropna(subset=["simulated_min"])
        top = float(max(rows[["observed_min", "simulated_min"]].max().max(), 1.0)) * 1.1 if len(rows) else 1.0
        line = np.array([0.0, top])
        ax.fill_between(line, line - 1, line + 1, color="tab:green", alpha=0.15, linewidth=0, label="within 1 min")
        ax.plot(line, line, color="grey", linewidth=1)
        ax.scatter(rows["observed_min"], rows["simulated_min"], s=18, color="tab:blue")
        if len(rows):
            error = rows["simulated_min"] - rows["observed_min"]
            ax.set_title(f"{part.replace('_', ' ')}: bias {error.mean():+.2f}, MAE {error.abs().mean():.2f} min")
        else:
            ax.set_title(f"{part.replace('_', ' ')}: no observed times")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_aspect("equal")
        ax.set_xlabel("observed (min)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("simulated, mean over replications (min)")
    axes[0].legend(fontsize=8, loc="upper left")
    return finish_figure(fig, axes, save=save, show=show, filepath=filepath, dpi=dpi)
