"""Units sent on from their way back to base (``dispatch.from_return``): exact traces, the routes on the road
network, and the tables (the reference model covers it on random scenarios in test_reference_model.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.metrics import incident_table
from sim.model import simulate
from sim.routes import ReturnRoutes
from sim.world import world_from_matrix
from tests.helpers import stream, tiny_scenario, trace

ONE_ENGINE = [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine", "count": 1}]}]
SITES = [
    {"id": "s0", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 10},
    {"id": "s1", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 10},
]
# points 0 s0, 1 s1, 2 the base, 3 a junction J on the way back from s0 (100 s from s0, 50 s before the base)
ROUTES = ReturnRoutes(
    n_sites=2,
    offset=np.array([0, 3, 5]),
    point=np.array([0, 3, 2, 1, 2]),
    to_base_s=np.array([150.0, 50.0, 0.0, 200.0, 0.0]),
    point_to_site_s=np.array([[0.0, 250.0], [250.0, 0.0], [120.0, 200.0], [100.0, 30.0]]),
    point_node=np.array([10, 11, 12, 13]),
)


@pytest.fixture(scope="module")
def synthetic_world():
    """The demo county on its synthetic road network, with return routes."""
    from sim.scenario import load_scenario
    from sim.world import build_world, load_network
    from tests.conftest import PROJECT_DIR

    scenario = load_scenario(PROJECT_DIR / "scenarios" / "demo_park.yaml")
    network = load_network(scenario)
    return build_world(scenario, network), network


def _world(from_return: bool = True):
    scenario = tiny_scenario(ONE_ENGINE, SITES, dispatch={"from_return": from_return})
    return world_from_matrix(scenario, [[120.0, 200.0]], [[150.0, 200.0]], [30.0, 0.0], routes=ROUTES)


def test_a_unit_on_its_way_back_is_sent_on_from_the_next_point_of_its_route():
    """Call 0 at s0 is cleared at 2110 s; the engine walks back 30 s and drives from 2140 s. Call 1 at s1 comes at
    2200 s: 60 s into the drive, J (100 s) is next, 40 s ahead, then 30 s from J to s1; no turnout."""
    out = simulate(_world(), stream([100.0, 2200.0], site=[0, 1]))
    assert trace(out)[-12:] == [
        (2110.0, "CLEARED", 0, None),
        (2110.0, "RELEASED", 0, 0),
        (2200.0, "CALL", 1, None),
        (2200.0, "SENT_ON", 1, 0),
        (2200.0, "DISPATCH", 1, 0),
        (2200.0, "MOBILISED", 1, 0),
        (2200.0, "EN_ROUTE", 1, 0),
        (2270.0, "AT_ROAD_END", 1, 0),
        (2270.0, "ON_SCENE", 1, 0),
        (4070.0, "CLEARED", 1, None),
        (4070.0, "RELEASED", 1, 0),
        (4270.0, "AT_BASE", 1, 0),  # the return from s0 never reached base: no AT_BASE for incident 0
    ]
    sent_on = out.events[out.events["kind"] == 13]
    assert sent_on["value"].tolist() == [13.0]  # the road node of J, where it turned


def test_still_on_the_last_leg_back_it_walks_to_the_road_first():
    """At 2120 s the crew is 20 s from the road node of s0: 20 s, then 250 s from s0 to s1."""
    out = simulate(_world(), stream([100.0, 2120.0], site=[0, 1]))
    assert (2390.0, "ON_SCENE", 1, 0) in trace(out)


def test_past_the_last_point_it_goes_on_to_base_and_from_there():
    """At 2280 s, 140 s into the 150 s drive, the base is next: 10 s, then 200 s from the base to s1."""
    out = simulate(_world(), stream([100.0, 2280.0], site=[0, 1]))
    assert (2490.0, "AT_ROAD_END", 1, 0) in trace(out)


def test_without_from_return_the_unit_goes_back_to_base_first():
    out = simulate(_world(from_return=False), stream([100.0, 2200.0], site=[0, 1]))
    rows = trace(out)
    assert (2290.0, "AT_BASE", 0, 0) in rows and (2290.0, "DISPATCH", 1, 0) in rows
    assert not any(kind == "SENT_ON" for _, kind, _, _ in rows)


def test_the_incident_table_says_which_first_arrivals_came_from_the_way_back():
    world = _world()
    calls = stream([100.0, 2200.0, 9000.0], site=[0, 1, 1])
    table = incident_table(world, calls, simulate(world, calls), 0)
    assert table["first_sent_on"].tolist() == [False, True, False]
    assert table["units_sent_on"].tolist() == [0, 1, 0]
    assert table.loc[1, "turnout_s"] == 0.0 and table.loc[1, "travel_s"] == pytest.approx(70.0)


def test_mutual_aid_units_are_not_sent_on_from_their_way_back():
    aid = [{**ONE_ENGINE[0], "jurisdiction": "county"}, {**ONE_ENGINE[0], "id": "home", "units": [{"type": "foam"}]}]
    scenario = tiny_scenario(aid, SITES, dispatch={"from_return": True})
    world = world_from_matrix(scenario, [[120.0, 200.0]] * 2, [[150.0, 200.0]] * 2, [30.0, 0.0])
    assert not any(kind == "SENT_ON" for _, kind, _, _ in trace(simulate(world, stream([100.0, 2200.0], site=[0, 1]))))


def test_return_routes_on_the_road_network_follow_shortest_paths(synthetic_world):
    """Each (base, site) route starts at the site's node with the whole trip back and ends at the base at 0; every
    step is a road edge whose time is the drop in time to base; from the base point, times to sites are the
    outbound table's."""
    world, network = synthetic_world
    routes = world.routes
    csr = network.csr()
    rng = np.random.default_rng(3)
    for b in range(len(world.bases)):
        for s in rng.choice(len(world.sites), 20, replace=False):
            k = b * routes.n_sites + s
            entries = slice(routes.offset[k], routes.offset[k + 1])
            nodes = routes.point_node[routes.point[entries]]
            to_base = routes.to_base_s[entries]
            assert nodes[0] == world.site_node[s] and nodes[-1] == world.base_node[b]
            assert to_base[0] == pytest.approx(world.travel_in_s[b, s]) and to_base[-1] == 0.0
            steps = np.array([csr[nodes[i], nodes[i + 1]] for i in range(len(nodes) - 1)])
            assert np.allclose(steps, -np.diff(to_base), rtol=1e-5, atol=1e-3)
            base_point = routes.point[entries][-1]
            assert np.allclose(routes.point_to_site_s[base_point], world.travel_out_s[b], rtol=1e-6)


def test_the_lower_bound_through_the_base_never_changes_a_choice(synthetic_world):
    """On the road network a unit on its way back is skipped when even its bound cannot beat the units chosen: the
    bound holds at every point of every route, and the logs are the same with it and without it."""
    import dataclasses

    from sim.experiment import incident_stream

    world, _ = synthetic_world
    routes = world.routes
    rng = np.random.default_rng(7)
    for b in range(len(world.bases)):
        for s0 in rng.choice(len(world.sites), 10, replace=False):
            k = b * routes.n_sites + s0
            points = routes.point[routes.offset[k] : routes.offset[k + 1]]
            for s in rng.choice(len(world.sites), 10, replace=False):
                bound = routes.bound_s(b, s0, float(world.travel_out_s[b, s]))
                assert bound <= routes.point_to_site_s[points, s].min() + 1e-9
    plain = dataclasses.replace(
        world, routes=dataclasses.replace(routes, reach_s=None, _elapsed={}, _rows={}, _reach=[])
    )
    for r in range(3):
        calls = incident_stream(world, world.scenario.seed, r)
        assert simulate(world, calls).events.tobytes() == simulate(plain, calls).events.tobytes()
