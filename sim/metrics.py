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

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit  # the Student-t quantile scipy.stats.t.ppf calls, without importing scipy.stats

from sim._arrays import run_ends, run_starts
from sim.eventlog import NO_ID, EventKind
from sim.forces import UnitStatus
from sim.hazards import IncidentStream, SourceKind, load_group, source_group
from sim.model import SimOutput
from sim.readiness import SECONDS_PER_DAY, drill_plans, proficiency_curves
from sim.scenario import Target
from sim.world import World

BUSY = (UnitStatus.MOBILISING, UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE, UnitStatus.RETURNING)
_PHASES = (EventKind.DISPATCH, EventKind.MOBILISED, EventKind.EN_ROUTE, EventKind.AT_ROAD_END, EventKind.ON_SCENE)
_CURVE_CELLS = 1 << 19  # proficiency-curve points held at once when averaging them (bounds the memory)


@dataclass(frozen=True, eq=False)
class ReplicationOutputs:
    """The raw outputs of replications one after the other, in replication order: every table is derived from them.

    Per replication its number, counts of incidents and events, end and time in each status per unit; per incident
    (in call order within its replication) what the tables need of the incident stream; the event logs (each in
    time order, ids local to the replication, ``NO_ID`` where absent) concatenated.
    """

    replication: np.ndarray  # (R,) int64
    n_incidents: np.ndarray  # (R,) int64
    n_events: np.ndarray  # (R,) int64
    end_s: np.ndarray  # (R,)
    status_time_s: np.ndarray  # (R, n_units, len(UnitStatus))
    call_at_s: np.ndarray  # (N,) one row per incident
    site: np.ndarray  # (N,) int64, index into the world's sites
    km: np.ndarray  # (N,)
    incident_type: np.ndarray  # (N,) object: type names
    level: np.ndarray  # (N,) int64, initial level
    events: np.ndarray  # EVENT_DTYPE rows of every replication
    notes: tuple[str, ...]

    @classmethod
    def of_one(cls, replication: int, out: SimOutput, stream: IncidentStream | None = None) -> ReplicationOutputs:
        """One replication's outputs (not the stream's uniforms; without a stream, no incidents: enough for the unit
        and event tables)."""
        if stream is None:
            stream = IncidentStream(*(np.zeros(0, dtype=np.int64),) * 8, type_names=())
        return cls(
            replication=np.array([replication], dtype=np.int64),
            n_incidents=np.array([len(stream)], dtype=np.int64),
            n_events=np.array([len(out.events)], dtype=np.int64),
            end_s=np.array([out.end_s], dtype=float),
            status_time_s=out.status_time_s[np.newaxis],
            call_at_s=stream.call_at_s,
            site=np.asarray(stream.site, dtype=np.int64),
            km=stream.km,
            incident_type=np.asarray(stream.type_names, dtype=object)[stream.incident_type],
            level=np.asarray(stream.level, dtype=np.int64),
            events=out.events,
            notes=out.notes,
        )

    @classmethod
    def concat(cls, parts: Sequence[ReplicationOutputs]) -> ReplicationOutputs:
        """The parts one after the other (at least one part)."""
        fields = [f.name for f in dataclasses.fields(cls) if f.name != "notes"]
        joined = {name: np.concatenate([getattr(p, name) for p in parts]) for name in fields}
        return cls(**joined, notes=tuple(sorted({n for p in parts for n in p.notes})))

    def incident_replication(self) -> np.ndarray:
        """Position (0..R-1) of each incident's replication."""
        return np.repeat(np.arange(len(self.replication)), self.n_incidents)

    def event_replication(self) -> np.ndarray:
        """Position (0..R-1) of each event's replication."""
        return np.repeat(np.arange(len(self.replication)), self.n_events)

    def first_incident(self) -> np.ndarray:
        """Row of the incident table where each replication's incidents begin."""
        return np.cumsum(self.n_incidents) - self.n_incidents

    def event_incident(self) -> np.ndarray:
        """Each event's incident as a row of the incident table (``NO_ID`` where the event has none)."""
        local = self.events["incident"]
        return np.where(local == NO_ID, NO_ID, self.first_incident()[self.event_replication()] + local)


def incident_table(world: World, stream: IncidentStream, out: SimOutput, replication: int) -> pd.DataFrame:
    """One replication's incident table (see :func:`incident_table_of`)."""
    return incident_table_of(world, ReplicationOutputs.of_one(replication, out, stream))


def unit_table(world: World, out: SimOutput, replication: int) -> pd.DataFrame:
    """One replication's unit table (see :func:`unit_table_of`)."""
    return unit_table_of(world, ReplicationOutputs.of_one(replication, out))


def event_table(world: World, out: SimOutput, replication: int) -> pd.DataFrame:
    """One replication's event table (see :func:`event_table_of`)."""
    return event_table_of(world, ReplicationOutputs.of_one(replication, out))


def incident_table_of(world: World, outs: ReplicationOutputs) -> pd.DataFrame:
    """One row per incident and replication with its place, type, level and response-time parts (seconds)."""
    n = len(outs.call_at_s)
    rep = outs.incident_replication()
    sites = world.sites
    site = outs.site
    call_at_s = outs.call_at_s
    df = {
        "replication": outs.replication[rep],
        "incident": np.arange(n, dtype=np.int64) - outs.first_incident()[rep],
        "call_at_s": call_at_s,
        "call_hour": (call_at_s % SECONDS_PER_DAY // 3600).astype(np.int64),
        "site_id": sites.site_id[site],
        "source": sites.source[site],
        "source_kind": sites.source_kind[site],
        "owner_id": sites.owner_id[site],
        "km": outs.km,
        "in_hca": sites.in_hca[site],
        "lon": sites.lon[site],
        "lat": sites.lat[site],
        "incident_type": outs.incident_type,
        "level_initial": outs.level,
    }
    incident = outs.event_incident()
    sent = _sent(world, outs, incident)
    closed = _clearing_and_escalation(outs, incident, n)
    df["dispatched_at_s"] = sent["dispatched_at_s"]
    df["waited_s"] = sent["dispatched_at_s"] - call_at_s
    for col in ("first_unit", "first_base", "first_mutual_aid", "activation_s", "turnout_s", "travel_s", "access_s"):
        df[col] = sent[col]
    df["first_arrival_s"] = sent["first_on_scene_at_s"] - call_at_s
    df["cleared_at_s"] = closed["cleared_at_s"]
    df["on_scene_s"] = closed["cleared_at_s"] - sent["first_on_scene_at_s"]
    complete = (sent["last_on_scene_at_s"] <= closed["cleared_at_s"]) & (closed["withdrawn"] == 0)
    df["full_response_s"] = np.where(complete, sent["last_on_scene_at_s"], np.nan) - call_at_s
    df["escalated"] = closed["escalated"]
    df["level_final"] = np.where(closed["escalated"], closed["escalated_to"], outs.level).astype(np.int64)
    df["units_sent"] = sent["units_sent"]
    df["units_sent_on"] = sent["units_sent_on"]  # from their way back (dispatch.from_return)
    df["first_sent_on"] = sent["first_sent_on"]
    df["mutual_aid_units"] = sent["mutual_aid_units"]
    df["nearest_drilling"] = _nearest_drilling(world, outs, sent["first_unit_index"])
    return pd.DataFrame(df)


def _nearest_drilling(world: World, outs: ReplicationOutputs, first: np.ndarray) -> np.ndarray:
    """Per incident: whether every unit of its first-arriving unit's type at the base nearest to its site (by road,
    ties all counted) was drilling when the call came, so that the call was answered from farther away."""
    n = len(outs.call_at_s)
    flag = np.zeros(n, dtype=bool)
    ev = outs.events
    starts = np.flatnonzero(ev["kind"] == EventKind.DRILL_START)
    if not len(starts) or not n:
        return flag
    ends = np.flatnonzero(ev["kind"] == EventKind.DRILL_END)
    ev_rep = outs.event_replication()
    span = float(outs.end_s.max()) + 1.0  # a replication's drills on a line of their own
    key_start = ev_rep[starts] * span + ev["time_s"][starts]
    key_end = ev_rep[ends] * span + ev["time_s"][ends]
    unit_type = np.asarray(world.units.unit_type)
    unit_base = world.units.base
    drills = {}  # unit -> (sorted start keys, matching end keys): a unit's drills do not overlap
    for u in np.unique(ev["unit"][starts]):
        s_keys = np.sort(key_start[ev["unit"][starts] == u])
        drills[int(u)] = (s_keys, np.sort(key_end[ev["unit"][ends] == u]))
    inc_key = outs.incident_replication() * span + outs.call_at_s
    answered = first >= 0
    groups = pd.DataFrame({"site": outs.site[answered], "type": unit_type[first[answered]]})
    rows_answered = np.flatnonzero(answered)
    for (site, utype), rows in groups.groupby(["site", "type"], sort=True).indices.items():
        of_type = np.flatnonzero(unit_type == utype)
        road_s = world.travel_out_s[unit_base[of_type], site]
        nearest = of_type[road_s == road_s.min()]
        incidents = rows_answered[rows]
        all_drilling = np.ones(len(incidents), dtype=bool)
        for u in nearest.tolist():
            if u not in drills:
                all_drilling[:] = False
                break
            s_keys, e_keys = drills[u]
            k = np.searchsorted(s_keys, inc_key[incidents], side="right") - 1
            all_drilling &= (k >= 0) & (inc_key[incidents] < e_keys[np.maximum(k, 0)])
        flag[incidents] = all_drilling
    return flag


def _dispatches(outs: ReplicationOutputs, event_incident: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """One row per dispatch, sorted by incident then unit: its incident (a row of the incident table) and the log
    rows of its phases (columns in ``_PHASES`` order; each phase is logged once per dispatch)."""
    kind = outs.events["kind"]
    rows = np.flatnonzero(np.isin(kind, [int(k) for k in _PHASES]))
    incident = event_incident[rows]
    key = incident * n_units + outs.events["unit"][rows]
    order = np.lexsort((kind[rows], key))
    return incident[order][:: len(_PHASES)], rows[order].reshape(-1, len(_PHASES))


def _sent(world: World, outs: ReplicationOutputs, event_incident: np.ndarray) -> dict[str, np.ndarray]:
    """Per incident: its first dispatch, the first unit on scene (ties to the lower unit) with its base, mutual aid
    and phases, the last arrival, units sent (NaN / None / 0 where none was sent)."""
    n = len(outs.call_at_s)
    ev = outs.events
    incident, rows = _dispatches(outs, event_incident, len(world.units))
    at_s = ev["time_s"][rows]  # (dispatches, phases)
    unit = ev["unit"][rows[:, 0]]
    mutual_aid = ev["value"][rows[:, 0]]
    starts = np.flatnonzero(run_starts(incident))
    got = incident[starts]
    first = np.lexsort((unit, at_s[:, 4], incident))[starts]
    r = {name: np.full(n, np.nan) for name in ("dispatched_at_s", "first_on_scene_at_s", "last_on_scene_at_s")}
    if len(starts):
        r["dispatched_at_s"][got] = np.minimum.reduceat(at_s[:, 0], starts)
        r["last_on_scene_at_s"][got] = np.maximum.reduceat(at_s[:, 4], starts)
    r["first_on_scene_at_s"][got] = at_s[first, 4]
    r["first_unit_index"] = np.full(n, -1, dtype=np.int64)
    r["first_unit_index"][got] = unit[first]
    r["first_unit"] = _names(n, got, world.units.unit_id, unit[first])
    r["first_base"] = _names(n, got, [b.id for b in world.bases], world.units.base[unit[first]])
    r["first_mutual_aid"] = np.zeros(n, dtype=bool)
    r["first_mutual_aid"][got] = mutual_aid[first] > 0
    for phase, part in enumerate(("activation_s", "turnout_s", "travel_s", "access_s")):
        r[part] = np.full(n, np.nan)
        r[part][got] = at_s[first, phase + 1] - at_s[first, phase]
    r["units_sent"] = np.bincount(incident, minlength=n).astype(np.int64)
    r["mutual_aid_units"] = np.bincount(incident, weights=mutual_aid, minlength=n).astype(np.int64)
    n_units = len(world.units)
    sent_on_rows = np.flatnonzero(ev["kind"] == EventKind.SENT_ON)
    sent_on_keys = event_incident[sent_on_rows] * n_units + ev["unit"][sent_on_rows]
    sent_on = np.isin(incident * n_units + unit, sent_on_keys)  # each dispatch: from the unit's way back?
    r["first_sent_on"] = np.zeros(n, dtype=bool)
    r["first_sent_on"][got] = sent_on[first]
    r["units_sent_on"] = np.bincount(incident, weights=sent_on, minlength=n).astype(np.int64)
    return r


def _names(n: int, rows: np.ndarray, names, index: np.ndarray) -> np.ndarray:
    """``n`` labels: ``names[index]`` at ``rows``, None elsewhere."""
    labels = np.full(n, None, dtype=object)
    labels[rows] = np.asarray(names, dtype=object)[index]
    return labels


def _clearing_and_escalation(outs: ReplicationOutputs, event_incident: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Per incident: when it was cleared (NaN if never) with the requirements withdrawn, and the level it escalated
    to (``escalated`` False where it never did)."""
    ev = outs.events
    cleared = ev["kind"] == EventKind.CLEARED
    cleared_at_s = np.full(n, np.nan)
    withdrawn = np.zeros(n)
    cleared_at_s[event_incident[cleared]] = ev["time_s"][cleared]
    withdrawn[event_incident[cleared]] = ev["value"][cleared]
    escalated = ev["kind"] == EventKind.ESCALATED
    escalated_to = np.full(n, -np.inf)
    np.maximum.at(escalated_to, event_incident[escalated], ev["value"][escalated])
    return {
        "cleared_at_s": cleared_at_s,
        "withdrawn": withdrawn,
        "escalated": np.isfinite(escalated_to),
        "escalated_to": escalated_to,
    }


def event_table_of(world: World, outs: ReplicationOutputs) -> pd.DataFrame:
    """The event logs with names: replication, time_s, event, incident, unit (None where absent), value."""
    ev = outs.events
    unit_ids = np.append(np.asarray(world.units.unit_id, dtype=object), None)
    unit = np.where(ev["unit"] == NO_ID, len(unit_ids) - 1, ev["unit"])
    no_incident = ev["incident"] == NO_ID
    return pd.DataFrame(
        {
            "replication": outs.replication[outs.event_replication()],
            "time_s": ev["time_s"],
            "event": np.asarray([k.name for k in EventKind], dtype=object)[ev["kind"]],
            "incident": pd.arrays.IntegerArray(np.where(no_incident, 0, ev["incident"]), no_incident),
            "unit": unit_ids[unit],
            "value": ev["value"],
        }
    )


def unit_table_of(world: World, outs: ReplicationOutputs) -> pd.DataFrame:
    """One row per unit and replication: time in each status, utilisation, dispatches, drills and proficiency."""
    units = world.units
    n = len(units)
    reps = len(outs.replication)
    status_time_s = outs.status_time_s.reshape(reps * n, len(UnitStatus))
    df = {
        "replication": np.repeat(outs.replication, n),
        "unit": np.tile(np.asarray(units.unit_id, dtype=object), reps),
        "base": np.tile(np.asarray([b.id for b in world.bases], dtype=object)[units.base], reps),
        "unit_type": np.tile(np.asarray(units.unit_type, dtype=object), reps),
        "local": np.tile(units.local, reps),
    }
    for status in UnitStatus:
        df[f"{status.name.lower()}_s"] = status_time_s[:, status]
    df["utilisation"] = status_time_s[:, list(BUSY)].sum(axis=1) / np.repeat(outs.end_s, n)
    ev = outs.events
    key = outs.event_replication() * n + np.where(ev["unit"] == NO_ID, 0, ev["unit"])  # (replication, unit)
    df["dispatches"] = np.bincount(key[ev["kind"] == EventKind.DISPATCH], minlength=reps * n)
    df["drill_downtime_s"] = status_time_s[:, UnitStatus.DRILL_OFF_SITE] + status_time_s[:, UnitStatus.DRILL_AT_BASE]
    starts = ev["kind"] == EventKind.DRILL_START
    df["drills"] = np.bincount(key[starts], minlength=reps * n)
    df["max_drill_gap_days"] = _max_gap_days(key[starts], ev["time_s"][starts], reps * n, world.scenario.horizon_s)
    df["mean_proficiency"] = _mean_proficiency(world, outs, key)
    return pd.DataFrame(df)


def _drill_specs(world: World) -> list:
    """Each unit's drill spec (None for a unit without drills), as the model plans them."""
    return [p and p.spec for p in drill_plans(world.scenario, world.units.base, world.units.unit_type)]


def _max_gap_days(key: np.ndarray, drill_start_s: np.ndarray, n_keys: int, horizon_s: float) -> np.ndarray:
    """Per key (a unit in a replication), the longest stretch without a drill start from time 0 to the horizon;
    ``drill_start_s`` in time order within each key."""
    within = drill_start_s <= horizon_s
    order = np.argsort(key[within], kind="stable")
    key, at_s = key[within][order], drill_start_s[within][order]
    gap_s = np.full(n_keys, horizon_s)  # no drill at all: the whole horizon
    if not len(key):
        return gap_s / SECONDS_PER_DAY
    first, last = run_starts(key), run_ends(key)
    gap_s[key[last]] = horizon_s - at_s[last]
    since_s = np.where(first, at_s, at_s - np.r_[0.0, at_s[:-1]])  # the first start counts from time 0
    np.maximum.at(gap_s, key, since_s)
    return gap_s / SECONDS_PER_DAY


def _mean_proficiency(world: World, outs: ReplicationOutputs, key: np.ndarray) -> np.ndarray:
    """Per key (a unit in a replication), the mean of its proficiency curve over the days of the horizon (its
    initial proficiency if it has no drill plan), a block of curves at a time."""
    n = len(world.units)
    readiness = world.scenario.readiness
    horizon_s = world.scenario.horizon_s
    grid = np.linspace(0.0, horizon_s, max(2, int(horizon_s / SECONDS_PER_DAY) + 1))
    planned = np.array([spec is not None for spec in _drill_specs(world)], dtype=bool)
    mean = np.full(len(outs.replication) * n, readiness.initial_proficiency)
    curves = np.flatnonzero(np.tile(planned, len(outs.replication)))  # the keys with a drill plan
    ends = np.flatnonzero(outs.events["kind"] == EventKind.DRILL_END)
    ends = ends[np.argsort(key[ends], kind="stable")]  # by key, in time order within each
    end_key = key[ends]
    block = max(1, _CURVE_CELLS // len(grid))
    for lo in range(0, len(curves), block):
        mine = curves[lo : lo + block]
        rows = ends[np.searchsorted(end_key, mine[0]) : np.searchsorted(end_key, mine[-1], side="right")]
        owner = np.searchsorted(mine, key[rows])  # only units with a plan drill
        at_s, level = outs.events["time_s"][rows], outs.events["value"][rows]
        mean[mine] = proficiency_curves(grid, owner, at_s, level, len(mine), readiness).mean(axis=1)
    return mean


# --- summaries --------------------------------------------------------------------------------------------------


def target_mask(incidents: pd.DataFrame, target: Target) -> pd.Series:
    """Incidents a target applies to."""
    if target.applies_to == "all":
        return pd.Series(True, index=incidents.index)
    if target.applies_to == "hca":
        return incidents["in_hca"].astype(bool)
    if target.applies_to == "hazmat":
        return incidents["source"] != SourceKind.EVERYDAY
    return incidents["source"] == target.applies_to


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
    half = float(stdtrit(n - 1, (1 + level) / 2) * v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "half_width": half, "n": n}


def kpis_per_replication(incidents: pd.DataFrame, targets: tuple[Target, ...], replications: int) -> pd.DataFrame:
    """KPIs of each replication 0..R-1, one row each (NaN where a replication had no incident to measure)."""
    group = incidents["replication"].to_numpy(dtype=np.int64)
    group = np.where(group < replications, group, -1)
    kpis = _group_kpis(incidents, group, replications, targets)
    return pd.DataFrame({"replication": np.arange(replications, dtype=np.int64)} | kpis)


def _group_kpis(
    incidents: pd.DataFrame,
    group: np.ndarray,
    n_groups: int,
    targets: tuple[Target, ...],
    skip: frozenset[str] = frozenset(),
) -> dict[str, np.ndarray]:
    """KPIs of each group 0..n_groups-1 of incidents (``group``: each incident's, -1 for none), each computed as
    on the group's incidents alone in table order: means and linear quantiles over the finite values, shares. The
    means and quantiles named in ``skip`` are left out (not computed)."""
    column = {name: incidents[name].to_numpy(dtype=float) for name in _MEASURED}
    n = np.bincount(group[group >= 0], minlength=n_groups).astype(float)
    fa, fr = column["first_arrival_s"], column["full_response_s"]

    def reduced(key: str, values: np.ndarray, reduce) -> np.ndarray | None:
        return None if key in skip else _group_reduce(values, group, n_groups, reduce)

    k = {
        "incidents": n,
        "first_arrival_mean_s": reduced("first_arrival_mean_s", fa, np.mean),
        "first_arrival_median_s": reduced("first_arrival_median_s", fa, functools.partial(np.quantile, q=0.5)),
        "first_arrival_p90_s": reduced("first_arrival_p90_s", fa, functools.partial(np.quantile, q=0.9)),
        "full_response_mean_s": reduced("full_response_mean_s", fr, np.mean),
        "full_response_p90_s": reduced("full_response_p90_s", fr, functools.partial(np.quantile, q=0.9)),
        "full_response_share": _group_share(np.isfinite(fr), group, n_groups),
        "waited_share": _group_share(column["waited_s"] > 0, group, n_groups),
        "waited_mean_s": reduced("waited_mean_s", column["waited_s"], np.mean),
    }
    for part in ("turnout", "travel", "access", "on_scene"):
        k[f"{part}_mean_s"] = reduced(f"{part}_mean_s", column[f"{part}_s"], np.mean)
    k = {key: values for key, values in k.items() if values is not None}
    k["escalation_share"] = _group_share(incidents["escalated"].to_numpy(dtype=bool), group, n_groups)
    k["nearest_drilling_share"] = _group_share(incidents["nearest_drilling"].to_numpy(dtype=bool), group, n_groups)
    k["first_sent_on_share"] = _group_share(incidents["first_sent_on"].to_numpy(dtype=bool), group, n_groups)
    mutual_aid = _group_sum(column["mutual_aid_units"], group, n_groups)
    sent = _group_sum(column["units_sent"], group, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        k["mutual_aid_share"] = np.where(sent > 0, mutual_aid / sent, math.nan)
    for t in targets:
        values = np.nan_to_num(incidents[f"{t.measure}_s"].to_numpy(dtype=float), nan=np.inf)
        applies = target_mask(incidents, t).to_numpy(dtype=bool)
        k[f"target:{t.name}"] = _group_share(values <= t.limit_s, np.where(applies, group, -1), n_groups)
    return k


_MEASURED = (
    "first_arrival_s",
    "full_response_s",
    "waited_s",
    "turnout_s",
    "travel_s",
    "access_s",
    "on_scene_s",
    "mutual_aid_units",
    "units_sent",
)


def _group_reduce(values: np.ndarray, group: np.ndarray, n_groups: int, reduce) -> np.ndarray:
    """``reduce`` of each group's finite values in order (NaN for a group without any): the groups of equal size
    are reduced together as the rows of one matrix, so each gives exactly what ``reduce`` gives on its values."""
    keep = np.isfinite(values) & (group >= 0)
    order = np.argsort(group[keep], kind="stable")
    values, group = values[keep][order], group[keep][order]
    size = np.bincount(group, minlength=n_groups)
    start = np.cumsum(size) - size
    out = np.full(n_groups, math.nan)
    for m in np.unique(size[size > 0]):
        rows = np.flatnonzero(size == m)
        out[rows] = reduce(values[start[rows, np.newaxis] + np.arange(m)], axis=1)
    return out


def _group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum per group of integer-valued ``values`` (exact)."""
    return np.bincount(group[group >= 0], weights=values[group >= 0], minlength=n_groups)


def _group_share(flag: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Share of each group's incidents that are flagged (NaN for an empty group)."""
    n = np.bincount(group[group >= 0], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, _group_sum(flag.astype(float), group, n_groups) / n, math.nan)


BREAKDOWN_SKIPS = (
    "first_arrival_median_s",
    "full_response_p90_s",
    "waited_mean_s",
    *(f"{part}_mean_s" for part in ("turnout", "travel", "access", "on_scene")),
)


def breakdown(incidents: pd.DataFrame, by: str, targets: tuple[Target, ...], replications: int) -> pd.DataFrame:
    """KPIs (mean and CI over replications) per value of a column such as ``source`` or ``incident_type``."""
    code, values = pd.factorize(incidents[by], sort=True)  # missing values: -1, left out
    rep = incidents["replication"].to_numpy(dtype=np.int64)
    group = np.where((code >= 0) & (rep < replications), code * replications + rep, -1)
    keys = ("first_arrival_mean_s", "first_arrival_p90_s", "full_response_mean_s", "escalation_share")
    keys += ("mutual_aid_share",) + tuple(f"target:{t.name}" for t in targets)
    unused = frozenset(BREAKDOWN_SKIPS)  # medians and parts: not in the table, so not computed
    kpis = _group_kpis(incidents, group, len(values) * replications, targets, skip=unused)
    table = {by: np.asarray(values), "incidents_per_replication": []}
    for key in keys:
        table[key], table[f"{key}_ci"] = [], []
    for v in range(len(values)):
        per = slice(v * replications, (v + 1) * replications)
        table["incidents_per_replication"].append(mean_ci(kpis["incidents"][per])["mean"])
        for key in keys:
            ci = mean_ci(kpis[key][per])
            table[key].append(ci["mean"])
            table[f"{key}_ci"].append(ci["half_width"])
    return pd.DataFrame(table)


def with_source_group(incidents: pd.DataFrame) -> pd.DataFrame:
    """Adds ``source_group``: park, pipeline (HCA), pipeline (outside HCA) or site."""
    df = incidents.copy()
    df["source_group"] = source_group(df["source"].to_numpy(), df["in_hca"].to_numpy())
    return df


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
            }
            | target_verdict(share, t.share)
        )
    units = result.units
    return {
        "scenario": scenario.name,
        "by_load": load_kpis(result.incidents, result.replications),
        "seed": result.seed,
        "replications": result.replications,
        "horizon_days": scenario.horizon_days,
        "kpis": {k: v for k, v in kpis.items() if not k.startswith("target:")},
        "targets": targets,
        "utilisation_mean": mean_ci(units.groupby("replication")["utilisation"].mean().to_numpy(float)),
        "drill_compliance": drill_compliance(result.world, units),
        "notes": list(result.notes),
    }


LOAD_KPIS = ("incidents", "first_arrival_mean_s", "first_arrival_median_s", "first_arrival_p90_s", "waited_share")


def load_kpis(incidents: pd.DataFrame, replications: int) -> dict[str, dict[str, dict[str, float]]]:
    """The headline KPIs of hazmat incidents and of everyday calls apart (a load without incidents is left out):
    with everyday calls in the thousands, the hazmat figures would drown in the pooled ones."""
    load = load_group(incidents["source"].to_numpy())
    out = {}
    for name in ("hazmat", "everyday"):
        if (mask := load == name).any():
            kpis = summarize(kpis_per_replication(incidents[mask], (), replications))
            out[name] = {k: kpis[k] for k in LOAD_KPIS}
    return out


def verdict_word(target: dict) -> str:
    """A summary target's verdict (a summary written before verdicts had words: from its ``met``)."""
    if "verdict" in target:
        return target["verdict"]
    return {True: "met", False: "not met"}.get(target["met"], "no incidents")


def target_verdict(share: dict[str, float], required: float) -> dict:
    """``met`` only when the confidence interval of the achieved share lies at or above the requirement, ``not met``
    when it lies below, else ``undecided`` with the replications that would likely decide it (the interval's
    half-width shrinks as one over the root of the replications); ``no incidents`` when none was measured.
    ``met``: True, False or None (undecided, no incidents)."""
    mean, half, n = share["mean"], share["half_width"], share["n"]
    if not np.isfinite(mean):
        return {"verdict": "no incidents", "met": None, "replications_to_decide": None}
    if n > 1 and np.isfinite(half):
        if share["ci_low"] >= required:
            return {"verdict": "met", "met": True, "replications_to_decide": None}
        if share["ci_high"] < required:
            return {"verdict": "not met", "met": False, "replications_to_decide": None}
    gap = abs(mean - required)
    needed = int(math.ceil(n * (half / gap) ** 2)) if gap > 0 and n > 1 and np.isfinite(half) else None
    return {"verdict": "undecided", "met": None, "replications_to_decide": needed}


def drill_compliance(world: World, units: pd.DataFrame) -> list[dict]:
    """Per unit that drills or is a hazmat unit: realised drill rate and longest gap against the statutory interval.

    The longest gap is the longest stretch without starting a drill (from the start of the horizon, over all
    replications); a unit is flagged when that gap or its planned interval exceeds the statutory interval (half a
    year by default), or when it does not drill at all.
    """
    statutory_days = world.scenario.readiness.statutory_interval_days
    horizon_yr = world.scenario.horizon_days / 365.25
    per_unit = units.groupby("unit", sort=False)
    drills, max_gap_days = per_unit["drills"].mean(), per_unit["max_drill_gap_days"].max()
    rows = []
    for u, (unit_id, spec) in enumerate(zip(world.units.unit_id, _drill_specs(world), strict=True)):
        has_plan = spec is not None
        if not has_plan and world.units.unit_type[u] != "hazmat":
            continue
        rows.append(
            {
                "unit": unit_id,
                "planned_drills_per_yr": 365.25 / spec.interval_days if has_plan else 0.0,
                "realised_drills_per_yr": float(drills[unit_id] / horizon_yr),
                "max_gap_days": float(max_gap_days[unit_id]),
                "statutory_interval_days": statutory_days,
                "compliant": bool(
                    has_plan and spec.interval_days <= statutory_days and max_gap_days[unit_id] <= statutory_days + 1e-9
                ),
            }
        )
    return rows
