"""Where each unit is and what it does: its status, proficiency and drills, and how long it takes to a site.

:class:`Fleet` holds the state of every unit of one replication as plain lists (the model's hot path reads them
millions of times) behind methods: :meth:`Fleet.set_status` is the one place a status changes; :meth:`Fleet.send`
and :meth:`Fleet.release` are a dispatch and a release; :meth:`Fleet.catch_up` plays what a unit does by itself
(returning to base, drills due, drills ending) up to a moment, lazily, writing the rows to the log.
:meth:`Fleet.road_out_s` (and ``send`` / ``release``) are the road travel of a unit (today from and to its home
base), so that a unit that is elsewhere is a new status and travel rule here, not a change of the model.

What every replication of a world reads (each unit's base, type, turnout draws and drill plan) is
:class:`FleetTables`, built once per world.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from sim.calendar import WEEKDAYS, Window
from sim.eventlog import AT_POST, MOVE_HOME, MOVE_UP, LogWriter
from sim.forces import UnitStatus
from sim.readiness import SECONDS_PER_DAY, after_drill, decayed, drill_plans
from sim.routes import ReturnRoutes
from sim.world import World

AVAILABLE, MOBILISING, RETURNING, DRILL_OFF_SITE, DRILL_AT_BASE, RELOCATING, POSTED = (
    int(s)
    for s in (
        UnitStatus.AVAILABLE,
        UnitStatus.MOBILISING,
        UnitStatus.RETURNING,
        UnitStatus.DRILL_OFF_SITE,
        UnitStatus.DRILL_AT_BASE,
        UnitStatus.RELOCATING,
        UnitStatus.POSTED,
    )
)  # plain ints in the hot path (an enum member lookup costs ten times a local name)
FREED_BY_TIME = (RETURNING, DRILL_OFF_SITE)  # busy, but free again at a known time


@dataclass(frozen=True)
class UnitDrillTables:
    """Each unit's drill plan as plain lists (a unit without drills: never due, proficiency kept)."""

    due_s: list[list[float]]  # when each drill is due (first + k x interval, before the horizon), then infinity
    duration_s: list[float]
    off_site: list[float]  # 1.0 or 0.0: logged as such
    recall_s: list[float]  # extra turnout while drilling at base
    gain: list[float]
    half_life_s: list[float]
    window: list[Window | None]  # when a drill may start (None: whenever due)


@dataclass(frozen=True, eq=False)
class FleetTables:
    """What every replication of a world reads about its units: plain lists and constants."""

    unit_type: list[str]
    units_of_type: dict[str, list[int]]
    travel_out_s: list[list[float]]  # each unit's road seconds from its base to each site (rows shared by base)
    travel_in_s: list[list[float]]
    turnout_mean_s: list[float]
    turnout_s: list  # each unit's turnout seconds as a function of a uniform
    drills: UnitDrillTables
    initial_proficiency: float
    turnout_penalty: float
    unit_base: list[int]
    routes: ReturnRoutes | None  # return routes (None: units are sent only from base)
    sent_on: list[bool]  # whether each unit can be sent on from its way back (local units, with routes)
    base_out_s: list[list[float]]  # road seconds from each base to each site
    base_travel_s: list[list[float]] | None  # road seconds between bases (move-up; None: off)


@functools.lru_cache(maxsize=8)
def fleet_tables(world: World) -> FleetTables:
    """Built once per world (worlds hash by identity) and shared by its replications in a process."""
    readiness = world.scenario.readiness
    turnout = {dist: dist.quantile_s() for dist in world.units.turnout}  # one function per distinct distribution
    out_rows, in_rows = world.travel_out_s.tolist(), world.travel_in_s.tolist()
    unit_base = world.units.base.tolist()
    units_of_type: dict[str, list[int]] = {}
    for unit, unit_type in enumerate(world.units.unit_type):
        units_of_type.setdefault(unit_type, []).append(unit)
    return FleetTables(
        unit_type=list(world.units.unit_type),
        units_of_type=units_of_type,
        travel_out_s=[out_rows[b] for b in unit_base],
        travel_in_s=[in_rows[b] for b in unit_base],
        turnout_mean_s=[d.mean_s() for d in world.units.turnout],
        turnout_s=[turnout[dist] for dist in world.units.turnout],
        drills=_drill_tables(world),
        initial_proficiency=readiness.initial_proficiency,
        turnout_penalty=readiness.turnout_penalty,
        unit_base=unit_base,
        routes=world.routes,
        sent_on=[world.routes is not None and bool(local) for local in world.units.local.tolist()],
        base_out_s=out_rows,
        base_travel_s=None if world.base_travel_s is None else world.base_travel_s.tolist(),
    )


def _drill_tables(world: World) -> UnitDrillTables:
    scenario = world.scenario
    plans = drill_plans(scenario, world.units.base, world.units.unit_type)
    readiness = scenario.readiness
    first_weekday = scenario.start_date.weekday()
    windows = {}
    for p in plans:
        if p is not None and p.spec.window is not None and id(p.spec) not in windows:
            w = p.spec.window
            weekdays = frozenset(WEEKDAYS.index(d) for d in w.weekdays)
            windows[id(p.spec)] = Window(w.from_h * 3600.0, w.to_h * 3600.0, weekdays, first_weekday)
    return UnitDrillTables(
        due_s=[_due_s(p, scenario.horizon_s) for p in plans],
        duration_s=[0.0 if p is None else p.duration_s for p in plans],
        off_site=[float(p is not None and p.spec.off_site) for p in plans],
        recall_s=[0.0 if p is None or p.spec.off_site else p.spec.recall_delay_min * 60.0 for p in plans],
        gain=[0.0 if p is None else readiness.drill_gain.get(p.spec.kind, 0.0) for p in plans],
        half_life_s=[math.inf if p is None else readiness.half_life_days * SECONDS_PER_DAY for p in plans],
        window=[None if p is None else windows.get(id(p.spec)) for p in plans],
    )


def _due_s(plan, horizon_s: float) -> list[float]:
    """Due times of a unit's drills (none at or after the horizon), then infinity."""
    due_s = []
    while plan is not None and (at_s := plan.first_at_s + len(due_s) * plan.interval_s) < horizon_s:
        due_s.append(at_s)
    return due_s + [math.inf]


class Fleet:
    """The state of every unit in one replication.

    ``available[unit]``: dispatchable now at base (idle, or drilling at base with a recall delay).
    ``on_the_way_back[unit]``: dispatchable from its way back to base (``dispatch.from_return``: a local unit, from
    the moment it leaves the scene); ``returning[unit_type]`` holds those units by type. ``next_change_s``: when the
    unit next changes by itself (it leaves the scene or is back at base, a drill due or ending; infinity while
    dispatched).
    ``moved[unit_type]`` holds the units away from home for move-up (driving to the base whose district they cover,
    standing there, or driving home from it): dispatchable, not ``available`` at their own base.
    ``now`` is the moment a dispatch policy chooses at (set by the model before it asks).
    ``on_busy_until(unit, at_s)`` is called when a unit starts an off-site drill that lasts past the moment it is
    caught up to (the model times its return then if an incident is waiting).
    """

    def __init__(self, tables: FleetTables, log: LogWriter, on_busy_until: Callable[[int, float], None]) -> None:
        self.tables = tables
        self.drills = drills = tables.drills
        self.log = log
        self.on_busy_until = on_busy_until
        self.now = 0.0
        self.units_of_type = tables.units_of_type
        self.unit_type = tables.unit_type
        self.turnout_mean_s, self.turnout_penalty = tables.turnout_mean_s, tables.turnout_penalty
        self.half_life_s = drills.half_life_s
        n = len(tables.unit_type)
        self.status = [AVAILABLE] * n
        self.status_since = [0.0] * n
        self.available = [True] * n
        self.recall_s = [0.0] * n
        self.prof_last = [tables.initial_proficiency] * n
        self.prof_at_s = [0.0] * n
        self.drill_count = [0] * n  # drills begun: the next one is due at drills.due_s[unit][count]
        self.next_change_s = [due[0] for due in drills.due_s]
        self.on_the_way_back = [False] * n
        self.returning: dict[str, dict[int, None]] = {t: {} for t in tables.units_of_type}  # insertion-ordered
        self.back_at_s = [math.inf] * n  # of a unit driving back: when it is at base, where from, how
        self.road_start_s = [0.0] * n
        self.return_factor = [1.0] * n
        self.return_site = [0] * n
        self.return_record = [0] * n
        self.moved: dict[str, dict[int, None]] = {t: {} for t in tables.units_of_type}  # insertion-ordered
        self.move_to: list[int | None] = [None] * n  # of a moved unit: the base it drives to or stands at
        self.move_start_s = [0.0] * n  # and when its drive began, and ends
        self.move_end_s = [math.inf] * n

    def __len__(self) -> int:
        return len(self.status)

    # -- state --------------------------------------------------------------------------------------------------
    def set_status(self, unit: int, status: int, at_s: float) -> None:
        """The one place a unit's status changes (``at_s``: when, for a step played lazily)."""
        self.status[unit] = status
        self.status_since[unit] = at_s
        self.available[unit] = status == AVAILABLE or status == DRILL_AT_BASE

    def proficiency(self, unit: int, at_s: float) -> float:
        """Proficiency at ``at_s`` (not before the unit's last drill); a unit without drills keeps its own."""
        return decayed(self.prof_last[unit], at_s - self.prof_at_s[unit], self.drills.half_life_s[unit])

    def expected_turnout_s(self, unit: int) -> float:
        """Mean turnout now, slowed by lack of proficiency, plus the recall delay of a drill at base.

        ``proficiency`` and ``slowdown`` written out: dispatch ranks every available unit of a type with it."""
        p = self.prof_last[unit] * 0.5 ** ((self.now - self.prof_at_s[unit]) / self.half_life_s[unit])
        return self.turnout_mean_s[unit] * (1.0 + self.turnout_penalty * (1.0 - p)) + self.recall_s[unit]

    def moved_eta_s(self, unit: int, site: int, travel_factor: float) -> float:
        """Of a unit away for move-up, now: seconds to a site's road node. Standing at a base: its turnout and the
        road from there; driving: the rest of its drive (crew aboard, no turnout) and the road from where it drives."""
        road_s = self.tables.base_out_s[self.move_to[unit]][site] * travel_factor
        if self.status[unit] == POSTED:
            return self.expected_turnout_s(unit) + road_s
        return max(self.move_end_s[unit] - self.now, 0.0) + road_s

    def post_of(self, unit: int) -> int | None:
        """The base whose district a unit stands for now: its home at base, the base it covers (or drives to cover);
        none on its way back or home."""
        if self.available[unit]:
            return self.tables.unit_base[unit]
        to = self.move_to[unit]
        if to is not None and to != self.tables.unit_base[unit]:
            return to
        return None

    def home_free_at_s(self, unit: int) -> float:
        """When a unit away from its base (or in an off-site drill) is next free there, if known now."""
        status = self.status[unit]
        if status == RETURNING:
            return self.back_at_s[unit] if self.tables.sent_on[unit] else self.next_change_s[unit]
        if status == DRILL_OFF_SITE or (status == RELOCATING and self.move_to[unit] == self.tables.unit_base[unit]):
            return self.next_change_s[unit]
        return math.inf

    def road_out_s(self, unit: int, site: int) -> float:
        """Free-flow road seconds from a unit's base to a site's road node."""
        return self.tables.travel_out_s[unit][site]

    def from_return_s(self, unit: int, site: int, travel_factor: float) -> tuple[float, int]:
        """Of a unit on its way back, now: the seconds to reach a site's road node (on to the next point of its
        return route at the return's pace, then the fastest road at ``travel_factor``), and that point."""
        road_start_s, factor = self.road_start_s[unit], self.return_factor[unit]
        elapsed_s = (self.now - road_start_s) / factor if self.now > road_start_s else 0.0
        point, ahead_s = self.tables.routes.ahead(self.tables.unit_base[unit], self.return_site[unit], elapsed_s)
        walk_s = road_start_s - self.now if self.now < road_start_s else 0.0  # still on the last leg back
        return walk_s + ahead_s * factor + self.tables.routes.to_site_s(point, site) * travel_factor, point

    def from_return_bound_s(self, unit: int, site: int) -> float:
        """A lower bound of :meth:`from_return_s` at free flow (0 when the routes cannot give one)."""
        base = self.tables.unit_base[unit]
        return self.tables.routes.bound_s(base, self.return_site[unit], self.tables.travel_out_s[unit][site])

    # -- a dispatch and a release -------------------------------------------------------------------------------
    def send(
        self,
        unit: int,
        incident: int,
        site: int,
        now: float,
        u_turnout: float,
        mutual_aid: bool,
        activation_s: float,
        access_s: float,
        travel_factor,
    ) -> float:
        """Dispatch the unit now to an incident's site (an at-base drill ends, and still counts) and log its
        departure; return when it is on scene. It is mobilised after ``activation_s`` (of mutual aid), en route after
        its turnout (drawn from ``u_turnout``, slowed by its proficiency, plus any recall delay), at the road's end
        after the drive (``travel_factor(at_s)``: congestion on a trip starting then), on scene after the last leg
        ``access_s``. One call for the whole departure: the dispatch hot path. A unit on its way back is sent on
        (:meth:`send_on`), a unit away for move-up from where it is (:meth:`send_moved`)."""
        if not self.available[unit]:
            if self.on_the_way_back[unit]:
                return self.send_on(unit, incident, site, now, access_s, travel_factor)
            return self.send_moved(unit, incident, site, now, u_turnout, access_s, travel_factor)
        recall_s = self.recall_s[unit]  # read before the drill ends: ending it clears the recall delay
        if self.status[unit] == DRILL_AT_BASE:
            self.end_drill(unit, now)
        self.recall_s[unit] = 0.0
        self.set_status(unit, MOBILISING, now)
        self.next_change_s[unit] = math.inf  # until its incident is cleared
        tables = self.tables
        # proficiency and slowdown written out (the hot path), as in expected_turnout_s
        p = self.prof_last[unit] * 0.5 ** ((now - self.prof_at_s[unit]) / self.half_life_s[unit])
        turnout_s = tables.turnout_s[unit](u_turnout) * (1.0 + self.turnout_penalty * (1.0 - p)) + recall_s
        mobilised_at = now + activation_s
        en_route_at = mobilised_at + turnout_s
        road_end_at = en_route_at + tables.travel_out_s[unit][site] * travel_factor(en_route_at)
        on_scene_at = road_end_at + access_s
        self.log.dispatched(now, mobilised_at, en_route_at, road_end_at, on_scene_at, incident, unit, mutual_aid)
        return on_scene_at

    def send_on(self, unit: int, incident: int, site: int, now: float, access_s: float, travel_factor) -> float:
        """Send a unit on from its way back: its return ends where it is (the log keeps its leaving the scene), it is
        en route at once (crew aboard: no turnout) from the next point of its route; return when it is on scene."""
        factor = travel_factor(now)
        road_s, point = self.from_return_s(unit, site, factor)
        self.log.cut_return(self.return_record[unit])
        self._stop_returning(unit)
        self.set_status(unit, MOBILISING, now)
        self.next_change_s[unit] = math.inf
        self.recall_s[unit] = 0.0
        road_end_at = now + road_s
        on_scene_at = road_end_at + access_s
        self.log.sent_on(now, incident, unit, float(self.tables.routes.point_node[point]))
        self.log.dispatched(now, now, now, road_end_at, on_scene_at, incident, unit, False)
        return on_scene_at

    def send_moved(
        self, unit: int, incident: int, site: int, now: float, u_turnout: float, access_s: float, travel_factor
    ) -> float:
        """Send a unit away for move-up: standing at a base, it turns out there and drives from it; driving, it is en
        route at once (crew aboard) and drives on to where it was going, then to the site. Return when on scene."""
        to = self.move_to[unit]
        road_s = self.tables.base_out_s[to][site]
        posted = self.status[unit] == POSTED
        del self.moved[self.unit_type[unit]][unit]
        self.move_to[unit] = None
        self.set_status(unit, MOBILISING, now)
        self.next_change_s[unit] = math.inf
        if posted:
            p = self.prof_last[unit] * 0.5 ** ((now - self.prof_at_s[unit]) / self.half_life_s[unit])
            en_route_at = now + self.tables.turnout_s[unit](u_turnout) * (1.0 + self.turnout_penalty * (1.0 - p))
            road_end_at = en_route_at + road_s * travel_factor(en_route_at)
        else:
            en_route_at = now
            road_end_at = now + max(self.move_end_s[unit] - now, 0.0) + road_s * travel_factor(now)
        self.move_end_s[unit] = math.inf
        on_scene_at = road_end_at + access_s
        self.log.dispatched(now, now, en_route_at, road_end_at, on_scene_at, incident, unit, False)
        return on_scene_at

    def move_up(self, unit: int, post: int, now: float, travel_factor: float) -> None:
        """A unit free at its base leaves now to cover the district of base ``post``."""
        drive_s = self.tables.base_travel_s[self.tables.unit_base[unit]][post] * travel_factor
        self.log.moved(now, MOVE_UP, unit, post)
        self._drive(unit, post, now, drive_s)
        self.moved[self.unit_type[unit]][unit] = None

    def move_home(self, unit: int, now: float, travel_factor: float) -> None:
        """A unit covering another district heads home now: from the base it stands at, or turning back on its way
        there (the way back takes as long as it has driven)."""
        home = self.tables.unit_base[unit]
        if self.status[unit] == POSTED:
            drive_s = self.tables.base_travel_s[self.move_to[unit]][home] * travel_factor
        else:
            drive_s = now - self.move_start_s[unit]
        self.log.moved(now, MOVE_HOME, unit, home)
        self._drive(unit, home, now, drive_s)

    def _drive(self, unit: int, to: int, now: float, drive_s: float) -> None:
        self.set_status(unit, RELOCATING, now)
        self.move_to[unit], self.move_start_s[unit] = to, now
        self.move_end_s[unit] = self.next_change_s[unit] = now + drive_s

    def _arrive(self, unit: int, at_s: float) -> None:
        """A moved unit's drive ends: it stands at the base it covers, or is home (and its drills are due)."""
        to = self.move_to[unit]
        self.move_end_s[unit] = math.inf
        if to != self.tables.unit_base[unit]:
            self.log.moved(at_s, AT_POST, unit, to)
            self.set_status(unit, POSTED, at_s)
            self.next_change_s[unit] = math.inf
            return
        self.log.home_from_move(at_s, unit)
        del self.moved[self.unit_type[unit]][unit]
        self.move_to[unit] = None
        self.set_status(unit, AVAILABLE, at_s)
        self.next_change_s[unit] = self.drills.due_s[unit][self.drill_count[unit]]

    def release(
        self, unit: int, incident: int, site: int, now: float, released_at_s: float, access_s: float, travel_factor
    ) -> float:
        """The unit's incident is cleared now: it leaves the scene at ``released_at_s`` (now, or when it arrives if
        still on its way), takes the last leg back and drives to base; logs it and returns when it is free again
        (back at base; a unit that can be sent on from its way back: when it leaves the scene)."""
        factor = travel_factor(released_at_s + access_s)
        back_at_s = released_at_s + (access_s + self.tables.travel_in_s[unit][site] * factor)
        record = self.log.returned(released_at_s, back_at_s, incident, unit)
        self.set_status(unit, RETURNING, now)
        self.next_change_s[unit] = back_at_s
        if not self.tables.sent_on[unit]:
            return back_at_s
        self.back_at_s[unit], self.road_start_s[unit] = back_at_s, released_at_s + access_s
        self.return_factor[unit], self.return_site[unit], self.return_record[unit] = factor, site, record
        if released_at_s <= now:
            self._start_returning(unit)
        else:
            self.next_change_s[unit] = released_at_s  # it can be sent on once it leaves the scene
        return released_at_s

    def _start_returning(self, unit: int) -> None:
        self.on_the_way_back[unit] = True
        self.returning[self.unit_type[unit]][unit] = None

    def _stop_returning(self, unit: int) -> None:
        self.on_the_way_back[unit] = False
        del self.returning[self.unit_type[unit]][unit]

    # -- a unit's own timeline, played lazily -------------------------------------------------------------------
    def catch_up(self, unit: int, until_s: float, start_drills: bool = True) -> None:
        """Play what the unit does by itself up to ``until_s``: back at base when its return is due, a drill when
        due (or when the unit is next at base), its end after the drill's duration. Nothing moves a dispatched
        unit until its incident is cleared."""
        while (next_s := self.next_change_s[unit]) <= until_s and next_s < math.inf:
            status = self.status[unit]
            if status == RETURNING:
                if self.tables.sent_on[unit] and next_s < self.back_at_s[unit] and not self.on_the_way_back[unit]:
                    # it leaves the scene: from now on it can be sent on
                    self._start_returning(unit)
                    self.next_change_s[unit] = self.back_at_s[unit]
                    continue
                if self.on_the_way_back[unit]:
                    self._stop_returning(unit)
                self.back_at_s[unit] = math.inf
                self.set_status(unit, AVAILABLE, next_s)
                self.next_change_s[unit] = self.drills.due_s[unit][self.drill_count[unit]]
            elif status == AVAILABLE and start_drills:
                at_s = max(next_s, self.status_since[unit])
                window = self.drills.window[unit]
                if window is not None and (at_s := window.next_open_s(at_s)) > until_s:
                    self.next_change_s[unit] = at_s  # due, and waits for its window
                    return
                self.start_drill(unit, at_s, until_s)
            elif status == DRILL_OFF_SITE or status == DRILL_AT_BASE:
                self.end_drill(unit, next_s)
            elif status == RELOCATING:
                self._arrive(unit, next_s)
            else:
                return

    def start_drill(self, unit: int, at_s: float, until_s: float) -> None:
        """Start the drill due at ``at_s``, and play it and the unit's later drills for as long as they are over by
        ``until_s`` (a unit left alone drills on schedule: the hot path, so in one loop over local names)."""
        drills = self.drills
        due_s, duration_s, gain, half_life_s = (
            drills.due_s[unit],
            drills.duration_s[unit],
            drills.gain[unit],
            drills.half_life_s[unit],
        )
        off_site = drills.off_site[unit]
        window = drills.window[unit]
        count = self.drill_count[unit]
        p, p_at_s = self.prof_last[unit], self.prof_at_s[unit]
        log_drill = self.log.drill
        while True:
            count += 1
            end_s = at_s + duration_s
            if end_s > until_s:  # still drilling
                self.log.drill_started(at_s, unit, off_site)
                self.drill_count[unit] = count
                self.prof_last[unit], self.prof_at_s[unit] = p, p_at_s
                self.set_status(unit, DRILL_OFF_SITE if off_site else DRILL_AT_BASE, at_s)
                self.recall_s[unit] = drills.recall_s[unit]
                self.next_change_s[unit] = end_s
                if off_site:
                    self.on_busy_until(unit, end_s)
                return
            p, p_at_s = after_drill(decayed(p, end_s - p_at_s, half_life_s), gain), end_s
            log_drill(at_s, end_s, unit, off_site, p)
            next_due_s = due_s[count]
            if next_due_s > until_s or next_due_s == math.inf:
                break
            next_at_s = max(next_due_s, end_s)
            if window is not None and (next_at_s := window.next_open_s(next_at_s)) > until_s:
                break
            at_s = next_at_s
        self.drill_count[unit] = count
        self.prof_last[unit], self.prof_at_s[unit] = p, p_at_s
        self.set_status(unit, AVAILABLE, p_at_s)
        self.next_change_s[unit] = due_s[count]

    def end_drill(self, unit: int, at_s: float) -> None:
        """Apply the drill's gain (also when an at-base drill is cut short by a call); the next drill is due."""
        level = after_drill(self.proficiency(unit, at_s), self.drills.gain[unit])
        self.prof_last[unit] = level
        self.prof_at_s[unit] = at_s
        self.recall_s[unit] = 0.0
        self.log.drill_ended(at_s, unit, level)
        self.set_status(unit, AVAILABLE, at_s)
        self.next_change_s[unit] = self.drills.due_s[unit][self.drill_count[unit]]
