"""Dispatch policies: which available units answer a requirement of an incident.

``nearest_eta`` (the default) ranks available units of the required type by estimated arrival: expected turnout
(slowed by low proficiency, plus a recall delay for a unit drilling at base) plus road travel and the last leg.
Units of another jurisdiction (mutual aid) are considered only when no local unit of that type can arrive within
``dispatch.mutual_aid.local_eta_limit_min``; their estimate then includes the activation delay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.world import World


@dataclass(frozen=True)
class Choice:
    unit: int
    mutual_aid: bool
    eta_s: float


class NearestEta:
    """Capability-matched nearest available unit by estimated arrival time."""

    def __init__(self, world: World) -> None:
        spec = world.scenario.dispatch.mutual_aid
        self._activation_s = spec.activation_delay_min * 60.0
        self._local_limit_s = spec.local_eta_limit_min * 60.0
        self._unit_base = world.units.base
        self._local = world.units.local
        self._travel = world.travel_out_s
        self._access = world.access_s
        types = sorted(set(world.units.unit_type))
        codes = np.asarray([types.index(t) for t in world.units.unit_type], dtype=np.int64)
        self.units_of_type: dict[str, np.ndarray] = {t: np.flatnonzero(codes == i) for i, t in enumerate(types)}

    def choose(
        self, site: int, unit_type: str, count: int, available: np.ndarray, expected_turnout_s: np.ndarray
    ) -> list[Choice]:
        """Up to ``count`` units for one requirement, best first (fewer if not enough are available)."""
        pool = self.units_of_type.get(unit_type)
        if pool is None or count <= 0:
            return []
        pool = pool[available[pool]]
        if len(pool) == 0:
            return []
        eta = expected_turnout_s[pool] + self._travel[self._unit_base[pool], site] + self._access[site]
        local = self._local[pool]
        eta = np.where(local, eta, eta + self._activation_s)
        within = np.flatnonzero(local & (eta <= self._local_limit_s))
        rest = np.flatnonzero(~(local & (eta <= self._local_limit_s)))
        order = np.concatenate(
            [within[np.argsort(eta[within], kind="stable")], rest[np.argsort(eta[rest], kind="stable")]]
        )[:count]
        return [Choice(int(pool[i]), not bool(local[i]), float(eta[i])) for i in order]


POLICIES = {"nearest_eta": NearestEta}


def make_policy(world: World):
    return POLICIES[world.scenario.dispatch.policy](world)
