"""Road networks: travel times against networkx, SCC, snapping, speeds, cache, error messages."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from sim.errors import NetworkError
from sim.network import DEFAULT_SPEEDS_KPH, RoadNetwork, TravelTimes, build_network, load_graph

SPEEDS = {"primary": 36.0, "residential": 18.0, "default": 36.0}  # 10 m/s and 5 m/s


def _graph(edges, coords):
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in coords.items():
        g.add_node(n, x=x, y=y)
    for u, v, length, highway in edges:
        g.add_edge(u, v, length=length, highway=highway)
    return g


def _tiny():
    coords = {
        1: (121.000, 30.000),
        2: (121.001, 30.000),
        3: (121.002, 30.000),
        4: (121.001, 30.001),
        9: (121.010, 30.010),
    }
    edges = [
        (1, 2, 100.0, "primary"),
        (2, 1, 100.0, "primary"),
        (2, 3, 100.0, "residential"),
        (3, 4, 100.0, "primary"),
        (4, 1, 300.0, "primary"),
        (2, 3, 60.0, "residential_link"),
        (1, 9, 50.0, "primary"),
    ]  # 9 can be reached but not left: outside the strongly connected part
    return _graph(edges, coords)


def _nx_times(net: RoadNetwork, reverse: bool = False) -> nx.DiGraph:
    g = nx.DiGraph()
    for u, v, t in zip(net.edge_tail, net.edge_head, net.edge_travel_time_s, strict=True):
        a, b = (int(v), int(u)) if reverse else (int(u), int(v))
        if not g.has_edge(a, b) or g[a][b]["t"] > t:
            g.add_edge(a, b, t=float(t))
    return g


def test_scc_drops_and_counts_nodes_and_parallel_edges_take_the_fastest():
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    assert net.n_nodes == 4 and net.dropped_nodes == 1
    tt = TravelTimes.from_graph(net, [0])
    ids = list(net.node_id)
    # 1 -> 2 at 10 m/s (10 s), 2 -> 3 via the 60 m link at 5 m/s (12 s), 3 -> 4 at 10 m/s (10 s)
    assert tt.outbound_s[0, ids.index(3)] == pytest.approx(22.0)
    assert tt.outbound_s[0, ids.index(4)] == pytest.approx(32.0)
    assert tt.inbound_s[0, ids.index(4)] == pytest.approx(30.0)  # 4 -> 1 directly, 300 m at 10 m/s


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_graphs_match_networkx(seed):
    rng = np.random.default_rng(seed)
    n = 40
    coords = {i: (121 + rng.uniform(0, 0.05), 30 + rng.uniform(0, 0.05)) for i in range(n)}
    edges = []
    for _ in range(160):
        u, v = rng.integers(0, n, 2)
        if u != v:
            edges.append((int(u), int(v), float(rng.uniform(50, 900)), str(rng.choice(["primary", "residential"]))))
    net = RoadNetwork.from_graph(_graph(edges, coords), SPEEDS)
    sources = [0, net.n_nodes // 2, net.n_nodes - 1]
    tt = TravelTimes.from_graph(net, sources)
    fwd, back = _nx_times(net), _nx_times(net, reverse=True)
    for s in sources:
        row = tt.row(s)
        want_out = nx.single_source_dijkstra_path_length(fwd, s, weight="t")
        want_in = nx.single_source_dijkstra_path_length(back, s, weight="t")
        for node in range(net.n_nodes):
            assert tt.outbound_s[row, node] == pytest.approx(want_out[node], rel=1e-5)
            assert tt.inbound_s[row, node] == pytest.approx(want_in[node], rel=1e-5)


def test_real_osm_extract_matches_networkx(shared_data_dir):
    graph = load_graph("osm_xml", path=shared_data_dir / "osm" / "shanghai_center.osm.bz2")
    net = RoadNetwork.from_graph(graph, DEFAULT_SPEEDS_KPH)
    assert net.dropped_nodes > 0  # the extract is not strongly connected
    sources = np.linspace(0, net.n_nodes - 1, 5).astype(int)
    tt = TravelTimes.from_graph(net, sources)
    fwd = _nx_times(net)
    for s in sources:
        want = nx.single_source_dijkstra_path_length(fwd, int(s), weight="t")
        got = tt.outbound_s[tt.row(int(s))]
        assert len(want) == net.n_nodes
        assert np.allclose([got[k] for k in range(net.n_nodes)], [want[k] for k in range(net.n_nodes)], rtol=1e-5)


def test_speeds_per_class_applied():
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    for cls, t, length in zip(net.edge_highway, net.edge_travel_time_s, net.edge_length_m, strict=True):
        assert t == pytest.approx(length / (SPEEDS[cls] / 3.6))


def test_snap_is_nearest_node_and_far_points_named():
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    rng = np.random.default_rng(0)
    lon, lat = 121 + rng.uniform(-0.001, 0.003, 50), 30 + rng.uniform(-0.001, 0.002, 50)
    node, dist = net.snap(lon, lat)
    from sim.geo import haversine_m

    brute = haversine_m(lon[:, None], lat[:, None], net.lon[None, :], net.lat[None, :])
    assert np.allclose(dist, brute.min(axis=1))
    assert np.allclose(brute[np.arange(50), node], brute.min(axis=1), atol=0.5)
    with pytest.raises(NetworkError, match=r"bases\[far\]: \d+ m from the nearest road node \(limit 100 m\)"):
        net.snap_checked(["near", "far"], [121.001, 121.05], [30.0, 30.05], max_snap_m=100, field="bases")


def test_travel_time_cache_hit_and_keyed_by_content(tmp_path, monkeypatch):
    net = RoadNetwork.from_graph(_tiny(), SPEEDS)
    first = TravelTimes.from_graph(net, [0, 1], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("travel-*.npz"))) == 1
    import sim.network as network_mod

    def no_dijkstra(*args):
        raise RuntimeError("cache not used")

    monkeypatch.setattr(network_mod, "_dijkstra", no_dijkstra)
    again = TravelTimes.from_graph(net, [1, 0], cache_dir=tmp_path)
    assert np.array_equal(first.outbound_s, again.outbound_s)
    slower = RoadNetwork.from_graph(_tiny(), {"default": 10.0})
    assert slower.content_hash != net.content_hash
    with pytest.raises(RuntimeError, match="cache not used"):
        TravelTimes.from_graph(slower, [0, 1], cache_dir=tmp_path)


def test_missing_file_and_offline_download_are_clear(tmp_path, monkeypatch):
    with pytest.raises(NetworkError, match=r"network.path: file not found: .*nope.osm"):
        build_network("osm_xml", speeds_kph=DEFAULT_SPEEDS_KPH, path=tmp_path / "nope.osm")
    import osmnx

    def offline(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(osmnx, "graph_from_place", offline)
    with pytest.raises(NetworkError, match="could not download the roads of place 'Jinshan'.*no route to host"):
        build_network("place", speeds_kph=DEFAULT_SPEEDS_KPH, query="Jinshan", cache_dir=tmp_path)


def test_graphml_round_trip(tmp_path):
    import osmnx as ox

    ox.save_graphml(_tiny(), tmp_path / "g.graphml")
    net = build_network("graphml", speeds_kph=SPEEDS, path=tmp_path / "g.graphml")
    assert net.n_nodes == 4
