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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.dispatch import DispatchPolicy, make_policy
from sim.distributions import Duration
from sim.eventlog import LogWriter, status_times_s
from sim.fleet import AVAILABLE, FREED_BY_TIME, Fleet, fleet_tables
from sim.hazards import TURNOUT_DRAWS_PER_INCIDENT, IncidentStream
from sim.moveup import MoveUp
from sim.queueing import DISCIPLINES
from sim.readiness import SECONDS_PER_DAY, slowdown
from sim.scenario import MAX_LEVEL
from sim.world import World


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

    events: np.ndarray  # structured eventlog.EVENT_DTYPE rows; NO_ID where a row has no incident or no unit
    status_time_s: np.ndarray  # (n_units, len(UnitStatus))
    end_s: float
    notes: tuple[str, ...]


_ON_SCENE_AT = operator.itemgetter(1)  # of a dispatch (unit, on-scene time)
# SimPy priorities at one instant: clearings, units free again, first arrivals (NORMAL = 1), calls, then move-up
_CLEARING, _FREE_AGAIN, _CALL, _COVER = -1, 0, 2, 3


class Model:
    """One replication: a world, an incident stream, and the SimPy events that play them out.

    Only what concerns an incident is a SimPy event (a timed callback, not a generator process): its call, its first
    arrival (escalation; the work clock starts) while that can still move or escalate, and the end of its work.
    Everything a unit then does by itself is fixed when it happens and logged at once, with rows that may lie ahead
    of the clock (the log is sorted at the end): a dispatched unit's activation, turnout, road travel, last leg and
    arrival; at clearing, its release and its return to base. What a unit does by itself at base (drills starting
    when due, or when it is next back; drills ending) is played lazily by the fleet (:meth:`Fleet.catch_up`)
    whenever a unit is looked at (before a dispatch choice among its type, and at the end of the run). Only while
    an incident waits for a unit's type is the moment that unit is free again (back at base, or out of an off-site
    drill) a timed event (``_wake_at``): the waiting incident gets it then, before any drill due meanwhile.

    The model delegates: unit state to :class:`sim.fleet.Fleet`, the choice of units to the scenario's dispatch
    policy (:class:`sim.dispatch.DispatchPolicy`), the order of the waiting line to its discipline
    (:mod:`sim.queueing`), the log's records to :class:`sim.eventlog.LogWriter`. Durations are drawn by inverse CDF
    from the stream's uniforms: on-scene times vectorised before the run, a turnout when its unit is sent.
    """

    def __init__(self, world: World, stream: IncidentStream) -> None:
        self.env = simpy.Environment()
        self.now = 0.0  # the exact time of the event being handled
        self.scenario = world.scenario
        self.fixed = fixed = _fixed(world)
        self.policy: DispatchPolicy = fixed.policy
        self.queue_order = DISCIPLINES[world.scenario.dispatch.queue]
        self.log = LogWriter()
        self.fleet = Fleet(fleet_tables(world), self.log, self._busy_until)
        self.u_turnout = stream.u_turnout
        self.travel_factor = fixed.travel_factor
        self.work_s = _work_draws(fixed, stream)
        self.call_at_s = stream.call_at_s.tolist()
        self.escalation_s = stream.escalation_s.tolist()
        self.call_site = stream.site.tolist()
        self.call_level = stream.level.tolist()
        self.call_type = [stream.type_names[t] for t in stream.incident_type.tolist()]
        self.next_call = 0
        self.wake_at_s = [math.inf] * len(self.fleet)
        self.free_at: dict[float, list[int]] = {}  # units whose wake is timed at each moment
        self.waiting: list[_Incident] = []
        self.notes: set[str] = set()
        self._plans: dict[tuple[str, int], dict[str, int]] = {}
        spec = world.scenario.dispatch.move_up
        self.move_up = None
        if spec is not None:
            self.move_up = MoveUp(self.fleet, spec, world.units.local.tolist(), self._at_cover, self.travel_factor)

    # -- bookkeeping ------------------------------------------------------------------------------------------
    def _at(self, at_s: float, callback, *args, priority: int = simpy.core.NORMAL) -> None:
        """Call ``callback(*args)`` when the clock reaches ``at_s``, with ``self.now = at_s`` exactly (SimPy's
        ``now + (at_s - now)`` may differ from it in the last bit). At one instant, events of a lower ``priority``
        come first: clearings (``_CLEARING``), then units free again (``_FREE_AGAIN``), then first arrivals, then
        calls (``_CALL``), so that a waiting incident gets a unit back at the instant a new call comes, an incident
        cleared at that instant gets none, and an escalation on a first arrival is filled before a new call (the
        older incident first)."""
        event = simpy.Event(self.env)
        event._ok, event._value = True, (at_s, callback, args)  # what simpy.Timeout sets, at any priority
        self.env.schedule(event, priority, at_s - self.now)
        event.callbacks.append(self._fire)

    def _at_cover(self, at_s: float, callback, *args) -> None:
        """:meth:`_at` for the move-up steps, after everything else at their instant."""
        self._at(at_s, callback, *args, priority=_COVER)

    def _fire(self, event: simpy.Event) -> None:
        self.now, callback, args = event.value
        callback(*args)

    # -- run --------------------------------------------------------------------------------------------------
    def run(self) -> SimOutput:
        if self.call_at_s:
            self._at(self.call_at_s[0], self._call_next, priority=_CALL)
        self.env.run()
        fleet = self.fleet
        for unit in range(len(fleet)):  # back at base, and drills due before the horizon, to their end
            fleet.catch_up(unit, math.inf)
        events = self.log.events()
        end_s = max(self.scenario.horizon_s, float(events["time_s"][-1]) if len(events) else 0.0)
        return SimOutput(
            events=events,
            status_time_s=status_times_s(events, len(fleet), end_s),
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
        self.log.call(inc.call_at_s, i, inc.level)
        self._require(inc, self._plan(inc.type_name, inc.level))
        if self.next_call < len(self.call_at_s):
            self._at(self.call_at_s[self.next_call], self._call_next, priority=_CALL)

    def _plan(self, type_name: str, level: int) -> dict[str, int]:
        """The response plan, limited to unit types (and counts) the scenario has at all."""
        key = (type_name, level)
        plan = self._plans.get(key)
        if plan is None:
            plan = {}
            for unit_type, count in sorted(self.scenario.plan(type_name, level).items()):
                have = len(self.fleet.units_of_type.get(unit_type, ()))
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
                self.log.queued(self.now, inc.index, missing)
            fleet = self.fleet
            for unit_type in inc.outstanding:  # units of a type it waits for must be free on time
                for unit in fleet.units_of_type[unit_type]:
                    if fleet.status[unit] in FREED_BY_TIME:
                        self._wake_at(unit, fleet.next_change_s[unit])

    def _fill(self, inc: _Incident) -> None:
        """Send what the policy assigns to the incident's outstanding plan; time its first arrival if the units
        sent moved it up."""
        now = self.now
        fleet = self.fleet
        next_change_s = fleet.next_change_s
        wanted = inc.outstanding
        if len(wanted) > 1:
            wanted = dict(sorted(wanted.items()))  # types in alphabetical order
        for unit_type in wanted:  # bring the units the policy will look at up to the present
            for unit in fleet.units_of_type[unit_type]:
                if next_change_s[unit] <= now:  # a unit free again now with a wake due: its wake starts its drills
                    fleet.catch_up(unit, now, start_drills=self.wake_at_s[unit] != now)
        fleet.now = now
        chosen = self.policy.assign(inc.site, wanted, fleet, self.travel_factor(now))
        if chosen:
            self._dispatch(inc, chosen, now)
        if len(chosen) < sum(wanted.values()):
            unit_type = fleet.unit_type
            for unit, _, _ in chosen:
                wanted[unit_type[unit]] -= 1
            outstanding = {t: c for t, c in wanted.items() if c > 0}
        else:
            outstanding = {}
        inc.outstanding = outstanding
        if inc.first_due_s < inc.first_timed_s:
            inc.first_timed_s = at_s = inc.first_due_s
            prof = fleet.proficiency(inc.first_unit, at_s)  # a dispatched unit does not drill: known already
            if outstanding or self._escalates(inc, at_s, prof):  # its first arrival may still move, or escalate
                self._at(at_s, self._first_arrival, inc, inc.first_unit)
            else:  # nothing can change the first arrival any more: no event needed for it
                inc.first_arrival_at_s = at_s
                self._start_work(inc, at_s, prof)

    def _dispatch(self, inc: _Incident, chosen: list, now: float) -> None:
        """Send the chosen units: each one's activation, turnout, road travel and last leg are fixed now and logged
        (the k-th unit sent to an incident draws its turnout from the incident's k-th uniform)."""
        i, site = inc.index, inc.site
        fixed = self.fixed
        send = self.fleet.send
        u_turnout = self.u_turnout
        access_s, travel_factor = fixed.access_s[site], self.travel_factor
        dispatched = inc.dispatched
        move_up = self.move_up
        for unit, mutual_aid, _ in chosen:
            u = float(u_turnout[i, len(dispatched) % TURNOUT_DRAWS_PER_INCIDENT])
            activation_s = fixed.activation_s if mutual_aid else 0.0
            if move_up is None:
                on_scene_at = send(unit, i, site, now, u, mutual_aid, activation_s, access_s, travel_factor)
            else:
                post = self.fleet.post_of(unit)
                on_scene_at = send(unit, i, site, now, u, mutual_aid, activation_s, access_s, travel_factor)
                move_up.dispatched(unit, post, now)
            dispatched.append((unit, on_scene_at))
            if on_scene_at < inc.first_due_s and inc.first_arrival_at_s is None:  # the first to arrive, so far
                inc.first_due_s = on_scene_at
                inc.first_unit = unit

    def _first_arrival(self, inc: _Incident, unit: int) -> None:
        """Escalate if late; start the work clock. (A unit overtaken by a later dispatch finds the work begun.)"""
        if inc.first_arrival_at_s is not None:
            return
        now = self.now
        inc.first_arrival_at_s = now
        prof = self.fleet.proficiency(unit, now)
        if self._escalates(inc, now, prof):
            old = self._plan(inc.type_name, inc.level)
            inc.level += 1
            self.log.escalated(now, inc.index, unit, inc.level)
            new = self._plan(inc.type_name, inc.level)
            self._require(inc, {t: c - old.get(t, 0) for t, c in new.items() if c > old.get(t, 0)})
        self._start_work(inc, now, prof)

    def _escalates(self, inc: _Incident, first_arrival_at_s: float, prof: float) -> bool:
        """Whether a first arrival at that time, by a unit at that proficiency, is too late for the incident."""
        threshold_s = self.escalation_s[inc.index] * (1.0 + self.fixed.escalation_bonus * prof)
        return first_arrival_at_s - inc.call_at_s > threshold_s and inc.level < MAX_LEVEL

    def _start_work(self, inc: _Incident, at_s: float, prof: float) -> None:
        """The work clock starts at the first arrival: time the clearing."""
        work_s = self.work_s[inc.index][inc.level - 1] * slowdown(prof, self.fixed.on_scene_penalty)
        self._at(at_s + work_s, self._clear, inc, priority=_CLEARING)

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
        self.log.cleared(now, i, withdrawn)
        site = inc.site
        access_s = self.fixed.access_s[site]
        release = self.fleet.release
        travel_factor = self.travel_factor
        for unit, on_scene_at in sorted(inc.dispatched, key=_ON_SCENE_AT):  # first on scene, first to leave
            released_at = now if now > on_scene_at else on_scene_at
            free_at = release(unit, i, site, now, released_at, access_s, travel_factor)
            if self.waiting:
                self._wake_at(unit, free_at)
            if self.move_up is not None:
                self.move_up.released(unit, now)

    def _serve_waiting(self, units: list[int]) -> None:
        """Offer the units free again now (all together) to the waiting incidents that need their types, in the
        order of the queue discipline."""
        fleet = self.fleet
        unit_type = fleet.unit_type
        types = {unit_type[unit] for unit in units}  # membership only
        available, on_the_way_back = fleet.available, fleet.on_the_way_back
        for inc in self.queue_order(self.waiting):
            if not any(available[unit] or on_the_way_back[unit] for unit in units):
                break
            if any(inc.outstanding.get(t) for t in types):
                self._fill(inc)
                if not inc.outstanding:
                    inc.waiting = False
                    self.waiting.remove(inc)

    # -- moments a busy unit is free again --------------------------------------------------------------------
    def _busy_until(self, unit: int, at_s: float) -> None:
        """The fleet says a unit is out of service until ``at_s``: time it if incidents are waiting."""
        if self.waiting:
            self._wake_at(unit, at_s)

    def _wake_at(self, unit: int, at_s: float) -> None:
        """Time the moment a busy unit is free again (once), so that a waiting incident gets it then."""
        if self.wake_at_s[unit] != at_s:
            self.wake_at_s[unit] = at_s
            self.free_at.setdefault(at_s, []).append(unit)
            self._at(at_s, self._wake, unit, priority=_FREE_AGAIN)

    def _wake(self, unit: int) -> None:
        """The units free again now (the first of their wakes handles them all: they are free together) go to the
        waiting incidents that need their types, in queue order, before any drill due meanwhile."""
        now = self.now
        if self.wake_at_s[unit] != now:
            return  # woken with the others free at this instant
        fleet = self.fleet
        wake_at_s = self.wake_at_s
        together = [u for u in self.free_at.pop(now) if wake_at_s[u] == now]
        for u in together:
            wake_at_s[u] = math.inf
            fleet.catch_up(u, now, start_drills=False)
        free = [u for u in together if fleet.status[u] == AVAILABLE or fleet.on_the_way_back[u]]
        if free and self.waiting:
            next_change_s, status = fleet.next_change_s, fleet.status
            before = [(next_change_s[u], status[u]) for u in free]
            for u in free:
                next_change_s[u] = math.inf  # calls before drills
            self._serve_waiting(free)
            for u, (due_s, was) in zip(free, before, strict=True):
                if status[u] == was:  # not sent (a free unit is available or on its way back): its plan stands
                    next_change_s[u] = due_s
        for u in together:
            fleet.catch_up(u, now)


@dataclass(frozen=True, eq=False)
class _Fixed:
    """What every replication of a world reads besides its fleet: plain lists and constants, built once per world."""

    policy: DispatchPolicy
    access_s: list[float]
    on_scene: list[Duration]  # the distinct on-scene time distributions
    on_scene_of: dict[str, list[int]]  # each incident type's at levels 1..MAX_LEVEL
    travel_factor: Callable[[float], float]  # congestion on a road trip starting at a moment (traffic windows)
    on_scene_penalty: float
    escalation_bonus: float
    activation_s: float


@functools.lru_cache(maxsize=8)
def _fixed(world: World) -> _Fixed:
    """Built once per world (worlds hash by identity) and shared by its replications in a process."""
    scenario = world.scenario
    readiness = scenario.readiness
    on_scene: dict[Duration, int] = {}
    on_scene_of = {
        name: [on_scene.setdefault(t.on_scene(level), len(on_scene)) for level in range(1, MAX_LEVEL + 1)]
        for name, t in scenario.all_incident_types().items()
    }
    return _Fixed(
        policy=make_policy(world),
        access_s=world.access_s.tolist(),
        on_scene=list(on_scene),
        on_scene_of=on_scene_of,
        travel_factor=travel_factor_of(scenario),
        on_scene_penalty=readiness.on_scene_penalty,
        escalation_bonus=readiness.escalation_bonus,
        activation_s=scenario.dispatch.mutual_aid.activation_delay_min * 60.0,
    )


def travel_factor_of(scenario) -> Callable[[float], float]:
    """The congestion factor on a road trip starting at a moment: the scenario's daily traffic windows as a step
    function of the time of day (1 outside them)."""
    steps = {0.0: 1.0}
    for period in sorted(scenario.traffic, key=lambda p: p.from_h):  # a window may start where the last one ends
        steps |= {period.from_h * 3600.0: period.travel_factor, period.to_h * 3600.0: 1.0}
    steps = dict(sorted(steps.items()))
    from_s, factor = list(steps), list(steps.values())
    if len(from_s) == 1:  # free flow all day

        def free_flow(at_s: float) -> float:
            return 1.0

        return free_flow

    until_s = [*from_s[1:], SECONDS_PER_DAY]
    window = [0.0, 0.0, 1.0]  # the last window looked up: from, until, factor (trips cluster in time)

    def travel_factor(at_s: float) -> float:
        t = at_s % SECONDS_PER_DAY
        if window[0] <= t < window[1]:
            return window[2]
        k = bisect.bisect_right(from_s, t) - 1
        window[:] = from_s[k], until_s[k], factor[k]
        return factor[k]

    return travel_factor


def _work_draws(fixed: _Fixed, stream: IncidentStream) -> list[list[float]]:
    """On-scene work seconds of every incident at each level (one uniform per incident, so levels sharing a
    distribution share the draw)."""
    draws = np.array([dist.ppf_s(stream.u_on_scene) for dist in fixed.on_scene])  # (distribution, incident)
    of_type = np.array([fixed.on_scene_of[name] for name in stream.type_names], dtype=np.intp)
    of_type = of_type.reshape(-1, MAX_LEVEL)
    return draws[of_type[stream.incident_type], np.arange(len(stream))[:, np.newaxis]].tolist()


def simulate(world: World, stream: IncidentStream) -> SimOutput:
    """Run one replication."""
    return Model(world, stream).run()
