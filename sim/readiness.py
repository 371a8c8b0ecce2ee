"""Drill schedules and the proficiency model.

Proficiency ``p`` in [0, 1] decays exponentially with time since the last drill,
``p(t) = p_last * 2 ** (-(t - t_last) / half_life)``, and a drill of kind k closes a share ``gain_k`` of the gap:
``p_after = p_before + gain_k * (1 - p_before)``. Turnout and on-scene times are multiplied by
``1 + penalty * (1 - p)``. Units without a drill schedule keep their initial proficiency (readiness is only modelled
for units that drill, so a scenario without drills is not silently degraded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim._arrays import run_ends
from sim.scenario import DrillSpec, ReadinessSpec, Scenario

SECONDS_PER_DAY = 86400.0


def decayed(p_last: float, since_s: float, half_life_s: float) -> float:
    """Proficiency ``since_s`` after it was ``p_last``."""
    return p_last * 0.5 ** (since_s / half_life_s)


def after_drill(p_before: float, gain: float) -> float:
    """Proficiency right after a drill that closes ``gain`` of the gap to full proficiency."""
    return p_before + gain * (1.0 - p_before)


def slowdown(p: float, penalty: float) -> float:
    """Factor on a duration for a unit at proficiency ``p``."""
    return 1.0 + penalty * (1.0 - p)


@dataclass(frozen=True)
class UnitDrills:
    """One unit's drill plan: first drill at ``first_at_s``, then every ``interval_s``."""

    spec: DrillSpec
    first_at_s: float

    @property
    def interval_s(self) -> float:
        return self.spec.interval_days * SECONDS_PER_DAY

    @property
    def duration_s(self) -> float:
        return self.spec.duration_h * 3600.0


def drill_plans(scenario: Scenario, unit_base: np.ndarray, unit_type: tuple[str, ...]) -> list[UnitDrills | None]:
    """Each unit's drill plan (base override, else the scenario's), staggered so units do not all drill at once.

    Without ``stagger_days`` the k-th of n drilling units under one spec starts at ``(k + 0.5) / n`` of the
    interval; with it, at ``k * stagger_days`` modulo the interval.
    """
    from sim.forces import active_bases

    bases = active_bases(scenario)
    specs = []
    for b, t in zip(unit_base, unit_type, strict=True):
        spec = bases[int(b)].drills or scenario.drills
        specs.append(spec if spec is not None and (spec.unit_types is None or t in spec.unit_types) else None)
    plans: list[UnitDrills | None] = [None] * len(specs)
    groups: dict[int, list[int]] = {}
    for u, spec in enumerate(specs):
        if spec is not None:
            groups.setdefault(id(spec), []).append(u)
    for members in groups.values():
        spec = specs[members[0]]
        interval_s = spec.interval_days * SECONDS_PER_DAY
        for k, u in enumerate(members):
            if spec.stagger_days is None:
                first = (k + 0.5) / len(members) * interval_s
            else:
                first = (k * spec.stagger_days * SECONDS_PER_DAY) % interval_s
            plans[u] = UnitDrills(spec=spec, first_at_s=first)
    return plans


def proficiency_curve(
    times_s: np.ndarray,
    drill_end_s: np.ndarray,
    level_after: np.ndarray,
    readiness: ReadinessSpec,
    initial: float | None = None,
) -> np.ndarray:
    """Proficiency at ``times_s`` (>= 0) given drill end times (in order) and the level right after each."""
    times_s = np.asarray(times_s, dtype=float)
    drill_end_s = np.asarray(drill_end_s, dtype=float)
    order = np.argsort(times_s, kind="stable")
    owner = np.zeros(len(drill_end_s), dtype=np.int64)
    curve = np.empty(len(times_s))
    curve[order] = proficiency_curves(times_s[order], owner, drill_end_s, level_after, 1, readiness, initial)[0]
    return curve


def proficiency_curves(
    times_s: np.ndarray,
    owner: np.ndarray,
    drill_end_s: np.ndarray,
    level_after: np.ndarray,
    n_curves: int,
    readiness: ReadinessSpec,
    initial: float | None = None,
) -> np.ndarray:
    """Proficiency of ``n_curves`` units at the sorted ``times_s`` (>= 0), shape (n_curves, len(times_s)).

    Drill ``i`` of unit ``owner[i]`` ended at ``drill_end_s[i]`` at level ``level_after[i]`` (in time order within
    a unit); every unit starts at the initial proficiency at time 0. A time at which a drill ends takes its level.
    """
    half_life_s = readiness.half_life_days * SECONDS_PER_DAY
    p0 = readiness.initial_proficiency if initial is None else initial
    n_times = len(times_s)
    curve = np.concatenate([np.arange(n_curves), np.asarray(owner, dtype=np.int64)])
    order = np.argsort(curve, kind="stable")  # per unit: its start at time 0, then its drills in order
    curve = curve[order]
    anchor_t = np.concatenate([np.zeros(n_curves), np.asarray(drill_end_s, float)])[order]
    anchor_p = np.concatenate([np.full(n_curves, p0), np.asarray(level_after, float)])[order]
    first = np.searchsorted(times_s, anchor_t)  # the times each anchor holds for: up to the next one of its unit
    last_of_unit = run_ends(curve)
    count = np.where(last_of_unit, n_times, np.r_[first[1:], 0]) - first
    column = np.tile(np.arange(n_times), n_curves)
    distinct_t, anchor_of = np.unique(anchor_t, return_inverse=True)
    if len(distinct_t) < n_curves:  # drills mostly end at the same times: each decay factor once
        decay = 0.5 ** ((times_s - distinct_t[:, np.newaxis]) / half_life_s)
        factor = decay.ravel()[np.repeat(anchor_of * n_times, count) + column]
    else:
        factor = 0.5 ** ((times_s[column] - np.repeat(anchor_t, count)) / half_life_s)
    return (np.repeat(anchor_p, count) * factor).reshape(n_curves, n_times)
