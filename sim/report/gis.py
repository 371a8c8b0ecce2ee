"""GIS export: ``results.gpkg`` with layers bases, sites, pipelines, incidents and coverage, in WGS 84."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from sim.hazards import pipeline_pieces

CRS = "EPSG:4326"
SQLITE_SYNC = "OGR_SQLITE_SYNCHRONOUS"  # GDAL configuration option


def write_geopackage(ctx, filepath: Path) -> Path:
    """Write every layer (replacing the file if it exists, through a temporary file)."""
    filepath = Path(filepath)
    tmp = filepath.with_name(f".partial-{filepath.name}")
    tmp.unlink(missing_ok=True)
    with _sqlite_unsynced():
        for name, frame in layers(ctx).items():
            frame.to_file(tmp, layer=name, driver="GPKG", use_arrow=True)  # arrow: half the time, same layers
    tmp.replace(filepath)
    return filepath


@contextmanager
def _sqlite_unsynced() -> Iterator[None]:
    """GDAL's SQLite waits for the disk (fsync) at every layer's commit, half the GeoPackage's writing time; no other
    file of a run is synced either (a run's folder is renamed into place once complete), so neither is this one."""
    import pyogrio

    before = pyogrio.get_gdal_config_option(SQLITE_SYNC)
    pyogrio.set_gdal_config_options({SQLITE_SYNC: "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({SQLITE_SYNC: before})


def layers(ctx) -> dict[str, gpd.GeoDataFrame]:
    scenario, world = ctx.scenario, ctx.world
    chosen = ctx.chosen_base_ids()
    bases = gpd.GeoDataFrame(
        {
            "base_id": [b.id for b in scenario.bases],
            "name": [b.name or b.id for b in scenario.bases],
            "kind": [b.kind for b in scenario.bases],
            "jurisdiction": [b.jurisdiction for b in scenario.bases],
            "status": ["chosen" if b.id in chosen else "existing" if b.units else "candidate" for b in scenario.bases],
            "units": [", ".join(f"{g.count} {g.type}" for g in b.units) for b in scenario.bases],
        },
        geometry=gpd.points_from_xy([b.lon for b in scenario.bases], [b.lat for b in scenario.bases]),
        crs=CRS,
    )
    s = world.sites
    sites = gpd.GeoDataFrame(
        {
            "site_id": s.site_id,
            "name": s.name,
            "source": s.source,
            "kind": s.source_kind,
            "owner_id": s.owner_id,
            "km": s.km,
            "in_hca": s.in_hca,
            "incidents_per_yr": s.rate_per_s * 365.25 * 86400,
            "access_s": world.access_s,
        },
        geometry=gpd.points_from_xy(s.lon, s.lat),
        crs=CRS,
    )
    inc = ctx.incidents.copy()
    incidents = gpd.GeoDataFrame(
        inc.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(inc["lon"], inc["lat"]), crs=CRS
    )
    coverage = gpd.GeoDataFrame(
        {"within_min": list(ctx.isochrones())}, geometry=list(ctx.isochrones().values()), crs=CRS
    )
    return {
        "bases": bases,
        "sites": sites,
        "pipelines": _pipelines(scenario),
        "incidents": incidents,
        "coverage": coverage,
    }


def _pipelines(scenario) -> gpd.GeoDataFrame:
    """One row per stretch: inside or outside a high-consequence area."""
    rows, geoms = [], []
    for line in scenario.pipelines:
        pieces = pipeline_pieces(line)
        flags = pieces["in_hca"]
        cuts = np.flatnonzero(np.diff(flags.astype(int))) + 1
        for part in np.split(np.arange(len(flags)), cuts):
            coords = np.column_stack([pieces["lon"][part], pieces["lat"][part]])
            if len(coords) == 1:
                coords = np.vstack([coords, coords])
            rows.append(
                {
                    "pipeline_id": line.id,
                    "name": line.name or line.id,
                    "product": line.product,
                    "in_hca": bool(flags[part[0]]),
                    "from_km": float(pieces["from_m"][part[0]] / 1000),
                    "to_km": float((pieces["from_m"][part[-1]] + pieces["piece_m"][part[-1]]) / 1000),
                }
            )
            geoms.append(shapely.LineString(coords))
    if not rows:
        return gpd.GeoDataFrame({"pipeline_id": [], "in_hca": []}, geometry=[], crs=CRS)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=CRS)
