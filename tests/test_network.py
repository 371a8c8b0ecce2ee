"""Road networks: travel times against networkx, SCC, snapping, speeds, caches, error messages."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx
import pytest

import sim.network as network_mod
from sim.errors import NetworkError
from sim.network import (
    DEFAULT_SPEEDS_KPH,
    RoadNetwork,
    TravelTimes,
    build_network,
    grid_network,
    highway_tag,
    load_graph,
)

SPEEDS = {"primary": 36.0, "residential": 18.0, "default": 36.0}  # 10 m/s and 5 m/s


def _graph(edges, coords) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in coords.items():
        g.add_node(n, x=x, y=y)
    for u, v, length, highway in edges:
        g.add_edge(u, v, length=length, highway=highway)
    return g


def _tiny() -> nx.MultiDiGraph:
    """A one-way loop 2 -> 3 -> 4 -> 1, a two-way 1 <-> 2, parallel 2 -> 3 edges, and a dead end 9."""
    coords = {
        1: (121.000, 30.000),
        2: (121.001, 30.000),
        3: (121.002, 30.000),
        4: (121.001, 30.001),
        9: (121.01, 30.01),
    }
    edges = [
        (1, 2, 100.0, "primary"),
        (2, 1, 100.0, "primary"),
        (2, 3, 100.0, "residential"),
        (3, 4, 100.0, "primary"),
        (4, 1, 300.0, "primary"),
        (2, 3, 60.0, "residential_link"),
        (1, 9, 50.0, "primary"),  # 9 can be reached but not left: outside the strongly connected part
    ]
    return _graph(edges, coords)


def _one_way_grid() -> nx.MultiDiGraph:
    """3 x 3 grid: rows one-way alternating east/west, middle column one-way north, outer columns two-way; plus a
    node only reachable (98) and a node only leaving (99)."""
    coords = {10 * r + c: (121 + 0.002 * c, 30 + 0.002 * r) for r in range(3) for c in range(3)}
    coords |= {98: (121.01, 30.0), 99: (121.01, 30.004)}
    edges = []
    for r in range(3):
        for c in range(2):
            a, b = 10 * r + c, 10 * r + c + 1
            edges.append((a, b, 200.0, "tertiary") if r % 2 == 0 else (b, a, 210.0, "tertiary"))
        edges.append((10 * r + 1, 10 * (r + 1) + 1, 220.0, "service") if r < 2 else (1, 11, 230.0, "service"))
    for c in (0, 2):
        for r in range(2):
            edges += [
                (10 * r + c, 10 * (r + 1) + c, 220.0, "primary"),
                (10 * (r + 1) + c, 10 * r + c, 240.0, "primary"),
            ]
    edges += [(2, 98, 300.0, "residential"), (99, 22, 300.0, ["residential", "service"])]
    return _graph(edges, coords)


def _parallel() -> nx.MultiDiGraph:
    """A -> B three ways (the residential one is fastest at default speeds), B -> C -> A back."""
    coords = {1: (121.0, 30.0), 2: (121.003, 30.0), 3: (121.0015, 30.002)}
    edges = [
        (1, 2, 1000.0, "primary"),
        (1, 2, 300.0, "residential"),
        (1, 2, 2000.0, "motorway"),
        (2, 3, 250.0, "motorway_link"),
        (3, 1, 250.0, "unknown_class"),
        (3, 1, 400.0, "trunk"),
    ]
    return _graph(edges, coords)


def _speed(data: dict, speeds) -> float:
    """An edge's speed: its class's, of a merged edge's several classes the fastest."""
    tags = data["highway"] if isinstance(data["highway"], list) else [data["highway"]]
    return max(speeds.get(tag, speeds.get(tag.removesuffix("_link"), speeds["default"])) for tag in tags)


def _reference(graph: nx.MultiDiGraph, speeds, sources_id, *, reverse: bool = False) -> list[dict]:
    """networkx shortest travel times on the largest strongly connected part, straight from the input graph."""
    keep = max(nx.strongly_connected_components(graph), key=len)
    g = graph.subgraph(keep)
    g = g.reverse(copy=False) if reverse else g

    def weight(u, v, parallel):
        return min(d["length"] / (_speed(d, speeds) / 3.6) for d in parallel.values())

    return [nx.single_source_dijkstra_path_length(g, s, weight=weight) for s in sources_id]


def _check_against_networkx(graph, speeds, source_index) -> RoadNetwork:
    net = RoadNetwork.from_graph(graph, speeds)
    tt = TravelTimes.from_graph(net, source_index)
    ids = [int(net.node_id[i]) for i in source_index]
    for table, reverse in ((tt.outbound_s, False), (tt.inbound_s, True)):
        for k, want in enumerate(_reference(graph, speeds, ids, reverse=reverse)):
            assert len(want) == net.n_nodes
            expected = np.asarray([want[int(n)] for n in net.node_id])
            np.testing.assert_allclose(table[k], expected, rtol=1e-6, atol=1e-4)
    return net


@pytest.mark.parametrize(
    ("build", "speeds", "dropped"),
    [
        (_tiny, SPEEDS, 1),
        (_tiny, DEFAULT_SPEEDS_KPH, 1),
        (_one_way_grid, DEFAULT_SPEEDS_KPH, 2),
        (_parallel, DEFAULT_SPEEDS_KPH, 0),
        (_parallel, {"residential": 5.0, "motorway_link": 10.0, "default": 40.0}, 0),
    ],
)
def test_hand_made_graphs_match_networkx_both_ways(build, speeds, dropped):
    graph = build()
    net = RoadNetwork.from_graph(graph, speeds)
    assert net.dropped_nodes == dropped and net.n_nodes == graph.number_of_nodes() - dropped
    _check_against_networkx(graph, speeds, list(range(net.n_nodes)))


def test_tiny_graph_by_hand():
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    assert net.n_nodes == 4 and net.dropped_nodes == 1 and 9 not in net.node_id
    assert net.n_edges == 6  # the edge into the dropped node goes too; both parallel edges stay in the arrays
    tt = TravelTimes.from_graph(net, [0])
    ids = list(net.node_id)
    # 1 -> 2 at 10 m/s (10 s), 2 -> 3 via the 60 m link at 5 m/s (12 s), 3 -> 4 at 10 m/s (10 s)
    assert tt.outbound_s[0, ids.index(3)] == pytest.approx(22.0)
    assert tt.outbound_s[0, ids.index(4)] == pytest.approx(32.0)
    assert tt.inbound_s[0, ids.index(4)] == pytest.approx(30.0)  # 4 -> 1 directly, 300 m at 10 m/s
    assert tt.outbound_s.dtype == np.float32 and tt.inbound_s.dtype == np.float32
    assert net.csr().nnz == 5  # parallel 2 -> 3 edges collapse to the faster one


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_graphs_match_networkx(seed):
    rng = np.random.default_rng(seed)
    n = 40
    coords = {i: (121 + rng.uniform(0, 0.05), 30 + rng.uniform(0, 0.05)) for i in range(n)}
    classes = ["primary", "residential", "service", "tertiary_link"]
    edges = [
        (int(u), int(v), float(rng.uniform(50, 900)), str(rng.choice(classes)))
        for u, v in rng.integers(0, n, (160, 2))
        if u != v
    ]
    graph = _graph(edges, coords)
    net = RoadNetwork.from_graph(graph, DEFAULT_SPEEDS_KPH)
    _check_against_networkx(graph, DEFAULT_SPEEDS_KPH, [0, net.n_nodes // 2, net.n_nodes - 1])


@pytest.fixture(scope="module")
def shanghai(shared_data_dir) -> nx.MultiDiGraph:
    return load_graph("osm_xml", path=shared_data_dir / "osm" / "shanghai_center.osm.bz2")


def test_real_osm_extract_matches_networkx(shanghai):
    net = RoadNetwork.from_graph(shanghai, DEFAULT_SPEEDS_KPH)
    assert net.dropped_nodes > 0  # the extract is not strongly connected
    assert net.n_nodes == len(max(nx.strongly_connected_components(shanghai), key=len))
    _check_against_networkx(shanghai, DEFAULT_SPEEDS_KPH, np.linspace(0, net.n_nodes - 1, 5).astype(int).tolist())


def test_snap_is_the_nearest_node_on_the_real_extract(shanghai):
    net = RoadNetwork.from_graph(shanghai, DEFAULT_SPEEDS_KPH)
    rng = np.random.default_rng(7)
    lon = rng.uniform(net.lon.min() - 0.01, net.lon.max() + 0.01, 300)
    lat = rng.uniform(net.lat.min() - 0.01, net.lat.max() + 0.01, 300)
    node, dist = net.snap(lon, lat)
    brute = net.distance_m(lon[:, None], lat[:, None], net.lon[None, :], net.lat[None, :])
    np.testing.assert_allclose(dist, brute[np.arange(300), node])  # the distance returned is to the node returned
    np.testing.assert_allclose(dist, brute.min(axis=1))  # and that node is the nearest by haversine


def test_snap_is_the_haversine_nearest_across_a_province():
    rng = np.random.default_rng(11)
    n = 3000
    net = RoadNetwork.from_arrays(
        node_id=np.arange(n),
        lon=rng.uniform(116, 122, n),
        lat=rng.uniform(27, 35, n),  # 8 degrees of latitude: the projection alone would mis-rank
        tail=np.arange(n),
        head=np.roll(np.arange(n), 1),
        length_m=np.full(n, 1000.0),
        highway=np.full(n, "primary"),
        speeds_kph=DEFAULT_SPEEDS_KPH,
    )
    lon, lat = rng.uniform(116, 122, 2000), rng.uniform(27, 35, 2000)
    node, dist = net.snap(lon, lat)
    brute = net.distance_m(lon[:, None], lat[:, None], net.lon[None, :], net.lat[None, :])
    assert np.array_equal(node, brute.argmin(axis=1))
    np.testing.assert_allclose(dist, brute.min(axis=1))


def test_snap_checked_names_every_far_point():
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    node, dist = net.snap_checked(["a"], [121.001], [30.0002], max_snap_m=100, field="bases")
    assert list(node) == [list(net.node_id).index(2)] and dist[0] == pytest.approx(22.2, abs=0.2)
    with pytest.raises(NetworkError) as err:
        net.snap_checked(
            ["near", "far", "farther"], [121.001, 121.05, 121.2], [30.0, 30.05, 30.0], max_snap_m=100, field="bases"
        )
    message = str(err.value)
    assert "bases[near]" not in message
    assert "bases[far]: 7" in message
    assert "m from the nearest road node (limit 100 m) at lon=121.05000, lat=30.05000" in message
    assert "bases[farther]: 19" in message
    with pytest.raises(NetworkError, match=r"sites\[x\]: coordinates must be finite, got lon=nan"):
        net.snap_checked(["x"], [float("nan")], [30.0], max_snap_m=100, field="sites")


def test_distance_m_is_great_circle_and_vectorised():
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    assert net.distance_m(121.0, 30.0, 121.0, 31.0) == pytest.approx(111_195, rel=1e-4)
    assert RoadNetwork.distance_m([0, 0], [0, 0], [1, 0], [0, 1]).shape == (2,)


def test_speeds_per_class_applied():
    graph = _tiny()
    graph.add_edge(2, 4, length=100.0, highway="service")
    graph.add_edge(4, 2, length=100.0)
    speeds = {"primary": 36.0, "residential": 18.0, "service": 9.0, "default": 72.0}
    net = RoadNetwork.from_graph(graph, speeds)
    by_class = {
        str(h): t / length
        for h, t, length in zip(net.edge_highway, net.edge_travel_time_s, net.edge_length_m, strict=True)
    }
    assert by_class == pytest.approx(
        {"primary": 0.1, "residential": 0.2, "residential_link": 0.2, "service": 0.4, "default": 0.05}
    )
    faster_links = RoadNetwork.from_graph(graph, speeds | {"residential_link": 36.0})
    link = faster_links.edge_highway == "residential_link"
    assert faster_links.edge_travel_time_s[link] == pytest.approx(faster_links.edge_length_m[link] / 10.0)
    with pytest.raises(NetworkError, match=r"speeds_kph\[primary\]: must be a number > 0, got 0"):
        RoadNetwork.from_graph(graph, {"primary": 0, "default": 30.0})


def test_edge_without_length_takes_the_great_circle_length():
    graph = _tiny()
    graph.add_edge(3, 2)  # no length, no highway
    net = RoadNetwork.from_graph(graph, SPEEDS)
    k = int(np.flatnonzero(net.edge_highway == "default")[0])
    assert net.edge_length_m[k] == pytest.approx(96.4, abs=1.0)  # 0.001 deg of longitude at 30 N


def test_duplicate_sources_repeat_rows_and_from_matrix():
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    tt = TravelTimes.from_graph(net, [2, 0, 2])
    assert list(tt.source_nodes) == [2, 0, 2] and tt.outbound_s.shape == (3, 4)
    assert np.array_equal(tt.outbound_s[0], tt.outbound_s[2]) and tt.row(2) == 0 and tt.row(0) == 1
    with pytest.raises(KeyError):
        tt.row(3)
    m = TravelTimes.from_matrix([[0, 5, np.inf], [4, 0, 7]])
    assert m.outbound_s.dtype == np.float32 and m.inbound_s is m.outbound_s and m.row(1) == 1
    assert np.isinf(m.outbound_s[0, 2])


def test_to_networkx_round_trip():
    net = RoadNetwork.from_graph(_one_way_grid(), DEFAULT_SPEEDS_KPH)
    again = RoadNetwork.from_graph(net.to_networkx(), DEFAULT_SPEEDS_KPH)
    assert again.n_nodes == net.n_nodes and again.n_edges == net.n_edges and again.dropped_nodes == 0
    np.testing.assert_allclose(np.sort(again.edge_travel_time_s), np.sort(net.edge_travel_time_s))


def test_travel_time_cache_hit_and_keyed_by_content(tmp_path, monkeypatch):
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    first = TravelTimes.from_graph(net, [0, 1], cache_dir=tmp_path)
    assert [p.name.startswith("travel-") for p in tmp_path.iterdir()] == [True]  # one file, no temporary left

    def no_dijkstra(*args, **kwargs):
        raise RuntimeError("cache not used")

    monkeypatch.setattr(network_mod, "_dijkstra", no_dijkstra)
    again = TravelTimes.from_graph(net, [1, 0, 1], cache_dir=tmp_path)  # same set of sources: a hit
    assert np.array_equal(again.outbound_s[again.row(0)], first.outbound_s[first.row(0)])
    assert np.array_equal(again.inbound_s[again.row(1)], first.inbound_s[first.row(1)])
    slower = RoadNetwork.from_graph(_tiny(), {"default": 10.0})
    assert slower.content_hash != net.content_hash
    with pytest.raises(RuntimeError, match="cache not used"):
        TravelTimes.from_graph(slower, [0, 1], cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match="cache not used"):
        TravelTimes.from_graph(net, [0, 2], cache_dir=tmp_path)


def _lattice() -> RoadNetwork:
    """A 50 x 50 street grid where every third street is slower one way (inbound times differ from outbound)."""
    grid = grid_network(2500, (121.0, 30.0, 121.05, 30.05), DEFAULT_SPEEDS_KPH)
    edge = np.arange(grid.n_edges)
    slower_back = (edge >= grid.n_edges // 2) & (edge % 3 == 0)  # grid_network lists the way back second
    return RoadNetwork.from_arrays(
        node_id=grid.node_id,
        lon=grid.lon,
        lat=grid.lat,
        tail=grid.edge_tail.astype(np.int64),
        head=grid.edge_head.astype(np.int64),
        length_m=grid.edge_length_m * np.where(slower_back, 1.5, 1.0),
        highway=grid.edge_highway,
        speeds_kph=DEFAULT_SPEEDS_KPH,
    )


_SOURCES = [2400, 17, 1234, 17, 0, 2499, 640, 1900, 333, 1500, 90, 2100, 777, 1111, 45, 2222, 1300, 999, 12, 2012]


@pytest.fixture
def pools(monkeypatch) -> list[int]:
    """Any run big enough for workers (threshold 0); records the worker count of every process pool started."""
    started: list[int] = []

    class Recording(ProcessPoolExecutor):
        def __init__(self, max_workers, **kwargs):
            started.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(network_mod, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(network_mod, "_PARALLEL_MIN_PAIRS", {"fork": 0, "spawn": 0})
    return started


@pytest.mark.parametrize("method", ["fork", "spawn"] if sys.platform == "linux" else ["spawn"])
def test_worker_processes_give_byte_identical_tables(method, pools, monkeypatch, tmp_path):
    net = _lattice()
    serial = TravelTimes.from_graph(net, _SOURCES, workers=1)
    assert pools == []
    monkeypatch.setattr(network_mod, "_start_method", lambda: method)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to serial would warn: the workers must really have run
        parallel = TravelTimes.from_graph(
            net, _SOURCES, workers=2, cache_dir=tmp_path, progress=lambda done, total: seen.append((done, total))
        )
    assert pools == [2]
    assert np.array_equal(parallel.source_nodes, serial.source_nodes)
    assert np.array_equal(parallel.outbound_s, serial.outbound_s) and np.array_equal(
        parallel.inbound_s, serial.inbound_s
    )
    assert parallel.outbound_s.dtype == np.float32 and not np.array_equal(parallel.outbound_s, parallel.inbound_s)
    unique = len(set(_SOURCES))
    assert seen[-1] == (2 * unique, 2 * unique) and len(seen) > 2  # several chunks, reported as they arrive
    assert [d for d, _ in seen] == sorted({d for d, _ in seen})
    assert multiprocessing.active_children() == []  # the pool is shut down and joined

    def no_dijkstra(*args, **kwargs):
        raise RuntimeError("cache not used")

    monkeypatch.setattr(network_mod, "_dijkstra", no_dijkstra)
    cached = TravelTimes.from_graph(net, _SOURCES, workers=1, cache_dir=tmp_path)  # the key ignores workers
    assert np.array_equal(cached.inbound_s, serial.inbound_s)


def test_small_runs_and_one_worker_stay_in_process(pools, monkeypatch):
    net = _lattice()
    TravelTimes.from_graph(net, _SOURCES, workers=1)
    monkeypatch.setattr(network_mod, "_PARALLEL_MIN_PAIRS", {"fork": 10**9, "spawn": 10**9})
    TravelTimes.from_graph(net, _SOURCES, workers=4)
    assert pools == []
    with pytest.raises(ValueError, match=r"workers\(=0\) must be an int >= 1 or None"):
        TravelTimes.from_graph(net, [0], workers=0)


def _tables_in_child(workers):
    travel = TravelTimes.from_graph(_lattice(), _SOURCES, workers=workers)
    return travel.outbound_s, travel.inbound_s


@pytest.mark.skipif(sys.platform != "linux", reason="the forked pool inherits the lowered threshold")
def test_daemonic_process_computes_serially(pools):
    serial = TravelTimes.from_graph(_lattice(), _SOURCES, workers=1)
    with multiprocessing.get_context("fork").Pool(1) as daemonic:  # its workers may not start children
        outbound, inbound = daemonic.apply(_tables_in_child, (2,))
    assert np.array_equal(outbound, serial.outbound_s) and np.array_equal(inbound, serial.inbound_s)


def _failing_initializer(*args):
    raise RuntimeError("worker cannot start")


@pytest.mark.skipif(sys.platform != "linux", reason="the forked pool inherits the patched initializer")
def test_broken_pool_falls_back_to_serial_with_a_warning(pools, monkeypatch):
    net = _lattice()
    serial = TravelTimes.from_graph(net, _SOURCES, workers=1)
    monkeypatch.setattr(network_mod, "_start_method", lambda: "fork")
    monkeypatch.setattr(network_mod, "_init_worker", _failing_initializer)
    seen = []
    with pytest.warns(RuntimeWarning, match=r"worker processes failed \(BrokenProcessPool.*in this process"):
        again = TravelTimes.from_graph(net, _SOURCES, workers=2, progress=lambda done, total: seen.append(done))
    assert pools == [2] and seen[-1] == 2 * len(set(_SOURCES))
    assert np.array_equal(again.outbound_s, serial.outbound_s) and np.array_equal(again.inbound_s, serial.inbound_s)
    assert multiprocessing.active_children() == []


def test_damaged_cache_file_is_recomputed(tmp_path):
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    TravelTimes.from_graph(net, [0], cache_dir=tmp_path)
    (cached,) = tmp_path.glob("travel-*.npz")
    cached.write_bytes(b"not a zip file")
    assert TravelTimes.from_graph(net, [0], cache_dir=tmp_path).outbound_s[0, 0] == 0.0
    assert cached.stat().st_size > 100


def test_missing_and_unreadable_files_are_named(tmp_path):
    for source, name in (("osm_xml", "nope.osm"), ("graphml", "nope.graphml")):
        with pytest.raises(NetworkError, match=rf"network.path: file not found: .*{name}"):
            build_network(source, speeds_kph=DEFAULT_SPEEDS_KPH, path=tmp_path / name)
    bad = tmp_path / "bad.osm"
    bad.write_text("this is not xml")
    with pytest.raises(NetworkError, match=r"network.path: cannot read .*bad.osm as osm_xml"):
        build_network("osm_xml", speeds_kph=DEFAULT_SPEEDS_KPH, path=bad)
    with pytest.raises(NetworkError, match="unknown source 'shapefile'"):
        load_graph("shapefile")


def _offline(*args, **kwargs):
    raise ConnectionError("no route to host")


def test_offline_download_is_clear(tmp_path, monkeypatch):
    monkeypatch.setattr(osmnx, "graph_from_place", _offline)
    monkeypatch.setattr(osmnx, "graph_from_bbox", _offline)
    with pytest.raises(NetworkError, match="could not download the roads of place 'Jinshan'.*no route to host") as err:
        build_network("place", speeds_kph=DEFAULT_SPEEDS_KPH, query="Jinshan", cache_dir=tmp_path)
    assert "run once online" in str(err.value) and "source: osm_xml" in str(err.value)
    with pytest.raises(NetworkError, match=r"could not download the roads of bbox \(121.2, 30.6, 121.4, 30.8\)"):
        build_network("bbox", speeds_kph=DEFAULT_SPEEDS_KPH, bbox=(121.2, 30.6, 121.4, 30.8), cache_dir=tmp_path)
    with pytest.raises(NetworkError, match=r"network.bbox: need west < east .* got \(121.4, 30.6, 121.2, 30.8\)"):
        build_network("bbox", speeds_kph=DEFAULT_SPEEDS_KPH, bbox=(121.4, 30.6, 121.2, 30.8))
    with pytest.raises(NetworkError, match="network.query: source 'place' needs a place name, got None"):
        build_network("place", speeds_kph=DEFAULT_SPEEDS_KPH)


def test_download_is_cached_as_graphml(tmp_path, monkeypatch):
    monkeypatch.setattr(osmnx, "graph_from_place", lambda query, network_type: _tiny())
    first = build_network("place", speeds_kph=SPEEDS, query="Jinshan", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("osm-*.graphml"))) == 1
    monkeypatch.setattr(osmnx, "graph_from_place", _offline)
    again = build_network("place", speeds_kph=SPEEDS, query="Jinshan", cache_dir=tmp_path)
    assert again.content_hash == first.content_hash
    with pytest.raises(NetworkError, match="could not download"):
        build_network("place", speeds_kph=SPEEDS, query="Fengxian", cache_dir=tmp_path)


def test_graphml_round_trip_and_too_small_graph(tmp_path):
    osmnx.save_graphml(_tiny(), tmp_path / "g.graphml")
    net = build_network("graphml", speeds_kph=SPEEDS, path=tmp_path / "g.graphml")
    assert net.n_nodes == 4 and net.content_hash == RoadNetwork.from_graph(_tiny(), SPEEDS).content_hash
    osmnx.save_graphml(_graph([(1, 2, 10.0, "primary")], {1: (121, 30), 2: (121.1, 30)}), tmp_path / "one.graphml")
    with pytest.raises(NetworkError, match="largest strongly connected part has 1 node"):
        build_network("graphml", speeds_kph=SPEEDS, path=tmp_path / "one.graphml")


def test_merged_edge_takes_its_fastest_class_whatever_the_list_order():
    speeds = {"primary": 50.0, "secondary": 45.0, "tertiary": 40.0, "residential": 25.0, "default": 30.0}
    tags = ["residential", "tertiary_link", "secondary", "residential"]
    for order in (tags, tags[::-1], sorted(tags), tuple(tags), set(tags)):
        assert highway_tag(order, speeds) == "secondary"
    assert highway_tag(["residential", "unknown_class"], speeds) == "unknown_class"  # the default 30 beats 25
    # equal speeds: the alphabetically first tag, so the class (shown on maps, part of the content hash) is fixed too
    for order in (["tertiary_link", "tertiary"], ["tertiary", "tertiary_link"]):
        assert highway_tag(order, speeds) == "tertiary"
    assert highway_tag(["secondary_link", "secondary"], speeds | {"secondary_link": 60.0}) == "secondary_link"
    assert highway_tag("service", speeds) == "service"
    assert highway_tag([], speeds) == highway_tag(None, speeds) == highway_tag([None, ""], speeds) == "default"


def test_merged_edges_give_the_same_network_in_either_order():
    graph = _tiny()
    graph.add_edge(2, 4, length=100.0, highway=["residential", "primary"])
    flipped = _tiny()
    flipped.add_edge(2, 4, length=100.0, highway=["primary", "residential"])
    a, b = RoadNetwork.from_graph(graph, SPEEDS), RoadNetwork.from_graph(flipped, SPEEDS)
    assert a.content_hash == b.content_hash
    assert list(a.edge_highway) == list(b.edge_highway)
    ids = list(a.node_id)
    (k,) = np.flatnonzero((a.edge_tail == ids.index(2)) & (a.edge_head == ids.index(4)))  # the merged edge
    assert a.edge_highway[k] == "primary" and a.edge_travel_time_s[k] == pytest.approx(10.0)  # 100 m at 10 m/s


def test_real_extract_is_the_same_with_every_merged_list_reversed(shanghai):
    flipped, merged = shanghai.copy(), 0
    for _, _, data in flipped.edges(data=True):
        for attr, value in data.items():
            if isinstance(value, list):  # highway, maxspeed, lanes, name, osmid, reversed of merged ways
                data[attr] = value[::-1]
                merged += attr == "highway"
    assert merged > 0  # the extract has merged edges of several classes
    a, b = RoadNetwork.from_graph(shanghai, DEFAULT_SPEEDS_KPH), RoadNetwork.from_graph(flipped, DEFAULT_SPEEDS_KPH)
    assert a.content_hash == b.content_hash
    assert np.array_equal(a.edge_travel_time_s, b.edge_travel_time_s)


_DIGEST_SCRIPT = """
import hashlib, sys
from pathlib import Path
import numpy as np
import sim
from sim.network import DEFAULT_SPEEDS_KPH, TravelTimes, build_network

net = build_network("osm_xml", path=Path(sys.argv[1]), speeds_kph=DEFAULT_SPEEDS_KPH, cache_dir=Path(sys.argv[2]))
tt = TravelTimes.from_graph(net, np.linspace(0, net.n_nodes - 1, 12).astype(int), workers=1)  # no cache: computed
tables = hashlib.sha256(tt.outbound_s.tobytes() + tt.inbound_s.tobytes()).hexdigest()
classes = hashlib.sha256("|".join(net.edge_highway.tolist()).encode()).hexdigest()
print(sim.__file__, net.content_hash, classes, tables)
"""


@pytest.mark.slow  # two interpreters each import osmnx and parse the extract (~3 s each when the machine is idle)
def test_real_extract_gives_the_same_travel_times_in_every_process(shared_data_dir, tmp_path):
    """osmnx lists the classes of merged ways in set order, which changes with the interpreter's string hashing."""
    project = Path(__file__).resolve().parents[1]
    path = shared_data_dir / "osm" / "shanghai_center.osm.bz2"
    runs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(project))
        args = [sys.executable, "-c", _DIGEST_SCRIPT, str(path), str(tmp_path / seed)]
        runs.append(subprocess.Popen(args, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()
        outputs.append(out.decode().split())
    (module, *digest_1), (_, *digest_2) = outputs
    assert Path(module).resolve().parent == project / "sim"  # this checkout's package, not an installed one
    assert digest_1 == digest_2
