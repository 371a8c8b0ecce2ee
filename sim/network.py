"""Road networks: loading (synthetic, OSM XML, GraphML, osmnx download), emergency speeds, snapping, travel times.

Emergency-vehicle speeds per OSM ``highway`` class (:data:`DEFAULT_SPEEDS_KPH`) are planning assumptions: China's
urban fire-station construction standard 建标152-2017 plans a 4-minute drive at an average 30-35 km/h for fire
engines, which is the ``default`` and sits between the residential and primary classes here; faster roads scale up
(motorway 80, trunk 60, primary 50, secondary 45, tertiary 40), minor roads down (unclassified 30, residential 25,
service 15). ``*_link`` roads take their parent's speed unless the mapping names the link class itself. An edge
osmnx merged from ways of several classes takes the fastest of them (:func:`highway_tag`), whatever order osmnx
lists them in. Posted ``maxspeed`` tags are not used: emergency vehicles neither keep to them nor reach them in
traffic, so the class alone sets the speed. These are planning assumptions, to be overridden per class by the
scenario's ``speeds_kph``.

Only the largest strongly connected part of a graph is kept (a unit must be able to drive there and back); the count
of dropped nodes is reported. Shortest travel times come from multi-source Dijkstra on a scipy sparse matrix
(:class:`TravelTimes`), cached on disk keyed by the graph's content, the speeds and the sources. Large runs spread
chunks of sources over worker processes (each row is still one scipy call's output, so the tables are byte-identical
to a serial run).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from sim._cores import default_workers
from sim.errors import FarFromRoadError, NetworkError
from sim.geo import EARTH_RADIUS_M, haversine_m
from sim.interrupts import ignore_interrupts, interrupts_deferred, kill_worker_processes

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
_SNAP_CANDIDATES = 4  # projected-nearest nodes re-ranked by haversine in RoadNetwork.snap
_DIJKSTRA_CHUNK = 16  # sources per scipy call: bounds the float64 scratch memory on large graphs
# Worker processes pay off only above this many (source, node) pairs per direction, by start method. Measured with
# 2 workers on 2 cores (synthetic grids, ~0.2 us per pair and direction serially): a forked pool costs ~30 ms and
# breaks even near 0.3M pairs (1M pairs: 1.3-1.4x); spawned workers each start Python and import scipy (~1.5 s
# together) and break even near 8M pairs (10M pairs: 0.95x).
_PARALLEL_MIN_PAIRS = {"fork": 1_000_000, "spawn": 20_000_000}


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

    _check_download_args(source, query, bbox)
    what = query.strip() if source == "place" else tuple(float(v) for v in bbox)
    key = hashlib.sha256(repr((source, what)).encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"osm-{key}.graphml" if cache_dir else None
    if cached is not None and cached.is_file():
        try:
            return ox.load_graphml(cached)
        except Exception as exc:  # a damaged cache file: say which, so it can be deleted
            raise NetworkError(f"network: cannot read the cached download {cached}: {exc}; delete it") from None
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


def _check_download_args(source: str, query, bbox) -> None:
    if source == "place" and not (isinstance(query, str) and query.strip()):
        raise NetworkError(f"network.query: source 'place' needs a place name, got {query!r}")
    if source == "bbox":
        try:
            west, south, east, north = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise NetworkError(f"network.bbox: expected (west, south, east, north) in degrees, got {bbox!r}") from None
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise NetworkError(f"network.bbox: need west < east and south < north in degrees, got {bbox!r}")


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
        """Arrays of the largest strongly connected part; travel time = length / speed of the edge's class.

        ``highway`` is the edge's OSM tag, of a merged edge's several the fastest (:func:`highway_tag`); an edge
        without ``length`` gets the great-circle length.
        """
        nodes = list(graph.nodes)
        if not nodes:
            raise NetworkError("network: the road graph has no nodes")
        _check_speeds(speeds_kph)  # before any speed is looked up (a merged edge's class is its fastest tag)
        missing = [n for n, data in graph.nodes(data=True) if "x" not in data or "y" not in data]
        if missing:
            raise NetworkError(f"network: {len(missing)} node(s) lack x/y coordinates, e.g. node {missing[0]!r}")
        index = {n: i for i, n in enumerate(nodes)}
        lon = np.asarray([graph.nodes[n]["x"] for n in nodes], float)
        lat = np.asarray([graph.nodes[n]["y"] for n in nodes], float)
        edges = list(graph.edges(data=True))
        tail = np.asarray([index[u] for u, _, _ in edges], np.int64)
        head = np.asarray([index[v] for _, v, _ in edges], np.int64)
        length = np.asarray([float(data.get("length", np.nan)) for _, _, data in edges], float)
        no_length = np.isnan(length)
        length[no_length] = haversine_m(
            lon[tail[no_length]], lat[tail[no_length]], lon[head[no_length]], lat[head[no_length]]
        )
        return cls.from_arrays(
            node_id=np.asarray([_as_int(n) for n in nodes], np.int64),
            lon=lon,
            lat=lat,
            tail=tail,
            head=head,
            length_m=length,
            highway=np.asarray([highway_tag(data.get("highway"), speeds_kph) for _, _, data in edges], dtype=object),
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
        _check_speeds(speeds_kph)
        adjacency = csr_array((np.ones(len(tail)), (tail, head)), shape=(n, n))
        _, label = connected_components(adjacency, directed=True, connection="strong")
        keep = label == np.bincount(label).argmax()
        new_index = np.cumsum(keep) - 1
        edge_keep = keep[tail] & keep[head]
        classes, inverse = np.unique(np.asarray(highway, dtype=str)[edge_keep], return_inverse=True)
        speed = np.asarray([speed_kph(c, speeds_kph) for c in classes], float)[inverse]
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

        A k-d tree on a local equirectangular projection about the network's mean latitude proposes the
        :data:`_SNAP_CANDIDATES` nearest nodes; the nearest of them by haversine wins. The projection's east-west
        scale drifts by about tan(lat) per radian of latitude from the mean (under 0.5% within 0.5 degrees at 30 N,
        about 1% per degree), far less than the spread between the candidates, so the pick is the haversine-nearest
        node across a province.
        """
        lon, lat = np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
        if "tree" not in self._cache:
            self._cache["lat0"] = float(np.radians(self.lat.mean()))
            self._cache["tree"] = cKDTree(self._project(self.lon, self.lat))
        k = min(_SNAP_CANDIDATES, self.n_nodes)
        _, near = self._cache["tree"].query(self._project(lon, lat), k=k)
        near = np.asarray(near, np.int64).reshape(len(lon), k)
        dist = haversine_m(lon[:, None], lat[:, None], self.lon[near], self.lat[near])
        best = np.argmin(dist, axis=1)
        rows = np.arange(len(lon))
        return near[rows, best], dist[rows, best]

    def _project(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        lat0 = self._cache["lat0"]
        return np.column_stack([np.radians(lon) * np.cos(lat0), np.radians(lat)]) * EARTH_RADIUS_M

    def snap_checked(
        self, names: Sequence[str], lon: ArrayLike, lat: ArrayLike, *, max_snap_m: float, field: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`snap`, raising one error that lists every point farther than ``max_snap_m`` from a road node."""
        lon, lat = np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
        if not len(names) == len(lon) == len(lat):
            raise ValueError(f"{field}: {len(names)} names for {len(lon)} lon and {len(lat)} lat values")
        bad = [
            f"{field}[{names[i]}]: coordinates must be finite, got lon={lon[i]}, lat={lat[i]}"
            for i in np.flatnonzero(~(np.isfinite(lon) & np.isfinite(lat)))
        ]
        if bad:
            raise NetworkError("points cannot be snapped to the road network:\n  " + "\n  ".join(bad))
        node, dist = self.snap(lon, lat)
        far = far_from_road(field, names, lon, lat, dist, max_snap_m)
        if far:
            raise FarFromRoadError(far)
        return node, dist

    @staticmethod
    def distance_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> np.ndarray:
        """Great-circle (haversine) distance in metres, broadcast over the inputs."""
        return np.asarray(haversine_m(*(np.asarray(v, float) for v in (lon1, lat1, lon2, lat2))))

    def to_networkx(self) -> nx.MultiDiGraph:
        """The network as an osmnx-style graph keyed by node index (x=lon, y=lat, length, travel_time, highway)."""
        graph = nx.MultiDiGraph(crs="EPSG:4326")
        graph.add_nodes_from(
            (i, {"x": x, "y": y}) for i, (x, y) in enumerate(zip(self.lon.tolist(), self.lat.tolist(), strict=True))
        )
        graph.add_edges_from(
            (u, v, {"length": length, "travel_time": t, "highway": str(h)})
            for u, v, length, t, h in zip(
                self.edge_tail.tolist(),
                self.edge_head.tolist(),
                self.edge_length_m.tolist(),
                self.edge_travel_time_s.tolist(),
                self.edge_highway,
                strict=True,
            )
        )
        return graph


def far_from_road(
    field: str, names: Sequence[str], lon: ArrayLike, lat: ArrayLike, dist_m: ArrayLike, max_snap_m: float
) -> list[str]:
    """One line per point farther than ``max_snap_m`` from its road node, naming it, its distance, the limit and
    its coordinates: ``bases[st1]: 812 m from the nearest road node (limit 500 m) at lon=121.40000, lat=30.72000``."""
    lon, lat, dist_m = (np.atleast_1d(np.asarray(v, float)) for v in (lon, lat, dist_m))
    return [
        f"{field}[{names[i]}]: {dist_m[i]:.0f} m from the nearest road node (limit {max_snap_m:.0f} m) at "
        f"lon={lon[i]:.5f}, lat={lat[i]:.5f}"
        for i in np.flatnonzero(dist_m > max_snap_m)
    ]


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
        cls,
        network: RoadNetwork,
        source_nodes: Sequence[int],
        *,
        cache_dir: Path | None = None,
        progress: Callable[[int, int], None] | None = None,
        workers: int | None = None,
    ) -> TravelTimes:
        """Multi-source Dijkstra on the sparse graph (outbound) and its transpose (inbound).

        One row per given source, in the given order (a repeated source repeats its row). With ``cache_dir`` the
        tables are cached as ``.npz`` keyed by the network's content hash and the set of sources. ``progress(done,
        total)`` is called as the Dijkstra runs progress (counting both directions).

        ``workers`` caps the worker processes: ``None`` uses the available cores (at most 8; one inside a
        multiprocessing child), ``1`` runs in this process. Small problems always run here, and so does everything
        in a daemonic process or when worker processes cannot start. The tables do not depend on ``workers``.
        """
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1
        ):
            raise ValueError(f"workers(={workers!r}) must be an int >= 1 or None")
        given = np.asarray(source_nodes, np.int64).reshape(-1)
        out_of_range = given[(given < 0) | (given >= network.n_nodes)]
        if len(out_of_range):
            raise ValueError(f"source node index {int(out_of_range[0])} outside 0..{network.n_nodes - 1}")
        sources, inverse = np.unique(given, return_inverse=True)
        outbound, inbound = _cached_tables(network, sources, cache_dir, progress, workers)
        if len(sources) != len(given) or not np.array_equal(sources, given):
            outbound, inbound = outbound[inverse], inbound[inverse]
        return cls(given, outbound, inbound)

    @classmethod
    def from_matrix(cls, outbound_s: ArrayLike, inbound_s: ArrayLike | None = None) -> TravelTimes:
        """Given matrices (k sources x n nodes); sources are nodes 0..k-1; inbound defaults to outbound."""
        out = np.atleast_2d(np.asarray(outbound_s, np.float32))
        back = out if inbound_s is None else np.atleast_2d(np.asarray(inbound_s, np.float32))
        if out.ndim != 2 or back.shape != out.shape:
            raise ValueError(f"travel-time matrices must be 2-D and alike, got {out.shape} and {back.shape}")
        return cls(np.arange(out.shape[0], dtype=np.int64), out, back)

    def row(self, source_node: int) -> int:
        """The (first) row holding a source node."""
        hits = np.flatnonzero(self.source_nodes == source_node)
        if not len(hits):
            raise KeyError(f"node {source_node} is not a source of these travel times")
        return int(hits[0])


def _cached_tables(
    network: RoadNetwork, sources: np.ndarray, cache_dir: Path | None, progress=None, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Outbound and inbound tables for sorted unique sources, read from or written to the disk cache."""
    key = hashlib.sha256((network.content_hash + ",".join(map(str, sources.tolist()))).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"travel-{key}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path) as data:
                return data["outbound_s"], data["inbound_s"]
        except Exception:  # a damaged or partial cache file (any reader error) is recomputed and replaced
            pass
    csr = network.csr()
    outbound, inbound = _dijkstra((csr, csr.T.tocsr()), sources, workers=workers, progress=progress)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, outbound_s=outbound, inbound_s=inbound)
        os.replace(tmp, path)
    return outbound, inbound


def _dijkstra(
    graphs: tuple[csr_array, ...], sources: np.ndarray, *, workers: int | None = None, progress=None
) -> list[np.ndarray]:
    """One float32 (sources x nodes) table per graph, filled chunk by chunk, serially or in worker processes.

    ``progress(done, total)`` counts rows over all graphs. Every chunk is one ``scipy...dijkstra`` call whatever
    runs it, and rows are placed by source index, so the tables do not depend on how the work was spread.
    """
    n_nodes = graphs[0].shape[0]
    tables = [np.empty((len(sources), n_nodes), np.float32) for _ in graphs]
    total = len(graphs) * len(sources)
    method = _start_method()
    n_workers = _worker_count(workers, len(sources) * n_nodes, method)
    # a parallel run cuts chunks so that each worker gets several (load balance), never more than the serial size
    size = _DIJKSTRA_CHUNK if n_workers == 1 else max(1, min(_DIJKSTRA_CHUNK, len(sources) // (2 * n_workers)))
    chunks = [
        (g, start, min(start + size, len(sources)))
        for g in range(len(graphs))
        for start in range(0, len(sources), size)
    ]
    done = 0

    def put(chunk: tuple[int, int, int], rows: np.ndarray) -> None:
        nonlocal done
        g, start, stop = chunk
        tables[g][start:stop] = rows
        done += stop - start
        if progress:
            progress(done, total)

    if n_workers > 1:
        chunks = _dijkstra_in_workers(graphs, sources, chunks, min(n_workers, len(chunks)), method, put)
    for chunk in chunks:  # serial, or what the workers left undone
        put(chunk, _chunk_rows(graphs, sources, chunk))
    return tables


def _chunk_rows(graphs: tuple[csr_array, ...], sources: np.ndarray, chunk: tuple[int, int, int]) -> np.ndarray:
    """One chunk's rows: a single scipy Dijkstra call on graph ``g`` from ``sources[start:stop]``."""
    g, start, stop = chunk
    return dijkstra(graphs[g], directed=True, indices=sources[start:stop])


def _dijkstra_in_workers(graphs, sources, chunks, n_workers: int, method: str, put) -> list[tuple[int, int, int]]:
    """Run chunks in a process pool, handing each float32 result to ``put`` as it arrives; return the chunks not
    done because the pool could not start or broke (the caller runs those itself)."""
    pending = list(chunks)
    pool = None
    try:
        pool = ProcessPoolExecutor(
            n_workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
            initargs=(graphs, sources),  # sent once per worker (inherited as is under fork)
        )
        with interrupts_deferred():  # the workers start now: they must not inherit Python's Ctrl-C handler
            futures = {pool.submit(_worker_rows, chunk): chunk for chunk in chunks}
        while futures:
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished:
                chunk = futures.pop(future)
                put(chunk, future.result())
                pending.remove(chunk)
    except (OSError, BrokenProcessPool) as exc:
        warnings.warn(
            f"travel times: worker processes failed ({type(exc).__name__}: {exc}); "
            f"computing the remaining {len(pending)} chunk(s) in this process",
            RuntimeWarning,
            stacklevel=3,
        )
    except BaseException:  # Ctrl-C or an error: stop the workers now rather than let them finish their chunks
        kill_worker_processes()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return pending


_WORKER_STATE: dict = {}  # in a Dijkstra worker process only: the graphs and sources from the pool initializer


def _init_worker(graphs: tuple[csr_array, ...], sources: np.ndarray) -> None:
    ignore_interrupts()
    _WORKER_STATE["graphs"], _WORKER_STATE["sources"] = graphs, sources


def _worker_rows(chunk: tuple[int, int, int]) -> np.ndarray:
    rows = _chunk_rows(_WORKER_STATE["graphs"], _WORKER_STATE["sources"], chunk)
    return rows.astype(np.float32)  # half the bytes to send back; the same rounding as assigning into the table


def _worker_count(workers: int | None, pairs: int, method: str) -> int:
    """Worker processes for a run of ``pairs`` (source, node) pairs per direction; 1 means in this process."""
    current = multiprocessing.current_process()
    if current.daemon or pairs < _PARALLEL_MIN_PAIRS[method]:
        return 1  # a daemonic process may not have children; a small run does not repay starting them
    if workers is None:
        if multiprocessing.parent_process() is not None:
            return 1  # already a worker: its siblings hold the other cores
        workers = default_workers()
    return int(workers)


def _start_method() -> str:
    """``fork`` on Linux while this process runs no other Python thread (a forked child could inherit a lock held
    by one), else ``spawn``."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return "fork"
    return "spawn"


def highway_tag(highway, speeds_kph: Mapping[str, float]) -> str:
    """The OSM ``highway`` tag that sets an edge's speed, ``"default"`` if it has none.

    An edge osmnx merged from ways of several classes while simplifying carries their tags as a list in set order,
    which changes from one Python process to the next (string hashing). Such an edge takes the tag whose speed
    (:func:`speed_kph` under ``speeds_kph``) is highest, of equally fast tags the alphabetically first: the result
    does not depend on the list's order. Fastest is optimistic for the merged edge's slower stretches.
    """
    if not isinstance(highway, list | tuple | set | frozenset):
        return str(highway) if highway else "default"
    tags = {str(tag) for tag in highway if tag}
    if not tags:
        return "default"
    return min(tags, key=lambda tag: (-speed_kph(tag, speeds_kph), tag))


def road_class(highway: str) -> str:
    """The road class of an OSM highway tag: ``*_link`` mapped to its parent."""
    return highway.removesuffix("_link")


def speed_kph(highway: str, speeds_kph: Mapping[str, float]) -> float:
    """Speed of a road class: its own entry, else its parent's (for ``*_link``), else ``default``."""
    for key in (highway, road_class(highway), "default"):
        if key in speeds_kph:
            return float(speeds_kph[key])
    return DEFAULT_SPEEDS_KPH["default"]


def _check_speeds(speeds_kph: Mapping[str, float]) -> None:
    bad = [f"speeds_kph[{k}]: must be a number > 0, got {v!r}" for k, v in speeds_kph.items() if not _positive(v)]
    if bad:
        raise NetworkError("\n".join(bad))


def _positive(value) -> bool:
    try:
        return bool(np.isfinite(float(value)) and float(value) > 0)
    except (TypeError, ValueError):
        return False


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
