"""Coverage isochrones: each limit's area grown from the limit below equals the area drawn on its own."""

from __future__ import annotations

import numpy as np
import pytest

from sim.network import TravelTimes
from sim.report.coverage import covered_edges, isochrone, isochrones, reach_s
from sim.scenario import load_scenario
from sim.world import build_world, load_network
from tests.conftest import PROJECT_DIR


@pytest.fixture(scope="module")
def county():
    scenario = load_scenario(PROJECT_DIR / "scenarios" / "demo_park.yaml")
    network = load_network(scenario)
    return network, build_world(scenario, network)


def test_grown_isochrones_match_each_drawn_alone(county):
    network, world = county
    times = TravelTimes.from_graph(network, world.base_node)
    outbound = times.outbound_s[[times.row(int(n)) for n in world.base_node]]
    turnout = np.full(len(world.base_node), 60.0)
    limits = [3.0, 6.0, 9.0]
    grown = isochrones(network, outbound, turnout, limits)
    reach = reach_s(outbound, turnout)
    for minutes in limits:
        alone = isochrone(network, reach, minutes * 60)
        assert alone.area > 0 and grown[minutes].area > 0
        assert grown[minutes].symmetric_difference(alone).area < 0.01 * alone.area  # only simplification differs
    assert grown[3.0].area < grown[6.0].area < grown[9.0].area


def test_covered_edges_keep_one_edge_per_road(county):
    network, _ = county
    edges = covered_edges(network, np.zeros(network.n_nodes), 0.0)
    pairs = {tuple(sorted(p)) for p in zip(network.edge_tail[edges], network.edge_head[edges], strict=True)}
    assert len(pairs) == len(edges)  # no road twice
    all_pairs = {tuple(sorted(p)) for p in zip(network.edge_tail, network.edge_head, strict=True)}
    assert pairs == all_pairs  # every road once
