"""Road networks: loading (synthetic, OSM XML, GraphML, osmnx download), emergency speeds, snapping, travel times.

Emergency-vehicle speeds per OSM ``highway`` class (:data:`DEFAULT_SPEEDS_KPH`) are planning assumptions: China's
urban fire-station construction standard 建标152-2017 plans a 4-minute drive at an average 30-35 km/h for fire
engines, which is the ``default`` and sits between the residential and primary classes here; faster roads scale up,
minor roads down. ``*_link`` roads take their parent's speed. Posted ``maxspeed`` tags are not used: emergency
vehicles neither keep to them nor reach them in traffic. Override per class with the scenario's ``speeds_kph``.

Only the largest strongly connected part of a graph is kept (a unit must be able to drive there and back); the count
of dropped nodes is reported. Shortest travel times come from multi-source Dijkstra on a scipy sparse matrix
(:class:`TravelTimes`), cached on disk keyed by the graph's content, the speeds and the sources.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from sim.errors import NetworkError
from sim.geo import EARTH_RADIUS_M, haversine_m

DEFAULT_SPEEDS_KPH: dict[str, float] = {
    "motorway": 80.0,
    "trunk": 60.0,
    "primary": 50.0,
    "secondary": 45.0,
    "tertiary": 40.0,
    "unclassified": 30.0,
    "residential": 25.0,
    "living_street": 10.0,
    "service": 15.0,
    "default": 30.0,
}

SOURCES = ("synthetic", "osm_xml", "graphml", "place", "bbox", "grid")
_DIJKSTRA_CHUNK = 16  # sources per scipy call: bounds the float64 scratch memory on large graphs


def load_graph(
    source: str,
    *,
    path: Path | None = None,
    query: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    cache_dir: Path | None = None,
) -> nx.MultiDiGraph:
    """A directed road graph (osmnx conventions: node x=lon, y=lat; edge length in metres, highway tag)."""
    if source == "synthetic":
        from sim.synthetic import build_graph

        return build_graph()
    if source in ("osm_xml", "graphml"):
        return _load_file(source, Path(path) if path is not None else None)
    if source in ("place", "bbox"):
        return _download(source, query=query, bbox=bbox, cache_dir=cache_dir)
    raise NetworkError(f"network.source: unknown source {source!r}; choose from {', '.join(SOURCES)}")


def _load_file(source: str, path: Path | None) -> nx.MultiDiGraph:
    import osmnx as ox

    if path is None:
        raise NetworkError(f"network.path: source {source!r} needs a path")
    if not path.is_file():
        raise NetworkError(f"network.path: file not found: {path}")
    try:
        if source == "osm_xml":
            return ox.graph_from_xml(path, simplify=True, retain_all=True)
        return ox.load_graphml(path)
    except Exception as exc:  # osmnx raises many kinds on a malformed file
        raise NetworkError(f"network.path: cannot read {path} as {source}: {exc}") from None


def _download(source: str, *, query, bbox, cache_dir: Path | None) -> nx.MultiDiGraph:
    import osmnx as ox

    key = hashlib.sha256(repr((source, query, tuple(bbox) if bbox else None)).encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"osm-{key}.graphml" if cache_dir else None
    if cached is not None and cached.is_file():
        return ox.load_graphml(cached)
    what = f"place {query!r}" if source == "place" else f"bbox {bbox}"
    try:
        if source == "place":
            graph = ox.graph_from_place(query, network_type="drive")
        else:
            west, south, east, north = bbox
            graph = ox.graph_from_bbox((west, south, east, north), network_type="drive")
    except Exception as exc:  # offline: requests' ConnectionError, osmnx's own errors
        raise NetworkError(
            f"network: could not download the roads of {what}: {type(exc).__name__}: {exc}; "
            "run once online (the graph is then cached) or use source: osm_xml"
        ) from None
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        ox.save_graphml(graph, tmp)
        os.replace(tmp, cached)
    return graph


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A road graph as arrays: nodes by index (0..n-1), directed edges with length, class and travel time."""

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    edge_tail: np.ndarray
    edge_head: np.ndarray
    edge_length_m: np.ndarray
    edge_travel_time_s: np.ndarray
    edge_highway: np.ndarray
    dropped_nodes: int
    content_hash: str
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.node_id)

    @property
    def n_edges(self) -> int:
        return len(self.edge_tail)

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, speeds_kph: Mapping[str, float]) -> RoadNetwork:
        """Arrays of the largest strongly connected part, travel time = length / class speed."""
        nodes = list(graph.nodes)
        if not nodes:
            raise NetworkError("network: the road graph has no nodes")
        index = {n: i for i, n in enumerate(nodes)}
        tails, heads, lengths, classes = [], [], [], []
        for u, v, data in graph.edges(data=True):
            tails.append(index[u])
            heads.append(index[v])
            lengths.append(float(data.get("length", 0.0)))
            classes.append(road_class(data.get("highway")))
        return cls.from_arrays(
            node_id=np.asarray([_as_int(n) for n in nodes], np.int64),
            lon=np.asarray([graph.nodes[n]["x"] for n in nodes], float),
            lat=np.asarray([graph.nodes[n]["y"] for n in nodes], float),
            tail=np.asarray(tails, np.int64),
            head=np.asarray(heads, np.int64),
            length_m=np.asarray(lengths, float),
            highway=np.asarray(classes, dtype=object),
            speeds_kph=speeds_kph,
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        node_id: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        tail: np.ndarray,
        head: np.ndarray,
        length_m: np.ndarray,
        highway: np.ndarray,
        speeds_kph: Mapping[str, float],
    ) -> RoadNetwork:
        """From node and edge arrays (no networkx: for province-size graphs); keeps the largest strongly
        connected part."""
        n = len(node_id)
        if n == 0:
            raise NetworkError("network: the road graph has no nodes")
        adjacency = csr_array((np.ones(len(tail)), (tail, head)), shape=(n, n))
        _, label = connected_components(adjacency, directed=True, connection="strong")
        keep = label == np.bincount(label).argmax()
        new_index = np.cumsum(keep) - 1
        edge_keep = keep[tail] & keep[head]
        classes, inverse = np.unique(np.asarray(highway, dtype=str)[edge_keep], return_inverse=True)
        speed = np.asarray([_speed(c, speeds_kph) for c in classes], float)[inverse]
        length = np.asarray(length_m, float)[edge_keep]
        arrays = {
            "node_id": np.asarray(node_id, np.int64)[keep],
            "lon": np.asarray(lon, float)[keep],
            "lat": np.asarray(lat, float)[keep],
            "edge_tail": new_index[tail[edge_keep]].astype(np.int32),
            "edge_head": new_index[head[edge_keep]].astype(np.int32),
            "edge_length_m": length,
            "edge_travel_time_s": length / (speed / 3.6),
            "edge_highway": classes[inverse],
        }
        return cls(**arrays, dropped_nodes=int(n - keep.sum()), content_hash=_hash(arrays))

    def csr(self) -> csr_array:
        """(n, n) travel times in seconds, the fastest of parallel edges."""
        if "csr" not in self._cache:
            order = np.lexsort((self.edge_travel_time_s, self.edge_head, self.edge_tail))
            tail, head, t = self.edge_tail[order], self.edge_head[order], self.edge_travel_time_s[order]
            first = np.ones(len(tail), bool)
            first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
            # a zero-length edge would vanish from a sparse matrix: give it a tiny positive time
            weight = np.maximum(t[first], 1e-6)
            self._cache["csr"] = csr_array((weight, (tail[first], head[first])), shape=(self.n_nodes, self.n_nodes))
        return self._cache["csr"]

    def snap(self, lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node index and great-circle distance (m) for each point.

        Nearest by a local equirectangular projection (accurate to well under 1% across a province), distance by
        haversine.
        """
        lon, lat = np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
        if "tree" not in self._cache:
            self._cache["lat0"] = float(np.radians(self.lat.mean()))
            self._cache["tree"] = cKDTree(self._project(self.lon, self.lat))
        _, node = self._cache["tree"].query(self._project(lon, lat))
        node = np.asarray(node, np.int64)
        return node, haversine_m(lon, lat, self.lon[node], self.lat[node])

    def _project(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        lat0 = self._cache["lat0"]
        return np.column_stack([np.radians(lon) * np.cos(lat0), np.radians(lat)]) * EARTH_RADIUS_M

    def snap_checked(self, names: Sequence[str], lon, lat, *, max_snap_m: float, field: str):
        """:meth:`snap`, raising one error that lists every point farther than ``max_snap_m`` from a road."""
        node, dist = self.snap(lon, lat)
        lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
        far = [
            f"{field}[{names[i]}]: {dist[i]:.0f} m from the nearest road node (limit {max_snap_m:.0f} m) at "
            f"lon={lon[i]:.5f}, lat={lat[i]:.5f}"
            for i in np.flatnonzero(dist > max_snap_m)
        ]
        if far:
            raise NetworkError("points too far from the road network:\n  " + "\n  ".join(far))
        return node, dist

    def to_networkx(self) -> nx.MultiDiGraph:
        """The network as an osmnx-style graph (for plotting)."""
        graph = nx.MultiDiGraph(crs="EPSG:4326")
        for i in range(self.n_nodes):
            graph.add_node(i, x=float(self.lon[i]), y=float(self.lat[i]))
        for k in range(self.n_edges):
            graph.add_edge(
                int(self.edge_tail[k]),
                int(self.edge_head[k]),
                length=float(self.edge_length_m[k]),
                travel_time=float(self.edge_travel_time_s[k]),
                highway=str(self.edge_highway[k]),
            )
        return graph


def grid_network(
    n_nodes: int, bbox: tuple[float, float, float, float], speeds_kph: Mapping[str, float], *, seed: int = 0
) -> RoadNetwork:
    """A square lattice of about ``n_nodes`` over ``bbox`` (west, south, east, north): two-way streets, every tenth
    line primary, edge lengths from the coordinates with +-10% deterministic noise. For scale tests and benchmarks:
    built straight into arrays, so a million nodes take seconds."""
    k = max(2, int(round(n_nodes**0.5)))
    west, south, east, north = bbox
    idx = np.arange(k * k).reshape(k, k)
    row, col = np.divmod(np.arange(k * k), k)
    lon = west + (east - west) * col / (k - 1)
    lat = south + (north - south) * row / (k - 1)
    pairs = [(idx[:, :-1].ravel(), idx[:, 1:].ravel()), (idx[:-1, :].ravel(), idx[1:, :].ravel())]
    tail = np.concatenate([a for a, _ in pairs] + [b for _, b in pairs])
    head = np.concatenate([b for _, b in pairs] + [a for a, _ in pairs])
    noise = np.random.default_rng(seed).uniform(0.9, 1.1, len(tail) // 2)
    length = haversine_m(lon[tail], lat[tail], lon[head], lat[head]) * np.concatenate([noise, noise])
    horizontal = row[tail] == row[head]
    primary = np.where(horizontal, row[tail] % 10 == 0, col[tail] % 10 == 0)
    return RoadNetwork.from_arrays(
        node_id=np.arange(k * k),
        lon=lon,
        lat=lat,
        tail=tail,
        head=head,
        length_m=length,
        highway=np.where(primary, "primary", "residential"),
        speeds_kph=speeds_kph,
    )


def build_network(
    source: str,
    *,
    speeds_kph: Mapping[str, float],
    path: Path | None = None,
    query: str | None = None,
    bbox=None,
    cache_dir: Path | None = None,
    grid_nodes: int | None = None,
) -> RoadNetwork:
    """Load a graph and turn it into a :class:`RoadNetwork`."""
    if source == "grid":
        if bbox is None or grid_nodes is None:
            raise NetworkError("network: source 'grid' needs bbox and grid_nodes")
        return grid_network(grid_nodes, bbox, speeds_kph)
    network = RoadNetwork.from_graph(
        load_graph(source, path=path, query=query, bbox=bbox, cache_dir=cache_dir), speeds_kph
    )
    if network.n_nodes < 2:
        raise NetworkError(f"network: the largest strongly connected part has {network.n_nodes} node(s)")
    return network


@dataclass(frozen=True, eq=False)
class TravelTimes:
    """Shortest travel times (s) from each source to every node (outbound) and from every node back (inbound)."""

    source_nodes: np.ndarray
    outbound_s: np.ndarray  # (k, n) float32
    inbound_s: np.ndarray  # (k, n) float32

    @classmethod
    def from_graph(
        cls, network: RoadNetwork, source_nodes: Sequence[int], *, cache_dir: Path | None = None
    ) -> TravelTimes:
        """Multi-source Dijkstra on the sparse graph (and its transpose), cached on disk when ``cache_dir`` is set."""
        sources = np.unique(np.asarray(source_nodes, np.int64))
        key = hashlib.sha256((network.content_hash + ",".join(map(str, sources))).encode()).hexdigest()[:24]
        path = Path(cache_dir) / f"travel-{key}.npz" if cache_dir else None
        if path is not None and path.is_file():
            with np.load(path) as data:
                return cls(sources, data["outbound_s"], data["inbound_s"])
        csr = network.csr()
        outbound = _dijkstra(csr, sources)
        inbound = _dijkstra(csr.T.tocsr(), sources)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
            np.savez(tmp, outbound_s=outbound, inbound_s=inbound)
            os.replace(tmp, path)
        return cls(sources, outbound, inbound)

    @classmethod
    def from_matrix(cls, outbound_s: ArrayLike, inbound_s: ArrayLike | None = None) -> TravelTimes:
        """Given matrices (k sources x n nodes); sources are nodes 0..k-1; inbound defaults to outbound."""
        out = np.asarray(outbound_s, np.float32)
        back = out if inbound_s is None else np.asarray(inbound_s, np.float32)
        return cls(np.arange(out.shape[0], dtype=np.int64), out, back)

    def row(self, source_node: int) -> int:
        """The row holding a source node."""
        k = int(np.searchsorted(self.source_nodes, source_node))
        if k >= len(self.source_nodes) or self.source_nodes[k] != source_node:
            raise KeyError(f"node {source_node} is not a source of these travel times")
        return k


def _dijkstra(csr: csr_array, sources: np.ndarray) -> np.ndarray:
    out = np.empty((len(sources), csr.shape[0]), np.float32)
    for start in range(0, len(sources), _DIJKSTRA_CHUNK):
        chunk = sources[start : start + _DIJKSTRA_CHUNK]
        out[start : start + len(chunk)] = dijkstra(csr, directed=True, indices=chunk)
    return out


def road_class(highway) -> str:
    """The first OSM highway tag, ``*_link`` mapped to its parent."""
    if isinstance(highway, list | tuple):
        highway = highway[0] if highway else None
    tag = str(highway) if highway else "default"
    return tag.removesuffix("_link")


def _speed(road: str, speeds_kph: Mapping[str, float]) -> float:
    return float(speeds_kph.get(road, speeds_kph.get("default", DEFAULT_SPEEDS_KPH["default"])))


def _as_int(node) -> int:
    try:
        return int(node)
    except (TypeError, ValueError):
        return int(hashlib.sha256(str(node).encode()).hexdigest()[:15], 16)


def _hash(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = arrays[name]
        h.update(name.encode())
        if a.dtype.kind in "OU":
            classes, codes = np.unique(a, return_inverse=True)
            h.update("\x00".join(classes.tolist()).encode())
            a = codes.astype(np.int32)
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()
