"""Incident sources (park installations, pipeline stretches, generic sites) and the incident streams they emit.

A scenario's sources become one :class:`SiteTable`: one row per place an incident can happen, with its rate.
Pipelines are cut into pieces of ``segment_m``; each piece is a site whose rate is its length times the line's
failure rate (times the HCA multiplier inside a high-consequence area), so incident points fall along the line in
proportion to rate. Incidents are generated up front per replication by :func:`generate_incidents`, drawing every
uniform in a fixed order whatever the bases or drills, so that variants face identical incidents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from sim import defaults
from sim.calendar import Calendar, RateProfile
from sim.geo import grid_in_ring, haversine_m
from sim.scenario import MAX_LEVEL, Pipeline, Scenario

TURNOUT_DRAWS_PER_INCIDENT = 16
SECONDS_PER_YEAR = 365.25 * 86400.0


class SourceKind(StrEnum):
    """Where an incident arises (a site's ``source``; a new kind of source adds a member and its label)."""

    PARK = "park"  # an installation of a chemical park
    PIPELINE = "pipeline"  # a piece of a pipeline
    SITE = "site"  # a generic site given by the scenario
    EVERYDAY = "everyday"  # a point of a call area (everyday calls)


def source_group(source: np.ndarray, in_hca: np.ndarray) -> np.ndarray:
    """The label of each incident's source group for tables and figures: park, pipeline (HCA), pipeline (outside
    HCA), site or everyday (the one place these labels are spelled)."""
    source = np.asarray(source).astype(str)
    pipe = source == SourceKind.PIPELINE
    hca = pipe & np.asarray(in_hca, dtype=bool)
    out = source.astype(object)
    out[hca] = "pipeline (HCA)"
    out[pipe & ~hca] = "pipeline (outside HCA)"
    return out


def load_group(source: np.ndarray) -> np.ndarray:
    """The load each incident belongs to: ``everyday`` calls or ``hazmat`` (every other source; the one spelling of
    these labels, as targets' ``applies_to: hazmat`` counts them)."""
    return np.where(np.asarray(source).astype(str) == SourceKind.EVERYDAY, "everyday", "hazmat").astype(object)


@dataclass(frozen=True, eq=False)
class SiteTable:
    """Every place an incident can arise, as parallel arrays (one row per site)."""

    site_id: np.ndarray  # str
    name: np.ndarray  # str
    source: np.ndarray  # SourceKind values
    source_kind: np.ndarray  # installation kind, "pipeline" or "site" (keys of the incident mix)
    owner_id: np.ndarray  # park id, pipeline id or site id
    km: np.ndarray  # position along a pipeline (NaN elsewhere)
    piece_m: np.ndarray  # length of the pipeline piece (0 elsewhere)
    in_hca: np.ndarray  # bool
    lon: np.ndarray
    lat: np.ndarray
    rate_per_s: np.ndarray
    access_kph: np.ndarray  # speed over the last leg from the road node to the site
    profile: np.ndarray  # index into the scenario's time profiles in sorted order of their names, -1: flat
    replayed: np.ndarray  # bool: the place of a replayed historical call (never drawn by the generator)

    def __len__(self) -> int:
        return len(self.site_id)

    @property
    def area_points(self) -> np.ndarray:
        """Whether each site is a grid point of a call area (not a replayed call counted as everyday)."""
        return (self.source == SourceKind.EVERYDAY) & ~self.replayed

    @property
    def total_rate_per_s(self) -> float:
        return float(self.rate_per_s.sum())


@dataclass(frozen=True, eq=False)
class IncidentStream:
    """One replication's incidents, generated up front; every array has one row per incident."""

    call_at_s: np.ndarray  # sorted
    site: np.ndarray  # index into the SiteTable
    km: np.ndarray  # exact position along a pipeline (NaN elsewhere)
    incident_type: np.ndarray  # index into type_names
    level: np.ndarray  # initial severity level 1..MAX_LEVEL
    u_on_scene: np.ndarray
    escalation_s: np.ndarray  # threshold before proficiency bonus (inf: never escalates)
    u_turnout: np.ndarray  # (n, TURNOUT_DRAWS_PER_INCIDENT)
    type_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.call_at_s)


def installation_rate_per_yr(scenario: Scenario, park_index: int, inst_index: int) -> float:
    """The scenario's rate, or the default for the kind x the park's grade x the major-hazard-source level."""
    park = scenario.parks[park_index]
    inst = park.installations[inst_index]
    if inst.incidents_per_yr is not None:
        return inst.incidents_per_yr
    grade = park.rate_multiplier or defaults.RISK_GRADE_MULTIPLIER[park.risk_grade]
    level = defaults.HAZARD_SOURCE_LEVEL_MULTIPLIER.get(inst.hazard_source_level, 1.0)
    return defaults.INSTALLATION_INCIDENTS_PER_YR[inst.kind] * grade * level


def pipeline_pieces(line: Pipeline) -> dict[str, np.ndarray]:
    """Cut a line into pieces of about ``segment_m``: midpoint lon/lat, km range, HCA flag, rate per year."""
    xy = np.asarray(line.coordinates, dtype=float)
    seg_m = haversine_m(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1])
    cum_m = np.concatenate([[0.0], np.cumsum(seg_m)])
    total_m = cum_m[-1]
    n = max(1, int(np.ceil(total_m / line.segment_m)))
    edges_m = np.linspace(0.0, total_m, n + 1)
    mid_m = (edges_m[:-1] + edges_m[1:]) / 2
    lon = np.interp(mid_m, cum_m, xy[:, 0])
    lat = np.interp(mid_m, cum_m, xy[:, 1])
    piece_m = np.diff(edges_m)
    mult = np.ones(n)
    in_hca = np.zeros(n, dtype=bool)
    for stretch in line.hca:
        inside = (mid_m >= stretch.from_km * 1000) & (mid_m < stretch.to_km * 1000)
        mult[inside] = stretch.rate_multiplier
        in_hca |= inside
    rate = piece_m / 1000.0 * line.failures_per_1000km_yr / 1000.0 * mult
    return {
        "lon": lon,
        "lat": lat,
        "from_m": edges_m[:-1],
        "piece_m": piece_m,
        "in_hca": in_hca,
        "rate_per_yr": rate,
    }


def build_sites(scenario: Scenario) -> SiteTable:
    """All incident sites of a scenario with their rates (then the points of call areas, then replayed calls)."""
    rows: dict[str, list] = {k: [] for k in SiteTable.__dataclass_fields__}
    profiles = profile_index(scenario)

    def add(**kw) -> None:
        for key, value in kw.items():
            rows[key].append(value)

    def add_point(site_id, name, source, kind, owner, lon, lat, rate_per_yr, access_kph, profile, replayed=False):
        """A site at a point (not on a line): no km, no piece, outside any HCA."""
        add(
            site_id=site_id,
            name=name,
            source=source,
            source_kind=kind,
            owner_id=owner,
            km=np.nan,
            piece_m=0.0,
            in_hca=False,
            lon=lon,
            lat=lat,
            rate_per_s=rate_per_yr / SECONDS_PER_YEAR,
            access_kph=access_kph,
            profile=profiles[profile],
            replayed=replayed,
        )

    for pi, park in enumerate(scenario.parks):
        for ii, inst in enumerate(park.installations):
            add_point(
                inst.id,
                inst.name or inst.id,
                SourceKind.PARK,
                inst.kind,
                park.id,
                inst.lon,
                inst.lat,
                installation_rate_per_yr(scenario, pi, ii),
                defaults.ACCESS_KPH,
                park.profile,
            )
    for line in scenario.pipelines:
        pieces = pipeline_pieces(line)
        for k in range(len(pieces["lon"])):
            add(
                site_id=f"{line.id}@{pieces['from_m'][k] / 1000:.2f}km",
                name=line.name or line.id,
                source=SourceKind.PIPELINE,
                source_kind="pipeline",
                owner_id=line.id,
                km=pieces["from_m"][k] / 1000,
                piece_m=pieces["piece_m"][k],
                in_hca=bool(pieces["in_hca"][k]),
                lon=pieces["lon"][k],
                lat=pieces["lat"][k],
                rate_per_s=pieces["rate_per_yr"][k] / SECONDS_PER_YEAR,
                access_kph=line.offroad_kph,
                profile=profiles[line.profile],
                replayed=False,
            )
    for site in scenario.sites:
        add_point(
            site.id,
            site.name or site.id,
            SourceKind.SITE,
            "site",
            site.id,
            site.lon,
            site.lat,
            site.incidents_per_yr,
            site.access_kph or defaults.ACCESS_KPH,
            site.profile,
        )
    for area in scenario.call_areas:
        lon, lat = grid_in_ring(area.polygon, area.cell_m)
        if len(lon) == 0:  # an area smaller than a cell: one point at its vertices' mean
            ring = np.asarray(area.polygon, dtype=float)
            lon, lat = ring[:, 0].mean(keepdims=True), ring[:, 1].mean(keepdims=True)
        for k in range(len(lon)):
            add_point(
                f"{area.id}#{k}",
                area.name or area.id,
                SourceKind.EVERYDAY,
                "everyday",
                area.id,
                float(lon[k]),
                float(lat[k]),
                area.calls_per_yr / len(lon),
                defaults.EVERYDAY_ACCESS_KPH,
                area.profile,
            )
    for call in replayed_calls(scenario):
        add_point(
            call.id,
            call.id,
            call.source,
            "site",  # never drawn: any mix
            "replay",
            call.lon,
            call.lat,
            0.0,
            defaults.ACCESS_KPH,
            None,
            replayed=True,
        )
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    arrays["in_hca"] = arrays["in_hca"].astype(bool)
    arrays["replayed"] = arrays["replayed"].astype(bool)
    arrays["profile"] = arrays["profile"].astype(np.int64)
    for key in ("km", "piece_m", "lon", "lat", "rate_per_s", "access_kph"):
        arrays[key] = arrays[key].astype(float)
    for key in ("site_id", "name", "source", "source_kind", "owner_id"):
        arrays[key] = arrays[key].astype(str)
    return SiteTable(**arrays)


def profile_index(scenario: Scenario) -> dict[str | None, int]:
    """Each time profile's row in :func:`rate_profiles` (names in sorted order), None (flat) -1."""
    return {None: -1} | {name: k for k, name in enumerate(sorted(scenario.time_profiles))}


def rate_profiles(scenario: Scenario) -> list[RateProfile]:
    """The scenario's time profiles in sorted order of their names, then the flat one (row -1)."""
    named = [scenario.time_profiles[name] for name in sorted(scenario.time_profiles)]
    return [RateProfile.of(p.hour_of_day, p.day_of_week, p.month) for p in named] + [RateProfile.flat()]


def replayed_calls(scenario: Scenario) -> tuple:
    """The scenario's historical calls (none without a replay)."""
    return scenario.replay.calls if scenario.replay is not None else ()


def without_roadless_points(sites: SiteTable, snap_m: np.ndarray, limit_m: float) -> tuple[SiteTable, list[str]]:
    """Call-area points with no road within ``limit_m`` get no calls: their share goes to the area's other points.
    Returns the sites and a note per area that lost points; an area left without any point is an error."""
    from sim.errors import FarFromRoadError

    everyday = sites.area_points
    far = everyday & (np.asarray(snap_m) > limit_m)
    if not far.any():
        return sites, []
    rate = sites.rate_per_s.copy()
    notes, problems = [], []
    for area in dict.fromkeys(sites.owner_id[far].tolist()):
        rows = everyday & (sites.owner_id == area)
        kept = rows & ~far
        if not kept.any():
            problems.append(
                f"call_areas[{area}]: no point of the area has a road within {limit_m:g} m "
                "(network.max_snap_m): draw the polygon over roads or use a smaller cell_m"
            )
            continue
        rate[kept] = rate[rows].sum() / kept.sum()
        rate[rows & far] = 0.0
        notes.append(
            f"call_areas[{area}]: {int((rows & far).sum())} of {int(rows.sum())} grid points have no road within "
            f"{limit_m:g} m; their calls go to the area's other points"
        )
    if problems:
        raise FarFromRoadError(problems)
    return dataclasses.replace(sites, rate_per_s=rate), notes


@dataclass(frozen=True, eq=False)
class StreamTables:
    """What every incident stream of a scenario and site table is drawn with (built once, read per replication).

    Categorical draws are tables of cumulative weights, one row per category set, padded with infinity: the pick of
    a uniform ``u`` in row r is the count of entries <= u (``searchsorted(..., side="right")``), at most the row's
    last. Types are in the sorted order of their names; each row's own categories in the sorted order of theirs.
    """

    type_names: tuple[str, ...]
    site_cum: np.ndarray  # cumulative site rates over the total (empty if nothing happens anywhere)
    site_kind: np.ndarray  # each site's source kind, as a row of the mix tables
    mix_cum: np.ndarray  # (source kinds, types): cumulative type weights of each kind's mix
    mix_type: np.ndarray  # (source kinds, types): the type each entry stands for
    mix_len: np.ndarray  # (source kinds,)
    level_cum: np.ndarray  # (types, 4): cumulative severity weights
    level: np.ndarray  # (types, MAX_LEVEL): the level each entry stands for
    level_len: np.ndarray  # (types,)
    escalation: tuple  # each type's escalation threshold (a Duration, or None: it never escalates)
    profiles: tuple[RateProfile, ...]  # the scenario's time profiles, then the flat one (row -1)
    site_peak: np.ndarray  # each site's profile peak: the thinning envelope is rate x peak
    calendar: Calendar
    replay_site: np.ndarray  # per replayed call (in the scenario's order): its site, time, type and level
    replay_at_s: np.ndarray
    replay_type: np.ndarray
    replay_level: np.ndarray
    generate: bool  # False: the replayed calls instead of generated incidents


def stream_tables(scenario: Scenario, sites: SiteTable) -> StreamTables:
    types = scenario.all_incident_types()
    type_names = tuple(sorted(types))
    kinds, site_kind = np.unique(sites.source_kind.astype(str), return_inverse=True)
    mixes = [scenario.mix(str(kind)) for kind in kinds]
    mix_cum, mix_type, mix_len = _categories(mixes, len(type_names), type_names.index)
    level_cum, level, level_len = _categories([types[name].severity for name in type_names], MAX_LEVEL, int)
    profiles = tuple(rate_profiles(scenario))
    site_peak = np.array([p.peak for p in profiles])[sites.profile]
    envelope = sites.rate_per_s * site_peak
    total = float(envelope.sum())
    calendar = Calendar.of(scenario.start_date, scenario.horizon_s)
    calls = replayed_calls(scenario)
    return StreamTables(
        type_names=type_names,
        site_cum=np.cumsum(envelope) / total if total > 0 else np.ones(0),
        site_kind=np.asarray(site_kind, dtype=np.int64).reshape(-1),
        mix_cum=mix_cum,
        mix_type=mix_type,
        mix_len=mix_len,
        level_cum=level_cum,
        level=level,
        level_len=level_len,
        escalation=tuple(types[name].escalation_min for name in type_names),
        profiles=profiles,
        site_peak=site_peak,
        calendar=calendar,
        replay_site=np.flatnonzero(sites.replayed),
        replay_at_s=np.array([calendar.seconds_since_start(c.time) for c in calls], dtype=float),
        replay_type=np.array([type_names.index(c.type) for c in calls], dtype=np.int64),
        replay_level=np.array([c.level for c in calls], dtype=np.int64),
        generate=scenario.replay is None or scenario.replay.mode == "beside",
    )


def generate_incidents(
    scenario: Scenario, sites: SiteTable, rng: np.random.Generator, tables: StreamTables | None = None
) -> IncidentStream:
    """The replication's incidents: a Poisson stream over the horizon (unless the replay replaces it) and the
    replayed calls, in time order (a generated incident first at equal times).

    Generated: candidates arise at the envelope rate (each site's rate times its profile's peak) and are split over
    sites in proportion to it; a candidate at a moment is kept with probability profile factor / peak (thinning, so
    the rate of each site is its rate times its profile's factor then). Every uniform is drawn in a fixed order and
    count per candidate, so the stream depends only on the sources, incident types and seed, never on bases, drills
    or dispatch; the thinning uniforms come last (with flat profiles nothing is thinned and nothing else moves).
    ``tables``: :func:`stream_tables` of the same scenario and sites, when the caller keeps them for many streams.
    """
    tables = stream_tables(scenario, sites) if tables is None else tables
    total = float((sites.rate_per_s * tables.site_peak).sum()) if tables.generate else 0.0
    n = int(rng.poisson(total * scenario.horizon_s)) if total > 0 else 0
    call_at_s = np.sort(rng.uniform(0.0, scenario.horizon_s, n))
    u = rng.random((n, 6))
    u_turnout = rng.random((n, TURNOUT_DRAWS_PER_INCIDENT))
    site = np.minimum(np.searchsorted(tables.site_cum, u[:, 0], side="right"), len(sites) - 1)
    km = sites.km[site] + u[:, 1] * sites.piece_m[site] / 1000.0
    kind = tables.site_kind[site]
    incident_type = tables.mix_type[kind, _pick(tables.mix_cum[kind], tables.mix_len[kind], u[:, 2])]
    by_type = _pick(tables.level_cum[incident_type], tables.level_len[incident_type], u[:, 3])
    level = tables.level[incident_type, by_type]
    keep = _thinned(tables, sites.profile[site], call_at_s, rng)
    n_replay = len(tables.replay_at_s)
    if n_replay:  # replayed calls: their own uniforms, after the generated ones
        u_replay = rng.random((n_replay, 6))
        u_turnout_replay = rng.random((n_replay, TURNOUT_DRAWS_PER_INCIDENT))
        keep = np.ones(n, dtype=bool) if keep is None else keep
        order = np.argsort(np.concatenate([call_at_s[keep], tables.replay_at_s]), kind="stable")
        call_at_s = np.concatenate([call_at_s[keep], tables.replay_at_s])[order]
        site = np.concatenate([site[keep], tables.replay_site])[order]
        km = np.concatenate([km[keep], np.full(n_replay, np.nan)])[order]
        incident_type = np.concatenate([incident_type[keep], tables.replay_type])[order]
        level = np.concatenate([level[keep], tables.replay_level])[order]
        u = np.concatenate([u[keep], u_replay])[order]
        u_turnout = np.concatenate([u_turnout[keep], u_turnout_replay])[order]
    elif keep is not None:
        call_at_s, site, km, incident_type, level = (a[keep] for a in (call_at_s, site, km, incident_type, level))
        u, u_turnout = u[keep], u_turnout[keep]
    escalation_s = np.full(len(call_at_s), np.inf)
    for t, threshold in enumerate(tables.escalation):
        rows = np.flatnonzero(incident_type == t) if threshold is not None else ()
        if len(rows):
            escalation_s[rows] = threshold.ppf_s(u[rows, 4])
    return IncidentStream(
        call_at_s=call_at_s,
        site=site,
        km=km,
        incident_type=incident_type,
        level=level,
        u_on_scene=u[:, 5],
        escalation_s=escalation_s,
        u_turnout=u_turnout,
        type_names=tables.type_names,
    )


def _thinned(tables: StreamTables, profile: np.ndarray, call_at_s: np.ndarray, rng: np.random.Generator):
    """Which candidates a profile keeps (None: every one, when all profiles are flat)."""
    if all(p.is_flat for p in tables.profiles):
        return None
    u_keep = rng.random(len(call_at_s))
    factor = np.ones(len(call_at_s))
    for k, p in enumerate(tables.profiles[:-1]):
        rows = np.flatnonzero(profile == k)
        if len(rows):
            factor[rows] = p.factor(tables.calendar, call_at_s[rows]) / p.peak
    return u_keep < factor


def _categories(
    choices: list[dict], width: int, value_of: Callable[[Any], int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per set of weighted categories, keys in sorted order: cumulative weights over the total (padded with
    infinity), what each entry stands for (``value_of`` its key), and the row's length."""
    cum = np.full((len(choices), width), np.inf)
    value = np.zeros((len(choices), width), dtype=np.int64)
    for row, weights in enumerate(choices):
        keys = sorted(weights)
        cum[row, : len(keys)] = np.cumsum(np.asarray([weights[k] for k in keys], dtype=np.float64))
        cum[row, : len(keys)] /= cum[row, len(keys) - 1]
        value[row, : len(keys)] = [value_of(k) for k in keys]
    return cum, value, np.array([len(weights) for weights in choices], dtype=np.int64)


def _pick(cum: np.ndarray, length: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the entry of its cumulative weights a uniform falls in (rows as in :class:`StreamTables`)."""
    return np.minimum((cum <= u[:, np.newaxis]).sum(axis=1), length - 1)
