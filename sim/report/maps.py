"""Maps: static (matplotlib) for the report, and interactive (Leaflet through folium) as ``map.html``."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize

from sim.hazards import pipeline_pieces
from sim.report.figures import _finish
from sim.report.fonts import use_cjk_font

MAJOR_ROADS = ("motorway", "trunk", "primary", "secondary")
ROAD_STYLE = {
    "motorway": (1.6, "#d08a3a"),
    "trunk": (1.4, "#d08a3a"),
    "primary": (1.2, "#8c6d46"),
    "secondary": (0.9, "#8c8c8c"),
    "tertiary": (0.6, "#a8a8a8"),
}
BASE_COLOURS = {
    "career_station": "#c0392b",
    "special_service": "#8e44ad",
    "enterprise_team": "#2980b9",
    "hazchem_team": "#16a085",
    "regional_base": "#7f8c8d",
}


def _roads(ax, network) -> None:
    lines = np.stack(
        [
            np.column_stack([network.lon[network.edge_tail], network.lat[network.edge_tail]]),
            np.column_stack([network.lon[network.edge_head], network.lat[network.edge_head]]),
        ],
        axis=1,
    )
    classes = np.char.replace(network.edge_highway.astype(str), "_link", "")  # links drawn like their road
    for cls in ("minor", *reversed(tuple(ROAD_STYLE))):
        mask = ~np.isin(classes, tuple(ROAD_STYLE)) if cls == "minor" else classes == cls
        width, colour = ROAD_STYLE.get(cls, (0.3, "#d5d5d5"))
        ax.add_collection(LineCollection(lines[thin(mask, 100_000)], linewidths=width, colors=colour, zorder=1))


def thin(mask: np.ndarray, limit: int) -> np.ndarray:
    """Indices where ``mask`` holds, evenly strided down to at most ``limit`` (large networks stay drawable)."""
    index = np.flatnonzero(mask)
    return index[:: max(1, -(-len(index) // limit))]


def _pipelines(ax, scenario) -> None:
    for k, line in enumerate(scenario.pipelines):
        xy = np.asarray(line.coordinates)
        ax.plot(xy[:, 0], xy[:, 1], color="#e67e22", linewidth=2.5, zorder=3, label="pipeline" if k == 0 else None)
        pieces = pipeline_pieces(line)
        hca = pieces["in_hca"]
        if hca.any():
            ax.scatter(
                pieces["lon"][hca],
                pieces["lat"][hca],
                s=9,
                color="#c0392b",
                zorder=4,
                label="pipeline HCA" if k == 0 else None,
            )


def _bases(ax, scenario, chosen: set[str]) -> None:
    shown = set()
    for b in scenario.bases:
        if b.units:
            label = b.kind.replace("_", " ") if b.kind not in shown else None
            shown.add(b.kind)
            ax.scatter(
                b.lon, b.lat, marker="s", s=70, color=BASE_COLOURS[b.kind], edgecolor="black", zorder=6, label=label
            )
            ax.annotate(b.name or b.id, (b.lon, b.lat), xytext=(4, 4), textcoords="offset points", fontsize=7, zorder=7)
        elif b.candidate:
            ax.scatter(
                b.lon,
                b.lat,
                marker="^",
                s=40,
                facecolor="none",
                edgecolor="black",
                zorder=5,
                label="candidate site" if "candidate" not in shown else None,
            )
            shown.add("candidate")
    for bid in chosen:
        b = next((x for x in scenario.bases if x.id == bid), None)
        if b is not None:
            ax.scatter(
                b.lon,
                b.lat,
                marker="*",
                s=220,
                color="gold",
                edgecolor="black",
                zorder=8,
                label="chosen layout" if "chosen" not in shown else None,
            )
            shown.add("chosen")


def _installations(ax, scenario) -> None:
    pts = [(i.lon, i.lat) for p in scenario.parks for i in p.installations]
    if pts:
        xy = np.asarray(pts)
        ax.scatter(xy[:, 0], xy[:, 1], marker="D", s=30, color="#2c3e50", zorder=5, label="installation")


def _legend(ax) -> None:
    """One legend entry per label (polygons and repeated markers share labels)."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(
        list(unique.values()),
        list(unique.keys()),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.09),
        ncol=5,
        fontsize=7,
        framealpha=0.9,
    )


def _frame(ax, network, title: str) -> None:
    ax.set_xlim(network.lon.min(), network.lon.max())
    ax.set_ylim(network.lat.min(), network.lat.max())
    ax.set_aspect(1 / np.cos(np.radians(network.lat.mean())))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(title)


def plot_situation_map(ctx, *, save: bool = False, show: bool = False, filepath: Path | None = None, dpi: int = 110):
    """Roads, installations, pipelines (HCA highlighted), bases and incidents coloured by first arrival (min)."""
    use_cjk_font()
    fig, ax = plt.subplots(figsize=(9, 8.2))
    _roads(ax, ctx.network)
    _pipelines(ax, ctx.scenario)
    _installations(ax, ctx.scenario)
    inc = ctx.incidents
    if len(inc):
        minutes = inc["first_arrival_s"].to_numpy(float) / 60
        jitter = np.random.default_rng(0).normal(0, 0.0006, (len(inc), 2))  # separate repeated sites
        points = ax.scatter(
            inc["lon"] + jitter[:, 0],
            inc["lat"] + jitter[:, 1],
            c=minutes,
            cmap="RdYlGn_r",
            norm=Normalize(0, max(10.0, float(np.nanpercentile(minutes, 95)))),
            s=10,
            alpha=0.7,
            zorder=4,
            linewidths=0,
        )
        fig.colorbar(points, ax=ax, shrink=0.7, label="first arrival (min)")
    _bases(ax, ctx.scenario, ctx.chosen_base_ids())
    _legend(ax)
    _frame(ax, ctx.network, f"{ctx.scenario.name}: sites, bases and incidents")
    return _finish(fig, ax, save=save, show=show, filepath=filepath, dpi=dpi)


def plot_coverage_map(ctx, *, save: bool = False, show: bool = False, filepath: Path | None = None, dpi: int = 110):
    """Isochrones: the area the bases reach within each first-arrival target (turnout + drive)."""
    use_cjk_font()
    fig, ax = plt.subplots(figsize=(9, 8.2))
    _roads(ax, ctx.network)
    colours = plt.cm.Blues(np.linspace(0.8, 0.3, len(ctx.isochrones())))  # shorter time, darker
    for (minutes, area), colour in sorted(zip(ctx.isochrones().items(), colours, strict=True), reverse=True):
        for poly in getattr(area, "geoms", [area]):
            if poly.is_empty:
                continue
            x, y = poly.exterior.xy
            ax.fill(x, y, color=colour, alpha=0.45, zorder=2, label=f"within {minutes:g} min")
    _installations(ax, ctx.scenario)
    _pipelines(ax, ctx.scenario)
    _bases(ax, ctx.scenario, set())
    _legend(ax)
    _frame(ax, ctx.network, "Coverage: reachable within each target (turnout + drive)")
    return _finish(fig, ax, save=save, show=show, filepath=filepath, dpi=dpi)


# --- interactive map --------------------------------------------------------------------------------------------

ASSETS = Path(__file__).with_name("assets")


def _inline_leaflet(fmap) -> None:
    """Embed Leaflet (vendored, BSD-2-Clause) instead of CDN links, so map.html works offline and by e-mail.

    Only Leaflet core features are used (no jQuery, Bootstrap or marker-icon plugins)."""
    import folium

    fmap.default_js = []
    fmap.default_css = []
    css = (ASSETS / "leaflet.css").read_text(encoding="utf-8")
    js = (ASSETS / "leaflet.js").read_text(encoding="utf-8")
    # folium's popups call $(html)[0]; this one-line stand-in for jQuery builds the element without it
    shim = "window.$=window.$||function(h){var d=document.createElement('div');d.innerHTML=h;return [d.firstChild];};"
    fmap.get_root().header.add_child(folium.Element(f"<style>{css}</style>\n<script>{js}\n{shim}</script>"), index=0)


def _popup(row: pd.Series) -> str:
    def m(value) -> str:
        return "–" if pd.isna(value) else f"{value / 60:.1f} min"

    return (
        f"<b>{html.escape(str(row['site_id']))}</b> ({html.escape(str(row['incident_type']))}, level "
        f"{int(row['level_final'])})<br>replication {int(row['replication'])}, call at day "
        f"{row['call_at_s'] / 86400:.1f}<br>waited {m(row['waited_s'])}, turnout {m(row['turnout_s'])}, "
        f"travel {m(row['travel_s'])}, last leg {m(row['access_s'])}<br>first arrival "
        f"<b>{m(row['first_arrival_s'])}</b> ({html.escape(str(row['first_unit']))}), full response "
        f"{m(row['full_response_s'])}"
    )


def build_map(ctx, filepath: Path, *, max_incidents: int = 1500) -> Path:
    """``map.html``: switchable layers for roads, installations, pipelines, bases, incidents and coverage."""
    import folium

    net = ctx.network
    centre = [float(net.lat.mean()), float(net.lon.mean())]
    fmap = folium.Map(location=centre, zoom_start=13, tiles=None, control_scale=True)
    _inline_leaflet(fmap)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap tiles (online)", show=False).add_to(fmap)
    fmap.get_root().header.add_child(folium.Element("<style>.leaflet-container{background:#f4f1ea}</style>"))

    roads = folium.FeatureGroup(name="major roads")
    classes = np.char.replace(net.edge_highway.astype(str), "_link", "")
    major = thin(np.isin(classes, (*MAJOR_ROADS, "tertiary")), 20_000)
    segments = [
        [(float(net.lat[a]), float(net.lon[a])), (float(net.lat[b]), float(net.lon[b]))]
        for a, b in zip(net.edge_tail[major], net.edge_head[major], strict=True)
    ]
    folium.PolyLine(segments, color="#777777", weight=1.5, opacity=0.8).add_to(roads)
    roads.add_to(fmap)

    coverage = folium.FeatureGroup(name="coverage (isochrones)")
    for minutes, area in sorted(ctx.isochrones().items(), reverse=True):
        if not area.is_empty:
            folium.GeoJson(
                shapely.geometry.mapping(area),
                tooltip=f"reachable within {minutes:g} min",
                style_function=lambda _f: {"color": "#2471a3", "weight": 1, "fillOpacity": 0.15},
            ).add_to(coverage)
    coverage.add_to(fmap)

    sites = folium.FeatureGroup(name="parks and installations")
    for park in ctx.scenario.parks:
        for inst in park.installations:
            folium.CircleMarker(
                [inst.lat, inst.lon],
                radius=6,
                color="#2c3e50",
                fill=True,
                fill_opacity=0.9,
                tooltip=f"{park.name or park.id} · {inst.name or inst.id} ({inst.kind})",
            ).add_to(sites)
    sites.add_to(fmap)

    lines = folium.FeatureGroup(name="pipelines (HCA in red)")
    for line in ctx.scenario.pipelines:
        folium.PolyLine(
            [(lat, lon) for lon, lat in line.coordinates],
            color="#e67e22",
            weight=4,
            tooltip=f"{line.name or line.id} ({line.product})",
        ).add_to(lines)
        pieces = pipeline_pieces(line)
        for k in np.flatnonzero(pieces["in_hca"]):
            folium.CircleMarker(
                [float(pieces["lat"][k]), float(pieces["lon"][k])],
                radius=2,
                color="#c0392b",
                fill=True,
                tooltip="high-consequence area",
            ).add_to(lines)
    lines.add_to(fmap)

    bases = folium.FeatureGroup(name="bases (existing, candidate, chosen)")
    chosen = ctx.chosen_base_ids()
    for b in ctx.scenario.bases:
        units = ", ".join(f"{g.count} {g.type}" for g in b.units) or "no units (candidate)"
        colour = "gold" if b.id in chosen else BASE_COLOURS[b.kind] if b.units else "#999999"
        folium.CircleMarker(
            [b.lat, b.lon],
            radius=9,
            color="black",
            weight=2,
            fill_color=colour,
            fill_opacity=0.95,
            tooltip=f"{b.name or b.id} ({b.kind}, {b.jurisdiction}): {units}",
        ).add_to(bases)
    bases.add_to(fmap)

    incidents = folium.FeatureGroup(name="incidents by first arrival")
    inc = ctx.incidents.head(max_incidents)
    for _, row in inc.iterrows():
        minutes = row["first_arrival_s"] / 60
        colour = "#1e8449" if minutes <= 5 else "#f39c12" if minutes <= 10 else "#c0392b"
        folium.CircleMarker(
            [float(row["lat"]), float(row["lon"])],
            radius=4,
            color=colour,
            fill=True,
            fill_opacity=0.7,
            weight=0,
            popup=folium.Popup(_popup(row), max_width=320),
        ).add_to(incidents)
    incidents.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[float(net.lat.min()), float(net.lon.min())], [float(net.lat.max()), float(net.lon.max())]])
    fmap.save(str(filepath))
    return Path(filepath)
