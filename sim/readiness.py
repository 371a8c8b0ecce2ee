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
    """Proficiency at ``times_s`` given drill end times and the level right after each (for plots and checks)."""
    half_life_s = readiness.half_life_days * SECONDS_PER_DAY
    p0 = readiness.initial_proficiency if initial is None else initial
    anchor_t = np.concatenate([[0.0], np.asarray(drill_end_s, float)])
    anchor_p = np.concatenate([[p0], np.asarray(level_after, float)])
    idx = np.searchsorted(anchor_t, times_s, side="right") - 1
    return anchor_p[idx] * 0.5 ** ((np.asarray(times_s) - anchor_t[idx]) / half_life_s)
