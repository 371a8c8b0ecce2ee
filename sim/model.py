"""The SimPy model: incidents arrive, units are dispatched, turn out, drive, work the scene, return, and drill.

Life of an incident: it is called in at its time; its response plan (unit types and counts for its type and level)
is filled by the dispatch policy from the available units; what cannot be filled waits (FIFO) and is filled as units
come back. Work starts when the first unit is on scene and lasts the on-scene time drawn for the incident's level
(slowed by that unit's lack of proficiency). If the first unit arrives after the incident's escalation threshold,
the incident rises one level and the extra units of the higher level are called (a second alarm). When the work is
done the incident is cleared: every unit on scene returns to base, requirements still unfilled are withdrawn, and a
unit still on its way turns back on arrival. A unit is dispatchable again once it is back at base.

Every step is appended to the event log; everything else is derived from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import simpy

from sim.dispatch import make_policy
from sim.forces import UnitStatus
from sim.hazards import TURNOUT_DRAWS_PER_INCIDENT, IncidentStream
from sim.readiness import SECONDS_PER_DAY, after_drill, drill_plans, slowdown
from sim.world import World


class EventKind(IntEnum):
    CALL = 0  # incident called in
    QUEUED = 1  # part of the plan could not be filled at once (value: units missing)
    DISPATCH = 2  # unit assigned (value: 1 for mutual aid)
    MOBILISED = 3  # order reached the unit (after the mutual-aid activation delay)
    EN_ROUTE = 4  # turnout done
    AT_ROAD_END = 5  # reached the road node nearest the site; the last leg begins
    ON_SCENE = 6
    ESCALATED = 7  # value: the new level
    CLEARED = 8  # work done (value: requirements withdrawn unfilled)
    RELEASED = 9  # unit leaves the scene
    AT_BASE = 10
    DRILL_START = 11  # value: 1 off site, 0 at base
    DRILL_END = 12  # value: proficiency after the drill


@dataclass(eq=False)
class _Incident:
    index: int
    site: int
    type_name: str
    level: int
    call_at_s: float
    outstanding: dict[str, int]
    dispatched: int = 0
    first_arrival_at_s: float | None = None
    on_scene: list[int] = field(default_factory=list)
    cleared: bool = False
    waiting: bool = False


@dataclass(frozen=True, eq=False)
class SimOutput:
    """What one replication produced: the event log (in time order) and the time each unit spent in each status."""

    events: np.ndarray  # structured EVENT_DTYPE rows; NO_ID where a row has no incident or no unit
    status_time_s: np.ndarray  # (n_units, len(UnitStatus))
    end_s: float
    notes: tuple[str, ...]


_DISPATCH, _MOBILISED, _EN_ROUTE, _AT_ROAD_END, _ON_SCENE, _RELEASED, _AT_BASE = (
    int(k)
    for k in (
        EventKind.DISPATCH,
        EventKind.MOBILISED,
        EventKind.EN_ROUTE,
        EventKind.AT_ROAD_END,
        EventKind.ON_SCENE,
        EventKind.RELEASED,
        EventKind.AT_BASE,
    )
)
EVENT_DTYPE = np.dtype([("time_s", "f8"), ("kind", "i1"), ("incident", "i8"), ("unit", "i8"), ("value", "f8")])
NO_ID = np.iinfo(np.int64).min  # marks "no incident" / "no unit" in the packed log; never a valid index


class Model:
    """One replication: a world, an incident stream, and the SimPy events that play them out.

    A dispatched unit is driven by two timed SimPy events with callbacks (arrival on scene; back at base) rather
    than a generator per dispatch: the phases in between are known when the unit is dispatched, so they are logged
    then and the status time is accounted at the phase boundaries. Incident arrivals and drills are processes.
    Durations are precomputed by inverse CDF from the stream's uniforms, vectorised, before the run.
    """

    def __init__(self, world: World, stream: IncidentStream) -> None:
        self.env = simpy.Environment()
        self.world = world
        self.stream = stream
        self.scenario = world.scenario
        self.policy = make_policy(world)
        readiness = self.scenario.readiness
        self.turnout_penalty = readiness.turnout_penalty
        self.on_scene_penalty = readiness.on_scene_penalty
        self.escalation_bonus = readiness.escalation_bonus
        self.activation_s = self.scenario.dispatch.mutual_aid.activation_delay_min * 60.0
        n = len(world.units)
        self.unit_base = world.units.base.tolist()
        self.unit_type = list(world.units.unit_type)
        self.travel_out_s = world.travel_out_s.tolist()
        self.travel_in_s = world.travel_in_s.tolist()
        self.access_s = world.access_s.tolist()
        self.status = [UnitStatus.AVAILABLE] * n
        self.status_since = [0.0] * n
        self.status_time_s = [[0.0] * len(UnitStatus) for _ in range(n)]
        self.available = [True] * n
        self.turnout_mean_s = [d.mean_s() for d in world.units.turnout]
        self.recall_s = [0.0] * n
        self.turnout_draw_s, self.unit_draws = _turnout_draws(world, stream)
        self.work_s = _work_draws(self.scenario, stream)
        self.drill_plans = drill_plans(self.scenario, world.units.base, world.units.unit_type)
        half_life_s = readiness.half_life_days * SECONDS_PER_DAY
        self.half_life_s = [half_life_s if p is not None else math.inf for p in self.drill_plans]
        self.prof_last = [readiness.initial_proficiency] * n
        self.prof_at_s = [0.0] * n
        self.drill_pending = [False] * n
        self.drill_token = [0] * n
        self.returned = [self.env.event() for _ in range(n)]
        self.waiting: list[_Incident] = []
        self.rows: list[tuple] = []
        self.notes: set[str] = set()
        self._plans: dict[tuple[str, int], dict[str, int]] = {}

    # -- bookkeeping ------------------------------------------------------------------------------------------
    def log(
        self,
        kind: EventKind,
        incident: int | None = None,
        unit: int | None = None,
        value: float = 0.0,
        at_s: float | None = None,
    ) -> None:
        """Append a row; ``at_s`` (default now) may lie ahead for phases fixed at dispatch."""
        self.rows.append(
            (
                self.env.now if at_s is None else at_s,
                kind,
                NO_ID if incident is None else incident,
                NO_ID if unit is None else unit,
                value,
            )
        )

    def set_status(self, unit: int, status: UnitStatus, at_s: float | None = None) -> None:
        """The one place a unit's status changes (now, or at ``at_s`` for a phase boundary already passed);
        accumulates the time spent in the previous status."""
        at_s = self.env.now if at_s is None else at_s
        self.status_time_s[unit][self.status[unit]] += at_s - self.status_since[unit]
        self.status[unit] = status
        self.status_since[unit] = at_s
        self.available[unit] = status == UnitStatus.AVAILABLE or status == UnitStatus.DRILL_AT_BASE

    def proficiency(self, unit: int) -> float:
        half_life_s = self.half_life_s[unit]
        if half_life_s == math.inf:  # a unit without drills keeps its proficiency
            return self.prof_last[unit]
        return self.prof_last[unit] * 0.5 ** ((self.env.now - self.prof_at_s[unit]) / half_life_s)

    def expected_turnout_s(self, unit: int) -> float:
        return self.turnout_mean_s[unit] * slowdown(self.proficiency(unit), self.turnout_penalty) + self.recall_s[unit]

    # -- run --------------------------------------------------------------------------------------------------
    def run(self) -> SimOutput:
        self.env.process(self._incident_source())
        for unit, plan in enumerate(self.drill_plans):
            if plan is not None:
                self.env.process(self._drill_loop(unit, plan))
        self.env.run()
        end_s = max(self.env.now, self.scenario.horizon_s)
        for unit in range(len(self.status)):
            self.set_status(unit, self.status[unit], at_s=end_s)
        events = np.array(self.rows, dtype=EVENT_DTYPE)
        events = events[np.argsort(events["time_s"], kind="stable")]
        return SimOutput(
            events=events,
            status_time_s=np.asarray(self.status_time_s).reshape(-1, len(UnitStatus)),
            end_s=end_s,
            notes=tuple(sorted(self.notes)),
        )

    def _incident_source(self):
        s = self.stream
        call_at_s = s.call_at_s.tolist()
        sites = s.site.tolist()
        levels = s.level.tolist()
        types = [s.type_names[t] for t in s.incident_type.tolist()]
        timeout = self.env.timeout
        for i, at_s in enumerate(call_at_s):
            yield timeout(at_s - self.env.now)
            inc = _Incident(index=i, site=sites[i], type_name=types[i], level=levels[i], call_at_s=at_s, outstanding={})
            self.log(EventKind.CALL, i, value=inc.level)
            self._require(inc, self._plan(inc.type_name, inc.level))

    def _plan(self, type_name: str, level: int) -> dict[str, int]:
        """The response plan, limited to unit types (and counts) the scenario has at all."""
        key = (type_name, level)
        if key not in self._plans:
            plan = {}
            for unit_type, count in sorted(self.scenario.plan(type_name, level).items()):
                have = len(self.policy.units_of_type.get(unit_type, ()))
                if have < count:
                    self.notes.add(
                        f"plan {type_name} level {level} asks for {count} {unit_type}, the scenario has {have}"
                    )
                if have:
                    plan[unit_type] = min(count, have)
            self._plans[key] = plan
        return self._plans[key]

    def _require(self, inc: _Incident, extra: dict[str, int]) -> None:
        for unit_type, count in extra.items():
            inc.outstanding[unit_type] = inc.outstanding.get(unit_type, 0) + count
        self._fill(inc)
        missing = sum(inc.outstanding.values())
        if missing and not inc.waiting:
            inc.waiting = True
            self.waiting.append(inc)
            self.log(EventKind.QUEUED, inc.index, value=missing)

    def _fill(self, inc: _Incident) -> None:
        for unit_type in sorted(inc.outstanding):
            count = inc.outstanding[unit_type]
            for choice in self.policy.choose(inc.site, unit_type, count, self.available, self.expected_turnout_s):
                inc.outstanding[unit_type] -= 1
                self._dispatch(choice.unit, inc, choice.mutual_aid)
        inc.outstanding = {t: c for t, c in inc.outstanding.items() if c > 0}

    def _dispatch(self, unit: int, inc: _Incident, mutual_aid: bool) -> None:
        """Send a unit: its activation, turnout, road travel and last leg are fixed now, logged, and timed."""
        if self.status[unit] == UnitStatus.DRILL_AT_BASE:
            self._end_drill(unit)
        now = self.env.now
        recall_s = self.recall_s[unit]
        self.recall_s[unit] = 0.0
        self.set_status(unit, UnitStatus.MOBILISING)
        k = inc.dispatched
        inc.dispatched += 1
        i = inc.index
        draw = self.turnout_draw_s[self.unit_draws[unit]][i][k % TURNOUT_DRAWS_PER_INCIDENT]
        turnout_s = draw * slowdown(self.proficiency(unit), self.turnout_penalty) + recall_s
        mobilised_at = now + (self.activation_s if mutual_aid else 0.0)
        en_route_at = mobilised_at + turnout_s
        road_end_at = en_route_at + self.travel_out_s[self.unit_base[unit]][inc.site]
        on_scene_at = road_end_at + self.access_s[inc.site]
        append = self.rows.append  # the phases are fixed now: four rows at once (the hot path of the model)
        append((now, _DISPATCH, i, unit, float(mutual_aid)))
        append((mobilised_at, _MOBILISED, i, unit, 0.0))
        append((en_route_at, _EN_ROUTE, i, unit, 0.0))
        append((road_end_at, _AT_ROAD_END, i, unit, 0.0))
        self.env.timeout(on_scene_at - now).callbacks.append(lambda _: self._on_scene(unit, inc, en_route_at))

    def _on_scene(self, unit: int, inc: _Incident, en_route_at: float) -> None:
        self.set_status(unit, UnitStatus.EN_ROUTE, at_s=en_route_at)
        self.set_status(unit, UnitStatus.ON_SCENE)
        self.rows.append((self.env.now, _ON_SCENE, inc.index, unit, 0.0))
        if inc.cleared:  # work finished while this unit was on its way: it turns back
            self._release(unit, inc)
            return
        inc.on_scene.append(unit)
        if inc.first_arrival_at_s is None:
            self._first_arrival(inc, unit)

    def _first_arrival(self, inc: _Incident, unit: int) -> None:
        """Escalate if late; start the work clock."""
        now = self.env.now
        inc.first_arrival_at_s = now
        prof = self.proficiency(unit)
        threshold_s = float(self.stream.escalation_s[inc.index]) * (1.0 + self.escalation_bonus * prof)
        if now - inc.call_at_s > threshold_s and inc.level < 4:
            old = self._plan(inc.type_name, inc.level)
            inc.level += 1
            self.log(EventKind.ESCALATED, inc.index, unit, inc.level)
            new = self._plan(inc.type_name, inc.level)
            self._require(inc, {t: c - old.get(t, 0) for t, c in new.items() if c > old.get(t, 0)})
        work_s = self.work_s[inc.index][inc.level - 1] * slowdown(prof, self.on_scene_penalty)
        self.env.timeout(work_s).callbacks.append(lambda _: self._clear(inc))

    def _clear(self, inc: _Incident) -> None:
        withdrawn = sum(inc.outstanding.values())
        inc.outstanding = {}
        if inc.waiting:
            self.waiting.remove(inc)
            inc.waiting = False
        inc.cleared = True
        self.log(EventKind.CLEARED, inc.index, value=withdrawn)
        for unit in inc.on_scene:
            self._release(unit, inc)

    def _release(self, unit: int, inc: _Incident) -> None:
        self.rows.append((self.env.now, _RELEASED, inc.index, unit, 0.0))
        self.set_status(unit, UnitStatus.RETURNING)
        back_s = self.access_s[inc.site] + self.travel_in_s[self.unit_base[unit]][inc.site]
        self.env.timeout(back_s).callbacks.append(lambda _: self._at_base(unit, inc))

    def _at_base(self, unit: int, inc: _Incident) -> None:
        self.rows.append((self.env.now, _AT_BASE, inc.index, unit, 0.0))
        self.set_status(unit, UnitStatus.AVAILABLE)
        if self.drill_pending[unit]:
            self.drill_pending[unit] = False
            event, self.returned[unit] = self.returned[unit], self.env.event()
            event.succeed()
            return
        self._serve_waiting(unit)

    def _serve_waiting(self, unit: int) -> None:
        """Give a unit that became available to the oldest waiting incident that needs its type."""
        unit_type = self.unit_type[unit]
        for inc in list(self.waiting):
            if not self.available[unit]:
                break
            if inc.outstanding.get(unit_type):
                self._fill(inc)
                if not inc.outstanding:
                    inc.waiting = False
                    self.waiting.remove(inc)

    # -- drills -----------------------------------------------------------------------------------------------
    def _drill_loop(self, unit: int, plan):
        k = 0
        horizon_s = self.scenario.horizon_s
        while (due_s := plan.first_at_s + k * plan.interval_s) < horizon_s:
            k += 1
            if due_s > self.env.now:
                yield self.env.timeout(due_s - self.env.now)
            while self.status[unit] != UnitStatus.AVAILABLE:  # (again if a call took it at the moment it returned)
                self.drill_pending[unit] = True
                yield self.returned[unit]
            yield from self._drill(unit, plan)

    def _drill(self, unit: int, plan):
        off_site = plan.spec.off_site
        self.log(EventKind.DRILL_START, unit=unit, value=float(off_site))
        self.set_status(unit, UnitStatus.DRILL_OFF_SITE if off_site else UnitStatus.DRILL_AT_BASE)
        if not off_site:
            self.recall_s[unit] = plan.spec.recall_delay_min * 60.0
        self.drill_token[unit] += 1
        token = self.drill_token[unit]
        yield self.env.timeout(plan.duration_s)
        if self.drill_token[unit] == token and self.status[unit] in (
            UnitStatus.DRILL_OFF_SITE,
            UnitStatus.DRILL_AT_BASE,
        ):
            self._end_drill(unit)
            self.set_status(unit, UnitStatus.AVAILABLE)
            self._serve_waiting(unit)

    def _end_drill(self, unit: int) -> None:
        """Apply the drill's gain (also when an at-base drill is cut short by a call)."""
        plan = self.drill_plans[unit]
        gain = self.scenario.readiness.drill_gain.get(plan.spec.kind, 0.0)
        level = after_drill(self.proficiency(unit), gain)
        self.prof_last[unit] = level
        self.prof_at_s[unit] = self.env.now
        self.recall_s[unit] = 0.0
        self.drill_token[unit] += 1
        self.log(EventKind.DRILL_END, unit=unit, value=level)


def _turnout_draws(world: World, stream: IncidentStream) -> tuple[list, list[int]]:
    """Turnout seconds for every (incident, k-th dispatch) per distinct turnout distribution, and each unit's one."""
    tables: list = []
    keys: list = []
    unit_draws = []
    for dist in world.units.turnout:
        key = dist.model_dump_json()
        if key not in keys:
            keys.append(key)
            tables.append(dist.ppf_s(stream.u_turnout).tolist())
        unit_draws.append(keys.index(key))
    return tables, unit_draws


def _work_draws(scenario, stream: IncidentStream) -> list[list[float]]:
    """On-scene work seconds of every incident at each level 1-4 (one uniform per incident)."""
    work = np.zeros((len(stream), 4))
    types = scenario.all_incident_types()
    for t, name in enumerate(stream.type_names):
        rows = np.flatnonzero(stream.incident_type == t)
        for level in range(1, 5):
            work[rows, level - 1] = types[name].on_scene(level).ppf_s(stream.u_on_scene[rows])
    return work.tolist()


def simulate(world: World, stream: IncidentStream) -> SimOutput:
    """Run one replication."""
    return Model(world, stream).run()
