"""Maps: static (matplotlib) for the report, and interactive (Leaflet through folium) as ``map.html``."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath

from sim.hazards import pipeline_pieces
from sim.report.figures import finish_figure
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


def hca_runs(line) -> list[np.ndarray]:
    """(n, 2) lon/lat polylines of a pipeline's stretches inside high-consequence areas."""
    pieces = pipeline_pieces(line)
    flags = pieces["in_hca"]
    cuts = np.flatnonzero(np.diff(flags.astype(int))) + 1
    return [
        np.column_stack([pieces["lon"][part], pieces["lat"][part]])
        for part in np.split(np.arange(len(flags)), cuts)
        if len(part) and flags[part[0]]
    ]


def _halo(text) -> None:
    text.set_path_effects([patheffects.withStroke(linewidth=2.5, foreground="white")])


def _pipelines(ax, scenario) -> None:
    for k, line in enumerate(scenario.pipelines):
        for j, run in enumerate(hca_runs(line)):
            ax.plot(
                run[:, 0],
                run[:, 1],
                color="#c0392b",
                linewidth=7,
                alpha=0.45,
                solid_capstyle="round",
                zorder=3,
                label="pipeline HCA" if k == 0 and j == 0 else None,
            )
        xy = np.asarray(line.coordinates)
        ax.plot(xy[:, 0], xy[:, 1], color="#e67e22", linewidth=2.2, zorder=3, label="pipeline" if k == 0 else None)
        mid = xy[len(xy) // 2]
        _halo(
            ax.annotate(
                line.name or line.id,
                mid,
                xytext=(0, 6),
                textcoords="offset points",
                fontsize=8,
                color="#a04000",
                ha="center",
                zorder=9,
            )
        )


def _parks(ax, scenario) -> None:
    """Park names above their installations."""
    for park in scenario.parks:
        if park.installations:
            lon = np.mean([i.lon for i in park.installations])
            lat = max(i.lat for i in park.installations)
            label = f"{park.name or park.id} ({park.risk_grade})"
            _halo(
                ax.annotate(
                    label,
                    (lon, lat),
                    xytext=(0, 9),
                    textcoords="offset points",
                    fontsize=9,
                    ha="center",
                    weight="bold",
                    color="#2c3e50",
                    zorder=9,
                )
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
            _halo(
                ax.annotate(
                    b.name or b.id, (b.lon, b.lat), xytext=(5, 4), textcoords="offset points", fontsize=7.5, zorder=9
                )
            )
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
    for b in scenario.bases:  # in the scenario's order, not the set's (string hashing changes between processes)
        if b.id in chosen:
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
        ax.scatter(
            xy[:, 0], xy[:, 1], marker="D", s=30, color="#2c3e50", edgecolor="white", zorder=6, label="installation"
        )


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


def _polygon_path(area) -> MplPath:
    """A matplotlib path of a (multi)polygon, holes included."""
    rings = [
        np.asarray(ring.coords)
        for poly in getattr(area, "geoms", [area])
        if not poly.is_empty
        for ring in (poly.exterior, *poly.interiors)
    ]
    return MplPath.make_compound_path(*(MplPath(ring, closed=True) for ring in rings))


def _map_figure(network):
    """A figure shaped like the network's extent (room below for the legend)."""
    width = float(np.ptp(network.lon)) * np.cos(np.radians(float(network.lat.mean())))
    ratio = float(np.ptp(network.lat)) / max(width, 1e-9)
    return plt.subplots(figsize=(9.5, float(np.clip(7.6 * ratio + 2.2, 4.5, 12.0))))


MAX_INCIDENTS_PER_SITE = 40  # a scatter point costs ~25 us to draw; more at one site would only pile up on it


def _incident_points(ax, inc: pd.DataFrame):
    """Incidents coloured by first arrival (min), jittered slightly so repeated sites show: at most
    :data:`MAX_INCIDENTS_PER_SITE` per site, the first ones in run order (the colour scale is set by all)."""
    minutes = inc["first_arrival_s"].to_numpy(float) / 60
    jitter = np.random.default_rng(0).normal(0, 0.0004, (len(inc), 2))  # separate repeated sites
    shown = np.flatnonzero(inc.groupby("site_id", sort=False).cumcount().to_numpy() < MAX_INCIDENTS_PER_SITE)
    return ax.scatter(
        inc["lon"].to_numpy(float)[shown] + jitter[shown, 0],
        inc["lat"].to_numpy(float)[shown] + jitter[shown, 1],
        c=minutes[shown],
        cmap="RdYlGn_r",
        norm=Normalize(0, max(10.0, float(np.nanpercentile(minutes, 95)))),
        s=16,
        alpha=0.85,
        zorder=5,
        edgecolors="black",
        linewidths=0.3,
        label="incident",
    )


def plot_situation_map(ctx, *, save: bool = False, show: bool = False, filepath: Path | None = None, dpi: int = 110):
    """Roads, parks and installations, pipelines (HCA highlighted), bases and incidents coloured by first arrival
    (min)."""
    use_cjk_font()
    fig, ax = _map_figure(ctx.network)
    _roads(ax, ctx.network)
    _pipelines(ax, ctx.scenario)
    _installations(ax, ctx.scenario)
    _parks(ax, ctx.scenario)
    if len(ctx.incidents):
        points = _incident_points(ax, ctx.incidents)
        fig.colorbar(points, ax=ax, fraction=0.035, pad=0.02, label="first arrival (min from call)", extend="max")
    _bases(ax, ctx.scenario, ctx.chosen_base_ids())
    _legend(ax)
    _frame(ax, ctx.network, f"{ctx.scenario.name}: sites, bases and incidents (all replications)")
    return finish_figure(fig, ax, save=save, show=show, filepath=filepath, dpi=dpi)


def plot_coverage_map(ctx, *, save: bool = False, show: bool = False, filepath: Path | None = None, dpi: int = 110):
    """Isochrones: the area the bases reach within each first-arrival target (turnout + drive, min)."""
    use_cjk_font()
    fig, ax = _map_figure(ctx.network)
    _roads(ax, ctx.network)
    areas = ctx.isochrones()
    colours = plt.cm.Blues(np.linspace(0.75, 0.3, len(areas)))  # shorter time, darker
    for (minutes, area), colour in sorted(zip(areas.items(), colours, strict=True), reverse=True):
        if not area.is_empty:
            ax.add_patch(
                PathPatch(
                    _polygon_path(area),
                    facecolor=colour,
                    edgecolor=colour,
                    alpha=0.5,
                    zorder=2,
                    label=f"reached within {minutes:g} min",
                )
            )
    _installations(ax, ctx.scenario)
    _parks(ax, ctx.scenario)
    _pipelines(ax, ctx.scenario)
    _bases(ax, ctx.scenario, ctx.chosen_base_ids())
    _legend(ax)
    _frame(ax, ctx.network, "Coverage: area reached within each target (mean turnout + drive, min)")
    return finish_figure(fig, ax, save=save, show=show, filepath=filepath, dpi=dpi)


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


def _popup(row) -> str:
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


COVERAGE_COLOURS = ("#9ecae1", "#6baed6", "#3182bd", "#08519c")  # longest time lightest
ARRIVAL_COLOURS = ("#1e8449", "#f39c12", "#c0392b")
MAP_CSS = """
.leaflet-container{background:#f4f1ea}
.rs-label{font:12px 'Noto Sans CJK SC','Noto Sans',sans-serif;color:#222;white-space:nowrap;
text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 3px #fff}
.rs-park{font-weight:bold;font-size:13px;color:#2c3e50;text-align:center}
.rs-legend{position:absolute;bottom:24px;right:10px;z-index:1000;background:rgba(255,255,255,.92);padding:6px 9px;
border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px 'Noto Sans CJK SC','Noto Sans',sans-serif;
line-height:1.5}
.rs-legend i{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:5px;vertical-align:-1px}
.rs-legend b.sq{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px}
"""


def _arrival_bands(target_minutes: list[float]) -> tuple[float, float]:
    """Colour limits (min) of the incident markers: the shortest target and the next (or twice the shortest)."""
    first = min(target_minutes)
    later = [m for m in target_minutes if m > first]
    return first, later[0] if later else 2 * first


def _arrival_colour(minutes: float, bands: tuple[float, float]) -> str:
    if minutes != minutes:  # never reached (NaN)
        return "#555555"
    return (
        ARRIVAL_COLOURS[0] if minutes <= bands[0] else ARRIVAL_COLOURS[1] if minutes <= bands[1] else ARRIVAL_COLOURS[2]
    )


def _legend_html(bands: tuple[float, float], thinned: bool, max_incidents: int) -> str:
    low, high = bands
    rows = [
        f"<i style='background:{ARRIVAL_COLOURS[0]}'></i>first arrival ≤ {low:g} min",
        f"<i style='background:{ARRIVAL_COLOURS[1]}'></i>{low:g}-{high:g} min",
        f"<i style='background:{ARRIVAL_COLOURS[2]}'></i>&gt; {high:g} min",
        *(
            f"<b class='sq' style='background:{colour}'></b>{kind.replace('_', ' ')}"
            for kind, colour in BASE_COLOURS.items()
        ),
        "<b class='sq' style='background:#fff;border:1px solid #666'></b>candidate site",
        "<b class='sq' style='background:gold'></b>chosen layout",
        "<b class='sq' style='background:#e67e22'></b>pipeline, <span style='color:#c0392b'>HCA</span>",
    ]
    note = f"<br><small>first {max_incidents} incidents shown</small>" if thinned else ""
    return "<div class='rs-legend'><b>Legend</b><br>" + "<br>".join(rows) + note + "</div>"


def _layouts(fmap, ctx) -> None:
    """One switchable layer per simulated layout of a siting study (the best shown)."""
    import folium

    if not ctx.layouts:
        return
    names = {b.id: b.name or b.id for b in ctx.scenario.bases}
    by_layout: dict[tuple[int, str], list] = {}
    for feature in ctx.layouts["features"]:
        props = feature["properties"]
        by_layout.setdefault((int(props["rank"]), str(props["layout"])), []).append(feature)
    for (rank, name), features in sorted(by_layout.items()):
        layer = folium.FeatureGroup(name=f"siting layout #{rank}: {html.escape(name)}", show=rank == 1)
        for feature in features:
            lon, lat = feature["geometry"]["coordinates"][:2]
            base_id = feature["properties"]["base_id"]
            folium.CircleMarker(
                [lat, lon],
                radius=14,
                color="gold" if rank == 1 else "#555555",
                weight=3,
                fill=False,
                tooltip=f"layout #{rank} {html.escape(name)}: {html.escape(names.get(base_id, base_id))}",
            ).add_to(layer)
        layer.add_to(fmap)


INCIDENT_MARKERS_JS = """{% macro script(this, kwargs) %}
(function (layer) {
  {{ this.markers|tojson }}.forEach(function (m) {
    L.circleMarker([m[0], m[1]], {radius: 4, color: m[2], fillColor: m[2], fill: true, fillOpacity: 0.7, weight: 0})
      .bindPopup(m[3], {maxWidth: 320}).addTo(layer);
  });
})({{ this._parent.get_name() }});
{% endmacro %}"""


def incident_markers(markers: list[tuple[float, float, str, str]]):
    """One map element drawing every incident as a circle marker with its popup, ``(lat, lon, colour, popup
    html)`` each: a single small script (folium would compile two templates per marker, seconds per thousand)."""
    from branca.element import MacroElement
    from jinja2 import Template

    class IncidentMarkers(MacroElement):
        _template = Template(INCIDENT_MARKERS_JS)

        def __init__(self) -> None:
            super().__init__()
            self._name = "IncidentMarkers"
            self.markers = [list(m) for m in markers]

    return IncidentMarkers()


def build_map(ctx, filepath: Path, *, max_incidents: int = 1500) -> Path:
    """``map.html``: switchable layers for roads, installations, pipelines, bases, incidents and coverage."""
    import folium

    net = ctx.network
    centre = [float(net.lat.mean()), float(net.lon.mean())]
    fmap = folium.Map(location=centre, zoom_start=13, tiles=None, control_scale=True, zoom_snap=0.25)
    _inline_leaflet(fmap)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap tiles (online)", show=False).add_to(fmap)
    fmap.get_root().header.add_child(folium.Element(f"<style>{MAP_CSS}</style>"))

    roads = folium.FeatureGroup(name="major roads")
    classes = np.char.replace(net.edge_highway.astype(str), "_link", "")
    major = thin(np.isin(classes, (*MAJOR_ROADS, "tertiary")), 20_000)
    segments = [
        [(float(net.lat[a]), float(net.lon[a])), (float(net.lat[b]), float(net.lon[b]))]
        for a, b in zip(net.edge_tail[major], net.edge_head[major], strict=True)
    ]
    folium.PolyLine(segments, color="#777777", weight=1.5, opacity=0.8).add_to(roads)
    roads.add_to(fmap)

    areas = sorted(ctx.isochrones().items(), reverse=True)
    for (minutes, area), colour in zip(areas, COVERAGE_COLOURS[-len(areas) :] if areas else [], strict=True):
        layer = folium.FeatureGroup(name=f"coverage: reached within {minutes:g} min")
        if not area.is_empty:
            folium.GeoJson(
                shapely.geometry.mapping(area),
                tooltip=f"reached within {minutes:g} min (mean turnout + drive)",
                style_function=lambda _f, c=colour: {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.25},
            ).add_to(layer)
        layer.add_to(fmap)

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
        if park.installations:
            folium.Marker(
                [max(i.lat for i in park.installations), float(np.mean([i.lon for i in park.installations]))],
                icon=folium.DivIcon(
                    html=f"<div class='rs-label rs-park'>{html.escape(park.name or park.id)} "
                    f"({html.escape(park.risk_grade)})</div>",
                    icon_size=(220, 20),
                    icon_anchor=(110, 26),
                ),
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
        for run in hca_runs(line):
            folium.PolyLine(
                [(float(lat), float(lon)) for lon, lat in run],
                color="#c0392b",
                weight=9,
                opacity=0.5,
                tooltip=f"{line.name or line.id}: high-consequence area",
            ).add_to(lines)
    lines.add_to(fmap)

    bases = folium.FeatureGroup(name="bases (existing, candidate, chosen)")
    chosen = ctx.chosen_base_ids()
    for b in ctx.scenario.bases:
        units = ", ".join(f"{g.count} {g.type}" for g in b.units) or "no units (candidate)"
        status = "chosen" if b.id in chosen else "existing" if b.units else "candidate"
        colour = "gold" if b.id in chosen else BASE_COLOURS[b.kind] if b.units else "white"
        folium.CircleMarker(
            [b.lat, b.lon],
            radius=10 if b.units or b.id in chosen else 7,
            color="black" if b.units or b.id in chosen else "#666666",
            weight=2,
            fill=True,
            fill_color=colour,
            fill_opacity=0.95,
            tooltip=f"{html.escape(b.name or b.id)} [{status}] ({b.kind}, {b.jurisdiction}): {units}",
        ).add_to(bases)
        if b.units or b.id in chosen:
            folium.Marker(
                [b.lat, b.lon],
                icon=folium.DivIcon(
                    html=f"<div class='rs-label'>{html.escape(b.name or b.id)}</div>",
                    icon_size=(160, 16),
                    icon_anchor=(-10, 22),
                ),
            ).add_to(bases)
    bases.add_to(fmap)
    _layouts(fmap, ctx)

    incidents = folium.FeatureGroup(name="incidents by first arrival")
    inc = ctx.incidents.head(max_incidents)
    bands = _arrival_bands(ctx.target_minutes())
    markers = [
        (float(row["lat"]), float(row["lon"]), _arrival_colour(row["first_arrival_s"] / 60, bands), _popup(row))
        for row in inc.to_dict("records")  # plain values: far faster than a Series per row
    ]
    incident_markers(markers).add_to(incidents)
    incidents.add_to(fmap)
    fmap.get_root().html.add_child(
        folium.Element(_legend_html(bands, len(ctx.incidents) > max_incidents, max_incidents))
    )
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[float(net.lat.min()), float(net.lon.min())], [float(net.lat.max()), float(net.lon.max())]])
    fmap.save(str(filepath))
    return Path(filepath)
