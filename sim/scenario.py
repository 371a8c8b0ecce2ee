"""The scenario file: schema, loading (YAML plus referenced CSV / GeoJSON) and validation.

All problems in a file are collected and raised together as one :class:`ScenarioError`, each with its path and the
bad value (``bases[1].units[0].count: must be > 0, got -1``). Unknown keys are errors. Referenced files resolve
relative to the scenario file. Fields carry their unit in the name (``_min``, ``_h``, ``_days``, ``_kph``, ``_m``).
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import functools
import json
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from sim import defaults
from sim.distributions import Duration
from sim.errors import ScenarioError
from sim.geo import line_length_m
from sim.schema_base import StrictModel

UnitType = Literal["engine", "foam", "hazmat", "aerial", "decon", "command", "heavy_rescue", "water_tanker"]
BaseKind = Literal["career_station", "special_service", "enterprise_team", "hazchem_team", "regional_base"]
InstallationKind = Literal["tank_farm", "process_unit", "warehouse", "loading_station", "other"]
SourceKind = Literal[
    "tank_farm", "process_unit", "warehouse", "loading_station", "other", "site", "pipeline", "everyday"
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CallSource = Literal["park", "pipeline", "site", "everyday"]
DrillKind = Literal["tabletop", "functional", "full_scale"]
MAX_LEVEL = 4
"""Incident levels run 1..MAX_LEVEL: the four grades of 生产安全事故报告和调查处理条例 (一般, 较大, 重大, 特别重大)."""
Level = Literal[tuple(range(1, MAX_LEVEL + 1))]


class _Problems(ValueError):
    """What a model validator found wrong, each ``path: message`` with the path relative to the model, so that
    every problem is reported under its own full path (``pipelines[0].hca[1].to_km: ...``)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _check_bbox(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    west, south, east, north = bbox
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValueError(f"need west < east and south < north in degrees (west, south, east, north), got {list(bbox)}")
    return bbox


BBox = Annotated[tuple[float, float, float, float], AfterValidator(_check_bbox)]


class NetworkSpec(StrictModel):
    source: Literal["synthetic", "osm_xml", "graphml", "place", "bbox", "grid"] = "synthetic"
    path: Path | None = None
    query: str | None = None
    bbox: BBox | None = Field(default=None, description="west, south, east, north")
    max_snap_m: float = Field(
        default=500.0, gt=0, description="reject sites, bases and siting candidates farther from any road"
    )
    grid_nodes: int | None = Field(
        default=None, ge=4, description="source grid: a lattice of this many nodes over bbox (scale tests)"
    )

    @model_validator(mode="after")
    def _needs(self) -> NetworkSpec:
        needs = {
            "osm_xml": ["path"],
            "graphml": ["path"],
            "place": ["query"],
            "bbox": ["bbox"],
            "grid": ["bbox", "grid_nodes"],
        }.get(self.source, [])
        missing = [f for f in needs if getattr(self, f) is None]
        if missing:
            raise ValueError(f"source {self.source!r} needs the field(s) {', '.join(map(repr, missing))}")
        return self


class TrafficPeriod(StrictModel):
    """A daily window (hours from midnight; the simulation starts at midnight) in which road travel times are
    multiplied by ``travel_factor`` (congestion: >= 1; free-flow speeds are the baseline)."""

    from_h: float = Field(ge=0, lt=24)
    to_h: float = Field(gt=0, le=24)
    travel_factor: float = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> TrafficPeriod:
        if self.to_h <= self.from_h:
            raise ValueError(f"to_h must be after from_h, got from_h={self.from_h:g}, to_h={self.to_h:g}")
        return self


class TimeProfile(StrictModel):
    """Relative call rates (not counts) by hour of day (24 values from midnight), day of week (7, Monday first) and
    month (12, January first). Each list is scaled to mean 1 (months weighted by their days), so a source keeps its
    yearly rate and the profile only moves its calls in time; a list not given is flat."""

    hour_of_day: tuple[float, ...] | None = None
    day_of_week: tuple[float, ...] | None = None
    month: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _shapes(self) -> TimeProfile:
        problems = []
        for name, length in (("hour_of_day", 24), ("day_of_week", 7), ("month", 12)):
            values = getattr(self, name)
            if values is None:
                continue
            if len(values) != length:
                problems.append(f"{name}: needs {length} values, got {len(values)}")
            elif any(v < 0 for v in values) or sum(values) <= 0:
                problems.append(f"{name}: values must be >= 0 with a positive sum, got {list(values)}")
        if problems:
            raise _Problems(problems)
        return self


class Target(StrictModel):
    name: str
    applies_to: Literal["all", "hazmat", "park", "pipeline", "hca", "site", "everyday"] = Field(
        default="all", description="incidents the target counts: hazmat is every source but everyday calls"
    )
    first_arrival_min: float | None = Field(default=None, gt=0)
    full_response_min: float | None = Field(default=None, gt=0)
    share: float = Field(default=0.9, gt=0, le=1, description="required share of incidents within the time")

    @model_validator(mode="after")
    def _one_time(self) -> Target:
        if (self.first_arrival_min is None) == (self.full_response_min is None):
            raise ValueError("give exactly one of first_arrival_min, full_response_min")
        return self

    @property
    def measure(self) -> str:
        return "first_arrival" if self.first_arrival_min is not None else "full_response"

    @property
    def limit_s(self) -> float:
        return 60.0 * (self.first_arrival_min if self.first_arrival_min is not None else self.full_response_min)


class Installation(StrictModel):
    id: str
    name: str | None = None
    kind: InstallationKind = "other"
    hazards: tuple[Literal["flammable", "toxic", "explosive"], ...] = ()
    hazard_source_level: Level | None = Field(default=None, description="major-hazard-source level, 1 gravest")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    incidents_per_yr: float | None = Field(default=None, ge=0, description="overrides the default rate")


class Park(StrictModel):
    id: str
    name: str | None = None
    risk_grade: Literal["A", "B", "C", "D"]
    installations: tuple[Installation, ...] = ()
    installations_file: str | None = Field(default=None, description="CSV or GeoJSON of installations")
    rate_multiplier: float | None = Field(default=None, gt=0, description="overrides the grade multiplier")
    profile: str | None = Field(default=None, description="a time profile of time_profiles (default: flat)")


class Site(StrictModel):
    """A generic incident site with its own rate (anything that is not a park installation or pipeline)."""

    id: str
    name: str | None = None
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    incidents_per_yr: float = Field(gt=0)
    access_kph: float | None = Field(default=None, gt=0)
    profile: str | None = Field(default=None, description="a time profile of time_profiles (default: flat)")


class HcaStretch(StrictModel):
    from_km: float = Field(ge=0)
    to_km: float = Field(gt=0)
    name: str | None = None
    rate_multiplier: float = Field(default=defaults.HCA_RATE_MULTIPLIER, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> HcaStretch:
        if self.to_km <= self.from_km:
            raise ValueError(f"to_km must be > from_km, got from_km={self.from_km}, to_km={self.to_km}")
        return self


class Pipeline(StrictModel):
    id: str
    name: str | None = None
    product: Literal["crude_oil", "natural_gas", "refined_products"]
    coordinates: tuple[tuple[float, float], ...] | None = Field(default=None, description="[[lon, lat], ...]")
    geojson: str | None = None
    failures_per_1000km_yr: float = Field(default=defaults.PIPELINE_FAILURES_PER_1000KM_YR, ge=0)
    hca: tuple[HcaStretch, ...] = ()
    offroad_kph: float = Field(default=defaults.OFFROAD_KPH, gt=0)
    segment_m: float = Field(default=100.0, gt=0, description="spacing of incident access points")
    max_offroad_m: float = Field(default=3000.0, gt=0, description="reject pieces farther than this from a road")
    profile: str | None = Field(default=None, description="a time profile of time_profiles (default: flat)")

    @model_validator(mode="after")
    def _geometry(self) -> Pipeline:
        if self.coordinates is None:
            raise ValueError("give coordinates or geojson")
        if len(self.coordinates) < 2:
            raise ValueError(f"a line needs at least 2 points, got {len(self.coordinates)}")
        problems = _lonlat_problems("coordinates", self.coordinates)
        if not problems:
            length_km = line_length_m(self.coordinates) / 1000
            if length_km == 0:
                problems.append("coordinates: the line has zero length (all points are the same)")
            problems += [
                f"hca[{k}].to_km: {stretch.to_km:g} km is beyond the pipeline's length {length_km:.2f} km"
                for k, stretch in enumerate(self.hca)
                if stretch.to_km > length_km + 1e-6
            ]
        if problems:
            raise _Problems(problems)
        return self


Ring = tuple[tuple[float, float], ...]


class CallArea(StrictModel):
    """An area of everyday calls (fires, road accidents, technical rescue, social assistance) answered by the same
    units: its yearly calls spread evenly over the points of a square grid ``cell_m`` apart inside its polygon. A
    point with no road within ``network.max_snap_m`` gets no calls (its share goes to the area's other points)."""

    id: str
    name: str | None = None
    polygon: Ring | None = Field(default=None, description="[[lon, lat], ...], the outer ring (holes are ignored)")
    geojson: str | None = Field(default=None, description="a GeoJSON file with one Polygon, instead of polygon")
    calls_per_yr: float = Field(gt=0, description="everyday calls a year in the whole area")
    cell_m: float = Field(default=500.0, gt=0, description="spacing of the grid of call points")
    profile: str | None = Field(default=None, description="a time profile of time_profiles (default: flat)")

    @model_validator(mode="after")
    def _ring(self) -> CallArea:
        if self.polygon is None:
            raise ValueError("give polygon or geojson")
        problems = _lonlat_problems("polygon", self.polygon)
        if len(set(self.polygon)) < 3:
            problems.append(f"polygon: needs at least 3 distinct points, got {len(set(self.polygon))}")
        if problems:
            raise _Problems(problems)
        return self


class ReplayCall(StrictModel):
    """One historical call: when, where, what, and optionally the observed response-time parts of its first unit."""

    id: str
    time: dt.datetime = Field(description="local wall-clock time of the call, e.g. 2026-03-04 14:05")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    type: str = Field(description="an incident type (incident_types or the defaults)")
    level: Level = 1
    source: CallSource = Field(default="site", description="the group it counts in for targets and breakdowns")
    observed_turnout_min: float | None = Field(default=None, ge=0)
    observed_travel_min: float | None = Field(default=None, ge=0, description="wheels rolling to on scene")
    observed_first_arrival_min: float | None = Field(default=None, ge=0, description="call to first unit on scene")

    @field_validator("time")
    @classmethod
    def _naive(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is not None:
            raise ValueError(f"give local time without a time zone, got {v.isoformat()}")
        return v


class ReplaySpec(StrictModel):
    """Historical calls played at their times and places, instead of the generated incidents or beside them."""

    file: str | None = Field(default=None, description="CSV or GeoJSON points of calls (fields of ReplayCall)")
    calls: tuple[ReplayCall, ...] = ()
    mode: Literal["instead", "beside"] = Field(
        default="instead", description="instead: only these calls; beside: also the generated incidents"
    )


def _lonlat_problems(field: str, points) -> list[str]:
    """A problem for each ``[lon, lat]`` of a line or ring outside the valid degrees."""
    return [
        f"{field}[{k}]: need -180 <= lon <= 180 and -90 <= lat <= 90, got [{lon}, {lat}]"
        for k, (lon, lat) in enumerate(points)
        if not (-180 <= lon <= 180 and -90 <= lat <= 90)
    ]


class IncidentType(StrictModel):
    severity: dict[Level, float] = Field(description="probability of each level 1..MAX_LEVEL (4)")
    on_scene_min: Duration
    on_scene_by_level_min: dict[Level, Duration] = Field(default_factory=dict, description="overrides per level")
    escalation_min: Duration | None = Field(default=None, description="late first arrival past this escalates")

    @field_validator("severity")
    @classmethod
    def _probabilities(cls, v: dict[int, float]) -> dict[int, float]:
        if any(p < 0 for p in v.values()) or abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"must be non-negative and sum to 1, got {dict(v)}")
        return v

    def on_scene(self, level: int) -> Duration:
        return self.on_scene_by_level_min.get(level, self.on_scene_min)


class UnitGroup(StrictModel):
    type: UnitType
    count: int = Field(default=1, gt=0)


class DrillWindow(StrictModel):
    """Working hours for drills: a drill due outside them starts when they next open (and runs to its end)."""

    from_h: float = Field(default=8.0, ge=0, lt=24)
    to_h: float = Field(default=17.0, gt=0, le=24)
    weekdays: tuple[Weekday, ...] = Field(default=("mon", "tue", "wed", "thu", "fri"), min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> DrillWindow:
        if self.to_h <= self.from_h:
            raise ValueError(f"to_h must be after from_h, got from_h={self.from_h:g}, to_h={self.to_h:g}")
        return self


class DrillSpec(StrictModel):
    interval_days: float = Field(gt=0)
    duration_h: float = Field(default=4.0, ge=0)
    kind: DrillKind = "functional"
    off_site: bool = True
    recall_delay_min: float = Field(default=5.0, ge=0, description="extra turnout when called during a drill at base")
    stagger_days: float | None = Field(default=None, ge=0, description="offset between units; default spreads evenly")
    unit_types: tuple[UnitType, ...] | None = Field(default=None, description="only these unit types drill")
    window: DrillWindow | None = Field(default=None, description="drills start only in these hours (default: any)")


class Base(StrictModel):
    id: str
    name: str | None = None
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    kind: BaseKind = "career_station"
    jurisdiction: str = "local"
    units: tuple[UnitGroup, ...] = ()
    candidate: bool = False
    siting: Literal["free", "fixed_open", "fixed_closed"] = "free"
    turnout_min: Duration | None = None
    drills: DrillSpec | None = None

    def turnout(self) -> Duration:
        return self.turnout_min or Duration.model_validate(defaults.DEFAULT_TURNOUT_MIN[self.kind])


class MutualAid(StrictModel):
    activation_delay_min: float = Field(default=15.0, ge=0)
    local_eta_limit_min: float = Field(default=20.0, gt=0, description="call other jurisdictions past this ETA")


class MoveUpSpec(StrictModel):
    """Move-up (coverage backfill): an empty station's district is covered by a unit from another base."""

    uncovered_after_min: float = Field(
        default=defaults.MOVE_UP_AFTER_MIN,
        ge=0,
        description="minutes a district may be without a unit of a type before one is moved up to cover it",
    )
    unit_types: tuple[UnitType, ...] | None = Field(
        default=None, description="only districts of these unit types are covered (default: every type)"
    )
    donor_keeps: int = Field(
        default=1, ge=1, description="units of the type a donor base keeps free at home after one leaves (count)"
    )


class DispatchSpec(StrictModel):
    policy: str = Field(default="nearest_eta", description="a dispatch policy registered in sim.dispatch.POLICIES")
    queue: str = Field(
        default="fifo", description="waiting-line order (sim.queueing.DISCIPLINES): fifo or level_then_age"
    )
    home_jurisdiction: str = "local"
    mutual_aid: MutualAid = MutualAid()
    from_return: bool = Field(
        default=True,
        description="a local unit driving back to base can be sent on from where it is (crew aboard: no turnout)",
    )
    move_up: MoveUpSpec | None = Field(
        default=None, description="move-up: cover districts left without a unit (default: off); see docs/model.md"
    )

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, v: str) -> str:
        from sim.dispatch import POLICIES

        if v not in POLICIES:
            raise ValueError(f"unknown policy {v!r}; choose from {', '.join(sorted(POLICIES))}")
        return v

    @field_validator("queue")
    @classmethod
    def _known_queue(cls, v: str) -> str:
        from sim.queueing import DISCIPLINES

        if v not in DISCIPLINES:
            raise ValueError(f"unknown queue discipline {v!r}; choose from {', '.join(DISCIPLINES)}")
        return v


class ReadinessSpec(StrictModel):
    half_life_days: float = Field(default=defaults.HALF_LIFE_DAYS, gt=0)
    initial_proficiency: float = Field(default=1.0, ge=0, le=1)
    drill_gain: dict[DrillKind, float] = Field(default_factory=lambda: dict(defaults.DRILL_GAIN))
    turnout_penalty: float = Field(default=0.5, ge=0, description="turnout x (1 + penalty x (1 - proficiency))")
    on_scene_penalty: float = Field(default=0.3, ge=0)
    escalation_bonus: float = Field(default=0.0, ge=0, description="threshold x (1 + bonus x proficiency)")
    statutory_interval_days: float = Field(default=defaults.STATUTORY_DRILL_INTERVAL_DAYS, gt=0)


class CandidateGrid(StrictModel):
    spacing_m: float = Field(gt=0)
    bbox: BBox | None = Field(default=None, description="west, south, east, north; default: around the incident sites")


class CandidateSite(StrictModel):
    id: str
    name: str | None = None
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class SitingSpec(StrictModel):
    """Where new bases may go and what a new base holds."""

    candidates_file: str | None = Field(default=None, description="CSV or GeoJSON of sites (id, name, lon, lat)")
    candidates: tuple[CandidateSite, ...] = ()
    grid: CandidateGrid | None = Field(default=None, description="also generate sites from road nodes")
    new_base_units: tuple[UnitGroup, ...] = (UnitGroup(type="engine", count=2), UnitGroup(type="hazmat", count=1))
    new_base_kind: BaseKind = "special_service"
    turnout_allowance_min: float | None = Field(
        default=None,
        ge=0,
        description="added to drive times when optimising; default: the new base kind's mean turnout",
    )


class Scenario(StrictModel):
    name: str
    description: str | None = None
    seed: int = Field(default=20261122, ge=0)
    horizon_days: float = Field(gt=0)
    start_date: dt.date = Field(
        default=dt.date(2026, 1, 1), description="the clock starts at midnight of this day (weekdays and months)"
    )
    replications: int = Field(default=10, gt=0)
    network: NetworkSpec = NetworkSpec()
    speeds_kph: dict[str, float] = Field(default_factory=dict, description="merged over the defaults per road class")
    traffic: tuple[TrafficPeriod, ...] = Field(
        default=(), description="daily windows of slower road travel (rush hours); none: free flow all day"
    )
    targets: tuple[Target, ...] = ()
    parks: tuple[Park, ...] = ()
    pipelines: tuple[Pipeline, ...] = ()
    sites: tuple[Site, ...] = ()
    call_areas: tuple[CallArea, ...] = Field(default=(), description="everyday call load on the same units")
    time_profiles: dict[str, TimeProfile] = Field(default_factory=dict, description="named, for sources' profile")
    replay: ReplaySpec | None = None
    incident_types: dict[str, IncidentType] = Field(default_factory=dict, description="merged over the defaults")
    incident_mix: dict[SourceKind, dict[str, float]] = Field(default_factory=dict, description="merged by source")
    response_plans: dict[str, dict[Level, dict[UnitType, int]]] = Field(
        default_factory=dict,
        description="unit type -> count per incident type and level (merged over the defaults by type); a level "
        "without its own plan takes the nearest lower level's (the lowest if none is lower)",
    )
    default_response_plan: dict[UnitType, int] = Field(
        default_factory=lambda: dict(defaults.DEFAULT_FALLBACK_PLAN),
        description="the plan of an incident type that has none, here or in the defaults (planning assumption)",
    )
    bases: tuple[Base, ...]
    drills: DrillSpec | None = None
    readiness: ReadinessSpec = ReadinessSpec()
    dispatch: DispatchSpec = DispatchSpec()
    siting: SitingSpec = SitingSpec()

    _source_path: Path | None = PrivateAttr(default=None)
    _source_text: str = PrivateAttr(default="")
    _raw: dict = PrivateAttr(default_factory=dict)
    _overrides: dict = PrivateAttr(default_factory=dict)

    @field_validator("speeds_kph")
    @classmethod
    def _positive_speeds(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: s for k, s in v.items() if not s > 0}
        if bad:
            raise ValueError(f"speeds must be > 0, got {bad}")
        return v

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        problems = _cross_problems(self)
        if problems:
            raise _Problems(problems)
        return self

    # -- derived views -------------------------------------------------------------------------------------
    @property
    def source_path(self) -> Path | None:
        return self._source_path

    @property
    def source_text(self) -> str:
        return self._source_text

    @property
    def raw(self) -> dict:
        return self._raw

    @property
    def overrides(self) -> dict:
        """Dotted-path overrides applied on top of the file's text (recorded in every manifest)."""
        return self._overrides

    @property
    def horizon_s(self) -> float:
        return self.horizon_days * 86400.0

    def all_incident_types(self) -> dict[str, IncidentType]:
        return _default_incident_types() | dict(self.incident_types)

    def mix(self, source_kind: str) -> dict[str, float]:
        return dict(self.incident_mix.get(source_kind) or defaults.DEFAULT_INCIDENT_MIX[source_kind])

    def plan(self, incident_type: str, level: int) -> dict[str, int]:
        """The units an incident of this type and level asks for (see ``response_plans``)."""
        plans = self.response_plans.get(incident_type) or defaults.DEFAULT_RESPONSE_PLANS.get(incident_type, {})
        if not plans:
            return dict(self.default_response_plan)
        return dict(
            plans.get(level) or plans[max(lv for lv in plans if lv <= level) if min(plans) <= level else min(plans)]
        )

    def speeds(self) -> dict[str, float]:
        from sim.network import DEFAULT_SPEEDS_KPH

        return dict(DEFAULT_SPEEDS_KPH) | dict(self.speeds_kph)


def _cross_problems(s: Scenario) -> list[str]:
    """Problems that involve several fields (unique ids and names, references between sections)."""
    problems = []
    for section in ("bases", "parks", "pipelines", "sites", "call_areas"):
        problems += [f"{section}: duplicate id {i!r}" for i in _duplicates(item.id for item in getattr(s, section))]
    problems += [
        f"parks: duplicate installation id {i!r}" for i in _duplicates(i.id for p in s.parks for i in p.installations)
    ]
    problems += [f"targets: duplicate name {n!r}" for n in _duplicates(t.name for t in s.targets)]
    problems += [f"siting.candidates: duplicate id {i!r}" for i in _duplicates(c.id for c in s.siting.candidates)]
    problems += [
        f"siting.candidates: id {i!r} is also a base's id"
        for i in sorted({c.id for c in s.siting.candidates} & {b.id for b in s.bases})
    ]
    types = set(defaults.DEFAULT_INCIDENT_TYPES) | set(s.incident_types)
    for kind, weights in s.incident_mix.items():
        problems += [f"incident_mix.{kind}.{t}: unknown incident type {t!r}" for t in weights if t not in types]
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            problems.append(f"incident_mix.{kind}: weights must be >= 0 with a positive sum, got {weights}")
    problems += [
        f"default_response_plan.{u}: count must be > 0, got {c}" for u, c in s.default_response_plan.items() if c <= 0
    ]
    if not s.default_response_plan:
        problems.append("default_response_plan: must ask for at least one unit")
    for t, plans in s.response_plans.items():
        if t not in types:
            problems.append(f"response_plans.{t}: unknown incident type {t!r}")
        for level, plan in plans.items():
            problems += [
                f"response_plans.{t}.{level}.{u}: count must be > 0, got {c}" for u, c in plan.items() if c <= 0
            ]
    windows = sorted(enumerate(s.traffic), key=lambda item: item[1].from_h)
    for (i, a), (j, b) in zip(windows, windows[1:], strict=False):
        if b.from_h < a.to_h:
            problems.append(f"traffic[{j}]: overlaps traffic[{i}] ({a.from_h:g}-{a.to_h:g} h)")
    if not any(b.units for b in s.bases):
        problems.append("bases: no base has any units")
    problems += _profile_problems(s)
    problems += _replay_problems(s, types)
    if s.replay is not None and s.replay.mode == "instead":
        pass  # the replayed calls are the incidents
    elif not (s.parks or s.pipelines or s.sites or s.call_areas):
        problems.append("no incident sources: give parks, pipelines, sites, call_areas or a replay")
    elif not (
        s.sites
        or s.call_areas
        or any(i.incidents_per_yr != 0 for p in s.parks for i in p.installations)
        or any(line.failures_per_1000km_yr > 0 for line in s.pipelines)
    ):
        problems.append("no incident source has a rate above 0: no incident would ever happen")
    if s.dispatch.home_jurisdiction not in {b.jurisdiction for b in s.bases if b.units}:
        problems.append(
            f"dispatch.home_jurisdiction: no base with units has jurisdiction {s.dispatch.home_jurisdiction!r}"
        )
    return problems


def _profile_problems(s: Scenario) -> list[str]:
    """Every source's profile must be one of time_profiles."""
    named = [
        *((f"parks[{i}]", p.profile) for i, p in enumerate(s.parks)),
        *((f"pipelines[{i}]", p.profile) for i, p in enumerate(s.pipelines)),
        *((f"sites[{i}]", p.profile) for i, p in enumerate(s.sites)),
        *((f"call_areas[{i}]", p.profile) for i, p in enumerate(s.call_areas)),
    ]
    known = ", ".join(sorted(s.time_profiles)) or "none defined"
    return [
        f"{where}.profile: unknown time profile {name!r} (time_profiles: {known})"
        for where, name in named
        if name is not None and name not in s.time_profiles
    ]


def _replay_problems(s: Scenario, types: set[str]) -> list[str]:
    """Replayed calls need a known type, a unique id and a time within the horizon."""
    if s.replay is None:
        return []
    if not s.replay.calls:
        return ["replay: no calls (give file or calls)"]
    start = dt.datetime.combine(s.start_date, dt.time())
    end = start + dt.timedelta(days=s.horizon_days)
    problems = [f"replay.calls: duplicate id {i!r}" for i in _duplicates(c.id for c in s.replay.calls)]
    for k, call in enumerate(s.replay.calls):
        if call.type not in types:
            problems.append(f"replay.calls[{k}] ({call.id}).type: unknown incident type {call.type!r}")
        if not start <= call.time < end:
            problems.append(
                f"replay.calls[{k}] ({call.id}).time: {call.time.isoformat(sep=' ')} is outside the horizon "
                f"({start.isoformat(sep=' ')} to {end.isoformat(sep=' ')}; see start_date, horizon_days)"
            )
    return problems


def _duplicates(values) -> list:
    """The values that occur more than once, sorted."""
    values = list(values)
    return sorted({v for v in values if values.count(v) > 1})


# --- loading --------------------------------------------------------------------------------------------------


def load_scenario(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read, resolve referenced files, apply dotted-path overrides and validate a scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [f"cannot read: {exc}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise ScenarioError(str(path), [f"top level must be a mapping, got {type(raw).__name__}"])
    return scenario_from_dict(raw, source=str(path), base_dir=path.parent, text=text, overrides=overrides)


def scenario_from_dict(
    raw: dict,
    *,
    source: str = "<scenario>",
    base_dir: Path | None = None,
    text: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> Scenario:
    """Validate a scenario given as a mapping (what the YAML file holds)."""
    import copy

    raw = copy.deepcopy(raw)
    problems: list[str] = []
    for dotted, value in (overrides or {}).items():
        try:
            set_dotted(raw, dotted, value)
        except (KeyError, IndexError, TypeError) as exc:
            problems.append(f"{dotted}: cannot override: {exc}")
    resolved = copy.deepcopy(raw)
    base_dir = base_dir or Path.cwd()
    problems += _resolve_files(resolved, base_dir)
    try:
        scenario = Scenario.model_validate(resolved)
    except ValidationError as exc:
        problems += format_errors(exc, Scenario)
        raise ScenarioError(source, problems) from None
    if problems:
        raise ScenarioError(source, problems)
    scenario._source_path = Path(source) if source != "<scenario>" else None
    scenario._source_text = text if text is not None else yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    scenario._raw = raw
    scenario._overrides = dict(overrides or {})
    return scenario


def with_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A new scenario with dotted-path overrides applied to the original file's content, revalidated."""
    base_dir = scenario.source_path.parent if scenario.source_path else None
    new = scenario_from_dict(
        scenario.raw,
        source=str(scenario.source_path or "<scenario>"),
        base_dir=base_dir,
        text=scenario.source_text,
        overrides=overrides,
    )
    return new


def set_dotted(tree: dict, dotted: str, value: Any) -> None:
    """Set ``bases[2].units[0].count`` (or ``bases.st1.units[0].count`` selecting by id) in a nested mapping."""
    parts = _split_dotted(dotted)
    node: Any = tree
    for i, part in enumerate(parts[:-1]):
        node = _step(node, part, create=isinstance(parts[i + 1], str))
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise TypeError(f"{dotted}: cannot set inside a {type(node).__name__}")


def _split_dotted(dotted: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in dotted.split("."):
        name, *indices = piece.replace("]", "").split("[")
        if name:
            parts.append(name)
        parts += [int(ix) for ix in indices]
    return parts


def _index(seq: list, key: str | int) -> int:
    if isinstance(key, int):
        if not -len(seq) <= key < len(seq):
            raise IndexError(f"index {key} out of range (length {len(seq)})")
        return key
    for ix, item in enumerate(seq):
        if isinstance(item, dict) and item.get("id") == key:
            return ix
    raise KeyError(f"no item with id {key!r}")


def _step(node: Any, part: str | int, *, create: bool) -> Any:
    if isinstance(node, list):
        return node[_index(node, part)]
    if isinstance(node, dict):
        if part not in node:
            if not create:
                raise KeyError(f"no field {part!r}")
            node[part] = {}
        return node[part]
    raise TypeError(f"cannot step into {type(node).__name__} with {part!r}")


def _resolve_files(raw: dict, base_dir: Path) -> list[str]:
    """Load installations_file, siting.candidates_file and pipeline geojson in place and check that the road
    network file exists; return the problems found."""
    problems = []
    for pi, park in enumerate(raw.get("parks") or []):
        if isinstance(park, dict) and park.get("installations_file"):
            rows, found = _read_rows(base_dir / str(park["installations_file"]), Installation)
            problems += [f"parks[{pi}].installations_file{p}" for p in found]
            park["installations"] = list(park.get("installations") or []) + rows
    siting = raw.get("siting")
    if isinstance(siting, dict) and siting.get("candidates_file"):
        rows, found = _read_rows(base_dir / str(siting["candidates_file"]), CandidateSite)
        problems += [f"siting.candidates_file{p}" for p in found]
        siting["candidates"] = list(siting.get("candidates") or []) + rows
    for li, line in enumerate(raw.get("pipelines") or []):
        if isinstance(line, dict) and line.get("geojson") and not line.get("coordinates"):
            try:
                line["coordinates"] = _read_line(base_dir / str(line["geojson"]))
            except (OSError, ValueError, KeyError) as exc:
                problems.append(f"pipelines[{li}].geojson: {exc}")
    for ai, area in enumerate(raw.get("call_areas") or []):
        if isinstance(area, dict) and area.get("geojson") and not area.get("polygon"):
            try:
                area["polygon"] = _read_polygon(base_dir / str(area["geojson"]))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"call_areas[{ai}].geojson: {exc}")
    replay = raw.get("replay")
    if isinstance(replay, dict) and replay.get("file"):
        rows, found = _read_rows(base_dir / str(replay["file"]), ReplayCall)
        problems += [f"replay.file{p}" for p in found]
        replay["calls"] = list(replay.get("calls") or []) + rows
    network = raw.get("network")
    if isinstance(network, dict) and network.get("source") in ("osm_xml", "graphml") and network.get("path"):
        path = base_dir / str(network["path"])
        if not path.is_file():
            problems.append(f"network.path: file not found: {path}")
    return problems


def _read_rows(path: Path, model: type[StrictModel]) -> tuple[list[dict], list[str]]:
    """The valid rows of a CSV or GeoJSON points file as ``model`` field values, and the problems of the others
    (``: ...`` for the file, ``[row N].field: ...`` for a row), to be prefixed with the file's field path.

    Text (every CSV cell, and GeoJSON properties given as strings) is converted by the field's type, so the two
    formats give the same values; a list-valued field is written as its items separated by ``;``.
    """
    try:
        rows = _read_points(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [], [f": {exc}"]
    good, problems = [], []
    fields = model.model_fields
    for ri, row in enumerate(rows):
        row = {
            key: _from_text(value, fields[key].annotation) if isinstance(value, str) and key in fields else value
            for key, value in row.items()
        }
        try:
            _adapter(model).validate_python(row)
            good.append(row)
        except ValidationError as exc:
            problems += [f"[row {ri + 1}]{p}" for p in format_errors(exc, model, sep_first=".")]
    return good, problems


def _from_text(text: str, annotation: Any) -> Any:
    """What a text cell means for a field of type ``annotation``: a list field's ``;``-separated items each
    converted, else the value the type accepts for the text itself (lax: ``"2.5"`` for a float, ``"007"`` for a
    string) or, failing that, for the text read as JSON (``"2"`` for ``Literal[1, 2]``). Text that fits neither is
    returned unchanged, for validation to report."""
    item = _list_item(annotation)
    if item is not None:
        return [_from_text(part.strip(), item) for part in text.split(";") if part.strip()]
    adapter = _adapter(annotation)
    for parse in (adapter.validate_python, adapter.validate_json):
        try:
            return parse(text)
        except ValidationError:
            continue
    return text


def _list_item(annotation: Any) -> Any:
    """The item type of a list or tuple field (also when optional), else None."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (tuple, list) and args:
        return args[0]
    if origin in (Union, UnionType):
        items = [_list_item(a) for a in args if a is not type(None)]
        return items[0] if len(items) == 1 else None
    return None


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation)


def _read_points(path: Path) -> list[dict]:
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [{k.strip(): v.strip() for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(fh)]
    if path.suffix.lower() in (".geojson", ".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        rows = []
        for fi, feat in enumerate(data["features"]):
            geometry = feat.get("geometry") or {}
            if geometry.get("type") != "Point":
                raise ValueError(f"feature {fi + 1}: expected a Point geometry, got {geometry.get('type')!r}")
            lon, lat = geometry["coordinates"][:2]
            rows.append(dict(feat.get("properties") or {}) | {"lon": lon, "lat": lat})
        return rows
    raise ValueError(f"expected .csv or .geojson, got {path.name}")


def _read_line(path: Path) -> list[list[float]]:
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    geoms = (
        [f["geometry"] for f in data["features"]]
        if data.get("type") == "FeatureCollection"
        else [data.get("geometry", data)]
    )
    for geom in geoms:
        if geom["type"] == "LineString":
            return [c[:2] for c in geom["coordinates"]]
        if geom["type"] == "MultiLineString":
            return [c[:2] for part in geom["coordinates"] for c in part]
    raise ValueError(f"no LineString in {path.name}")


def _read_polygon(path: Path) -> list[list[float]]:
    """The outer ring of the one Polygon in a GeoJSON file (a Feature, a FeatureCollection or a bare geometry)."""
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    geoms = (
        [f["geometry"] for f in data["features"]]
        if data.get("type") == "FeatureCollection"
        else [data.get("geometry", data)]
    )
    rings = [g["coordinates"][0] for g in geoms if g["type"] == "Polygon"]
    rings += [part[0] for g in geoms if g["type"] == "MultiPolygon" for part in g["coordinates"]]
    if len(rings) != 1:
        raise ValueError(f"expected one Polygon in {path.name}, found {len(rings)}: give one area per polygon")
    return [c[:2] for c in rings[0]]


def format_errors(exc: ValidationError, model: type, sep_first: str = "") -> list[str]:
    out = []
    for err in exc.errors():
        loc = _loc_text(err["loc"])
        if sep_first and loc and not loc.startswith("["):
            loc = sep_first + loc
        found = (err.get("ctx") or {}).get("error")
        if isinstance(found, _Problems):  # a model validator's problems, each with its path below ``loc``
            out += [f"{loc}{'' if p.startswith('[') else '.' if loc else sep_first}{p}" for p in found.problems]
        elif loc:
            out.append(f"{loc}: {_message(err, model)}")
        else:
            out.append(_message(err, model))
    return out


def _loc_text(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _UNION_TAGS or str(part).startswith(("function-", "tuple[", "dict[", "literal[")):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text


_UNION_TAGS = {"Duration", "int", "float", "str", "[key]"}


def _message(err: dict, model: type) -> str:
    kind, msg, value = err["type"], err["msg"], err.get("input")
    if kind == "extra_forbidden":
        name = str(err["loc"][-1])
        hint = difflib.get_close_matches(name, _all_field_names(model), n=1)
        return "unknown field" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    ctx = err.get("ctx") or {}
    for op, word in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if op in ctx:
            return f"must be {word} {ctx[op]}, got {value!r}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {value!r}"
    return f"{msg[0].lower()}{msg[1:]}, got {value!r}"


@functools.cache
def _all_field_names(model: type) -> list[str]:
    """Every field name of ``model`` and the models inside it (for "did you mean" hints)."""
    names: set[str] = set()
    stack = [model]
    seen = set()
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        names |= set(model.model_fields)
        for f in model.model_fields.values():
            for arg in _model_args(f.annotation):
                stack.append(arg)
    return sorted(names)


def _model_args(annotation: Any) -> list[type]:
    found = []
    todo = [annotation]
    while todo:
        a = todo.pop()
        if isinstance(a, type) and issubclass(a, StrictModel):
            found.append(a)
        todo += list(get_args(a))
    return found


def json_schema() -> dict:
    """JSON Schema of the scenario file, for editors."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "rescuesim scenario"
    return schema


@functools.cache
def _default_incident_types() -> dict[str, IncidentType]:
    """The default incident types, validated once (every replication's incident stream reads them)."""
    return {k: IncidentType.model_validate(v) for k, v in defaults.DEFAULT_INCIDENT_TYPES.items()}
