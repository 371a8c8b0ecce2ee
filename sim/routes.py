"""Return routes: where a unit driving back from an incident site to its base is at a moment, and how far it is from
there to any site, so that it can be sent on from its way back (``dispatch.from_return``).

A route runs from a site's road node to a base's node through *points* (road nodes on a road network). For each
(base, site) pair it lists its points in driving order with each point's free-flow time to the base along the
route, the first being the whole trip (``travel_in_s``) and the last 0. Each point has its free-flow time to every
site's road node. A unit that started driving ``elapsed_s`` (free flow) ago is on the edge towards the first point it
has not passed yet; it goes on to that point and from there takes the fastest road to its new site.

On a road network the routes are the shortest paths of the inbound travel times (the predecessor tree of a Dijkstra
from each base on the reversed graph), and the times from points to sites come from a Dijkstra from each site node
on the reversed graph. A world without a network (a travel matrix) has *star* routes: site node, then base node,
and a site reaches another through whichever base makes that fastest (roads meet at the bases).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class ReturnRoutes:
    """The return route of every (base, site) pair, flat; see the module docstring."""

    n_sites: int
    offset: np.ndarray  # (n_bases * n_sites + 1,) int64: route of pair (b, s) is [offset[k], offset[k + 1]), k = b*n+s
    point: np.ndarray  # (total,) int64: each route entry's point (row of point_to_site_s)
    to_base_s: np.ndarray  # (total,) free-flow seconds from the entry's point to the base along the route
    point_to_site_s: np.ndarray  # (n_points, n_sites) free-flow seconds from each point to each site's road node
    point_node: np.ndarray  # (n_points,) road-network node of each point (-1 without a network)
    reach_s: np.ndarray | None = None  # per pair: free-flow seconds from the base out to the route's farthest point
    _elapsed: dict = field(default_factory=dict, repr=False)  # per pair: free-flow seconds from the site to each point
    _rows: dict = field(default_factory=dict, repr=False)  # per point: its times to the sites, as a list
    _reach: list = field(default_factory=list, repr=False)  # reach_s with a margin, as a list (filled on first use)

    def ahead(self, base: int, site: int, elapsed_s: float) -> tuple[int, float]:
        """The first point of the route from ``site`` to ``base`` not yet passed ``elapsed_s`` free-flow seconds
        after the drive began, and the free-flow seconds still to drive to it."""
        k = base * self.n_sites + site
        elapsed = self._elapsed.get(k)
        if elapsed is None:
            start, stop = int(self.offset[k]), int(self.offset[k + 1])
            times = self.to_base_s[start:stop]
            passed = np.maximum.accumulate(times[0] - times)  # (float32 tables may wobble in the last bit)
            elapsed = self._elapsed[k] = (passed.tolist(), self.point[start:stop].tolist())
        passed, points = elapsed
        i = min(bisect.bisect_left(passed, elapsed_s), len(passed) - 1)
        return points[i], max(passed[i] - elapsed_s, 0.0)

    def bound_s(self, base: int, site_from: int, out_s: float) -> float:
        """A lower bound of the free-flow seconds from anywhere on the route from ``site_from`` to ``base`` to a site
        ``out_s`` from the base (triangle inequality through the base: out_s <= base-to-point + point-to-site); 0
        when the routes have no ``reach_s`` (a travel matrix need not obey the triangle inequality)."""
        if self.reach_s is None:
            return 0.0
        if not self._reach:
            self._reach.extend((self.reach_s * (1 + 1e-6) + 1e-3).tolist())  # a margin for float32 sums
        bound = out_s - self._reach[base * self.n_sites + site_from]
        return bound if bound > 0.0 else 0.0

    def to_site_s(self, point: int, site: int) -> float:
        """Free-flow seconds from a point to a site's road node."""
        row = self._rows.get(point)
        if row is None:
            row = self._rows[point] = self.point_to_site_s[point].tolist()
        return row[site]

    def subset(self, base_ix: np.ndarray, site_ix: np.ndarray) -> ReturnRoutes:
        """The routes of some bases and sites (in the given orders), e.g. for a variant without moved points."""
        pairs = (np.asarray(base_ix)[:, None] * self.n_sites + np.asarray(site_ix)[None, :]).ravel()
        pieces = [np.arange(self.offset[k], self.offset[k + 1]) for k in pairs]
        entries = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        return ReturnRoutes(
            n_sites=len(site_ix),
            offset=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            point=self.point[entries],
            to_base_s=self.to_base_s[entries],
            point_to_site_s=self.point_to_site_s[:, np.asarray(site_ix, dtype=np.int64)],
            point_node=self.point_node,
            reach_s=None if self.reach_s is None else self.reach_s[pairs],
        )


def star_routes(travel_out_s: np.ndarray, travel_in_s: np.ndarray) -> ReturnRoutes:
    """Routes of a world without a road network: points 0..S-1 are the sites' nodes, S..S+B-1 the bases'; a site
    reaches another through the base that makes it fastest (itself at once)."""
    n_bases, n_sites = travel_out_s.shape
    via_base = (travel_in_s[:, :, None] + travel_out_s[:, None, :]).min(axis=0) if n_bases else np.zeros((0, 0))
    np.fill_diagonal(via_base, 0.0)
    pairs = n_bases * n_sites
    point = np.empty(2 * pairs, dtype=np.int64)
    point[0::2] = np.tile(np.arange(n_sites), n_bases)
    point[1::2] = n_sites + np.repeat(np.arange(n_bases), n_sites)
    to_base_s = np.zeros(2 * pairs)
    to_base_s[0::2] = travel_in_s.ravel()
    return ReturnRoutes(
        n_sites=n_sites,
        offset=np.arange(0, 2 * pairs + 1, 2, dtype=np.int64),
        point=point,
        to_base_s=to_base_s,
        point_to_site_s=np.vstack([via_base, travel_out_s]).astype(float),
        point_node=np.full(n_sites + n_bases, -1, dtype=np.int64),
    )


SITE_CHUNK = 64  # site Dijkstras per call: memory stays 64 x nodes floats
ROUTE_WORK_LIMIT = 50_000_000  # sites x road nodes above which return routes fall back to star routes (see below)


def network_routes(
    network, base_node: np.ndarray, site_node: np.ndarray, inbound_s: np.ndarray, outbound_s: np.ndarray
) -> ReturnRoutes:
    """Shortest return paths on the road network from every site node to every base node, and the free-flow time
    from every point on them to every site node. ``inbound_s`` (bases x nodes): each base's inbound travel times,
    the table ``travel_in_s`` was taken from (so that a route's first entry is exactly the trip's time);
    ``outbound_s`` likewise, for each route's reach from its base (:meth:`ReturnRoutes.bound_s`)."""
    from scipy.sparse.csgraph import dijkstra

    reverse = network.csr().T.tocsr()
    bases = np.unique(base_node)
    _, toward = dijkstra(reverse, directed=True, indices=bases, return_predecessors=True)
    row = {int(b): k for k, b in enumerate(bases)}
    routes, nodes = [], set()
    for b in base_node.tolist():
        r = row[b]
        for s in site_node.tolist():
            path = [s]
            while path[-1] != b:
                path.append(int(toward[r, path[-1]]))
            routes.append(path)
            nodes.update(path)
    point_node = np.array(sorted(nodes), dtype=np.int64)
    point_of = {n: k for k, n in enumerate(point_node.tolist())}
    point_to_site_s = np.empty((len(point_node), len(site_node)))
    nodes, inverse = np.unique(site_node, return_inverse=True)
    for start in range(0, len(nodes), SITE_CHUNK):  # from every point to each site: Dijkstra on the reversed graph
        rows = dijkstra(reverse, directed=True, indices=nodes[start : start + SITE_CHUNK])
        chunk = (inverse >= start) & (inverse < start + SITE_CHUNK)
        point_to_site_s[:, chunk] = rows[inverse[chunk] - start][:, point_node].T
    flat = [n for path in routes for n in path]
    pair_base = np.repeat(np.repeat(np.arange(len(base_node)), len(site_node)), [len(p) for p in routes])
    offset = np.concatenate([[0], np.cumsum([len(p) for p in routes])]).astype(np.int64)
    out_along = np.asarray(outbound_s, dtype=float)[pair_base, np.array(flat, dtype=np.int64)]
    reach_s = np.maximum.reduceat(out_along, offset[:-1]) if len(flat) else np.zeros(0)
    return ReturnRoutes(
        n_sites=len(site_node),
        offset=offset,
        point=np.array([point_of[n] for n in flat], dtype=np.int64),
        to_base_s=np.asarray(inbound_s, dtype=float)[pair_base, np.array(flat, dtype=np.int64)],
        point_to_site_s=point_to_site_s,
        point_node=point_node,
        reach_s=reach_s,
    )
