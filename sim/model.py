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

from dataclasses import dataclass
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


@dataclass
class _Incident:
    index: int
    site: int
    type_name: str
    level: int
    call_at_s: float
    escalation_s: float
    u_on_scene: float
    outstanding: dict[str, int]
    dispatched: int = 0
    arrived: int = 0
    first_arrival_at_s: float | None = None
    cleared: simpy.Event | None = None
    waiting: bool = False


@dataclass(frozen=True, eq=False)
class SimOutput:
    """What one replication produced: the event log and the time each unit spent in each status."""

    events: np.ndarray  # structured: time_s, kind, incident, unit, value (incident/unit -1 never used: see mask)
    status_time_s: np.ndarray  # (n_units, len(UnitStatus))
    end_s: float
    notes: tuple[str, ...]


EVENT_DTYPE = np.dtype([("time_s", "f8"), ("kind", "i1"), ("incident", "i8"), ("unit", "i8"), ("value", "f8")])
NO_ID = np.iinfo(np.int64).min  # marks "no incident" / "no unit" in the packed log; never a valid index


class Model:
    """One replication: a world, an incident stream, and the SimPy processes that play them out."""

    def __init__(self, world: World, stream: IncidentStream) -> None:
        self.env = simpy.Environment()
        self.world = world
        self.stream = stream
        self.scenario = world.scenario
        self.policy = make_policy(world)
        self.incident_types = self.scenario.all_incident_types()
        n = len(world.units)
        self.status = [UnitStatus.AVAILABLE] * n
        self.status_since = np.zeros(n)
        self.status_time_s = np.zeros((n, len(UnitStatus)))
        self.available = np.ones(n, dtype=bool)
        self.turnout_mean_s = np.asarray([d.mean_s() for d in world.units.turnout])
        self.recall_s = np.zeros(n)
        readiness = self.scenario.readiness
        self.drill_plans = drill_plans(self.scenario, world.units.base, world.units.unit_type)
        drills_on = np.asarray([p is not None for p in self.drill_plans], dtype=bool)
        self.half_life_s = np.where(drills_on, readiness.half_life_days * SECONDS_PER_DAY, np.inf)
        self.prof_last = np.full(n, readiness.initial_proficiency)
        self.prof_at_s = np.zeros(n)
        self.drill_pending = [False] * n
        self.drill_token = [0] * n
        self.returned = [self.env.event() for _ in range(n)]
        self.waiting: list[_Incident] = []
        self.rows: list[tuple] = []
        self.notes: set[str] = set()

    # -- bookkeeping ------------------------------------------------------------------------------------------
    def log(self, kind: EventKind, incident: int | None = None, unit: int | None = None, value: float = 0.0) -> None:
        self.rows.append(
            (
                self.env.now,
                int(kind),
                NO_ID if incident is None else incident,
                NO_ID if unit is None else unit,
                value,
            )
        )

    def set_status(self, unit: int, status: UnitStatus) -> None:
        """The one place a unit's status changes; accumulates the time spent in the previous status."""
        now = self.env.now
        self.status_time_s[unit, self.status[unit]] += now - self.status_since[unit]
        self.status[unit] = status
        self.status_since[unit] = now
        self.available[unit] = status in (UnitStatus.AVAILABLE, UnitStatus.DRILL_AT_BASE)

    def proficiency(self, units: np.ndarray | int | slice = slice(None)) -> np.ndarray:
        return self.prof_last[units] * 0.5 ** ((self.env.now - self.prof_at_s[units]) / self.half_life_s[units])

    def expected_turnout_s(self) -> np.ndarray:
        penalty = self.scenario.readiness.turnout_penalty
        return self.turnout_mean_s * (1.0 + penalty * (1.0 - self.proficiency())) + self.recall_s

    # -- run --------------------------------------------------------------------------------------------------
    def run(self) -> SimOutput:
        self.env.process(self._incident_source())
        for unit, plan in enumerate(self.drill_plans):
            if plan is not None:
                self.env.process(self._drill_loop(unit, plan))
        self.env.run()
        end_s = max(self.env.now, self.scenario.horizon_s)
        self.env = simpy.Environment(initial_time=end_s)
        for unit in range(len(self.status)):
            self.set_status(unit, self.status[unit])
        events = np.array(self.rows, dtype=EVENT_DTYPE)
        return SimOutput(events=events, status_time_s=self.status_time_s, end_s=end_s, notes=tuple(sorted(self.notes)))

    def _incident_source(self):
        s = self.stream
        for i in range(len(s)):
            yield self.env.timeout(s.call_at_s[i] - self.env.now)
            type_name = s.type_names[s.incident_type[i]]
            inc = _Incident(
                index=i,
                site=int(s.site[i]),
                type_name=type_name,
                level=int(s.level[i]),
                call_at_s=float(s.call_at_s[i]),
                escalation_s=float(s.escalation_s[i]),
                u_on_scene=float(s.u_on_scene[i]),
                outstanding={},
                cleared=self.env.event(),
            )
            self.log(EventKind.CALL, i, value=inc.level)
            self._require(inc, self._plan(type_name, inc.level))

    def _plan(self, type_name: str, level: int) -> dict[str, int]:
        """The response plan, limited to unit types (and counts) the scenario has at all."""
        plan = {}
        for unit_type, count in sorted(self.scenario.plan(type_name, level).items()):
            have = len(self.policy.units_of_type.get(unit_type, ()))
            if have < count:
                self.notes.add(f"plan {type_name} level {level} asks for {count} {unit_type}, the scenario has {have}")
            if have:
                plan[unit_type] = min(count, have)
        return plan

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
        expected = self.expected_turnout_s()
        for unit_type in sorted(inc.outstanding):
            count = inc.outstanding[unit_type]
            for choice in self.policy.choose(inc.site, unit_type, count, self.available, expected):
                inc.outstanding[unit_type] -= 1
                self._dispatch(choice.unit, inc, choice.mutual_aid)
        inc.outstanding = {t: c for t, c in inc.outstanding.items() if c > 0}

    def _dispatch(self, unit: int, inc: _Incident, mutual_aid: bool) -> None:
        if self.status[unit] == UnitStatus.DRILL_AT_BASE:
            self._end_drill(unit)
        recall_s = self.recall_s[unit]
        self.recall_s[unit] = 0.0
        self.set_status(unit, UnitStatus.MOBILISING)
        k = inc.dispatched
        inc.dispatched += 1
        self.log(EventKind.DISPATCH, inc.index, unit, float(mutual_aid))
        self.env.process(self._respond(unit, inc, mutual_aid, recall_s, k))

    def _respond(self, unit: int, inc: _Incident, mutual_aid: bool, recall_s: float, k: int):
        w = self.world
        base = int(w.units.base[unit])
        readiness = self.scenario.readiness
        if mutual_aid:
            yield self.env.timeout(self.scenario.dispatch.mutual_aid.activation_delay_min * 60.0)
        self.log(EventKind.MOBILISED, inc.index, unit)
        u = self.stream.u_turnout[inc.index, k % TURNOUT_DRAWS_PER_INCIDENT]
        turnout_s = (
            float(w.units.turnout[unit].ppf_s(u)) * slowdown(float(self.proficiency(unit)), readiness.turnout_penalty)
            + recall_s
        )
        yield self.env.timeout(turnout_s)
        self.log(EventKind.EN_ROUTE, inc.index, unit)
        self.set_status(unit, UnitStatus.EN_ROUTE)
        yield self.env.timeout(w.travel_out_s[base, inc.site])
        self.log(EventKind.AT_ROAD_END, inc.index, unit)
        yield self.env.timeout(w.access_s[inc.site])
        self.log(EventKind.ON_SCENE, inc.index, unit)
        self.set_status(unit, UnitStatus.ON_SCENE)
        self._arrived(inc, unit)
        yield inc.cleared
        self.log(EventKind.RELEASED, inc.index, unit)
        self.set_status(unit, UnitStatus.RETURNING)
        yield self.env.timeout(w.access_s[inc.site] + w.travel_in_s[base, inc.site])
        self.log(EventKind.AT_BASE, inc.index, unit)
        self.set_status(unit, UnitStatus.AVAILABLE)
        self._back_at_base(unit)

    def _arrived(self, inc: _Incident, unit: int) -> None:
        inc.arrived += 1
        if inc.first_arrival_at_s is not None:
            return
        inc.first_arrival_at_s = self.env.now
        readiness = self.scenario.readiness
        prof = float(self.proficiency(unit))
        threshold_s = inc.escalation_s * (1.0 + readiness.escalation_bonus * prof)
        if self.env.now - inc.call_at_s > threshold_s and inc.level < 4:
            old = self._plan(inc.type_name, inc.level)
            inc.level += 1
            self.log(EventKind.ESCALATED, inc.index, unit, inc.level)
            new = self._plan(inc.type_name, inc.level)
            self._require(inc, {t: c - old.get(t, 0) for t, c in new.items() if c > old.get(t, 0)})
        work_s = float(self.incident_types[inc.type_name].on_scene(inc.level).ppf_s(inc.u_on_scene))
        self.env.process(self._work(inc, work_s * slowdown(prof, readiness.on_scene_penalty)))

    def _work(self, inc: _Incident, work_s: float):
        yield self.env.timeout(work_s)
        withdrawn = sum(inc.outstanding.values())
        inc.outstanding = {}
        if inc.waiting:
            self.waiting.remove(inc)
            inc.waiting = False
        self.log(EventKind.CLEARED, inc.index, value=withdrawn)
        inc.cleared.succeed()

    def _back_at_base(self, unit: int) -> None:
        if self.drill_pending[unit]:
            self.drill_pending[unit] = False
            event, self.returned[unit] = self.returned[unit], self.env.event()
            event.succeed()
            return
        self._serve_waiting(unit)

    def _serve_waiting(self, unit: int) -> None:
        """Give a unit that became available to the oldest waiting incident that needs its type."""
        unit_type = self.world.units.unit_type[unit]
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
            if self.status[unit] != UnitStatus.AVAILABLE:
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
        level = after_drill(float(self.proficiency(unit)), gain)
        self.prof_last[unit] = level
        self.prof_at_s[unit] = self.env.now
        self.recall_s[unit] = 0.0
        self.drill_token[unit] += 1
        self.log(EventKind.DRILL_END, unit=unit, value=level)


def simulate(world: World, stream: IncidentStream) -> SimOutput:
    """Run one replication."""
    return Model(world, stream).run()
