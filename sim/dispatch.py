"""Dispatch policies: which available units answer what an incident's response plan still wants.

A policy is a class with an ``assign`` method (the :class:`DispatchPolicy` protocol): it sees the site and the whole
outstanding plan (unit type -> count) and a read-only view of the fleet, and returns the units to send. Policies
are registered by name with :func:`register_policy`; the scenario's ``dispatch.policy`` is checked against
:data:`POLICIES` when it is loaded. Adding a policy is one class and its registration.

``nearest_eta`` (the default) ranks available units of the required type by estimated arrival: expected turnout
(slowed by low proficiency, plus a recall delay for a unit drilling at base) plus road travel and the last leg.
Units of another jurisdiction (mutual aid) are considered only when no local unit of that type can arrive within
``dispatch.mutual_aid.local_eta_limit_min``; their estimate then includes the activation delay.

A local unit on its way back to base (``dispatch.from_return``) is ranked by the same rule from where it is, without
turnout (its crew is aboard): on to the next point of its return route, then the fastest road. A unit away for
move-up (``dispatch.move_up``) is ranked from the base it covers: standing there, with its turnout; driving, by the
rest of its drive (no turnout) and the road from where it drives.

The ranking is exact but need not look at every unit: the units at base of a type are scanned in order of a lower
bound of their estimate at the site (the unslowed mean turnout, no recall), and the scan stops once no unit left can
beat the ones chosen; then each unit on its way back is ranked unless a lower bound of its estimate (through its
base, on a road network) cannot beat them either.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sim.world import World

Choice = tuple[int, bool, float]
"""A unit chosen: its index, whether it comes as mutual aid, and its estimated arrival (s). A plain tuple: it is
made for every dispatch."""


class FleetView(Protocol):
    """What a policy may read of the fleet (the model's :class:`sim.fleet.Fleet` is one)."""

    available: Sequence[bool]
    units_of_type: Mapping[str, Sequence[int]]
    returning: Mapping[str, Mapping[int, None]]  # units that can be sent on from their way back, by type
    moved: Mapping[str, Mapping[int, None]]  # units away from home for move-up, by type

    def expected_turnout_s(self, unit: int) -> float: ...

    def road_out_s(self, unit: int, site: int) -> float: ...

    def from_return_s(self, unit: int, site: int, travel_factor: float) -> tuple[float, int]: ...

    def from_return_bound_s(self, unit: int, site: int) -> float: ...

    def moved_eta_s(self, unit: int, site: int, travel_factor: float) -> float: ...


class DispatchPolicy(Protocol):
    """Chooses the units that answer an incident's outstanding plan."""

    def assign(self, site: int, wanted: Mapping[str, int], fleet: FleetView, travel_factor: float) -> list[Choice]:
        """Units to send now for ``wanted`` (unit type -> count, the types in sorted order), in the order they are
        to be dispatched; fewer than wanted if not enough are available. ``travel_factor`` (>= 1) is the
        congestion on roads now."""
        ...


POLICIES: dict[str, Callable[[World], DispatchPolicy]] = {}
"""Dispatch policies by the name a scenario's ``dispatch.policy`` gives."""


def register_policy(name: str):
    """Class decorator: make a policy available to scenarios under ``name``."""

    def register(cls):
        POLICIES[name] = cls
        return cls

    return register


@register_policy("nearest_eta")
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
        self._least_turnout_s = [d.mean_s() for d in world.units.turnout]  # at full proficiency, no recall
        self.units_of_type: dict[str, list[int]] = {}
        for unit, unit_type in enumerate(world.units.unit_type):
            self.units_of_type.setdefault(unit_type, []).append(unit)
        self._scan: dict[tuple[str, int], list[tuple[float, int, float, bool]]] = {}

    def assign(self, site: int, wanted: Mapping[str, int], fleet: FleetView, travel_factor: float) -> list[Choice]:
        """For each wanted type in turn, the best ``count`` units of that type, best first (fewer if not enough
        are available).

        Local units that can arrive within the limit come first, by ETA; then every other unit (local ones beyond
        the limit, and mutual aid with its activation delay added) by ETA. Ties go to the lower unit index.
        ``travel_factor`` (>= 1: congestion now) multiplies the road travel times.
        """
        chosen: list[Choice] = []
        available, expected_turnout_s = fleet.available, fleet.expected_turnout_s
        limit_s, activation_s, local_of = self._local_limit_s, self._activation_s, self._local
        access_s = self._access[site]
        returning, moved = fleet.returning, fleet.moved
        for unit_type, count in wanted.items():
            best: list[tuple[bool, float, int]] = []  # the best keys so far, sorted as the ranking sorts
            order = self._scan.get((unit_type, site)) or self._scan_order(site, unit_type)
            for bound_s, unit, road_s, local in order:
                if len(best) == count:
                    beyond, worst_s, _ = best[-1]
                    if bound_s > worst_s and (not beyond or bound_s > limit_s):
                        break  # nobody left can beat the chosen ones
                if not available[unit]:
                    continue
                eta = expected_turnout_s(unit) + road_s * travel_factor + access_s
                key = (eta > limit_s, eta, unit) if local else (True, eta + activation_s, unit)
                if len(best) < count:
                    bisect.insort(best, key)
                elif key < best[-1]:
                    best.pop()
                    bisect.insort(best, key)
            for unit in returning.get(unit_type, ()):  # local units on their way back (few at a time)
                if len(best) == count:  # skip a unit that cannot beat the chosen ones even at its bound
                    bound_s = fleet.from_return_bound_s(unit, site) * travel_factor + access_s
                    if (bound_s > limit_s, bound_s) > best[-1][:2]:
                        continue
                eta = fleet.from_return_s(unit, site, travel_factor)[0] + access_s
                _offer(best, count, (eta > limit_s, eta, unit))
            for unit in moved.get(unit_type, ()):  # local units away for move-up (fewer still)
                eta = fleet.moved_eta_s(unit, site, travel_factor) + access_s
                _offer(best, count, (eta > limit_s, eta, unit))
            chosen += [(unit, not local_of[unit], eta) for _, eta, unit in best]
        return chosen

    def choose(
        self,
        site: int,
        unit_type: str,
        count: int,
        available: Sequence[bool],
        expected_turnout_s: Callable[[int], float],
        travel_factor: float = 1.0,
    ) -> list[Choice]:
        """:meth:`assign` for one requirement, given the availability and expected turnout directly."""
        return self.assign(site, {unit_type: count}, _View(available, expected_turnout_s), travel_factor)

    def _scan_order(self, site: int, unit_type: str) -> list[tuple[float, int, float, bool]]:
        """The units of a type by a lower bound of their estimated arrival at a site, each with its road time and
        whether it is local (built once per pair)."""
        rows = []
        for unit in self.units_of_type.get(unit_type, ()):
            road_s = self._travel[self._unit_base[unit]][site]
            bound_s = self._least_turnout_s[unit] + road_s + self._access[site]
            local = self._local[unit]
            rows.append((bound_s if local else bound_s + self._activation_s, unit, road_s, local))
        self._scan[unit_type, site] = rows = sorted(rows)
        return rows


def _offer(best: list, count: int, key: tuple) -> None:
    """Keep ``key`` among the ``count`` best keys (``best`` sorted), if it is one of them."""
    if len(best) < count:
        bisect.insort(best, key)
    elif key < best[-1]:
        best.pop()
        bisect.insort(best, key)


class _View:
    """A :class:`FleetView` made of an availability list and a turnout function (for :meth:`NearestEta.choose`)."""

    returning: Mapping[str, Mapping[int, None]] = {}  # no unit on its way back
    moved: Mapping[str, Mapping[int, None]] = {}  # nor away for move-up

    def __init__(self, available: Sequence[bool], expected_turnout_s: Callable[[int], float]) -> None:
        self.available, self.expected_turnout_s = available, expected_turnout_s


def make_policy(world: World) -> DispatchPolicy:
    """The scenario's dispatch policy for a world."""
    return POLICIES[world.scenario.dispatch.policy](world)
