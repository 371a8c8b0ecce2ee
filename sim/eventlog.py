"""The event log: event kinds, the log's row type, the writers of the model's records, and unit statuses from it.

The model writes the log as flat records, one per step and not one per row, through the named writers of
:class:`LogWriter` (a dispatch with its four phase times, a unit's return, a whole drill, a single row). At the end
:meth:`LogWriter.events` unpacks them by one gather through a table of which record field feeds which row field, in
the order the rows were made, then sorts them by time (stable). Every table and figure is derived from the log;
the status a unit is in after each of its events is :func:`status_after`, used by the model's status times, the
metrics and the figures alike. No module outside this one knows a record's layout.

A new record shape is one writer method and one entry of ``_TEMPLATE_ROWS``.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from sim._arrays import run_ends, run_starts
from sim.forces import UnitStatus


class EventKind(IntEnum):
    CALL = 0  # incident called in (value: its level)
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
    SENT_ON = 13  # a unit on its way back is sent to an incident from where it is (value: its road node, -1: none)
    MOVE_UP = 14  # a unit leaves its base to cover an empty district (value: the base it covers)
    AT_POST = 15  # a moved-up unit stands at the base it covers (value: that base)
    MOVE_HOME = 16  # a moved-up unit heads home, its district's own units back (value: its home base)


EVENT_DTYPE = np.dtype([("time_s", "f8"), ("kind", "i1"), ("incident", "i8"), ("unit", "i8"), ("value", "f8")])
NO_ID = np.iinfo(np.int64).min  # marks "no incident" / "no unit" in the log; never a valid index

STATUS_AFTER: dict[EventKind, UnitStatus] = {
    EventKind.DISPATCH: UnitStatus.MOBILISING,
    EventKind.EN_ROUTE: UnitStatus.EN_ROUTE,
    EventKind.ON_SCENE: UnitStatus.ON_SCENE,
    EventKind.RELEASED: UnitStatus.RETURNING,
    EventKind.AT_BASE: UnitStatus.AVAILABLE,
    EventKind.DRILL_END: UnitStatus.AVAILABLE,
    EventKind.MOVE_UP: UnitStatus.RELOCATING,
    EventKind.AT_POST: UnitStatus.POSTED,
    EventKind.MOVE_HOME: UnitStatus.RELOCATING,
}
"""The status a unit is in after each event of its own (DRILL_START: off site or at base by its value)."""
_STATUS_AFTER_KIND = np.array([STATUS_AFTER.get(kind, -1) for kind in EventKind], dtype=np.int64)  # -1: no change


def status_after(kind: np.ndarray, value: np.ndarray) -> np.ndarray:
    """The status a unit is in after each row (-1 where the row does not change its unit's status)."""
    status = _STATUS_AFTER_KIND[np.asarray(kind, dtype=np.intp)]
    drill = np.flatnonzero(np.asarray(kind) == EventKind.DRILL_START)
    status[drill] = np.where(np.asarray(value)[drill] > 0, UnitStatus.DRILL_OFF_SITE, UnitStatus.DRILL_AT_BASE)
    return status


def unit_status_rows(events: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a log that change a unit's status, as (unit, time_s, status after) grouped by unit in time order."""
    unit = events["unit"]
    status = status_after(events["kind"], events["value"])
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


# --- the model's records ---------------------------------------------------------------------------------------

_RECORD_WIDTH = 9
_ROW, _DISPATCHED, _RETURN, _DRILL = 0.0, 1.0, 2.0, 3.0  # the record shapes (floats: see LogWriter)
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
_CALL, _CLEARED, _QUEUED, _ESCALATED = (
    float(k) for k in (EventKind.CALL, EventKind.CLEARED, EventKind.QUEUED, EventKind.ESCALATED)
)
_DRILL_START, _DRILL_END = float(EventKind.DRILL_START), float(EventKind.DRILL_END)
_RELEASED, _SENT_ON = float(EventKind.RELEASED), float(EventKind.SENT_ON)
_AT_BASE = float(EventKind.AT_BASE)
MOVE_KINDS = MOVE_UP, AT_POST, MOVE_HOME = (
    float(EventKind.MOVE_UP),
    float(EventKind.AT_POST),
    float(EventKind.MOVE_HOME),
)  # as LogWriter.moved takes them


class LogWriter:
    """The model's log as flat records of ``_RECORD_WIDTH`` floats, one named writer per record shape.

    One record in place of up to five rows keeps the Python objects made per event few; every constant is a float,
    since numpy converts a Python int to float64 at twice the cost of a float. Times are moments (``*_at_s``) and
    may lie ahead of the clock: the log is sorted when unpacked."""

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[float] = []

    def call(self, at_s: float, incident: int, level: int) -> None:
        self.records += (_ROW, at_s, _CALL, incident, _NO_ID, level, 0.0, 0.0, 0.0)

    def queued(self, at_s: float, incident: int, missing: int) -> None:
        self.records += (_ROW, at_s, _QUEUED, incident, _NO_ID, missing, 0.0, 0.0, 0.0)

    def escalated(self, at_s: float, incident: int, unit: int, level: int) -> None:
        self.records += (_ROW, at_s, _ESCALATED, incident, unit, level, 0.0, 0.0, 0.0)

    def cleared(self, at_s: float, incident: int, withdrawn: int) -> None:
        self.records += (_ROW, at_s, _CLEARED, incident, _NO_ID, withdrawn, 0.0, 0.0, 0.0)

    def dispatched(
        self,
        at_s: float,
        mobilised_at_s: float,
        en_route_at_s: float,
        road_end_at_s: float,
        on_scene_at_s: float,
        incident: int,
        unit: int,
        mutual_aid: bool,
    ) -> None:
        """A dispatch and its phases: DISPATCH, MOBILISED, EN_ROUTE, AT_ROAD_END and ON_SCENE rows."""
        self.records += (
            _DISPATCHED,
            at_s,
            mobilised_at_s,
            en_route_at_s,
            road_end_at_s,
            on_scene_at_s,
            incident,
            unit,
            mutual_aid,
        )

    def returned(self, released_at_s: float, back_at_s: float, incident: int, unit: int) -> int:
        """A unit's release from the scene and its return to base: RELEASED and AT_BASE rows; returns the record's
        place (for :meth:`cut_return`)."""
        at = len(self.records)
        self.records += (_RETURN, released_at_s, back_at_s, incident, unit, 0.0, 0.0, 0.0, 0.0)
        return at

    def cut_return(self, at: int) -> None:
        """The return recorded at ``at`` never reaches base (the unit was sent on): only its RELEASED row stays, in
        its place in the order rows were made."""
        released_at_s, _, incident, unit = self.records[at + 1 : at + 5]
        self.records[at : at + _RECORD_WIDTH] = (_ROW, released_at_s, _RELEASED, incident, unit, 0.0, 0.0, 0.0, 0.0)

    def sent_on(self, at_s: float, incident: int, unit: int, node: float) -> None:
        self.records += (_ROW, at_s, _SENT_ON, incident, unit, node, 0.0, 0.0, 0.0)

    def moved(self, at_s: float, kind: float, unit: int, base: int) -> None:
        """A move-up row: ``kind`` is one of the MOVE_UP, AT_POST, MOVE_HOME kinds as a float (``MOVE_KINDS``)."""
        self.records += (_ROW, at_s, kind, _NO_ID, unit, base, 0.0, 0.0, 0.0)

    def home_from_move(self, at_s: float, unit: int) -> None:
        """A moved-up unit is back at its home base: an AT_BASE row of no incident."""
        self.records += (_ROW, at_s, _AT_BASE, _NO_ID, unit, 0.0, 0.0, 0.0, 0.0)

    def drill(self, start_at_s: float, end_at_s: float, unit: int, off_site: float, proficiency: float) -> None:
        """A drill played to its end: DRILL_START and DRILL_END rows."""
        self.records += (_DRILL, start_at_s, end_at_s, unit, off_site, proficiency, 0.0, 0.0, 0.0)

    def drill_started(self, at_s: float, unit: int, off_site: float) -> None:
        self.records += (_ROW, at_s, _DRILL_START, _NO_ID, unit, off_site, 0.0, 0.0, 0.0)

    def drill_ended(self, at_s: float, unit: int, proficiency: float) -> None:
        self.records += (_ROW, at_s, _DRILL_END, _NO_ID, unit, proficiency, 0.0, 0.0, 0.0)

    def events(self) -> np.ndarray:
        """The event log: in time order, rows at one time in the order they were made."""
        return event_log(self.records)


def event_log(records: list[float]) -> np.ndarray:
    """The event log from flat records (see :class:`LogWriter`)."""
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
