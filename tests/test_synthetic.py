"""The embedded default world."""

from __future__ import annotations

import numpy as np

from sim.network import DEFAULT_SPEEDS_KPH, RoadNetwork
from sim.synthetic import LANDMARKS, build_graph


def _network() -> RoadNetwork:
    return RoadNetwork.from_graph(build_graph(), DEFAULT_SPEEDS_KPH)


def test_deterministic_and_a_few_thousand_nodes():
    a, b = _network(), _network()
    assert a.content_hash == b.content_hash
    assert 2000 <= a.n_nodes <= 5000
    assert a.dropped_nodes < 0.01 * a.n_nodes


def test_exactly_two_river_crossings():
    net = _network()
    x = LANDMARKS["river_x_lon"]
    crossing = (net.lon[net.edge_tail] < x) != (net.lon[net.edge_head] < x)
    places = {round(float(lat), 3) for lat in net.lat[net.edge_tail[crossing]]}
    assert len(places) == 2
    assert set(net.edge_highway[crossing]) == {"primary", "motorway"}


def test_landmarks_near_roads():
    net = _network()
    points = [item["at"] for key in ("installations", "bases", "candidates") for item in LANDMARKS[key]]
    _, dist = net.snap([p[0] for p in points], [p[1] for p in points])
    assert dist.max() < 300


def test_has_every_road_class_of_the_design():
    classes = set(_network().edge_highway)
    assert {"motorway", "primary", "secondary", "tertiary", "residential", "unclassified"} <= classes
    assert np.isfinite(_network().edge_travel_time_s).all()
