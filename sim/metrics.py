"""From the event log to tables and KPIs: per-incident and per-unit tables, summaries with confidence intervals.

Response-time parts of an incident are those of its first-arriving unit: ``waited_s`` (call to first dispatch),
``activation_s`` (mutual-aid activation delay), ``turnout_s``, ``travel_s`` (road), ``access_s`` (last leg on foot
or off road), and ``first_arrival_s`` (call to first unit on scene, the sum of all of them for that unit).
``full_response_s`` runs from the call to the arrival of the last unit of the (possibly escalated) plan; it is NaN
when the plan was never complete before the incident was cleared, and such incidents count as missing any
full-response target. Summaries are computed per replication and then averaged over replications with a
Student-t 95% confidence interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from sim.forces import UnitStatus
from sim.hazards import IncidentStream
from sim.model import EventKind, SimOutput
from sim.readiness import SECONDS_PER_DAY, proficiency_curve
from sim.scenario import Target
from sim.world import World

BUSY = (UnitStatus.MOBILISING, UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE, UnitStatus.RETURNING)


def incident_table(world: World, stream: IncidentStream, out: SimOutput, replication: int) -> pd.DataFrame:
    """One row per incident with its place, type, level and response-time parts (seconds)."""
    ev = pd.DataFrame(out.events)
    n = len(stream)
    sites = world.sites
    site = stream.site
    df = pd.DataFrame(
        {
            "replication": np.full(n, replication, dtype=np.int64),
            "incident": np.arange(n, dtype=np.int64),
            "call_at_s": stream.call_at_s,
            "site_id": sites.site_id[site] if n else np.array([], dtype=str),
            "source": sites.source[site] if n else np.array([], dtype=str),
            "source_kind": sites.source_kind[site] if n else np.array([], dtype=str),
            "owner_id": sites.owner_id[site] if n else np.array([], dtype=str),
            "km": stream.km,
            "in_hca": sites.in_hca[site] if n else np.array([], dtype=bool),
            "lon": sites.lon[site] if n else np.array([]),
            "lat": sites.lat[site] if n else np.array([]),
            "incident_type": np.asarray(stream.type_names, dtype=object)[stream.incident_type] if n else [],
            "level_initial": stream.level,
        }
    )
    unit_ids = np.asarray(world.units.unit_id, dtype=object)
    base_ids = np.asarray([b.id for b in world.bases], dtype=object)
    per = _unit_phases(ev)
    first = per.sort_values(["incident", "on_scene_at"], kind="stable").dropna(subset=["on_scene_at"])
    first = first.groupby("incident", sort=True).head(1).set_index("incident")
    dispatch = ev[ev.kind == EventKind.DISPATCH].groupby("incident")
    cleared = ev[ev.kind == EventKind.CLEARED].set_index("incident")
    escal = ev[ev.kind == EventKind.ESCALATED].groupby("incident")["value"].max()
    idx = df["incident"]
    df["dispatched_at_s"] = idx.map(dispatch["time_s"].min())
    df["waited_s"] = df["dispatched_at_s"] - df["call_at_s"]
    df["first_unit"] = idx.map(first["unit"]).map(lambda u: unit_ids[int(u)] if pd.notna(u) else None)
    df["first_base"] = idx.map(first["unit"]).map(lambda u: base_ids[world.units.base[int(u)]] if pd.notna(u) else None)
    df["first_mutual_aid"] = idx.map(first["mutual_aid"]).fillna(0).astype(bool)
    for part in ("activation_s", "turnout_s", "travel_s", "access_s"):
        df[part] = idx.map(first[part])
    df["first_arrival_s"] = idx.map(first["on_scene_at"]) - df["call_at_s"]
    df["cleared_at_s"] = idx.map(cleared["time_s"])
    df["on_scene_s"] = df["cleared_at_s"] - idx.map(first["on_scene_at"])
    df["full_response_s"] = idx.map(_full_response_at(per, cleared)) - df["call_at_s"]
    df["escalated"] = idx.isin(escal.index)
    df["level_final"] = np.where(df["escalated"], idx.map(escal).fillna(0), df["level_initial"]).astype(np.int64)
    df["units_sent"] = idx.map(dispatch.size()).fillna(0).astype(np.int64)
    df["mutual_aid_units"] = idx.map(dispatch["value"].sum()).fillna(0).astype(np.int64)
    return df


def _unit_phases(ev: pd.DataFrame) -> pd.DataFrame:
    """One row per (incident, unit) dispatch with the time of each phase."""
    kinds = {
        EventKind.DISPATCH: "dispatch_at",
        EventKind.MOBILISED: "mobilised_at",
        EventKind.EN_ROUTE: "en_route_at",
        EventKind.AT_ROAD_END: "road_end_at",
        EventKind.ON_SCENE: "on_scene_at",
    }
    sub = ev[ev.kind.isin([int(k) for k in kinds])]
    wide = sub.pivot_table(index=["incident", "unit"], columns="kind", values="time_s", aggfunc="first")
    wide = wide.rename(columns={int(k): v for k, v in kinds.items()})
    for col in kinds.values():
        if col not in wide:
            wide[col] = np.nan
    ma = ev[ev.kind == EventKind.DISPATCH].set_index(["incident", "unit"])["value"]
    wide["mutual_aid"] = ma.reindex(wide.index).fillna(0).to_numpy() > 0
    wide["activation_s"] = wide["mobilised_at"] - wide["dispatch_at"]
    wide["turnout_s"] = wide["en_route_at"] - wide["mobilised_at"]
    wide["travel_s"] = wide["road_end_at"] - wide["en_route_at"]
    wide["access_s"] = wide["on_scene_at"] - wide["road_end_at"]
    return wide.reset_index()


def _full_response_at(per: pd.DataFrame, cleared: pd.DataFrame) -> pd.Series:
    """Last arrival of the plan, where every dispatched unit arrived before clearing and nothing was withdrawn."""
    if per.empty:
        return pd.Series(dtype=float)
    g = per.groupby("incident")
    last = g["on_scene_at"].max()
    complete = g["on_scene_at"].count() == g.size()
    cleared_at = cleared["time_s"].reindex(last.index)
    withdrawn = cleared["value"].reindex(last.index).fillna(0)
    ok = complete & (last <= cleared_at) & (withdrawn == 0)
    return last.where(ok)


def event_table(world: World, out: SimOutput, replication: int) -> pd.DataFrame:
    """The event log with names: replication, time_s, event, incident, unit (None where absent), value."""
    from sim.model import NO_ID

    ev = out.events
    unit_ids = np.asarray(world.units.unit_id, dtype=object)
    unit = np.where(
        ev["unit"] == NO_ID,
        None,
        unit_ids[np.clip(ev["unit"], 0, max(len(unit_ids) - 1, 0))] if len(unit_ids) else None,
    )
    return pd.DataFrame(
        {
            "replication": np.full(len(ev), replication, dtype=np.int64),
            "time_s": ev["time_s"],
            "event": np.asarray([k.name for k in EventKind], dtype=object)[ev["kind"]],
            "incident": pd.array(np.where(ev["incident"] == NO_ID, None, ev["incident"]), dtype="Int64"),
            "unit": unit,
            "value": ev["value"],
        }
    )


def unit_table(world: World, out: SimOutput, replication: int) -> pd.DataFrame:
    """One row per unit: time in each status, utilisation, dispatches, drills and proficiency."""
    ev = out.events
    units = world.units
    n = len(units)
    df = pd.DataFrame(
        {
            "replication": np.full(n, replication, dtype=np.int64),
            "unit": list(units.unit_id),
            "base": [world.bases[b].id for b in units.base],
            "unit_type": list(units.unit_type),
            "local": units.local,
        }
    )
    for status in UnitStatus:
        df[f"{status.name.lower()}_s"] = out.status_time_s[:, status]
    busy = out.status_time_s[:, list(BUSY)].sum(axis=1)
    df["utilisation"] = busy / out.end_s
    df["dispatches"] = np.bincount(ev["unit"][ev["kind"] == EventKind.DISPATCH], minlength=n)[:n]
    df["drill_downtime_s"] = (
        out.status_time_s[:, UnitStatus.DRILL_OFF_SITE] + out.status_time_s[:, UnitStatus.DRILL_AT_BASE]
    )
    starts = ev[ev["kind"] == EventKind.DRILL_START]
    ends = ev[ev["kind"] == EventKind.DRILL_END]
    df["drills"] = np.bincount(starts["unit"], minlength=n)[:n]
    max_gap, mean_prof = [], []
    horizon_s = world.scenario.horizon_s
    readiness = world.scenario.readiness
    grid = np.linspace(0.0, horizon_s, max(2, int(horizon_s / SECONDS_PER_DAY) + 1))
    for u in range(n):
        t_start = starts["time_s"][starts["unit"] == u]
        max_gap.append(_max_gap_days(t_start, horizon_s))
        if _has_drill_plan(world, u):
            mine = ends[ends["unit"] == u]
            mean_prof.append(float(proficiency_curve(grid, mine["time_s"], mine["value"], readiness).mean()))
        else:
            mean_prof.append(readiness.initial_proficiency)
    df["max_drill_gap_days"] = max_gap
    df["mean_proficiency"] = mean_prof
    return df


def _has_drill_plan(world: World, unit: int) -> bool:
    spec = world.bases[world.units.base[unit]].drills or world.scenario.drills
    return spec is not None and (spec.unit_types is None or world.units.unit_type[unit] in spec.unit_types)


def _max_gap_days(drill_starts_s: np.ndarray, horizon_s: float) -> float:
    """Longest stretch without a drill start, counting from time 0 and up to the horizon."""
    marks = np.concatenate([[0.0], np.sort(drill_starts_s[drill_starts_s <= horizon_s]), [horizon_s]])
    return float(np.diff(marks).max() / SECONDS_PER_DAY)


# --- summaries --------------------------------------------------------------------------------------------------


def target_mask(incidents: pd.DataFrame, target: Target) -> pd.Series:
    """Incidents a target applies to."""
    if target.applies_to == "all":
        return pd.Series(True, index=incidents.index)
    if target.applies_to == "hca":
        return incidents["in_hca"].astype(bool)
    return incidents["source"] == target.applies_to


def replication_kpis(incidents: pd.DataFrame, targets: tuple[Target, ...]) -> dict[str, float]:
    """KPIs of one replication's incidents (NaN where there were none)."""
    fa = incidents["first_arrival_s"].to_numpy(dtype=float)
    fr = incidents["full_response_s"].to_numpy(dtype=float)
    n = len(incidents)
    k = {
        "incidents": float(n),
        "first_arrival_mean_s": _nanmean(fa),
        "first_arrival_median_s": _nanq(fa, 0.5),
        "first_arrival_p90_s": _nanq(fa, 0.9),
        "full_response_mean_s": _nanmean(fr),
        "full_response_p90_s": _nanq(fr, 0.9),
        "full_response_share": float(np.isfinite(fr).mean()) if n else math.nan,
        "waited_share": float((incidents["waited_s"] > 0).mean()) if n else math.nan,
        "waited_mean_s": _nanmean(incidents["waited_s"].to_numpy(dtype=float)),
        "turnout_mean_s": _nanmean(incidents["turnout_s"].to_numpy(dtype=float)),
        "travel_mean_s": _nanmean(incidents["travel_s"].to_numpy(dtype=float)),
        "access_mean_s": _nanmean(incidents["access_s"].to_numpy(dtype=float)),
        "on_scene_mean_s": _nanmean(incidents["on_scene_s"].to_numpy(dtype=float)),
        "escalation_share": float(incidents["escalated"].mean()) if n else math.nan,
        "mutual_aid_share": (
            float(incidents["mutual_aid_units"].sum() / incidents["units_sent"].sum())
            if n and incidents["units_sent"].sum()
            else math.nan
        ),
    }
    for t in targets:
        k[f"target:{t.name}"] = target_share(incidents, t)
    return k


def target_share(incidents: pd.DataFrame, target: Target) -> float:
    """Share of the incidents a target applies to that met it (never-arrived counts as missed)."""
    sub = incidents[target_mask(incidents, target)]
    if sub.empty:
        return math.nan
    values = sub[f"{target.measure}_s"].to_numpy(dtype=float)
    return float(np.mean(np.nan_to_num(values, nan=np.inf) <= target.limit_s))


def summarize(per_replication: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Mean and 95% CI over replications for every KPI column."""
    out = {}
    for col in per_replication.columns:
        if col == "replication":
            continue
        out[col] = mean_ci(per_replication[col].to_numpy(dtype=float))
    return out


def mean_ci(values: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean, Student-t half-width and bounds over the finite values (replications)."""
    v = values[np.isfinite(values)]
    n = len(v)
    if n == 0:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "half_width": math.nan, "n": 0}
    mean = float(v.mean())
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "half_width": half, "n": n}


def kpis_per_replication(incidents: pd.DataFrame, targets: tuple[Target, ...], replications: int) -> pd.DataFrame:
    rows = []
    for r in range(replications):
        rows.append({"replication": r} | replication_kpis(incidents[incidents["replication"] == r], targets))
    return pd.DataFrame(rows)


def breakdown(incidents: pd.DataFrame, by: str, targets: tuple[Target, ...], replications: int) -> pd.DataFrame:
    """KPIs (mean and CI over replications) per value of a column such as ``source`` or ``incident_type``."""
    rows = []
    for value, group in incidents.groupby(by, sort=True):
        per = kpis_per_replication(group, targets, replications)
        summary = summarize(per)
        row = {by: value, "incidents_per_replication": summary["incidents"]["mean"]}
        for key in (
            "first_arrival_mean_s",
            "first_arrival_p90_s",
            "full_response_mean_s",
            "escalation_share",
            "mutual_aid_share",
        ) + tuple(f"target:{t.name}" for t in targets):
            row[key] = summary[key]["mean"]
            row[f"{key}_ci"] = summary[key]["half_width"]
        rows.append(row)
    return pd.DataFrame(rows)


def with_source_group(incidents: pd.DataFrame) -> pd.DataFrame:
    """Adds ``source_group``: park, pipeline (HCA), pipeline (outside HCA) or site."""
    df = incidents.copy()
    group = df["source"].astype(str)
    pipe = df["source"] == "pipeline"
    group[pipe] = np.where(df.loc[pipe, "in_hca"], "pipeline (HCA)", "pipeline (outside HCA)")
    df["source_group"] = group
    return df


def _nanmean(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else math.nan


def _nanq(v: np.ndarray, q: float) -> float:
    v = v[np.isfinite(v)]
    return float(np.quantile(v, q)) if len(v) else math.nan


def run_summary(result) -> dict:
    """The ``summary.json`` of a run: KPIs with 95% CIs over replications, target compliance, notes."""
    scenario = result.world.scenario
    kpis = summarize(result.kpis)
    targets = []
    for t in scenario.targets:
        share = kpis[f"target:{t.name}"]
        targets.append(
            {
                "name": t.name,
                "applies_to": t.applies_to,
                "measure": t.measure,
                "limit_min": t.limit_s / 60,
                "required_share": t.share,
                "achieved_share": share,
                "met": bool(share["mean"] >= t.share) if np.isfinite(share["mean"]) else None,
            }
        )
    units = result.units
    return {
        "scenario": scenario.name,
        "seed": result.seed,
        "replications": result.replications,
        "horizon_days": scenario.horizon_days,
        "kpis": {k: v for k, v in kpis.items() if not k.startswith("target:")},
        "targets": targets,
        "utilisation_mean": mean_ci(units.groupby("replication")["utilisation"].mean().to_numpy(float)),
        "drill_compliance": drill_compliance(result.world, units),
        "notes": list(result.notes),
    }


def drill_compliance(world: World, units: pd.DataFrame) -> list[dict]:
    """Per unit that drills or is a hazmat unit: realised drill rate and longest gap against the statutory interval.

    The longest gap is the longest stretch without starting a drill (from the start of the horizon, over all
    replications); a unit is flagged when that gap or its planned interval exceeds the statutory interval (half a
    year by default), or when it does not drill at all.
    """
    statutory_days = world.scenario.readiness.statutory_interval_days
    horizon_yr = world.scenario.horizon_days / 365.25
    rows = []
    for u, unit_id in enumerate(world.units.unit_id):
        has_plan = _has_drill_plan(world, u)
        if not has_plan and world.units.unit_type[u] != "hazmat":
            continue
        mine = units[units["unit"] == unit_id]
        spec = world.bases[world.units.base[u]].drills or world.scenario.drills
        rows.append(
            {
                "unit": unit_id,
                "planned_drills_per_yr": 365.25 / spec.interval_days if has_plan else 0.0,
                "realised_drills_per_yr": float(mine["drills"].mean() / horizon_yr),
                "max_gap_days": float(mine["max_drill_gap_days"].max()),
                "statutory_interval_days": statutory_days,
                "compliant": bool(
                    has_plan
                    and spec.interval_days <= statutory_days
                    and mine["max_drill_gap_days"].max() <= statutory_days + 1e-9
                ),
            }
        )
    return rows
