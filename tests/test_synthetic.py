"""The embedded default world: determinism, size, connectivity, the river, the landmarks."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from sim.geo import haversine_m
from sim.network import DEFAULT_SPEEDS_KPH, RoadNetwork
from sim.synthetic import LANDMARKS, build_graph, describe


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    return build_graph()


@pytest.fixture(scope="module")
def net(graph) -> RoadNetwork:
    return RoadNetwork.from_graph(graph, DEFAULT_SPEEDS_KPH)


def _points(value) -> list[tuple[float, float]]:
    """Every coordinate pair in a landmark entry: [lon, lat] lists and dicts with lon/lat."""
    if isinstance(value, dict):
        own = [(value["lon"], value["lat"])] if "lon" in value else []
        return own + [p for v in value.values() for p in _points(v)]
    if isinstance(value, list):
        if len(value) == 2 and all(isinstance(v, float) for v in value):
            return [(value[0], value[1])]
        return [p for v in value for p in _points(v)]
    return []


def test_deterministic_and_a_few_thousand_nodes(graph, net):
    assert RoadNetwork.from_graph(build_graph(), DEFAULT_SPEEDS_KPH).content_hash == net.content_hash
    assert 2000 <= net.n_nodes <= 5000
    assert graph.graph["crs"] == "EPSG:4326"
    assert 121.24 < net.lon.min() < net.lon.max() < 121.36 and 30.71 < net.lat.min() < net.lat.max() < 30.79


def test_strongly_connected(graph, net):
    assert nx.is_strongly_connected(graph) and net.dropped_nodes == 0


def test_exactly_two_river_crossings(net):
    x = LANDMARKS["river_x_lon"]
    crossing = (net.lon[net.edge_tail] < x) != (net.lon[net.edge_head] < x)
    mid_lon = (net.lon[net.edge_tail[crossing]] + net.lon[net.edge_head[crossing]]) / 2
    mid_lat = (net.lat[net.edge_tail[crossing]] + net.lat[net.edge_head[crossing]]) / 2
    bridges = LANDMARKS["bridges"]
    assert len(bridges) == 2
    near = np.stack([haversine_m(mid_lon, mid_lat, b["lon"], b["lat"]) < 300 for b in bridges])
    assert near.any(axis=0).all(), "an edge crosses the river away from the bridges"
    for bridge, used in zip(bridges, near, strict=True):
        assert set(net.edge_highway[crossing][used]) == {bridge["kind"]}
        assert used.sum() == 2  # one edge each way (two-way road or the two carriageways)


def test_road_classes_and_one_way_expressway(graph, net):
    assert {"motorway", "motorway_link", "primary", "secondary", "tertiary", "residential", "unclassified"} <= set(
        net.edge_highway
    )
    assert "service" in set(net.edge_highway)
    motorway = [(u, v) for u, v, h in graph.edges(data="highway") if h == "motorway"]
    assert motorway and not any(graph.has_edge(v, u) for u, v in motorway)
    assert np.isfinite(net.edge_travel_time_s).all() and (net.edge_length_m > 0).all()


def test_every_landmark_within_300_m_of_a_road_node(net):
    points = _points({k: v for k, v in LANDMARKS.items() if k != "river_x_lon"})
    assert len(points) > 40
    _, dist = net.snap([p[0] for p in points], [p[1] for p in points])
    assert dist.max() < 300


def test_landmark_contents():
    assert len(LANDMARKS["installations"]) == 8
    assert {i["kind"] for i in LANDMARKS["installations"]} == {
        "tank_farm",
        "process_unit",
        "warehouse",
        "loading_station",
    }
    park = np.asarray(LANDMARKS["park_polygon"])
    for site in LANDMARKS["installations"]:
        assert (
            park[:, 0].min() <= site["lon"] <= park[:, 0].max() and park[:, 1].min() <= site["lat"] <= park[:, 1].max()
        )
    assert 4 <= len(LANDMARKS["bases"]) <= 5 and 8 <= len(LANDMARKS["candidates"]) <= 12
    line = np.asarray(LANDMARKS["pipeline"])
    length_km = haversine_m(line[:-1, 0], line[:-1, 1], line[1:, 0], line[1:, 1]).sum() / 1000
    assert 12 <= length_km <= 20 and LANDMARKS["pipeline_length_km"] == pytest.approx(length_km, rel=1e-3)
    assert all(0 <= h["from_km"] < h["to_km"] <= length_km for h in LANDMARKS["hca"])
    lon, lat = LANDMARKS["park_center"]
    assert (haversine_m(line[:, 0], line[:, 1], lon, lat) < 3000).sum() >= 2
    assert "fictional" in describe()
