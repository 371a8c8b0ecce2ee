"""Dispatch policies: which available units answer a requirement of an incident.

``nearest_eta`` (the default) ranks available units of the required type by estimated arrival: expected turnout
(slowed by low proficiency, plus a recall delay for a unit drilling at base) plus road travel and the last leg.
Units of another jurisdiction (mutual aid) are considered only when no local unit of that type can arrive within
``dispatch.mutual_aid.local_eta_limit_min``; their estimate then includes the activation delay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from sim.world import World


class Choice(NamedTuple):
    unit: int
    mutual_aid: bool
    eta_s: float


class NearestEta:
    """Capability-matched nearest available unit by estimated arrival time."""

    def __init__(self, world: World) -> None:
        spec = world.scenario.dispatch.mutual_aid
        self._activation_s = spec.activation_delay_min * 60.0
        self._local_limit_s = spec.local_eta_limit_min * 60.0
        self._unit_base = world.units.base.tolist()
        self._local = world.units.local.tolist()
        self._travel = world.travel_out_s.tolist()
        self._access = world.access_s.tolist()
        self.units_of_type: dict[str, list[int]] = {}
        for unit, unit_type in enumerate(world.units.unit_type):
            self.units_of_type.setdefault(unit_type, []).append(unit)

    def choose(
        self,
        site: int,
        unit_type: str,
        count: int,
        available: Sequence[bool],
        expected_turnout_s: Callable[[int], float],
    ) -> list[Choice]:
        """Up to ``count`` units for one requirement, best first (fewer if not enough are available).

        Local units that can arrive within the limit come first, by ETA; then every other unit (local ones beyond
        the limit, and mutual aid with its activation delay added) by ETA. Ties go to the lower unit index.
        """
        ranked = []
        access_s = self._access[site]
        travel = self._travel
        unit_base = self._unit_base
        for unit in self.units_of_type.get(unit_type, ()):
            if available[unit]:
                eta = expected_turnout_s(unit) + travel[unit_base[unit]][site] + access_s
                if self._local[unit]:
                    ranked.append((eta > self._local_limit_s, eta, unit))
                else:
                    ranked.append((True, eta + self._activation_s, unit))
        if count == 1 and ranked:  # the usual case: no need to sort
            ranked = [min(ranked)]
        else:
            ranked.sort()
        return [Choice(unit, not self._local[unit], eta) for _, eta, unit in ranked[:count]]


POLICIES = {"nearest_eta": NearestEta}


def make_policy(world: World):
    return POLICIES[world.scenario.dispatch.policy](world)
