"""The SimPy model: incidents arrive, units are dispatched, turn out, drive, work the scene, return, and drill.

Life of an incident: it is called in at its time; its response plan (unit types and counts for its type and level)
is filled by the dispatch policy from the available units; what cannot be filled waits (FIFO) and is filled as units
come back. Work starts when the first unit is on scene and lasts the on-scene time drawn for the incident's level
(slowed by that unit's lack of proficiency). If the first unit arrives after the incident's escalation threshold,
the incident rises one level and the extra units of the higher level are called (a second alarm). When the work is
done the incident is cleared: every unit on scene returns to base, requirements still unfilled are withdrawn, and a
unit still on its way turns back on arrival. A unit is dispatchable again once it is back at base.

Every step is appended to the event log; everything else, the time each unit spent in each status included, is
derived from it.
"""

from __future__ import annotations

import bisect
import functools
import math
import operator
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import simpy

from sim._arrays import run_ends, run_starts
from sim.dispatch import make_policy
from sim.distributions import Duration
from sim.forces import UnitStatus
from sim.hazards import TURNOUT_DRAWS_PER_INCIDENT, IncidentStream
from sim.readiness import SECONDS_PER_DAY, after_drill, decayed, drill_plans, slowdown
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


@dataclass(eq=False, slots=True)
class _Incident:
    index: int
    site: int
    type_name: str
    level: int
    call_at_s: float
    outstanding: dict[str, int]
    dispatched: list[tuple[int, float]] = field(default_factory=list)  # (unit, on-scene time)
    first_due_s: float = math.inf  # earliest on-scene time of the units sent so far
    first_unit: int | None = None  # and the unit
    first_timed_s: float = math.inf  # when a first-arrival event was last timed
    first_arrival_at_s: float | None = None
    waiting: bool = False


@dataclass(frozen=True, eq=False)
class SimOutput:
    """What one replication produced: the event log (in time order) and the time each unit spent in each status."""

    events: np.ndarray  # structured EVENT_DTYPE rows; NO_ID where a row has no incident or no unit
    status_time_s: np.ndarray  # (n_units, len(UnitStatus))
    end_s: float
    notes: tuple[str, ...]


EVENT_DTYPE = np.dtype([("time_s", "f8"), ("kind", "i1"), ("incident", "i8"), ("unit", "i8"), ("value", "f8")])
NO_ID = np.iinfo(np.int64).min  # marks "no incident" / "no unit" in the packed log; never a valid index
_AVAILABLE, _MOBILISING, _RETURNING, _DRILL_OFF_SITE, _DRILL_AT_BASE = (
    int(s)
    for s in (
        UnitStatus.AVAILABLE,
        UnitStatus.MOBILISING,
        UnitStatus.RETURNING,
        UnitStatus.DRILL_OFF_SITE,
        UnitStatus.DRILL_AT_BASE,
    )
)  # plain ints in the hot path (an enum member lookup costs ten times a local name)
_FREED_BY_TIME = (_RETURNING, _DRILL_OFF_SITE)  # busy, but free again at a known time
_ON_SCENE_AT = operator.itemgetter(1)  # of a dispatch (unit, on-scene time)

STATUS_AFTER: dict[EventKind, UnitStatus] = {
    EventKind.DISPATCH: UnitStatus.MOBILISING,
    EventKind.EN_ROUTE: UnitStatus.EN_ROUTE,
    EventKind.ON_SCENE: UnitStatus.ON_SCENE,
    EventKind.RELEASED: UnitStatus.RETURNING,
    EventKind.AT_BASE: UnitStatus.AVAILABLE,
    EventKind.DRILL_END: UnitStatus.AVAILABLE,
}
"""The status a unit is in after each event of its own (DRILL_START: off site or at base by its value)."""
_STATUS_AFTER_KIND = np.array([STATUS_AFTER.get(kind, -1) for kind in EventKind], dtype=np.int64)  # -1: no change


def unit_status_rows(events: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a log that change a unit's status, as (unit, time_s, status after) grouped by unit in time order."""
    kind, unit = events["kind"], events["unit"]
    status = _STATUS_AFTER_KIND[kind]
    drill = np.flatnonzero(kind == EventKind.DRILL_START)
    status[drill] = np.where(events["value"][drill] > 0, UnitStatus.DRILL_OFF_SITE, UnitStatus.DRILL_AT_BASE)
    keep = np.flatnonzero((status >= 0) & (unit != NO_ID))
    order = np.argsort(unit[keep], kind="stable")  # the log is in time order: stable keeps it within a unit
    keep = keep[order]
    return unit[keep], events["time_s"][keep], status[keep]


def status_times_s(events: np.ndarray, n_units: int, end_s: float) -> np.ndarray:
    """Seconds each unit spent in each status from 0 to ``end_s`` (units start available), from the event log."""
    unit, at_s, status = unit_status_rows(events)
    n_status = len(UnitStatus)
    last = run_ends(unit)  # each unit's last status lasts to the end
    until_s = np.where(last, end_s, np.append(at_s[1:], end_s))
    cell = unit * n_status + status
    out = np.bincount(cell, weights=until_s - at_s, minlength=n_units * n_status).astype(np.float64, copy=False)
    out = out.reshape(n_units, n_status)  # (bincount of nothing is integer zeros)
    first = run_starts(unit)
    out[:, UnitStatus.AVAILABLE] += end_s  # available from 0 to the first event (to the end if none)
    out[unit[first], UnitStatus.AVAILABLE] -= end_s - at_s[first]
    return out


_CLEARING, _FREE_AGAIN = -1, 0  # SimPy priorities at one instant, before calls and first arrivals (NORMAL = 1)
_RECORD_WIDTH = 9
_ROW, _DISPATCHED, _RETURN, _DRILL = 0.0, 1.0, 2.0, 3.0  # the shapes of the model's records (floats: see below)
"""A record is ``_RECORD_WIDTH`` numbers in one flat list: its shape, then its fields (zero-padded):

- ``_ROW``: one row as it stands: time, kind, incident, unit, value;
- ``_DISPATCHED``: a dispatch and its phases: dispatch, mobilised, en-route, road-end and on-scene times, incident,
  unit, mutual aid;
- ``_RETURN``: a unit's release and its return to base: the two times, incident, unit;
- ``_DRILL``: a drill played to its end: start and end times, unit, off site, proficiency after.

One record in place of up to five rows keeps the Python objects made per event few; numpy unpacks them at the end.
Every constant in a record is a float, since numpy converts a Python int to float64 at twice the cost of a float.
"""
_CALL, _CLEARED, _DRILL_START = (float(k) for k in (EventKind.CALL, EventKind.CLEARED, EventKind.DRILL_START))
_NO_ID = float(NO_ID)


_FIELDS = len(EVENT_DTYPE.names)
_CONSTANT = (0.0, _NO_ID, *(float(k) for k in EventKind))  # appended to each record as columns 9, 10, ...
_ZERO, _NONE = _RECORD_WIDTH, _RECORD_WIDTH + 1


def _kind(kind: EventKind) -> int:
    return _RECORD_WIDTH + 2 + int(kind)


_TEMPLATE_ROWS = {  # by record shape: each row it makes, as the columns of (time, kind, incident, unit, value)
    int(_ROW): [(1, 2, 3, 4, 5)],
    int(_DISPATCHED): [
        (1, _kind(EventKind.DISPATCH), 6, 7, 8),
        (2, _kind(EventKind.MOBILISED), 6, 7, _ZERO),
        (3, _kind(EventKind.EN_ROUTE), 6, 7, _ZERO),
        (4, _kind(EventKind.AT_ROAD_END), 6, 7, _ZERO),
        (5, _kind(EventKind.ON_SCENE), 6, 7, _ZERO),
    ],
    int(_RETURN): [(1, _kind(EventKind.RELEASED), 3, 4, _ZERO), (2, _kind(EventKind.AT_BASE), 3, 4, _ZERO)],
    int(_DRILL): [(1, _kind(EventKind.DRILL_START), _NONE, 3, 4), (2, _kind(EventKind.DRILL_END), _NONE, 3, 5)],
}


def _template() -> tuple[np.ndarray, np.ndarray]:
    """``_TEMPLATE_ROWS`` as an array (shape, row, field), padded with rows that are not made; and each shape's
    count of rows."""
    most = max(len(rows) for rows in _TEMPLATE_ROWS.values())
    template = np.full((len(_TEMPLATE_ROWS), most, _FIELDS), _ZERO)
    for shape, rows in _TEMPLATE_ROWS.items():
        template[shape, : len(rows)] = rows
    return template, np.array([len(_TEMPLATE_ROWS[shape]) for shape in range(len(_TEMPLATE_ROWS))])


_TEMPLATE, _ROWS_OF_SHAPE = _template()


def event_log(records: list[float]) -> np.ndarray:
    """The event log from the model's flat records: in time order, rows at one time in the order they were made."""
    record = np.fromiter(records, dtype=np.float64, count=len(records)).reshape(-1, _RECORD_WIDTH)
    shape = record[:, 0].astype(np.intp)
    n_rows = _ROWS_OF_SHAPE[shape]
    of = np.repeat(np.arange(len(record)), n_rows)  # each row's record
    sub = np.arange(len(of)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)  # and its place in the record
    extended = np.empty((len(record), _RECORD_WIDTH + len(_CONSTANT)))
    extended[:, :_RECORD_WIDTH], extended[:, _RECORD_WIDTH:] = record, _CONSTANT
    rows = extended.ravel().take(_TEMPLATE[shape[of], sub] + (of * extended.shape[1])[:, np.newaxis])
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    events = np.empty(len(rows), EVENT_DTYPE)
    for column, name in enumerate(EVENT_DTYPE.names):
        events[name] = rows[:, column]  # indices and kinds are exact in float64 (NO_ID is -2**63)
    return events


class Model:
    """One replication: a world, an incident stream, and the SimPy events that play them out.

    Only what concerns an incident is a SimPy event (a timed callback, not a generator process): its call, its first
    arrival (escalation; the work clock starts) while that can still move or escalate, and the end of its work.
    Everything a unit then does by itself is
    fixed when it happens and logged at once, with rows that may lie ahead of the clock (the log is sorted at the
    end): a dispatched unit's activation, turnout, road travel, last leg and arrival; at clearing, its release and
    its return to base. What a unit does by itself at base (drills starting when due, or when it is next back;
    drills ending) is played lazily: ``_catch_up`` brings a unit up to the present whenever it is looked at (before
    a dispatch choice among its type, and at the end of the run). Only while an incident waits for a unit's type is
    the moment that unit is free again (back at base, or out of an off-site drill) a timed event (``_wake_at``):
    the waiting incident gets it then, before any drill due meanwhile.

    The model's own ``status`` of a unit is what dispatching needs (available, drilling, dispatched, returning);
    the time in each status follows from the log (``status_times_s``). Durations are drawn by inverse CDF from the
    stream's uniforms: on-scene times vectorised before the run, a turnout when its unit is sent. Rows are kept as
    flat records, unpacked by ``event_log`` at the end.
    """

    def __init__(self, world: World, stream: IncidentStream) -> None:
        self.env = simpy.Environment()
        self.now = 0.0  # the exact time of the event being handled
        self.scenario = world.scenario
        self.fixed = fixed = _fixed(world)
        self.policy = fixed.policy
        self.drills = fixed.drills
        self.u_turnout = stream.u_turnout
        self.traffic_from_s, self.traffic_factor = fixed.traffic_from_s, fixed.traffic_factor
        self.work_s = _work_draws(fixed, stream)
        self.call_at_s = stream.call_at_s.tolist()
        self.escalation_s = stream.escalation_s.tolist()
        self.call_site = stream.site.tolist()
        self.call_level = stream.level.tolist()
        self.call_type = [stream.type_names[t] for t in stream.incident_type.tolist()]
        self.next_call = 0
        n = len(world.units)
        self.status = [_AVAILABLE] * n
        self.status_since = [0.0] * n
        self.available = [True] * n
        self.recall_s = [0.0] * n
        self.prof_last = [fixed.initial_proficiency] * n
        self.prof_at_s = [0.0] * n
        self.drill_count = [0] * n  # drills begun: the next one is due at drills.due_s[unit][count]
        self.next_change_s = [due[0] for due in self.drills.due_s]  # back at base, drill start or drill end
        self.wake_at_s = [math.inf] * n
        self.free_at: dict[float, list[int]] = {}  # units whose wake is timed at each moment
        self.waiting: list[_Incident] = []
        self.records: list[float] = []  # flat, _RECORD_WIDTH numbers each
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
        """Append a row at ``at_s`` (default now)."""
        self.records += (
            _ROW,
            self.now if at_s is None else at_s,
            float(kind),
            _NO_ID if incident is None else incident,
            _NO_ID if unit is None else unit,
            value,
            0.0,
            0.0,
            0.0,
        )

    def set_status(self, unit: int, status: int, at_s: float) -> None:
        """The one place the model changes a unit's status (``at_s``: when, for a drill played lazily)."""
        self.status[unit] = status
        self.status_since[unit] = at_s
        self.available[unit] = status == _AVAILABLE or status == _DRILL_AT_BASE

    def proficiency(self, unit: int, at_s: float) -> float:
        """Proficiency at ``at_s`` (not before the unit's last drill); a unit without drills keeps its own."""
        return decayed(self.prof_last[unit], at_s - self.prof_at_s[unit], self.drills.half_life_s[unit])

    def expected_turnout_s(self, unit: int) -> float:
        """Mean turnout now, slowed by lack of proficiency, plus the recall delay of a drill at base.

        ``proficiency`` and ``slowdown`` written out: dispatch ranks every available unit of a type with it."""
        p = self.prof_last[unit] * 0.5 ** ((self.now - self.prof_at_s[unit]) / self.drills.half_life_s[unit])
        return self.fixed.turnout_mean_s[unit] * (1.0 + self.fixed.turnout_penalty * (1.0 - p)) + self.recall_s[unit]

    def travel_factor(self, at_s: float) -> float:
        """Congestion factor on a road trip starting at ``at_s`` (the scenario's daily traffic windows)."""
        from_s = self.traffic_from_s
        if len(from_s) == 1:  # free flow all day
            return 1.0
        return self.traffic_factor[bisect.bisect_right(from_s, at_s % SECONDS_PER_DAY) - 1]

    def _at(self, at_s: float, callback, *args) -> None:
        """Call ``callback(*args)`` when the clock reaches ``at_s``, with ``self.now = at_s`` exactly (SimPy's
        ``now + (at_s - now)`` may differ from it in the last bit)."""
        simpy.Timeout(self.env, at_s - self.now, (at_s, callback, args)).callbacks.append(self._fire)

    def _at_before_calls(self, at_s: float, priority: int, callback, *args) -> None:
        """``_at`` for what must happen before the calls and first arrivals of the same instant: clearings
        (``_CLEARING``), then units free again (``_FREE_AGAIN``), so that a waiting incident gets a unit back at
        the instant a new call comes, and an incident cleared at that instant gets none."""
        event = simpy.Event(self.env)
        event._ok, event._value = True, (at_s, callback, args)  # what simpy.Timeout sets, at another priority
        self.env.schedule(event, priority, at_s - self.now)
        event.callbacks.append(self._fire)

    def _fire(self, event: simpy.Timeout) -> None:
        self.now, callback, args = event.value
        callback(*args)

    # -- run --------------------------------------------------------------------------------------------------
    def run(self) -> SimOutput:
        if self.call_at_s:
            self._at(self.call_at_s[0], self._call_next)
        self.env.run()
        for unit in range(len(self.status)):  # back at base, and drills due before the horizon, to their end
            self._catch_up(unit, math.inf)
        events = event_log(self.records)
        end_s = max(self.scenario.horizon_s, float(events["time_s"][-1]) if len(events) else 0.0)
        return SimOutput(
            events=events,
            status_time_s=status_times_s(events, len(self.status), end_s),
            end_s=end_s,
            notes=tuple(sorted(self.notes)),
        )

    def _call_next(self) -> None:
        """Call in the next incident and time the one after it."""
        i = self.next_call
        self.next_call += 1
        inc = _Incident(
            index=i,
            site=self.call_site[i],
            type_name=self.call_type[i],
            level=self.call_level[i],
            call_at_s=self.call_at_s[i],
            outstanding={},
        )
        self.records += (_ROW, inc.call_at_s, _CALL, i, _NO_ID, inc.level, 0.0, 0.0, 0.0)
        self._require(inc, self._plan(inc.type_name, inc.level))
        if self.next_call < len(self.call_at_s):
            self._at(self.call_at_s[self.next_call], self._call_next)

    def _plan(self, type_name: str, level: int) -> dict[str, int]:
        """The response plan, limited to unit types (and counts) the scenario has at all."""
        key = (type_name, level)
        plan = self._plans.get(key)
        if plan is None:
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
        return plan

    def _require(self, inc: _Incident, extra: dict[str, int]) -> None:
        for unit_type, count in extra.items():
            inc.outstanding[unit_type] = inc.outstanding.get(unit_type, 0) + count
        self._fill(inc)
        if inc.outstanding:
            missing = sum(inc.outstanding.values())
            if not inc.waiting:
                inc.waiting = True
                self.waiting.append(inc)
                self.log(EventKind.QUEUED, inc.index, value=missing)
            for unit_type in inc.outstanding:  # units of a type it waits for must be free on time
                for unit in self.policy.units_of_type[unit_type]:
                    if self.status[unit] in _FREED_BY_TIME:
                        self._wake_at(unit, self.next_change_s[unit])

    def _fill(self, inc: _Incident) -> None:
        """Send what the policy chooses for each unit type the incident still wants; time its first arrival if the
        units sent moved it up."""
        now = self.now
        next_change_s = self.next_change_s
        units_of_type = self.policy.units_of_type
        travel_factor = self.travel_factor(now)
        outstanding = {}
        for unit_type, count in sorted(inc.outstanding.items()):
            for unit in units_of_type[unit_type]:
                if next_change_s[unit] <= now:  # a unit free again now with a wake due: its wake starts its drills
                    self._catch_up(unit, now, start_drills=self.wake_at_s[unit] != now)
            chosen = self.policy.choose(
                inc.site, unit_type, count, self.available, self.expected_turnout_s, travel_factor
            )
            for unit, mutual_aid, _ in chosen:
                self._dispatch(unit, inc, mutual_aid, now)
            if len(chosen) < count:
                outstanding[unit_type] = count - len(chosen)
        inc.outstanding = outstanding
        if inc.first_due_s < inc.first_timed_s:
            inc.first_timed_s = at_s = inc.first_due_s
            prof = self.proficiency(inc.first_unit, at_s)  # a dispatched unit does not drill: known already
            if outstanding or self._escalates(inc, at_s, prof):  # its first arrival may still move, or escalate
                self._at(at_s, self._first_arrival, inc, inc.first_unit)
            else:  # nothing can change the first arrival any more: no event needed for it
                inc.first_arrival_at_s = at_s
                self._start_work(inc, at_s, prof)

    def _dispatch(self, unit: int, inc: _Incident, mutual_aid: bool, now: float) -> None:
        """Send a unit: its activation, turnout, road travel and last leg are fixed now and logged."""
        recall_s = self.recall_s[unit]  # read before the drill ends: ending it clears the recall delay
        if self.status[unit] == _DRILL_AT_BASE:
            self._end_drill(unit, now)  # a call ends an at-base drill, which still counts
        self.recall_s[unit] = 0.0
        self.set_status(unit, _MOBILISING, now)
        self.next_change_s[unit] = math.inf  # until its incident is cleared
        i = inc.index
        fixed = self.fixed
        k = len(inc.dispatched) % TURNOUT_DRAWS_PER_INCIDENT
        draw = fixed.turnout_s[unit](float(self.u_turnout[i, k]))
        turnout_s = draw * slowdown(self.proficiency(unit, now), fixed.turnout_penalty) + recall_s
        mobilised_at = now + (fixed.activation_s if mutual_aid else 0.0)
        en_route_at = mobilised_at + turnout_s
        drive_s = fixed.travel_out_s[fixed.unit_base[unit]][inc.site] * self.travel_factor(en_route_at)
        road_end_at = en_route_at + drive_s
        on_scene_at = road_end_at + fixed.access_s[inc.site]
        self.records += (_DISPATCHED, now, mobilised_at, en_route_at, road_end_at, on_scene_at, i, unit, mutual_aid)
        inc.dispatched.append((unit, on_scene_at))
        if on_scene_at < inc.first_due_s and inc.first_arrival_at_s is None:  # the first to arrive, so far
            inc.first_due_s = on_scene_at
            inc.first_unit = unit

    def _first_arrival(self, inc: _Incident, unit: int) -> None:
        """Escalate if late; start the work clock. (A unit overtaken by a later dispatch finds the work begun.)"""
        if inc.first_arrival_at_s is not None:
            return
        now = self.now
        inc.first_arrival_at_s = now
        prof = self.proficiency(unit, now)
        if self._escalates(inc, now, prof):
            old = self._plan(inc.type_name, inc.level)
            inc.level += 1
            self.log(EventKind.ESCALATED, inc.index, unit, inc.level)
            new = self._plan(inc.type_name, inc.level)
            self._require(inc, {t: c - old.get(t, 0) for t, c in new.items() if c > old.get(t, 0)})
        self._start_work(inc, now, prof)

    def _escalates(self, inc: _Incident, first_arrival_at_s: float, prof: float) -> bool:
        """Whether a first arrival at that time, by a unit at that proficiency, is too late for the incident."""
        threshold_s = self.escalation_s[inc.index] * (1.0 + self.fixed.escalation_bonus * prof)
        return first_arrival_at_s - inc.call_at_s > threshold_s and inc.level < 4

    def _start_work(self, inc: _Incident, at_s: float, prof: float) -> None:
        """The work clock starts at the first arrival: time the clearing."""
        work_s = self.work_s[inc.index][inc.level - 1] * slowdown(prof, self.fixed.on_scene_penalty)
        self._at_before_calls(at_s + work_s, _CLEARING, self._clear, inc)

    def _clear(self, inc: _Incident) -> None:
        """Work done: requirements still unfilled are withdrawn; every unit sent leaves the scene (a unit still on
        its way turns back when it arrives) and drives back to base, where it is free again."""
        now = self.now
        withdrawn = sum(inc.outstanding.values())
        inc.outstanding = {}
        if inc.waiting:
            self.waiting.remove(inc)
            inc.waiting = False
        i = inc.index
        records = self.records
        records += (_ROW, now, _CLEARED, i, _NO_ID, withdrawn, 0.0, 0.0, 0.0)
        access_s = self.fixed.access_s[inc.site]
        travel_in_s = self.fixed.travel_in_s
        for unit, on_scene_at in sorted(inc.dispatched, key=_ON_SCENE_AT):  # first on scene, first to leave
            released_at = max(now, on_scene_at)
            drive_s = travel_in_s[self.fixed.unit_base[unit]][inc.site] * self.travel_factor(released_at + access_s)
            back_at = released_at + (access_s + drive_s)
            records += (_RETURN, released_at, back_at, i, unit, 0.0, 0.0, 0.0, 0.0)
            self.set_status(unit, _RETURNING, now)
            self.next_change_s[unit] = back_at
            if self.waiting:
                self._wake_at(unit, back_at)

    def _serve_waiting(self, units: list[int]) -> None:
        """Give the units free again now (all together) to the waiting incidents that need their types, oldest
        first."""
        unit_type = self.fixed.unit_type
        types = {unit_type[unit] for unit in units}
        for inc in list(self.waiting):
            if not any(self.available[unit] for unit in units):
                break
            if any(inc.outstanding.get(t) for t in types):
                self._fill(inc)
                if not inc.outstanding:
                    inc.waiting = False
                    self.waiting.remove(inc)

    # -- a unit's own timeline, played lazily -----------------------------------------------------------------
    def _catch_up(self, unit: int, until_s: float, start_drills: bool = True) -> None:
        """Play what the unit does by itself up to ``until_s``: back at base when its return is due, a drill when
        due (or when the unit is next at base), its end after the drill's duration. Nothing moves a dispatched
        unit until its incident is cleared."""
        while (next_s := self.next_change_s[unit]) <= until_s and next_s < math.inf:
            status = self.status[unit]
            if status == _RETURNING:
                self.set_status(unit, _AVAILABLE, next_s)
                self.next_change_s[unit] = self.drills.due_s[unit][self.drill_count[unit]]
            elif status == _AVAILABLE and start_drills:
                self._start_drill(unit, max(next_s, self.status_since[unit]), until_s)
            elif status == _DRILL_OFF_SITE or status == _DRILL_AT_BASE:
                self._end_drill(unit, next_s)
            else:
                return

    def _start_drill(self, unit: int, at_s: float, until_s: float) -> None:
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
        count = self.drill_count[unit]
        p, p_at_s = self.prof_last[unit], self.prof_at_s[unit]
        records = self.records
        while True:
            count += 1
            end_s = at_s + duration_s
            if end_s > until_s:  # still drilling
                records += (_ROW, at_s, _DRILL_START, _NO_ID, unit, off_site, 0.0, 0.0, 0.0)
                self.drill_count[unit] = count
                self.prof_last[unit], self.prof_at_s[unit] = p, p_at_s
                self.set_status(unit, _DRILL_OFF_SITE if off_site else _DRILL_AT_BASE, at_s)
                self.recall_s[unit] = drills.recall_s[unit]
                self.next_change_s[unit] = end_s
                if off_site and self.waiting:
                    self._wake_at(unit, end_s)
                return
            p, p_at_s = after_drill(decayed(p, end_s - p_at_s, half_life_s), gain), end_s
            records += (_DRILL, at_s, end_s, unit, off_site, p, 0.0, 0.0, 0.0)
            next_due_s = due_s[count]
            if next_due_s > until_s or next_due_s == math.inf:
                break
            at_s = max(next_due_s, end_s)
        self.drill_count[unit] = count
        self.prof_last[unit], self.prof_at_s[unit] = p, p_at_s
        self.set_status(unit, _AVAILABLE, p_at_s)
        self.next_change_s[unit] = due_s[count]

    def _end_drill(self, unit: int, at_s: float) -> None:
        """Apply the drill's gain (also when an at-base drill is cut short by a call); the next drill is due."""
        level = after_drill(self.proficiency(unit, at_s), self.drills.gain[unit])
        self.prof_last[unit] = level
        self.prof_at_s[unit] = at_s
        self.recall_s[unit] = 0.0
        self.log(EventKind.DRILL_END, unit=unit, value=level, at_s=at_s)
        self.set_status(unit, _AVAILABLE, at_s)
        self.next_change_s[unit] = self.drills.due_s[unit][self.drill_count[unit]]

    def _wake_at(self, unit: int, at_s: float) -> None:
        """Time the moment a busy unit is free again (once), so that a waiting incident gets it then."""
        if self.wake_at_s[unit] != at_s:
            self.wake_at_s[unit] = at_s
            self.free_at.setdefault(at_s, []).append(unit)
            self._at_before_calls(at_s, _FREE_AGAIN, self._wake, unit)

    def _wake(self, unit: int) -> None:
        """The units free again now (the first of their wakes handles them all: they are free together) go to the
        waiting incidents that need their types, oldest first, before any drill due meanwhile."""
        now = self.now
        if self.wake_at_s[unit] != now:
            return  # woken with the others free at this instant
        together = [u for u in self.free_at.pop(now) if self.wake_at_s[u] == now]
        for u in together:
            self.wake_at_s[u] = math.inf
            self._catch_up(u, now, start_drills=False)
        free = [u for u in together if self.status[u] == _AVAILABLE]
        if free and self.waiting:
            drill_due_s = {u: self.next_change_s[u] for u in free}
            for u in free:
                self.next_change_s[u] = math.inf  # calls before drills
            self._serve_waiting(free)
            for u in free:
                if self.status[u] == _AVAILABLE:
                    self.next_change_s[u] = drill_due_s[u]
        for u in together:
            self._catch_up(u, now)


@dataclass(frozen=True)
class _UnitDrills:
    """Each unit's drill plan as plain lists (a unit without drills: never due, proficiency kept)."""

    due_s: list[list[float]]  # when each drill is due (first + k x interval, before the horizon), then infinity
    duration_s: list[float]
    off_site: list[float]  # 1.0 or 0.0: logged as such
    recall_s: list[float]  # extra turnout while drilling at base
    gain: list[float]
    half_life_s: list[float]


def _unit_drills(world: World) -> _UnitDrills:
    scenario = world.scenario
    plans = drill_plans(scenario, world.units.base, world.units.unit_type)
    readiness = scenario.readiness
    return _UnitDrills(
        due_s=[_due_s(p, scenario.horizon_s) for p in plans],
        duration_s=[0.0 if p is None else p.duration_s for p in plans],
        off_site=[float(p is not None and p.spec.off_site) for p in plans],
        recall_s=[0.0 if p is None or p.spec.off_site else p.spec.recall_delay_min * 60.0 for p in plans],
        gain=[0.0 if p is None else readiness.drill_gain.get(p.spec.kind, 0.0) for p in plans],
        half_life_s=[math.inf if p is None else readiness.half_life_days * SECONDS_PER_DAY for p in plans],
    )


def _due_s(plan, horizon_s: float) -> list[float]:
    """Due times of a unit's drills (none at or after the horizon), then infinity."""
    due_s = []
    while plan is not None and (at_s := plan.first_at_s + len(due_s) * plan.interval_s) < horizon_s:
        due_s.append(at_s)
    return due_s + [math.inf]


@dataclass(frozen=True, eq=False)
class _Fixed:
    """What every replication of a world reads: plain lists and constants, built once per world."""

    policy: object
    unit_base: list[int]
    unit_type: list[str]
    travel_out_s: list[list[float]]
    travel_in_s: list[list[float]]
    access_s: list[float]
    turnout_mean_s: list[float]
    turnout_s: list  # each unit's turnout seconds as a function of a uniform
    on_scene: list[Duration]  # the distinct on-scene time distributions
    on_scene_of: dict[str, list[int]]  # each incident type's at levels 1-4
    drills: _UnitDrills
    traffic_from_s: list[float]  # the travel factor as a step function of the time of day: where each step starts
    traffic_factor: list[float]  # and its factor
    initial_proficiency: float
    turnout_penalty: float
    on_scene_penalty: float
    escalation_bonus: float
    activation_s: float


@functools.lru_cache(maxsize=8)
def _fixed(world: World) -> _Fixed:
    """Built once per world (worlds hash by identity) and shared by its replications in a process."""
    scenario = world.scenario
    readiness = scenario.readiness
    turnout = {dist: dist.quantile_s() for dist in world.units.turnout}  # one function per distinct distribution
    on_scene: dict[Duration, int] = {}
    on_scene_of = {
        name: [on_scene.setdefault(t.on_scene(level), len(on_scene)) for level in range(1, 5)]
        for name, t in scenario.all_incident_types().items()
    }
    traffic = {0.0: 1.0}
    for period in sorted(scenario.traffic, key=lambda p: p.from_h):  # a window may start where the last one ends
        traffic |= {period.from_h * 3600.0: period.travel_factor, period.to_h * 3600.0: 1.0}
    traffic = dict(sorted(traffic.items()))
    return _Fixed(
        policy=make_policy(world),
        unit_base=world.units.base.tolist(),
        unit_type=list(world.units.unit_type),
        travel_out_s=world.travel_out_s.tolist(),
        travel_in_s=world.travel_in_s.tolist(),
        access_s=world.access_s.tolist(),
        turnout_mean_s=[d.mean_s() for d in world.units.turnout],
        turnout_s=[turnout[dist] for dist in world.units.turnout],
        on_scene=list(on_scene),
        on_scene_of=on_scene_of,
        drills=_unit_drills(world),
        traffic_from_s=list(traffic),
        traffic_factor=list(traffic.values()),
        initial_proficiency=readiness.initial_proficiency,
        turnout_penalty=readiness.turnout_penalty,
        on_scene_penalty=readiness.on_scene_penalty,
        escalation_bonus=readiness.escalation_bonus,
        activation_s=scenario.dispatch.mutual_aid.activation_delay_min * 60.0,
    )


def _work_draws(fixed: _Fixed, stream: IncidentStream) -> list[list[float]]:
    """On-scene work seconds of every incident at each level 1-4 (one uniform per incident, so levels sharing a
    distribution share the draw)."""
    draws = np.array([dist.ppf_s(stream.u_on_scene) for dist in fixed.on_scene])  # (distribution, incident)
    of_type = np.array([fixed.on_scene_of[name] for name in stream.type_names], dtype=np.intp).reshape(-1, 4)
    return draws[of_type[stream.incident_type], np.arange(len(stream))[:, np.newaxis]].tolist()


def simulate(world: World, stream: IncidentStream) -> SimOutput:
    """Run one replication."""
    return Model(world, stream).run()
