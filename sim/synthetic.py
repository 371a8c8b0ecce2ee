"""The embedded default world: a fictional coastal chemical-industry county (deterministic, no downloads).

About 10 km x 8 km around lon 121.30, lat 30.75 (the place is invented; the coordinates only make it look real):

- a **town** in the west: a dense 100 m grid of residential streets, tertiary every 500 m, two secondary arterials;
- a **river** running north-south at x = -550 m, crossed by exactly **two bridges**: the primary east-west road
  (y = 0) and the expressway;
- a **chemical park** (东区化工园区) in the east: a 300 m grid of tertiary plant roads inside a secondary perimeter;
- an **expressway** (one-way motorway carriageways) along the south, with interchanges at x = -3000, 1000, 4000 m;
- a **rural** rest of sparse unclassified roads on an 800 m grid, with a primary north-south road at x = 1000 m;
- a **gas pipeline corridor** through the rural north, passing the town's northern edge (the HCA) and ending at the
  park.

Node positions get a small deterministic jitter. :data:`LANDMARKS` gives the coordinates the demo scenario uses.
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
        return "tertiary" if round(line - low) % 300 == 0 else None
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
    for nid in graph.nodes:
        lon, lat = to_lonlat(*pos[nid])
        graph.nodes[nid]["x"], graph.nodes[nid]["y"] = float(lon), float(lat)
    for u, v, data in graph.edges(data=True):
        (x1, y1), (x2, y2) = pos[u], pos[v]
        lon, lat = to_lonlat([x1, x2], [y1, y2])
        data["length"] = float(haversine_m(lon[0], lat[0], lon[1], lat[1]))
    return graph


def _two_way(graph: nx.MultiDiGraph, a: int, b: int, highway: str) -> None:
    graph.add_edge(a, b, highway=highway, oneway=False)
    graph.add_edge(b, a, highway=highway, oneway=False)


def _add_expressway(graph, pos, xs, ys, node) -> None:
    """Two one-way carriageways every 500 m, with links up to the lattice at the interchanges."""
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
    for x in INTERCHANGES_X_M:
        k = int(np.argmin(np.abs(stations - x)))
        i = int(np.argmin(np.abs(xs - x)))
        for jj in range(j_ramp, j_road):
            _two_way(graph, node(i, jj), node(i, jj + 1), "motorway_link")
        for carriageway in (east, west):
            graph.add_edge(carriageway[k], node(i, j_ramp), highway="motorway_link", oneway=True)
            graph.add_edge(node(i, j_ramp), carriageway[k], highway="motorway_link", oneway=True)


PIPELINE_M = [
    (-4800.0, 2900.0),
    (-3000.0, 2300.0),
    (-1200.0, 2250.0),
    (200.0, 2600.0),
    (2200.0, 2200.0),
    (3200.0, 1300.0),
    (3600.0, 900.0),
]

LANDMARKS: dict = {
    "river_x_lon": float(to_lonlat(RIVER_X_M, 0.0)[0]),
    "bridges": {"primary road (y=0)": _pt(RIVER_X_M, BRIDGE_Y_M), "expressway": _pt(RIVER_X_M, EXPRESSWAY_Y_M)},
    "town_polygon": [_pt(TOWN[0], TOWN[2]), _pt(TOWN[1], TOWN[2]), _pt(TOWN[1], TOWN[3]), _pt(TOWN[0], TOWN[3])],
    "park_center": _pt((PARK[0] + PARK[1]) / 2, (PARK[2] + PARK[3]) / 2),
    "park_polygon": [_pt(PARK[0], PARK[2]), _pt(PARK[1], PARK[2]), _pt(PARK[1], PARK[3]), _pt(PARK[0], PARK[3])],
    "installations": [
        {"id": "tf-crude", "name": "原油罐区", "kind": "tank_farm", "at": _pt(3800, -2300)},
        {"id": "tf-lpg", "name": "液化烃罐区", "kind": "tank_farm", "at": _pt(4100, -1400)},
        {"id": "pu-cracker", "name": "乙烯裂解装置", "kind": "process_unit", "at": _pt(2300, -1700)},
        {"id": "pu-chlor", "name": "氯碱装置", "kind": "process_unit", "at": _pt(3200, -500)},
        {"id": "pu-aromatics", "name": "芳烃装置", "kind": "process_unit", "at": _pt(2000, 400)},
        {"id": "wh-chem", "name": "危化品仓库", "kind": "warehouse", "at": _pt(1700, -2400)},
        {"id": "ls-rail", "name": "铁路装卸站", "kind": "loading_station", "at": _pt(4300, 700)},
        {"id": "ls-truck", "name": "汽车装卸站", "kind": "loading_station", "at": _pt(1500, -900)},
    ],
    "pipeline": [_pt(x, y) for x, y in PIPELINE_M],
    "hca": [{"from_km": 1.0, "to_km": 4.2, "name": "town northern edge"}],
    "bases": [
        {"id": "town-fs", "name": "城区消防救援站", "kind": "career_station", "at": _pt(-2500, 0)},
        {"id": "special-fs", "name": "特勤消防救援站", "kind": "special_service", "at": _pt(600, -1500)},
        {"id": "park-team", "name": "园区企业专职消防队", "kind": "enterprise_team", "at": _pt(2900, -1100)},
        {"id": "hazchem", "name": "危化品应急救援队", "kind": "hazchem_team", "at": _pt(1000, -3400)},
        {"id": "regional", "name": "区域应急救援基地", "kind": "regional_base", "at": _pt(-4900, -3500)},
    ],
    "candidates": [
        {"id": f"c{k + 1}", "at": _pt(x, y)}
        for k, (x, y) in enumerate(
            [
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
    """A short description of the synthetic world."""
    graph = build_graph()
    return (
        f"synthetic county: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} directed edges, "
        f"town west of a river (2 bridges), chemical park east, expressway south, pipeline through the north"
    )
