"""Move-up (coverage backfill): a district left without a unit of a type is covered by a unit from another base.

A *district* is a local base and a unit type it houses (``dispatch.move_up.unit_types``, default every type). It is
*covered* while one of its own units of that type is free at base (idle or drilling there) or a cover unit is
assigned to it (driving there or standing there). The rule, after Kolesar & Walker's (1974) relocation of fire
companies, simplified to one cover unit per empty district:

1. A dispatch that leaves a district uncovered (its last unit at base, or its cover unit, is sent) sets a check
   ``uncovered_after_min`` later, replacing any earlier check of that district.
2. At the check, if the district is still uncovered, the unit of that type nearest by road (then the lower index)
   among local units idle at their own base, at bases that keep ``donor_keeps`` other units of the type free at
   home, leaves at once to cover it (none: the district stays uncovered until a unit of its own is back).
3. When one of the district's own units of that type is free at base again, the cover unit heads home (turning back
   if still on its way). A cover unit sent to an incident goes home afterwards.

At one instant, these steps come after everything else (clearings, units free again, first arrivals, calls): first
the cover units that head home, then the checks, each in order of base and type. Drills do not set checks (a
district found uncovered at a check counts units away on drills as away). Moves drive at the road times between
bases, at the traffic factor of the moment they leave; a planning assumption: no turnout for a move.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sim.fleet import AVAILABLE, Fleet

_HOME_BACK, _CHECK = 0, 1  # tasks at one instant, in this order


class MoveUp:
    """The move-up rule of one replication: its districts, their cover units and pending checks."""

    def __init__(
        self,
        fleet: Fleet,
        spec,
        local: list[bool],
        at: Callable[..., None],
        travel_factor: Callable[[float], float],
    ) -> None:
        self.fleet = fleet
        self.after_s = spec.uncovered_after_min * 60.0
        self.donor_keeps = spec.donor_keeps
        self.at, self.travel_factor = at, travel_factor
        types = None if spec.unit_types is None else set(spec.unit_types)
        self.home_units: dict[tuple[int, str], list[int]] = {}  # each district's own units
        for unit, unit_type in enumerate(fleet.unit_type):
            if local[unit] and (types is None or unit_type in types):
                self.home_units.setdefault((fleet.tables.unit_base[unit], unit_type), []).append(unit)
        self.local = local
        self.cover: dict[tuple[int, str], int] = {}  # district -> the unit covering it
        self.check_at_s: dict[tuple[int, str], float] = {}
        self.tasks: dict[float, list[tuple[int, int, str]]] = {}  # instant -> (task, base, type)

    # -- hooks the model calls ----------------------------------------------------------------------------------
    def dispatched(self, unit: int, post: int | None, now: float) -> None:
        """A unit standing for district ``post`` of its type (see :meth:`Fleet.post_of`) was sent now."""
        district = (post, self.fleet.unit_type[unit])
        if post is None or district not in self.home_units:
            return
        if self.cover.get(district) == unit:
            del self.cover[district]
        if not self.covered(district):
            self.check_at_s[district] = at_s = now + self.after_s
            self._task(at_s, _CHECK, district)

    def released(self, unit: int, now: float) -> None:
        """A unit's incident is cleared now: if its district is covered by another base's unit, look again when it
        is free at home."""
        district = (self.fleet.tables.unit_base[unit], self.fleet.unit_type[unit])
        if district in self.cover:
            self._watch_home(district, now)

    # -- the rule -----------------------------------------------------------------------------------------------
    def covered(self, district: tuple[int, str]) -> bool:
        available = self.fleet.available
        return district in self.cover or any(available[u] for u in self.home_units[district])

    def _task(self, at_s: float, task: int, district: tuple[int, str]) -> None:
        if at_s not in self.tasks:
            self.tasks[at_s] = []
            self.at(at_s, self._instant, at_s)
        self.tasks[at_s].append((task, *district))

    def _instant(self, now: float) -> None:
        """The move-up steps of this instant: cover units head home, then the checks (by base and type)."""
        for task, base, unit_type in sorted(set(self.tasks.pop(now))):
            district = (base, unit_type)
            self._catch_up(self.home_units[district], now)
            if task == _HOME_BACK:
                self._home_back(district, now)
            elif self.check_at_s.get(district) == now:
                del self.check_at_s[district]
                if not self.covered(district):
                    self._move_up(district, now)

    def _home_back(self, district: tuple[int, str], now: float) -> None:
        unit = self.cover.get(district)
        if unit is None:
            return
        if any(self.fleet.available[u] for u in self.home_units[district]):
            del self.cover[district]
            self._catch_up((unit,), now)  # at its post by now?
            self.fleet.move_home(unit, now, self.travel_factor(now))
            home = (self.fleet.tables.unit_base[unit], district[1])
            if home in self.cover:  # its own district is covered: look again when it is home
                self._watch_home(home, now)
        else:  # its own units are still away (or a drill began on return): look again when one is free
            self._watch_home(district, now)

    def _move_up(self, district: tuple[int, str], now: float) -> None:
        base, unit_type = district
        fleet = self.fleet
        candidates = fleet.units_of_type[unit_type]
        self._catch_up(candidates, now)
        travel_s = fleet.tables.base_travel_s
        best = None
        for unit in candidates:
            home = fleet.tables.unit_base[unit]
            if home == base or not self.local[unit] or fleet.status[unit] != AVAILABLE:
                continue
            others = self.home_units.get((home, unit_type), ())
            if sum(1 for u in others if u != unit and fleet.available[u]) < self.donor_keeps:
                continue
            key = (travel_s[home][base], unit)
            if best is None or key < best:
                best = key
        if best is None:
            return
        unit = best[1]
        fleet.move_up(unit, base, now, self.travel_factor(now))
        self.cover[district] = unit
        self._watch_home(district, now)

    def _watch_home(self, district: tuple[int, str], now: float) -> None:
        """Look at the district again when each of its units away is free at home, where that is known now."""
        for unit in self.home_units[district]:
            at_s = self.fleet.home_free_at_s(unit)
            if at_s < math.inf:
                self._task(max(at_s, now), _HOME_BACK, district)

    def _catch_up(self, units, now: float) -> None:
        fleet = self.fleet
        for unit in units:
            if fleet.next_change_s[unit] <= now:
                fleet.catch_up(unit, now)
