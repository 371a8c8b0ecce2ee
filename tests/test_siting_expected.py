"""MEXCLP and MALP against enumeration of every layout (the objectives computed here from the papers' formulas),
hand-computed cases, their limits (q -> 0, b = 1: MCLP), and the busy fraction of a simulation's units."""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np
import pandas as pd
import pytest

from sim.errors import RescuesimError
from sim.experiment import run_replications
from sim.scenario import scenario_from_dict
from sim.siting import (
    AVAILABILITY_MODELS,
    busy_fraction_from,
    evaluate,
    solve,
    solve_malp,
    solve_mclp,
    solve_mexclp,
    top_layouts,
)
from sim.siting.expected import malp_required_units
from sim.world import world_from_matrix
from tests.helpers import TWO_BY_TWO_TRAVEL_S, two_site_raw


def _instance(seed: int, n: int = 9, m: int = 5, quantile: float = 0.4) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    demand, sites = rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2))
    cost = np.round(np.linalg.norm(demand[:, None, :] - sites[None, :, :], axis=2) * 60, 1)
    weights = rng.integers(0, 10, n).astype(float)
    return cost, weights, float(np.quantile(cost, quantile))


# --- the objectives straight from the formulas, written independently of sim.siting.expected -------------------


def _counts(cost, layout, target_s):
    """Units within the target of each demand point; ``layout`` lists a site once per unit."""
    return np.array([sum(cost[i, j] <= target_s for j in layout) for i in range(cost.shape[0])])


def _mexclp(cost, w, layout, target_s, q):
    """Daskin (1983): sum_i w_i sum_{k=1..c_i} (1 - q) q^(k-1)."""
    return sum(
        w[i] * sum((1 - q) * q ** (k - 1) for k in range(1, c + 1))
        for i, c in enumerate(_counts(cost, layout, target_s))
    )


def _least_b(busy, alpha, p):
    """The least integer b >= 1 with 1 - busy(b)^b >= alpha, by counting up (p + 1 when none up to p)."""
    return next((b for b in range(1, p + 1) if 1 - busy(b) ** b >= alpha - 1e-12), p + 1)


def _malp(cost, w, layout, target_s, q, alpha, p, local=False):
    """ReVelle & Hogan (1989): weight covered by at least b_i units. MALP II: rho_i = q p W(M_i) / W with M_i the
    demand points sharing a covering site with i, local busy fraction rho_i / b."""
    cover = cost <= target_s
    value = 0.0
    for i, c in enumerate(_counts(cost, layout, target_s)):
        if local:
            near = [k for k in range(len(w)) if (cover[i] & cover[k]).any()]
            rho = q * p * w[near].sum() / w.sum()
            b = _least_b(lambda b, rho=rho: min(rho / b, 1.0), alpha, p)
        else:
            b = _least_b(lambda b: q, alpha, p)
        value += w[i] * (c >= b)
    return value


def _layouts(m, p, cap=None, fixed_open=(), fixed_closed=()):
    """Every multiset of p units over the sites (at most ``cap`` per site) that respects the fixed sites."""
    for layout in combinations_with_replacement([j for j in range(m) if j not in fixed_closed], p):
        if (cap is None or max(layout.count(j) for j in layout) <= cap) and set(fixed_open) <= set(layout):
            yield layout


def _best(value, m, p, **kw):
    return max(value(layout) for layout in _layouts(m, p, **kw))


# --- brute force ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cap", [None, 1, 2])
@pytest.mark.parametrize("q", [0.1, 0.45, 0.8])
def test_mexclp_matches_brute_force(seed, cap, q):
    cost, w, target = _instance(seed)
    p = 3 + seed % 2
    result = solve_mexclp(cost, w, p, target, q, max_units_per_site=cap)
    best = _best(lambda s: _mexclp(cost, w, s, target, q), cost.shape[1], p, cap=cap)
    assert result.objective == pytest.approx(best, rel=1e-9)
    assert _mexclp(cost, w, result.unit_sites, target, q) == pytest.approx(result.objective, rel=1e-12)
    assert len(result.unit_sites) == p and result.open_sites == tuple(sorted(set(result.unit_sites)))
    assert sum(result.units_per_site.values()) == p
    assert cap is None or max(result.units_per_site.values()) <= cap


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cap", [None, 2])
@pytest.mark.parametrize(("q", "alpha"), [(0.3, 0.9), (0.5, 0.7), (0.25, 0.95), (0.2, 0.5)])
@pytest.mark.parametrize("local", [False, True])
def test_malp_matches_brute_force(seed, cap, q, alpha, local):
    cost, w, target = _instance(seed, n=12, m=6, quantile=0.3)  # narrow cover sets: b_i >= 2 binds
    p = 4
    result = solve_malp(cost, w, p, target, q, alpha, local_busy=local, max_units_per_site=cap)
    best = _best(lambda s: _malp(cost, w, s, target, q, alpha, p, local), cost.shape[1], p, cap=cap)
    assert result.objective == pytest.approx(best)
    assert _malp(cost, w, result.unit_sites, target, q, alpha, p, local) == pytest.approx(result.objective)
    assert len(result.unit_sites) == p


@pytest.mark.parametrize("model", AVAILABILITY_MODELS)
@pytest.mark.parametrize("seed", range(4))
def test_fixed_sites_are_respected(model, seed):
    cost, w, target = _instance(seed)
    p, q, alpha = 3, 0.4, 0.8
    free = solve(model, cost, w, p=p, target_s=target, busy_fraction=q, alpha=alpha)
    fixed_open = [int(np.argmax(w @ cost))]  # the worst single site: rarely in the free optimum
    fixed_closed = [j for j in free.open_sites if j not in fixed_open][:1]
    kw = {"fixed_open": fixed_open, "fixed_closed": fixed_closed}
    result = solve(model, cost, w, p=p, target_s=target, busy_fraction=q, alpha=alpha, **kw)
    value = (
        (lambda s: _mexclp(cost, w, s, target, q))
        if model == "mexclp"
        else (lambda s: _malp(cost, w, s, target, q, alpha, p))
    )
    assert set(fixed_open) <= set(result.open_sites) and not set(fixed_closed) & set(result.open_sites)
    assert result.objective == pytest.approx(_best(value, cost.shape[1], p, **kw))


@pytest.mark.parametrize("model", AVAILABILITY_MODELS)
def test_top_layouts_differ_in_open_sites_and_evaluate_gives_their_objective(model):
    cost, w, target = _instance(3, n=30, m=8)
    kw = {"p": 4, "target_s": target, "busy_fraction": 0.35, "alpha": 0.85}
    layouts = top_layouts(model, cost, w, 4, **kw)
    assert len({r.open_sites for r in layouts}) == 4
    values = [r.objective for r in layouts]
    assert values == sorted(values, reverse=True)
    for r in layouts:
        assert evaluate(model, cost, w, r.unit_sites, **kw) == pytest.approx(r.objective, rel=1e-12)
    # the best over each open set: the first is the best layout of all
    value = (
        (lambda s: _mexclp(cost, w, s, target, 0.35))
        if model == "mexclp"
        else (lambda s: _malp(cost, w, s, target, 0.35, 0.85, 4))
    )
    assert values[0] == pytest.approx(_best(value, 8, 4))


# --- hand-computed -----------------------------------------------------------------------------------------------

# Sites A, B; demand d1 (weight 3) is covered by A only, d2 (weight 2) by both, d3 (weight 1) by B only.
HAND_COST = np.array([[100.0, 900.0], [200.0, 200.0], [900.0, 100.0]])
HAND_W = np.array([3.0, 2.0, 1.0])


def test_mexclp_by_hand():
    # q = 0.5, p = 2; a point with c units within reach is covered with probability 1 - 0.5^c (0.5, 0.75):
    #   AA: d1 3 * 0.75 + d2 2 * 0.75 + d3 0          = 3.75   <- optimum: both units at A
    #   AB: d1 3 * 0.5  + d2 2 * 0.75 + d3 1 * 0.5    = 3.5    <- optimum with one unit per site
    #   BB: d1 0        + d2 2 * 0.75 + d3 1 * 0.75   = 2.25
    stacked = solve_mexclp(HAND_COST, HAND_W, 2, 300.0, 0.5)
    assert stacked.unit_sites == (0, 0) and stacked.units_per_site == {0: 2}
    assert stacked.objective == pytest.approx(3.75)
    spread = solve_mexclp(HAND_COST, HAND_W, 2, 300.0, 0.5, max_units_per_site=1)
    assert spread.unit_sites == (0, 1) and spread.objective == pytest.approx(3.5)


def test_malp_by_hand():
    # q = 0.5, alpha = 0.7: 1 - 0.5 < 0.7 <= 1 - 0.25, so b = 2 everywhere (MALP I).
    #   AA covers d1, d2 twice: 5;  AB covers d2 twice: 2;  BB covers d2, d3 twice: 3  -> AA, 5
    result = solve_malp(HAND_COST, HAND_W, 2, 300.0, 0.5, 0.7)
    assert result.unit_sites == (0, 0) and result.objective == pytest.approx(5.0)
    assert solve_malp(HAND_COST, HAND_W, 2, 300.0, 0.5, 0.7, max_units_per_site=1).objective == pytest.approx(2.0)
    # alpha = 0.45: MALP I has b = 1 (1 - 0.5 >= 0.45): AB covers all, 6.
    # MALP II: workload q p = 1 busy unit over W = 6; M_1 = {d1, d2} (5), M_2 = all (6), M_3 = {d2, d3} (3), so
    # rho = (5/6, 1, 1/2). b = 1 needs 1 - rho >= 0.45: only d3; d1, d2 need b = 2 (1 - (5/12)^2 = 0.83,
    # 1 - (1/2)^2 = 0.75). AA: d1 + d2 = 5; AB: d2 + d3 = 3; BB: d2 + d3 = 3 -> AA, 5.
    assert solve_malp(HAND_COST, HAND_W, 2, 300.0, 0.5, 0.45).objective == pytest.approx(6.0)
    cover = HAND_COST <= 300.0
    assert malp_required_units(cover, HAND_W, 0.5, 0.45, 2, local_busy=True).tolist() == [2, 2, 1]
    local = solve_malp(HAND_COST, HAND_W, 2, 300.0, 0.5, 0.45, local_busy=True)
    assert local.unit_sites == (0, 0) and local.objective == pytest.approx(5.0)


def test_required_units_follow_the_formula():
    cover = np.ones((1, 1), bool)
    w = np.ones(1)
    # 1 - 0.3^b >= 0.95: 0.3^2 = 0.09 > 0.05, 0.3^3 = 0.027 <= 0.05 -> b = 3
    assert malp_required_units(cover, w, 0.3, 0.95, 5).tolist() == [3]
    assert malp_required_units(cover, w, 0.3, 0.7, 5).tolist() == [1]  # 1 - 0.3 >= 0.7 (exactly)
    assert malp_required_units(cover, w, 0.9, 0.99, 5).tolist() == [6]  # needs 44 units: out of reach of 5


# --- limits: MCLP -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_mexclp_with_q_near_zero_is_mclp(seed):
    cost, w, target = _instance(seed, n=25, m=8)
    mclp = solve_mclp(cost, w, 3, target)
    mexclp = solve_mexclp(cost, w, 3, target, 1e-7)
    assert mexclp.objective == pytest.approx(mclp.objective, rel=1e-5)
    assert evaluate("mclp", cost, w, mexclp.open_sites, target_s=target) == pytest.approx(mclp.objective)


@pytest.mark.parametrize("seed", range(6))
def test_malp_with_one_unit_needed_is_mclp(seed):
    cost, w, target = _instance(seed, n=25, m=8)
    q, alpha = 0.4, 0.6  # 1 - q >= alpha: b = 1
    assert (malp_required_units(cost <= target, w, q, alpha, 3) == 1).all()
    mclp = solve_mclp(cost, w, 3, target)
    malp = solve_malp(cost, w, 3, target, q, alpha)
    assert malp.objective == pytest.approx(mclp.objective)
    assert evaluate("mclp", cost, w, malp.open_sites, target_s=target) == pytest.approx(mclp.objective)


# --- arguments --------------------------------------------------------------------------------------------------


def test_bad_arguments_are_named():
    cost, w, target = _instance(0)
    with pytest.raises(RescuesimError, match="busy_fraction"):
        solve("mexclp", cost, w, p=2, target_s=target)
    with pytest.raises(RescuesimError, match="alpha"):
        solve("malp", cost, w, p=2, target_s=target, busy_fraction=0.3, alpha=1.0)
    with pytest.raises(RescuesimError, match="do not fit"):
        solve("mexclp", cost, w, p=6, target_s=target, busy_fraction=0.3, max_units_per_site=1)
    with pytest.raises(RescuesimError, match="target"):
        solve("malp", cost, w, p=2, busy_fraction=0.3, alpha=0.9)
    with pytest.raises(RescuesimError, match="max_units_per_site"):
        solve("mexclp", cost, w, p=2, target_s=target, busy_fraction=0.3, max_units_per_site=0)
    with pytest.raises(RescuesimError, match="busy_fraction"):
        evaluate("mexclp", cost, w, (0, 0), target_s=target)
    # more units than sites is allowed when a site may hold several
    assert len(solve("mexclp", cost, w, p=8, target_s=target, busy_fraction=0.3).unit_sites) == 8


def test_single_unit_models_report_one_unit_per_open_site():
    cost, w, target = _instance(1)
    result = solve_mclp(cost, w, 3, target)
    assert result.unit_sites == result.open_sites
    assert set(result.units_per_site.values()) == {1}


# --- busy fraction from a simulation -----------------------------------------------------------------------------


def _unit_rows(**columns):
    statuses = ("available", "mobilising", "en_route", "on_scene", "returning", "drill_off_site", "drill_at_base")
    return pd.DataFrame({f"{s}_s": columns.get(s, [0.0, 0.0]) for s in statuses} | {"unit_type": ["engine", "foam"]})


def test_busy_fraction_by_hand():
    # engine: 100 s busy, 100 s off-site drill, 800 s available; foam: 300 s busy out of 2000 s
    units = _unit_rows(
        available=[800.0, 1700.0],
        mobilising=[10.0, 0.0],
        en_route=[20.0, 100.0],
        on_scene=[50.0, 200.0],
        returning=[20.0, 0.0],
        drill_off_site=[100.0, 0.0],
    )
    assert busy_fraction_from(units) == pytest.approx(400 / 3000)
    assert busy_fraction_from(units, include_drills=True) == pytest.approx(500 / 3000)
    assert busy_fraction_from(units, unit_type="engine") == pytest.approx(100 / 1000)
    assert busy_fraction_from(units, unit_type=["foam"]) == pytest.approx(300 / 2000)


def test_busy_fraction_of_a_simulation_is_its_utilisation_and_near_the_offered_load():
    raw = two_site_raw("busy", horizon_days=365, replications=2)
    world = world_from_matrix(scenario_from_dict(raw), TWO_BY_TWO_TRAVEL_S)
    units = run_replications(world, replications=2, workers=1).units
    q = busy_fraction_from(units)
    status = units[[c for c in units.columns if c.endswith("_s") and c not in ("drill_downtime_s",)]]
    assert q == pytest.approx((units["utilisation"] * status.sum(axis=1)).sum() / status.to_numpy().sum())
    # offered load: 500 calls a year, each holding a unit about 1 min turnout + 40 min on scene + travel out and
    # back (at most 2 x 2 min), over 3 units
    low, high = 500 * 41 * 60 / (365 * 86400 * 3), 500 * 45 * 60 / (365 * 86400 * 3)
    assert 0.8 * low < q < 1.2 * high
