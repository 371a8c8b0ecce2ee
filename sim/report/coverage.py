"""Coverage isochrones: the area the bases reach within a time, as polygons in lon/lat.

A road node is covered within T when some base's mean turnout plus its road travel time to the node is at most T;
the polygon is the union of the covered road edges buffered by ``buffer_m`` (on a local metric projection), so it
follows the roads instead of drawing a convex hull over rivers and fields.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from sim.geo import EARTH_RADIUS_M


def reach_s(travel_outbound_s: np.ndarray, turnout_s: np.ndarray) -> np.ndarray:
    """(n_nodes,) earliest arrival from any base: min over bases of turnout + travel."""
    return (np.asarray(travel_outbound_s, float) + np.asarray(turnout_s, float)[:, None]).min(axis=0)


def isochrone(
    network, node_reach_s: np.ndarray, limit_s: float, *, buffer_m: float = 120.0, max_edges: int = 60_000
) -> BaseGeometry:
    """The covered area within ``limit_s`` as a (multi)polygon in lon/lat (empty when nothing is covered).

    Beyond ``max_edges`` covered edges only an evenly strided subset is buffered, with the buffer widened by the
    square root of the stride, so the outline stays right at province scale while the cost stays bounded."""
    covered = node_reach_s <= limit_s
    edges = np.flatnonzero(covered[network.edge_tail] & covered[network.edge_head])
    if not len(edges):
        return shapely.Polygon()
    stride = max(1, len(edges) // max_edges)  # province-size networks: every stride-th edge, wider buffer
    edges, buffer_m = edges[::stride], buffer_m * stride**0.5
    lat0 = math.radians(float(network.lat.mean()))
    x = np.radians(network.lon) * math.cos(lat0) * EARTH_RADIUS_M
    y = np.radians(network.lat) * EARTH_RADIUS_M
    tail, head = network.edge_tail[edges], network.edge_head[edges]
    coords = np.stack([np.column_stack([x[tail], y[tail]]), np.column_stack([x[head], y[head]])], axis=1)
    lines = shapely.linestrings(coords)
    area = shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=4))
    area = shapely.simplify(area, buffer_m / 4)

    def to_lonlat(xy: np.ndarray) -> np.ndarray:
        lon = np.degrees(xy[:, 0] / (EARTH_RADIUS_M * math.cos(lat0)))
        lat = np.degrees(xy[:, 1] / EARTH_RADIUS_M)
        return np.column_stack([lon, lat])

    return shapely.transform(area, to_lonlat)


def isochrones(
    network, travel_outbound_s: np.ndarray, turnout_s: np.ndarray, limits_min: list[float]
) -> dict[float, BaseGeometry]:
    """One polygon per time limit (minutes)."""
    reach = reach_s(travel_outbound_s, turnout_s)
    return {m: isochrone(network, reach, m * 60.0) for m in sorted(set(limits_min))}
