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


def covered_edges(network, node_reach_s: np.ndarray, limit_s: float) -> np.ndarray:
    """Road edges with both ends reached within ``limit_s``, one per pair of nodes (a two-way road's reverse edge
    draws the same line), in edge order."""
    covered = node_reach_s <= limit_s
    edges = np.flatnonzero(covered[network.edge_tail] & covered[network.edge_head])
    pair = np.sort(np.column_stack([network.edge_tail[edges], network.edge_head[edges]]), axis=1)
    _, first = np.unique(pair, axis=0, return_index=True)
    return edges[np.sort(first)]


class _Plane:
    """A local metric projection (equirectangular about the network's mean latitude) and the road areas on it."""

    def __init__(self, network) -> None:
        self.network = network
        self.lat0 = math.radians(float(network.lat.mean()))
        self.x = np.radians(network.lon) * math.cos(self.lat0) * EARTH_RADIUS_M
        self.y = np.radians(network.lat) * EARTH_RADIUS_M

    def buffered_edges(self, edges: np.ndarray, buffer_m: float) -> np.ndarray:
        tail, head = self.network.edge_tail[edges], self.network.edge_head[edges]
        coords = np.stack(
            [np.column_stack([self.x[tail], self.y[tail]]), np.column_stack([self.x[head], self.y[head]])], axis=1
        )
        return shapely.buffer(shapely.linestrings(coords), buffer_m, quad_segs=4)

    def to_lonlat(self, area: BaseGeometry, buffer_m: float) -> BaseGeometry:
        """The area simplified to a quarter of the buffer and taken back to lon/lat."""

        def to_lonlat(xy: np.ndarray) -> np.ndarray:
            lon = np.degrees(xy[:, 0] / (EARTH_RADIUS_M * math.cos(self.lat0)))
            lat = np.degrees(xy[:, 1] / EARTH_RADIUS_M)
            return np.column_stack([lon, lat])

        return shapely.transform(shapely.simplify(area, buffer_m / 4), to_lonlat)


def isochrone(
    network, node_reach_s: np.ndarray, limit_s: float, *, buffer_m: float = 120.0, max_edges: int = 60_000
) -> BaseGeometry:
    """The covered area within ``limit_s`` as a (multi)polygon in lon/lat (empty when nothing is covered).

    Beyond ``max_edges`` covered edges only an evenly strided subset is buffered, with the buffer widened by the
    square root of the stride, so the outline stays right at province scale while the cost stays bounded."""
    edges = covered_edges(network, node_reach_s, limit_s)
    if not len(edges):
        return shapely.Polygon()
    stride = max(1, len(edges) // max_edges)  # province-size networks: every stride-th edge, wider buffer
    edges, buffer_m = edges[::stride], buffer_m * stride**0.5
    plane = _Plane(network)
    return plane.to_lonlat(shapely.union_all(plane.buffered_edges(edges, buffer_m)), buffer_m)


def isochrones(
    network,
    travel_outbound_s: np.ndarray,
    turnout_s: np.ndarray,
    limits_min: list[float],
    *,
    buffer_m: float = 120.0,
    max_edges: int = 60_000,
) -> dict[float, BaseGeometry]:
    """One polygon per time limit (minutes), as :func:`isochrone` draws it.

    The covered edges grow with the limit, so each area is the one of the limit below grown by the edges it adds
    (the same union, far cheaper than buffering every edge again); strided networks are drawn limit by limit."""
    reach = reach_s(travel_outbound_s, turnout_s)
    limits = sorted(set(limits_min))
    edge_sets = [covered_edges(network, reach, m * 60.0) for m in limits]
    if any(len(edges) > max_edges for edges in edge_sets):
        return {m: isochrone(network, reach, m * 60.0, buffer_m=buffer_m, max_edges=max_edges) for m in limits}
    plane, out = _Plane(network), {}
    area, drawn = shapely.Polygon(), np.zeros(len(network.edge_tail), dtype=bool)
    for m, edges in zip(limits, edge_sets, strict=True):
        added = edges[~drawn[edges]]
        if len(added):
            area = shapely.union_all([area, *plane.buffered_edges(added, buffer_m)])
            drawn[added] = True
        out[m] = plane.to_lonlat(area, buffer_m) if not area.is_empty else shapely.Polygon()
    return out
