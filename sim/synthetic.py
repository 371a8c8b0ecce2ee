"""The embedded default world: a fictional coastal chemical-industry county (deterministic, no downloads).

About 10 km x 8 km around lon 121.30, lat 30.75 (the place is invented; the coordinates only make it look real):

- a **town** in the west: a dense 100 m grid of residential streets, tertiary every 500 m, two secondary arterials;
- a **river** running north-south at x = -550 m, crossed by exactly **two bridges**: the primary east-west road
  (y = 0) and the expressway;
- a **chemical park** (东区化工园区) in the east: a 300 m grid of tertiary plant roads inside a secondary perimeter,
  with north-south service lanes into the plots;
- an **expressway** (one-way motorway carriageways) along the south, with three interchanges (motorway_link) at
  x = -3000, 1000, 4000 m, and a junction at each map edge standing for the road's continuation beyond the county;
- a **rural** rest of sparse unclassified roads on an 800 m grid, with a primary north-south road at x = 1000 m;
- a **gas pipeline corridor** (about 13 km) through the rural north, passing the town's northern edge (the HCA)
  and ending at the park.

Roads are drawn on a 100 m lattice (a node every 100 m along a road, so about 4,000 nodes) with a small deterministic
jitter from a fixed seed. The graph is strongly connected. :data:`LANDMARKS` gives the coordinates the demo scenario
uses; every point in it lies within 300 m of a road node.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from sim.geo import EARTH_RADIUS_M, haversine_m

LON0, LAT0 = 121.30, 30.75
SPACING_M = 100.0
X_RANGE_M = (-5000.0, 5000.0)
Y_RANGE_M = (-4000.0, 4000.0)
RIVER_X_M = -550.0  # between two lattice columns
BRIDGE_Y_M = 0.0
EXPRESSWAY_Y_M = -3900.0
INTERCHANGES_X_M = (-3000.0, 1000.0, 4000.0)
EDGE_JUNCTIONS_X_M = (X_RANGE_M[0], X_RANGE_M[1])  # the expressway leaves the map: join the local roads there
TOWN = (-5000.0, -600.0, -2600.0, 2000.0)  # x0, x1, y0, y1
PARK = (1400.0, 4400.0, -2600.0, 1000.0)


def to_lonlat(x_m, y_m) -> tuple[np.ndarray, np.ndarray]:
    """Local metres (east, north of the centre) to lon/lat."""
    lat = LAT0 + np.degrees(np.asarray(y_m, float) / EARTH_RADIUS_M)
    lon = LON0 + np.degrees(np.asarray(x_m, float) / (EARTH_RADIUS_M * math.cos(math.radians(LAT0))))
    return lon, lat


def _pt(x_m: float, y_m: float) -> list[float]:
    lon, lat = to_lonlat(x_m, y_m)
    return [round(float(lon), 6), round(float(lat), 6)]


def _inside(x, y, box) -> bool:
    return box[0] <= x <= box[1] and box[2] <= y <= box[3]


def _line_class(x: float, y: float, horizontal: bool) -> str | None:
    """Road class of the road line through (x, y) in one direction, or None where there is no road."""
    line = y if horizontal else x  # the coordinate that names the line
    if horizontal and abs(y - BRIDGE_Y_M) < 1:
        return "primary"
    if not horizontal and abs(x - 1000.0) < 1 and y >= EXPRESSWAY_Y_M:
        return "primary"
    if not horizontal and abs(x + 3000.0) < 1:
        return "secondary"
    if _inside(x, y, TOWN):
        if horizontal and abs(y - 1000.0) < 1:
            return "secondary"
        return "tertiary" if round(line) % 500 == 0 else "residential"
    if _inside(x, y, PARK):
        low, high = (PARK[2], PARK[3]) if horizontal else (PARK[0], PARK[1])
        if abs(line - low) < 1 or abs(line - high) < 1:
            return "secondary"
        if round(line - low) % 300 == 0:
            return "tertiary"
        return "service" if not horizontal and round(line - low) % 600 == 200 else None
    return "unclassified" if round(line) % 800 == 0 else None


_RANK = ("motorway", "primary", "secondary", "tertiary", "unclassified", "residential", "service")


def _edge_class(x1: float, y1: float, x2: float, y2: float, horizontal: bool) -> str | None:
    """A lattice edge exists where both ends lie on a road line; it takes the higher of their classes."""
    a, b = _line_class(x1, y1, horizontal), _line_class(x2, y2, horizontal)
    if a is None or b is None:
        return None
    return min(a, b, key=_RANK.index)


def build_graph() -> nx.MultiDiGraph:
    """The synthetic county's road graph (osmnx conventions: x=lon, y=lat, edge length in m, highway)."""
    rng = np.random.default_rng(20261122)
    xs = np.arange(X_RANGE_M[0], X_RANGE_M[1] + 1, SPACING_M)
    ys = np.arange(Y_RANGE_M[0], Y_RANGE_M[1] + 1, SPACING_M)
    jitter = rng.uniform(-15.0, 15.0, size=(len(xs), len(ys), 2))
    graph = nx.MultiDiGraph(crs="EPSG:4326", name="rescuesim synthetic county")
    pos: dict[int, tuple[float, float]] = {}

    def node(i: int, j: int) -> int:
        nid = i * len(ys) + j
        if nid not in pos:
            pos[nid] = (xs[i] + jitter[i, j, 0], ys[j] + jitter[i, j, 1])
        return nid

    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            crosses_river = i + 1 < len(xs) and x < RIVER_X_M < xs[i + 1]
            if i + 1 < len(xs) and (not crosses_river or abs(y - BRIDGE_Y_M) < 1):
                cls = _edge_class(x, y, xs[i + 1], y, horizontal=True)
                if cls is not None:
                    _two_way(graph, node(i, j), node(i + 1, j), cls)
            if j + 1 < len(ys):
                cls = _edge_class(x, y, x, ys[j + 1], horizontal=False)
                if cls is not None:
                    _two_way(graph, node(i, j), node(i, j + 1), cls)
    _add_expressway(graph, pos, xs, ys, node)
    nodes = list(graph.nodes)
    xy = np.asarray([pos[nid] for nid in nodes], dtype=float)
    lon, lat = to_lonlat(xy[:, 0], xy[:, 1])  # products and quotients only: exactly as one node at a time
    lonlat = dict(zip(nodes, zip(lon.tolist(), lat.tolist(), strict=True), strict=True))
    for nid in nodes:
        graph.nodes[nid]["x"], graph.nodes[nid]["y"] = lonlat[nid]
    for u, v, data in graph.edges(data=True):  # one edge at a time: numpy's trigonometry differs in the last bit
        (lon1, lat1), (lon2, lat2) = lonlat[u], lonlat[v]  # between whole arrays and single values
        data["length"] = float(haversine_m(np.float64(lon1), np.float64(lat1), np.float64(lon2), np.float64(lat2)))
    return graph


def _two_way(graph: nx.MultiDiGraph, a: int, b: int, highway: str) -> None:
    graph.add_edge(a, b, highway=highway, oneway=False)
    graph.add_edge(b, a, highway=highway, oneway=False)


def _add_expressway(graph, pos, xs, ys, node) -> None:
    """Two one-way carriageways every 500 m, with links up to the lattice at the interchanges and the map edges."""
    stations = np.arange(X_RANGE_M[0], X_RANGE_M[1] + 1, 500.0)
    east = [1_000_000 + k for k in range(len(stations))]
    west = [2_000_000 + k for k in range(len(stations))]
    for k, x in enumerate(stations):
        pos[east[k]] = (x, EXPRESSWAY_Y_M - 15.0)
        pos[west[k]] = (x, EXPRESSWAY_Y_M + 15.0)
    for k in range(len(stations) - 1):
        graph.add_edge(east[k], east[k + 1], highway="motorway", oneway=True)
        graph.add_edge(west[k + 1], west[k], highway="motorway", oneway=True)
    j_ramp = int(np.argmin(np.abs(ys - EXPRESSWAY_Y_M)))
    j_road = int(np.argmin(np.abs(ys - (EXPRESSWAY_Y_M + 700.0))))  # up to the first rural east-west road
    for x in (*INTERCHANGES_X_M, *EDGE_JUNCTIONS_X_M):
        k = int(np.argmin(np.abs(stations - x)))
        i = int(np.argmin(np.abs(xs - x)))
        for jj in range(j_ramp, j_road):
            _two_way(graph, node(i, jj), node(i, jj + 1), "motorway_link")
        for carriageway in (east, west):
            graph.add_edge(carriageway[k], node(i, j_ramp), highway="motorway_link", oneway=True)
            graph.add_edge(node(i, j_ramp), carriageway[k], highway="motorway_link", oneway=True)


PIPELINE_M = [
    (-4900.0, 3900.0),
    (-4200.0, 2500.0),
    (-2500.0, 2300.0),
    (-800.0, 2350.0),
    (800.0, 3000.0),
    (2500.0, 3600.0),
    (4200.0, 3300.0),
    (4700.0, 2000.0),
    (4300.0, 1150.0),
    (3600.0, 900.0),
]
_PIPELINE_KM = float(np.hypot(*np.diff(np.asarray(PIPELINE_M), axis=0).T).sum() / 1000.0)


def _site(id_: str, name: str, kind: str, x_m: float, y_m: float) -> dict:
    lon, lat = _pt(x_m, y_m)
    return {"id": id_, "name": name, "kind": kind, "lon": lon, "lat": lat}


#: Coordinates (lon, lat in degrees, WGS84) of the demo world's places, for scenarios and tests:
#:
#: - ``park``: id and name of the chemical park; ``park_center`` [lon, lat]; ``park_polygon`` and ``town_polygon``:
#:   rings of [lon, lat] (not closed);
#: - ``installations``: 8 dicts (id, name, kind in tank_farm / process_unit / warehouse / loading_station, lon, lat),
#:   all inside the park;
#: - ``pipeline``: vertices [lon, lat] of the gas line, west to east (``pipeline_length_km`` long, the last two near
#:   the park); ``hca``: stretches (from_km, to_km, name) measured from its first vertex;
#: - ``bases``: 5 existing bases (id, name, kind as in the scenario schema, lon, lat); ``candidates``: 10 candidate
#:   sites (id, name, lon, lat);
#: - ``river_x_lon``: longitude of the river; ``bridges``: the only two crossings (id, highway, lon, lat).
LANDMARKS: dict = {
    "park": {"id": "east", "name": "东区化工园区"},
    "river_x_lon": float(to_lonlat(RIVER_X_M, 0.0)[0]),
    "bridges": [
        _site("bridge-primary", "滨江大桥", "primary", RIVER_X_M, BRIDGE_Y_M),
        _site("bridge-expressway", "高速公路桥", "motorway", RIVER_X_M, EXPRESSWAY_Y_M),
    ],
    "town_polygon": [_pt(TOWN[0], TOWN[2]), _pt(TOWN[1], TOWN[2]), _pt(TOWN[1], TOWN[3]), _pt(TOWN[0], TOWN[3])],
    "park_center": _pt((PARK[0] + PARK[1]) / 2, (PARK[2] + PARK[3]) / 2),
    "park_polygon": [_pt(PARK[0], PARK[2]), _pt(PARK[1], PARK[2]), _pt(PARK[1], PARK[3]), _pt(PARK[0], PARK[3])],
    "installations": [
        _site("tf-crude", "原油罐区", "tank_farm", 3800, -2300),
        _site("tf-lpg", "液化烃罐区", "tank_farm", 4100, -1400),
        _site("pu-cracker", "乙烯裂解装置", "process_unit", 2300, -1700),
        _site("pu-chlor", "氯碱装置", "process_unit", 3200, -500),
        _site("pu-aromatics", "芳烃装置", "process_unit", 2000, 400),
        _site("wh-chem", "危化品仓库", "warehouse", 1700, -2400),
        _site("ls-rail", "铁路装卸站", "loading_station", 4300, 700),
        _site("ls-truck", "汽车装卸站", "loading_station", 1500, -900),
    ],
    "pipeline": [_pt(x, y) for x, y in PIPELINE_M],
    "pipeline_length_km": round(_PIPELINE_KM, 3),
    "hca": [{"from_km": 1.2, "to_km": 5.2, "name": "town northern edge"}],
    "bases": [
        _site("town-fs", "城区消防救援站", "career_station", -2500, 0),
        _site("special-fs", "特勤消防救援站", "special_service", 600, -1500),
        _site("park-team", "园区企业专职消防队", "enterprise_team", 2900, -1100),
        _site("hazchem", "危化品应急救援队", "hazchem_team", 1000, -3400),
        _site("regional", "区域应急救援基地", "regional_base", -4900, -3500),
    ],
    "candidates": [
        {"id": f"c{k + 1}", "name": f"候选站址{k + 1}", "lon": lon, "lat": lat}
        for k, (lon, lat) in enumerate(
            _pt(x, y)
            for x, y in [
                (-1000, -1200),
                (0, 0),
                (1000, 1500),
                (1400, -2600),
                (2500, 1000),
                (3000, -2600),
                (4400, -1000),
                (-2000, 2000),
                (1000, -500),
                (-3000, -2000),
            ]
        )
    ],
}


def describe() -> str:
    """A short description of the synthetic world (with its graph size)."""
    graph = build_graph()
    return (
        f"fictional coastal chemical-industry county, about 10 km x 8 km around lon {LON0}, lat {LAT0}: "
        f"{graph.number_of_nodes()} road nodes, {graph.number_of_edges()} directed edges; a town west of a "
        f"north-south river (2 bridges), the chemical park {LANDMARKS['park']['name']} to the east, an expressway "
        f"along the south, a {LANDMARKS['pipeline_length_km']:.1f} km gas pipeline through the rural north, "
        f"{len(LANDMARKS['bases'])} bases and {len(LANDMARKS['candidates'])} candidate sites"
    )
