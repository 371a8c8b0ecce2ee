"""A plain reference model of docs/model.md: one SimPy process per incident and one per unit, no shortcuts.

It is the oracle the fast model (``sim.model``) must equal on random small scenarios (tests/test_reference_model.py).
It shares only the inputs with it: the scenario, the world's travel tables and unit table, the incident stream and
the duration distributions (``Duration.ppf_s`` / ``mean_s``). Dispatch, the waiting line, drills, proficiency and
traffic are written here again, for clarity and not for speed, and none of ``sim.model`` or ``sim.dispatch`` is used
but the event kinds and unit statuses, to express the comparison.

Rules (docs/model.md; where it is silent, the rule the fast model codes, written down here):

- Dispatch (``nearest_eta``): for each required unit type in alphabetical order of the type names, the free units
  of that type are ranked by (not a local unit within ``local_eta_limit_min``; estimated arrival, plus the
  activation delay for another jurisdiction's unit; unit index), and the best are sent in that order. The estimate
  is the mean turnout x ``1 + turnout_penalty x (1 - proficiency now)``, plus ``recall_delay_min`` if drilling at
  base, plus road time x traffic factor now, plus the last leg. Ties therefore go to the lower unit index.
- The k-th unit sent to an incident (k from 0, over the incident's whole life) draws its turnout from the incident's
  k-th turnout uniform (modulo 16); the draw is slowed by the unit's proficiency at dispatch (after the gain of an
  at-base drill the call ends) and an at-base drill's recall delay is added.
- A unit is free (dispatchable) at base, idle or in an at-base drill. Mutual aid: mobilised after the activation
  delay. Road trips (out from en route, back from the end of the walk back) take road time x the factor of the
  daily traffic window in which they start (half-open windows [from_h, to_h)); the last leg is never slowed.
- The first unit on scene (at one instant: the one sent first) starts the work clock, which runs the on-scene time
  of the incident's level (after any escalation) x ``1 + on_scene_penalty x (1 - its proficiency)``. If it arrives
  later than the threshold x ``1 + escalation_bonus x its proficiency`` after the call, the incident rises one level
  (at most 4) and the units by which the new level's capped plan exceeds the old one's are required.
- Plans are capped, type by type, at the number of units the scenario has of that type (a type it lacks is dropped).
- An incident whose requirements cannot all be filled joins the waiting line (logged QUEUED with the count missing)
  and keeps its place until they are filled or it is cleared: "oldest waiting first" is the order of joining.
- Clearing: requirements still unfilled are withdrawn; units on scene leave; units on their way leave on arrival.
- Sent on from the way back (``dispatch.from_return``): a local unit is free from the moment it leaves the scene
  until it is back at base. It walks the last leg back to the road node, then drives its return route (the world's
  ``routes``: points with their time to base) at the traffic factor of the moment it began to drive. Sent on, it is
  mobilised and en route at once (no turnout) and drives on to the first point of the route it has not passed, then
  to the new site's road node (the point's time to it, x the traffic factor now), then the last leg. It is ranked
  by that estimate (walk + rest of the edge + road + last leg). Its return never reaches base (no AT_BASE row);
  a SENT_ON row (value: the point's road node) comes before its DISPATCH.
- Move-up (``dispatch.move_up``): a district is a local base and a unit type it houses (of ``unit_types``). It is
  covered while one of its own units of the type is free at base (idle or drilling there) or a cover unit is
  assigned to it. A dispatch of a unit standing for a district (free at its base; a cover unit standing at or
  driving to the base it covers) that leaves the district uncovered sets its check ``uncovered_after_min`` later
  (the latest check counts). At a check, if still uncovered, the local unit of the type idle at another base, whose
  base keeps ``donor_keeps`` other units of the type free at base, with the shortest drive between the bases (then
  lower index) leaves (MOVE_UP, value: the base), drives ``base_travel_s`` x the traffic factor now and stands there
  (AT_POST); it is free throughout. Whenever one of a district's own units of the type is free at base again (back
  from a call, from an off-site drill or from a move), a cover unit of the district heads home (MOVE_HOME, value:
  home; from the post: the drive between the bases x the factor now; still driving there: as long as it has driven)
  and is at base (AT_BASE of no incident) when it arrives. These steps come last in an instant: heading home first,
  then the checks, each by base and type. Sent while standing: turnout and road from the post; while driving: no
  turnout, the rest of the drive plus the road from where it drives. After a call it drives to its own base.
- Drills: unit k of the n units drilling under one spec (a base's own spec, else the scenario's; only the listed
  unit types) is first due at ``(k + 0.5) / n x interval`` (or ``k x stagger_days`` modulo the interval), then every
  interval, while before the horizon. A drill due while the unit is out starts when it is next free at base and no
  waiting incident takes it. With a drill window (hours ``[from_h, to_h)`` of some weekdays, the clock starting at
  midnight of ``start_date``), a drill starts at the first moment from then on that lies in the window.
  Proficiency ``p(t) = p_last x 2^(-(t - t_last) / half_life)`` for units with a drill plan (others keep the
  initial proficiency); a drill ending (also cut short by a call) sets ``p + gain (1 - p)``.

One instant is played in phases, so that what happens at equal times does not depend on the order in which the
events were scheduled:
1. physical steps: units reach base or the scene, drills end, calls come in, work ends (clearing);
2. the waiting line is served, oldest first, from the units free now (units back at one instant are all free
   together; an incident cleared now is no longer in the line);
3. drills due start, for units still free at base (calls before drills);
4. first arrivals are settled (the first unit among those arriving now), escalation;
5. the new requirements of this instant (calls, escalations) are filled in incident order; what cannot be filled
   joins the line;
6. move-up: cover units head home, then the checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.eventlog import EventKind
from sim.forces import UnitStatus

SECONDS_PER_DAY = 86400.0
TURNOUT_UNIFORMS = 16  # per incident, used in turn by the units sent to it
_PHYSICAL, _SERVE_LINE, _DRILLS, _FIRST_ARRIVAL, _NEW_NEEDS, _COVER = 1, 2, 3, 4, 5, 6  # SimPy priorities in an instant
_HOME_BACK, _CHECK = 0, 1  # move-up steps at one instant, in this order


class _Instant(simpy.Event):
    """An event at ``at_s`` in phase ``phase`` of that instant (a SimPy priority: lower runs first)."""

    def __init__(self, env: simpy.Environment, at_s: float, phase: int) -> None:
        super().__init__(env)
        self._ok, self._value = True, None
        env.schedule(self, phase, at_s - env.now)


@dataclass(eq=False)
class _Unit:
    index: int
    base: int
    unit_type: str
    local: bool
    turnout: object  # Duration
    turnout_mean_s: float
    drill_due_s: list[float]  # when each drill is due, in order
    drill_duration_s: float = 0.0
    drill_off_site: bool = True
    drill_recall_s: float = 0.0
    drill_gain: float = 0.0
    drill_window: object = None  # the spec's DrillWindow, or None
    half_life_s: float = math.inf
    proficiency_last: float = 1.0
    proficiency_at_s: float = 0.0
    drills_begun: int = 0
    free: bool = True  # at base and not yet ordered out (idle or drilling at base), or on its way back
    drilling_at_base: bool = False
    on_way_back: bool = False  # free on its way back (from_return): from where
    return_site: int = 0
    road_start_s: float = 0.0
    return_factor: float = 1.0
    order: simpy.Event | None = None
    move_order: simpy.Event | None = None  # move-up: leave to cover a district, or head home
    move_to: int | None = None  # the base it drives to or stands at, while away for move-up
    move_start_s: float = 0.0
    move_end_s: float = 0.0
    status: UnitStatus = UnitStatus.AVAILABLE
    status_since_s: float = 0.0
    time_in_status_s: list[float] = field(default_factory=lambda: [0.0] * len(UnitStatus))


@dataclass(eq=False)
class _Incident:
    index: int
    site: int
    type_name: str
    level: int
    call_at_s: float
    needs: dict[str, int] = field(default_factory=dict)  # unit type -> count still to send
    sent: int = 0  # units sent so far
    first_arrival: simpy.Event | None = None
    arrivals: list[tuple[float, int, _Unit]] = field(default_factory=list)  # (time, order sent, unit)
    cleared: bool = False
    done: simpy.Event | None = None


@dataclass(frozen=True)
class ReferenceOutput:
    rows: list[tuple[float, EventKind, int | None, int | None, float]]  # (time_s, kind, incident, unit, value)
    status_time_s: np.ndarray  # (n_units, len(UnitStatus))
    end_s: float


class ReferenceModel:
    """One replication of a world and an incident stream, played by SimPy processes."""

    def __init__(self, world, stream) -> None:
        self.env = simpy.Environment()
        scenario = self.scenario = world.scenario
        self.stream = stream
        self.travel_out_s = world.travel_out_s.tolist()
        self.travel_in_s = world.travel_in_s.tolist()
        self.access_s = world.access_s.tolist()
        self.from_return = scenario.dispatch.from_return
        self.routes = world.routes
        readiness = scenario.readiness
        self.turnout_penalty = readiness.turnout_penalty
        self.on_scene_penalty = readiness.on_scene_penalty
        self.escalation_bonus = readiness.escalation_bonus
        aid = scenario.dispatch.mutual_aid
        self.activation_s = aid.activation_delay_min * 60.0
        self.local_limit_s = aid.local_eta_limit_min * 60.0
        self.incident_types = scenario.all_incident_types()
        self.units = [
            _Unit(
                index=u,
                base=int(world.units.base[u]),
                unit_type=world.units.unit_type[u],
                local=bool(world.units.local[u]),
                turnout=world.units.turnout[u],
                turnout_mean_s=world.units.turnout[u].mean_s(),
                drill_due_s=[],
                proficiency_last=readiness.initial_proficiency,
            )
            for u in range(len(world.units))
        ]
        self._plan_drills(world)
        self.fleet: dict[str, list[_Unit]] = {}
        for unit in self.units:
            self.fleet.setdefault(unit.unit_type, []).append(unit)
        self.rows: list[tuple[float, EventKind, int | None, int | None, float]] = []
        self.line: list[_Incident] = []  # waiting incidents, in order of joining
        self.fresh: list[_Incident] = []  # incidents with new requirements at this instant
        self.serve_pending = False  # the line is to be served this instant
        self.move_up = scenario.dispatch.move_up
        self.base_travel_s = None if world.base_travel_s is None else world.base_travel_s.tolist()
        self.districts: dict[tuple[int, str], list[_Unit]] = {}
        if self.move_up is not None:
            for unit in self.units:
                if unit.local and (self.move_up.unit_types is None or unit.unit_type in self.move_up.unit_types):
                    self.districts.setdefault((unit.base, unit.unit_type), []).append(unit)
        self.cover: dict[tuple[int, str], _Unit] = {}
        self.check_at_s: dict[tuple[int, str], float] = {}
        self.cover_tasks: dict[float, set[tuple[int, int, str]]] = {}

    # -- set-up -----------------------------------------------------------------------------------------------
    def _plan_drills(self, world) -> None:
        """Each unit's drill due times: its base's spec, else the scenario's, staggered within each spec."""
        scenario = self.scenario
        groups: dict[object, list[_Unit]] = {}
        specs = {}
        for unit in self.units:
            own = world.bases[unit.base].drills
            key, spec = (("base", unit.base), own) if own is not None else ("scenario", scenario.drills)
            if spec is not None and (spec.unit_types is None or unit.unit_type in spec.unit_types):
                groups.setdefault(key, []).append(unit)
                specs[key] = spec
        for key, members in groups.items():
            spec = specs[key]
            interval_s = spec.interval_days * SECONDS_PER_DAY
            for k, unit in enumerate(members):
                if spec.stagger_days is None:
                    first_s = (k + 0.5) / len(members) * interval_s
                else:
                    first_s = (k * spec.stagger_days * SECONDS_PER_DAY) % interval_s
                j = 0
                while first_s + j * interval_s < scenario.horizon_s:
                    unit.drill_due_s.append(first_s + j * interval_s)
                    j += 1
                unit.drill_duration_s = spec.duration_h * 3600.0
                unit.drill_off_site = spec.off_site
                unit.drill_recall_s = 0.0 if spec.off_site else spec.recall_delay_min * 60.0
                unit.drill_gain = scenario.readiness.drill_gain.get(spec.kind, 0.0)
                unit.drill_window = spec.window
                unit.half_life_s = scenario.readiness.half_life_days * SECONDS_PER_DAY

    # -- small pure rules -------------------------------------------------------------------------------------
    def in_window(self, unit: _Unit, at_s: float) -> float:
        """The first moment from ``at_s`` on at which the unit's drill window is open."""
        window = unit.drill_window
        if window is None:
            return at_s
        names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        first_weekday = self.scenario.start_date.weekday()
        day = math.floor(at_s / SECONDS_PER_DAY)
        while True:
            if names[(first_weekday + day) % 7] in window.weekdays:
                opens_s = day * SECONDS_PER_DAY + window.from_h * 3600.0
                closes_s = day * SECONDS_PER_DAY + window.to_h * 3600.0
                if at_s < closes_s:
                    return max(at_s, opens_s)
            day += 1

    def proficiency(self, unit: _Unit, at_s: float) -> float:
        return unit.proficiency_last * 2.0 ** (-(at_s - unit.proficiency_at_s) / unit.half_life_s)

    def traffic_factor(self, at_s: float) -> float:
        hour_s = at_s % SECONDS_PER_DAY
        for window in self.scenario.traffic:
            if window.from_h * 3600.0 <= hour_s < window.to_h * 3600.0:
                return window.travel_factor
        return 1.0

    def capped_plan(self, type_name: str, level: int) -> dict[str, int]:
        plan = self.scenario.plan(type_name, level)
        return {t: min(c, len(self.fleet[t])) for t, c in plan.items() if t in self.fleet}

    def from_way_back(self, unit: _Unit, site: int, factor: float) -> tuple[float, int]:
        """Seconds from where a unit on its way back is now to a site's road node, and the route point it turns at."""
        routes, now = self.routes, self.env.now
        k = unit.base * routes.n_sites + unit.return_site
        entries = range(int(routes.offset[k]), int(routes.offset[k + 1]))
        whole_s = float(routes.to_base_s[entries[0]])
        elapsed_s = max(now - unit.road_start_s, 0.0) / unit.return_factor
        passed_s = 0.0
        for e in entries:  # the first point not passed yet (the last: the base)
            passed_s = max(passed_s, whole_s - float(routes.to_base_s[e]))
            if passed_s >= elapsed_s or e == entries[-1]:
                break
        point = int(routes.point[e])
        walk_s = max(unit.road_start_s - now, 0.0)
        ahead_s = max(passed_s - elapsed_s, 0.0) * unit.return_factor
        return walk_s + ahead_s + float(routes.point_to_site_s[point, site]) * factor, point

    def rank(self, unit: _Unit, site: int, factor: float) -> tuple[bool, float, int]:
        """Sort key of a free unit for a site: local units within the limit first, then by estimate, then index."""
        if unit.on_way_back:
            eta_s = self.from_way_back(unit, site, factor)[0] + self.access_s[site]
            return (eta_s > self.local_limit_s, eta_s, unit.index)
        p = self.proficiency(unit, self.env.now)
        turnout_s = unit.turnout_mean_s * (1.0 + self.turnout_penalty * (1.0 - p))
        if unit.move_to is not None:  # away for move-up
            road_s = self.travel_out_s[unit.move_to][site] * factor + self.access_s[site]
            if unit.status == UnitStatus.POSTED:
                eta_s = turnout_s + road_s
            else:
                eta_s = max(unit.move_end_s - self.env.now, 0.0) + road_s
            return (eta_s > self.local_limit_s, eta_s, unit.index)
        if unit.drilling_at_base:
            turnout_s += unit.drill_recall_s
        eta_s = turnout_s + self.travel_out_s[unit.base][site] * factor + self.access_s[site]
        if unit.local:
            return (eta_s > self.local_limit_s, eta_s, unit.index)
        return (True, eta_s + self.activation_s, unit.index)

    # -- bookkeeping ------------------------------------------------------------------------------------------
    def log(self, kind: EventKind, incident: int | None = None, unit: int | None = None, value: float = 0.0) -> None:
        self.rows.append((self.env.now, kind, incident, unit, float(value)))

    def set_status(self, unit: _Unit, status: UnitStatus) -> None:
        now = self.env.now
        unit.time_in_status_s[unit.status] += now - unit.status_since_s
        unit.status, unit.status_since_s = status, now

    def end_drill(self, unit: _Unit) -> None:
        """A drill ends now (at its end, or cut short by a call): it counts."""
        p = self.proficiency(unit, self.env.now)
        unit.proficiency_last = p + unit.drill_gain * (1.0 - p)
        unit.proficiency_at_s = self.env.now
        unit.drilling_at_base = False
        self.log(EventKind.DRILL_END, unit=unit.index, value=unit.proficiency_last)
        self.set_status(unit, UnitStatus.AVAILABLE)

    # -- run --------------------------------------------------------------------------------------------------
    def run(self) -> ReferenceOutput:
        for unit in self.units:
            self.env.process(self.unit_life(unit))
        for i in range(len(self.stream)):
            self.env.process(self.incident_life(i))
        self.env.run()
        end_s = max([self.scenario.horizon_s] + [row[0] for row in self.rows])
        status_time_s = np.zeros((len(self.units), len(UnitStatus)))
        for unit in self.units:
            unit.time_in_status_s[unit.status] += end_s - unit.status_since_s
            status_time_s[unit.index] = unit.time_in_status_s
        return ReferenceOutput(rows=self.rows, status_time_s=status_time_s, end_s=end_s)

    # -- incidents --------------------------------------------------------------------------------------------
    def incident_life(self, i: int):
        stream, env = self.stream, self.env
        yield env.timeout(float(stream.call_at_s[i]))
        inc = _Incident(
            index=i,
            site=int(stream.site[i]),
            type_name=stream.type_names[int(stream.incident_type[i])],
            level=int(stream.level[i]),
            call_at_s=env.now,
            first_arrival=env.event(),
            done=env.event(),
        )
        self.log(EventKind.CALL, i, value=inc.level)
        self.require(inc, self.capped_plan(inc.type_name, inc.level))

        yield inc.first_arrival
        yield _Instant(env, env.now, _FIRST_ARRIVAL)  # every unit arriving at this instant has arrived
        first_at_s = inc.arrivals[0][0]
        _, _, first = min(a for a in inc.arrivals if a[0] == first_at_s)  # the one sent first
        p = self.proficiency(first, first_at_s)
        threshold_s = float(stream.escalation_s[i]) * (1.0 + self.escalation_bonus * p)
        if first_at_s - inc.call_at_s > threshold_s and inc.level < 4:
            old = self.capped_plan(inc.type_name, inc.level)
            inc.level += 1
            self.log(EventKind.ESCALATED, i, first.index, inc.level)
            new = self.capped_plan(inc.type_name, inc.level)
            self.require(inc, {t: c - old.get(t, 0) for t, c in new.items() if c > old.get(t, 0)})
        on_scene = self.incident_types[inc.type_name].on_scene(inc.level)
        work_s = float(on_scene.ppf_s(float(stream.u_on_scene[i]))) * (1.0 + self.on_scene_penalty * (1.0 - p))
        yield env.timeout(work_s)

        withdrawn = sum(inc.needs.values())
        inc.needs = {}
        if inc in self.line:
            self.line.remove(inc)
        self.log(EventKind.CLEARED, i, value=withdrawn)
        inc.cleared = True
        inc.done.succeed()

    def arrived(self, inc: _Incident, unit: _Unit, order: int) -> None:
        inc.arrivals.append((self.env.now, order, unit))
        if not inc.first_arrival.triggered:
            inc.first_arrival.succeed()

    # -- dispatch ---------------------------------------------------------------------------------------------
    def require(self, inc: _Incident, extra: dict[str, int]) -> None:
        """New requirements: filled in phase 5 of this instant."""
        if not extra:
            return
        for unit_type, count in extra.items():
            inc.needs[unit_type] = inc.needs.get(unit_type, 0) + count
        if not self.fresh:
            _Instant(self.env, self.env.now, _NEW_NEEDS).callbacks.append(self._fill_fresh)
        if inc not in self.fresh:
            self.fresh.append(inc)

    def _fill_fresh(self, _event) -> None:
        fresh, self.fresh = sorted(self.fresh, key=lambda inc: inc.index), []
        for inc in fresh:
            self.fill(inc)
            if inc.needs and inc not in self.line:
                self.line.append(inc)
                self.log(EventKind.QUEUED, inc.index, value=sum(inc.needs.values()))
            elif not inc.needs and inc in self.line:
                self.line.remove(inc)

    def unit_free(self, unit: _Unit) -> None:
        """A unit is free at base again: the waiting line is served in phase 2 of this instant."""
        if self.line and not self.serve_pending:
            self.serve_pending = True
            _Instant(self.env, self.env.now, _SERVE_LINE).callbacks.append(self._serve_line)

    def _serve_line(self, _event) -> None:
        self.serve_pending = False
        for inc in list(self.line):
            self.fill(inc)
            if not inc.needs:
                self.line.remove(inc)

    def fill(self, inc: _Incident) -> None:
        """Send the best free units for each requirement of the incident (types in alphabetical order)."""
        factor = self.traffic_factor(self.env.now)
        for unit_type in sorted(inc.needs):
            free = [unit for unit in self.fleet[unit_type] if unit.free]
            chosen = sorted(free, key=lambda unit: self.rank(unit, inc.site, factor))[: inc.needs[unit_type]]
            for unit in chosen:
                post = self.standing_for(unit)
                unit.free = False
                if post is not None:
                    self.left_district((post, unit.unit_type), unit)
                if unit.on_way_back:
                    point = self.from_way_back(unit, inc.site, factor)[1]
                    self.log(EventKind.SENT_ON, inc.index, unit.index, float(self.routes.point_node[point]))
                self.log(EventKind.DISPATCH, inc.index, unit.index, 0.0 if unit.local else 1.0)  # in order sent
                unit.order.succeed((inc, inc.sent))
                inc.sent += 1
            inc.needs[unit_type] -= len(chosen)
            if inc.needs[unit_type] == 0:
                del inc.needs[unit_type]

    # -- move-up ----------------------------------------------------------------------------------------------
    def standing_for(self, unit: _Unit) -> int | None:
        """The base whose district a free unit stands for: its own at base, the one it covers (or drives to)."""
        if self.move_up is None or not unit.free or unit.on_way_back:
            return None
        if unit.status in (UnitStatus.AVAILABLE, UnitStatus.DRILL_AT_BASE):
            return unit.base
        if unit.move_to is not None and unit.move_to != unit.base:
            return unit.move_to
        return None

    def covered(self, district: tuple[int, str]) -> bool:
        at_base = (UnitStatus.AVAILABLE, UnitStatus.DRILL_AT_BASE)
        return district in self.cover or any(u.free and u.status in at_base for u in self.districts[district])

    def left_district(self, district: tuple[int, str], unit: _Unit) -> None:
        if district not in self.districts:
            return
        if self.cover.get(district) is unit:
            del self.cover[district]
        if not self.covered(district):
            at_s = self.env.now + self.move_up.uncovered_after_min * 60.0
            self.check_at_s[district] = at_s
            self.cover_task(at_s, _CHECK, district)

    def free_at_home(self, unit: _Unit) -> None:
        """A unit is free at its base again now: its district's cover may go home (last step of the instant)."""
        if (unit.base, unit.unit_type) in self.districts:
            self.cover_task(self.env.now, _HOME_BACK, (unit.base, unit.unit_type))

    def cover_task(self, at_s: float, task: int, district: tuple[int, str]) -> None:
        if at_s not in self.cover_tasks:
            self.cover_tasks[at_s] = set()
            _Instant(self.env, at_s, _COVER).callbacks.append(self._cover_phase)
        self.cover_tasks[at_s].add((task, *district))

    def _cover_phase(self, _event) -> None:
        now = self.env.now
        at_base = (UnitStatus.AVAILABLE, UnitStatus.DRILL_AT_BASE)
        for task, base, unit_type in sorted(self.cover_tasks.pop(now)):
            district = (base, unit_type)
            own_free = any(u.free and u.status in at_base for u in self.districts[district])
            if task == _HOME_BACK:
                if district in self.cover and own_free:
                    self.head_home(self.cover.pop(district))
            elif self.check_at_s.get(district) == now:
                del self.check_at_s[district]
                if not self.covered(district):
                    self.send_cover(district)

    def send_cover(self, district: tuple[int, str]) -> None:
        base, unit_type = district
        at_base = (UnitStatus.AVAILABLE, UnitStatus.DRILL_AT_BASE)
        donors = []
        for unit in self.fleet[unit_type]:
            if unit.base == base or not unit.local or not unit.free or unit.status != UnitStatus.AVAILABLE:
                continue
            others = [u for u in self.districts.get((unit.base, unit_type), []) if u is not unit]
            if sum(1 for u in others if u.free and u.status in at_base) >= self.move_up.donor_keeps:
                donors.append((self.base_travel_s[unit.base][base], unit.index, unit))
        if not donors:
            return
        _, _, unit = min(donors, key=lambda d: d[:2])
        self.log(EventKind.MOVE_UP, unit=unit.index, value=base)
        self.set_status(unit, UnitStatus.RELOCATING)
        unit.move_to, unit.move_start_s = base, self.env.now
        unit.move_end_s = self.env.now + self.base_travel_s[unit.base][base] * self.traffic_factor(self.env.now)
        self.cover[district] = unit
        unit.move_order.succeed()

    def head_home(self, unit: _Unit) -> None:
        now = self.env.now
        if unit.status == UnitStatus.POSTED:
            drive_s = self.base_travel_s[unit.move_to][unit.base] * self.traffic_factor(now)
        else:
            drive_s = now - unit.move_start_s
        self.log(EventKind.MOVE_HOME, unit=unit.index, value=unit.base)
        self.set_status(unit, UnitStatus.RELOCATING)
        unit.move_to, unit.move_start_s, unit.move_end_s = unit.base, now, now + drive_s
        unit.move_order.succeed()

    def away(self, unit: _Unit):
        """A unit away for move-up, free throughout: returns (incident, order, 0, road seconds or None, origin) if
        it is sent, None when it is home again."""
        env = self.env
        while True:
            unit.move_order = env.event()
            drive = env.timeout(unit.move_end_s - env.now)
            fired = yield unit.order | drive | unit.move_order
            if unit.order in fired:
                inc, order = unit.order.value
                return self.sent_from_move(unit, inc, order)
            if unit.move_order in fired:
                continue  # turned home (head_home set where it drives)
            if unit.move_to == unit.base:
                unit.move_to = None
                self.log(EventKind.AT_BASE, unit=unit.index)
                self.set_status(unit, UnitStatus.AVAILABLE)
                self.free_at_home(unit)
                return None
            self.log(EventKind.AT_POST, unit=unit.index, value=unit.move_to)
            self.set_status(unit, UnitStatus.POSTED)
            unit.move_order = env.event()
            fired = yield unit.order | unit.move_order
            if unit.order in fired:
                inc, order = unit.order.value
                return self.sent_from_move(unit, inc, order)

    def sent_from_move(self, unit: _Unit, inc: _Incident, order: int):
        origin, now = unit.move_to, self.env.now
        unit.move_to = None
        if unit.status == UnitStatus.POSTED:
            return inc, order, 0.0, None, origin
        road_s = max(unit.move_end_s - now, 0.0) + self.travel_out_s[origin][inc.site] * self.traffic_factor(now)
        return inc, order, 0.0, road_s, origin

    # -- units ------------------------------------------------------------------------------------------------
    def unit_life(self, unit: _Unit):
        while True:
            inc, order, recall_s, road_s, origin = yield from self.at_base(unit)
            sent_on = yield from self.respond(unit, inc, order, recall_s, road_s, origin)
            while sent_on is not None:  # sent on from its way back: (incident, order sent, road seconds)
                sent_on = yield from self.respond(unit, *sent_on)

    def at_base(self, unit: _Unit):
        """Wait at base for an order, drilling when a drill is due, away when moved up; return (incident, order
        sent, recall delay, road seconds if sent while driving, the base it is sent from)."""
        env = self.env
        while True:
            unit.order, unit.move_order = env.event(), env.event()
            unit.free = True
            waits = [unit.order, unit.move_order]
            if unit.drills_begun < len(unit.drill_due_s):
                due_s = self.in_window(unit, max(unit.drill_due_s[unit.drills_begun], env.now))
                waits.append(_Instant(env, due_s, _DRILLS))
            fired = yield simpy.AnyOf(env, waits)
            if unit.order in fired:
                inc, order = unit.order.value
                return inc, order, 0.0, None, unit.base
            if unit.move_order in fired:
                sent = yield from self.away(unit)
                if sent is not None:
                    return sent
                continue
            unit.drills_begun += 1
            self.log(EventKind.DRILL_START, unit=unit.index, value=1.0 if unit.drill_off_site else 0.0)
            if unit.drill_off_site:
                unit.free = False
                self.set_status(unit, UnitStatus.DRILL_OFF_SITE)
                yield env.timeout(unit.drill_duration_s)
                self.end_drill(unit)
                self.unit_free(unit)
                self.free_at_home(unit)
                continue
            unit.drilling_at_base = True
            self.set_status(unit, UnitStatus.DRILL_AT_BASE)
            fired = yield unit.order | env.timeout(unit.drill_duration_s)
            self.end_drill(unit)
            if unit.order in fired:  # the call ends the drill
                inc, order = unit.order.value
                return inc, order, unit.drill_recall_s, None, unit.base

    def respond(
        self,
        unit: _Unit,
        inc: _Incident,
        order: int,
        recall_s: float,
        road_s: float | None = None,
        origin: int | None = None,
    ):
        """Turn out, drive (from base ``origin``, default its own), walk the last leg, work until cleared, drive back
        (``road_s``: sent while driving, no turnout, that many seconds to the site's road node). Returns what it was
        sent on to from its way back, if it was."""
        origin = unit.base if origin is None else origin
        env, i = self.env, inc.index
        p = self.proficiency(unit, env.now)
        self.set_status(unit, UnitStatus.MOBILISING)
        if not unit.local:
            yield env.timeout(self.activation_s)
        self.log(EventKind.MOBILISED, i, unit.index)
        if road_s is None:
            u = float(self.stream.u_turnout[i, order % TURNOUT_UNIFORMS])
            turnout_s = float(unit.turnout.ppf_s(u)) * (1.0 + self.turnout_penalty * (1.0 - p)) + recall_s
            yield env.timeout(turnout_s)
        self.log(EventKind.EN_ROUTE, i, unit.index)
        self.set_status(unit, UnitStatus.EN_ROUTE)
        if road_s is None:
            road_s = self.travel_out_s[origin][inc.site] * self.traffic_factor(env.now)
        yield env.timeout(road_s)
        self.log(EventKind.AT_ROAD_END, i, unit.index)
        yield env.timeout(self.access_s[inc.site])
        self.log(EventKind.ON_SCENE, i, unit.index)
        self.set_status(unit, UnitStatus.ON_SCENE)
        self.arrived(inc, unit, order)
        if not inc.cleared:
            yield inc.done
        self.log(EventKind.RELEASED, i, unit.index)
        self.set_status(unit, UnitStatus.RETURNING)
        access_s = self.access_s[inc.site]
        factor = self.traffic_factor(env.now + access_s)
        back = env.timeout(access_s + self.travel_in_s[unit.base][inc.site] * factor)
        if self.from_return and unit.local:  # free from here on, until back at base
            unit.return_site, unit.road_start_s, unit.return_factor = inc.site, env.now + access_s, factor
            unit.order, unit.free, unit.on_way_back = env.event(), True, True
            self.unit_free(unit)
            fired = yield unit.order | back
            if unit.order in fired:
                new_inc, new_order = unit.order.value
                road_s = self.from_way_back(unit, new_inc.site, self.traffic_factor(env.now))[0]
                unit.on_way_back = False
                return new_inc, new_order, 0.0, road_s
            unit.on_way_back = False
        else:
            yield back
        self.log(EventKind.AT_BASE, i, unit.index)
        self.set_status(unit, UnitStatus.AVAILABLE)
        self.unit_free(unit)
        self.free_at_home(unit)
        return None


def simulate_reference(world, stream) -> ReferenceOutput:
    """Run one replication with the reference model."""
    return ReferenceModel(world, stream).run()
