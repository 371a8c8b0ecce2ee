"""Exact location models against brute-force enumeration, fixed sites, top layouts, bad input, OR-Library optima."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from sim.errors import RescuesimError
from sim.siting import (
    SITING_MODELS,
    covered_share,
    evaluate,
    interchange,
    read_orlib_pmed,
    solve,
    solve_lscp,
    solve_mclp,
    solve_pcenter,
    solve_pmedian,
    top_layouts,
)
from sim.siting.lagrangian import ReducedCosts, nearest_costs
from sim.siting.orlib import PCENTER_OPTIMA
from sim.siting.pcenter import covering_layout, dominance_reduced, greedy_cover

SEEDS = range(8)
MODEL_ARGS = {
    "lscp": {},
    "mclp": {"p": 2},
    "pmedian": {"p": 3},
    "pcenter": {"p": 2},
}


def _instance(seed: int, n: int = 8, m: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    demand, sites = rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2))
    cost = np.round(np.linalg.norm(demand[:, None, :] - sites[None, :, :], axis=2) * 60, 1)  # "seconds"
    weights = rng.integers(1, 10, n).astype(float)
    return cost, weights


def _value(model, cost, w, layout, target_s, backup=False):
    """The model's objective for one layout (None if the layout is infeasible); larger is better for mclp."""
    near = cost[:, list(layout)]
    if model == "lscp":
        return len(layout) if (near.min(axis=1)[w > 0] <= target_s).all() else None
    if model == "mclp":
        covers = (near <= target_s).sum(axis=1)
        return (w @ (covers >= 1), w @ (covers >= 2)) if backup else w @ (covers >= 1)
    if model == "pmedian":
        return float(w @ near.min(axis=1))
    return float(near.min(axis=1)[w > 0].max())


def _ranked(model, cost, w, *, p=None, target_s=None, backup=False, fixed_open=(), fixed_closed=()):
    """Every feasible layout's objective, best first, by enumeration."""
    m = cost.shape[1]
    free = [j for j in range(m) if j not in fixed_closed]
    sizes = range(1, m + 1) if model == "lscp" else [p]
    values = []
    for size in sizes:
        for layout in combinations(free, size):
            if set(fixed_open) <= set(layout):
                value = _value(model, cost, w, layout, target_s, backup)
                if value is not None:
                    values.append(value)
    return sorted(values, reverse=model == "mclp")


def _kwargs(model, cost):
    return {**MODEL_ARGS[model], "target_s": float(np.median(cost)) if model in ("lscp", "mclp") else None}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("model", SITING_MODELS)
def test_every_model_matches_brute_force(model, seed):
    cost, w = _instance(seed)
    kw = _kwargs(model, cost)
    result = solve(model, cost, w, **kw)
    assert result.objective == pytest.approx(_ranked(model, cost, w, **kw)[0])
    assert result.objective == pytest.approx(_value(model, cost, w, result.open_sites, kw["target_s"]))
    assert result.optimal and result.model == model
    assert list(result.open_sites) == sorted(result.open_sites)
    if model != "lscp":
        assert len(result.open_sites) == kw["p"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("model", "backup"), [*((m, False) for m in SITING_MODELS), ("mclp", True)])
def test_evaluate_gives_the_objective_the_solver_reports(model, seed, backup):
    cost, w = _instance(100 + seed, n=40, m=12)
    w[:3] = 0.0  # demand without weight counts for no model
    if model in ("pmedian", "pcenter"):
        cost[0, :-1] = np.inf  # unreachable pairs, some of them at demand without weight
        cost[5, :2] = np.inf
    kw = _kwargs(model, cost) | ({"p": 4} if model != "lscp" else {})
    for result in top_layouts(model, cost, w, 3, backup=backup, **kw):
        value = evaluate(model, cost, w, result.open_sites, p=kw.get("p"), target_s=kw["target_s"])
        assert value == pytest.approx(result.objective, rel=1e-12)
        share = covered_share(cost, w, result.open_sites, kw["target_s"])
        assert share == pytest.approx(result.covered_share, nan_ok=True)


def test_evaluate_takes_any_layout_and_refuses_bad_models():
    cost, w = _instance(0)
    assert evaluate("lscp", cost, w, (0, 2, 3)) == 3
    assert evaluate("pmedian", cost, w, (1,), p=3) == pytest.approx(float(w @ cost[:, 1]))
    assert evaluate("mclp", cost, w, (), target_s=60.0) != evaluate("mclp", cost, w, (), target_s=60.0)  # NaN
    with pytest.raises(RescuesimError, match="unknown model"):
        evaluate("median", cost, w, (0,))
    with pytest.raises(RescuesimError, match="target"):
        evaluate("mclp", cost, w, (0,))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("model", SITING_MODELS)
def test_fixed_sites_stay_open_and_closed(model, seed):
    cost, w = _instance(seed)
    kw = _kwargs(model, cost)
    free = solve(model, cost, w, **kw)
    fixed_open = [int(np.argmax(w @ cost))]  # the worst single site: rarely in the free optimum
    fixed_closed = [j for j in free.open_sites if j not in fixed_open][:1]
    ranked = _ranked(model, cost, w, **kw, fixed_open=fixed_open, fixed_closed=fixed_closed)
    if not ranked:  # closing a site can leave a demand point out of reach (lscp)
        with pytest.raises(RescuesimError, match="cannot be reached"):
            solve(model, cost, w, **kw, fixed_open=fixed_open, fixed_closed=fixed_closed)
        return
    result = solve(model, cost, w, **kw, fixed_open=fixed_open, fixed_closed=fixed_closed)
    assert set(fixed_open) <= set(result.open_sites)
    assert not set(fixed_closed) & set(result.open_sites)
    assert result.objective == pytest.approx(ranked[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_with_backup_matches_brute_force(seed):
    cost, w = _instance(seed)
    target = float(np.quantile(cost, 0.4))
    result = solve_mclp(cost, w, 3, target, backup=True)
    primary, secondary = _ranked("mclp", cost, w, p=3, target_s=target, backup=True)[0]
    covers = (cost[:, list(result.open_sites)] <= target).sum(axis=1)
    assert result.objective == pytest.approx(primary)
    assert w @ (covers >= 1) == pytest.approx(primary)
    assert w @ (covers >= 2) == pytest.approx(secondary)


def test_named_solvers_agree_with_solve():
    cost, w = _instance(5)
    target = float(np.median(cost))
    assert solve_lscp(cost, target).objective == solve("lscp", cost, None, target_s=target).objective
    assert solve_mclp(cost, w, 2, target).objective == solve("mclp", cost, w, p=2, target_s=target).objective
    assert solve_pmedian(cost, w, 3).objective == solve("pmedian", cost, w, p=3).objective
    assert solve_pcenter(cost, 2).objective == solve("pcenter", cost, None, p=2).objective


def test_result_assignment_and_covered_share():
    cost, w = _instance(2)
    target = float(np.median(cost))
    result = solve("pmedian", cost, w, p=2, target_s=target)
    columns = list(result.open_sites)
    assert (result.assignment == np.asarray(columns)[cost[:, columns].argmin(axis=1)]).all()
    within = cost[:, columns].min(axis=1) <= target
    assert result.covered_share == pytest.approx(w[within].sum() / w.sum())
    assert np.isnan(solve("pmedian", cost, w, p=2).covered_share)


@pytest.mark.parametrize("model", SITING_MODELS)
def test_top_layouts_are_the_k_best_distinct_layouts(model):
    cost, w = _instance(1)
    kw = _kwargs(model, cost)
    layouts = top_layouts(model, cost, w, 4, **kw)
    assert len({r.open_sites for r in layouts}) == 4
    values = [r.objective for r in layouts]
    assert values == sorted(values, reverse=model == "mclp")  # best first
    assert values == pytest.approx(_ranked(model, cost, w, **kw)[:4])


def test_top_layouts_stops_when_layouts_run_out():
    cost, w = _instance(0, m=4)
    assert len(top_layouts("pmedian", cost, w, 10, p=3)) == 4  # C(4, 3)


def test_pmedian_with_unreachable_pairs_matches_brute_force():
    for seed in SEEDS:
        cost, w = _instance(seed)
        cost[np.random.default_rng(seed).random(cost.shape) < 0.3] = np.inf
        best = _ranked("pmedian", cost, w, p=3)[0]
        if np.isfinite(best):
            assert solve_pmedian(cost, w, 3).objective == pytest.approx(best)
        else:
            with pytest.raises(RescuesimError, match="reach"):
                solve_pmedian(cost, w, 3)


def test_unreachable_demand_is_named():
    cost, w = _instance(6)
    cost[4, :] = np.inf
    for call in (lambda: solve_pcenter(cost, 2), lambda: solve_pmedian(cost, w, 2), lambda: solve_lscp(cost, 1e9)):
        with pytest.raises(RescuesimError, match=r"\[4\]"):
            call()


def test_zero_weight_demand_is_ignored_by_pcenter_and_lscp():
    cost, w = _instance(3)
    cost[0, :] = 1e6  # far from every site, but it does not count
    w[0] = 0.0
    assert solve_pcenter(cost, 2, weights=w).objective < 1e6
    assert solve_lscp(cost, float(cost[1:].max()), weights=w).objective == 1


@pytest.mark.parametrize(
    ("model", "kw", "quoted"),
    [
        ("median", {"p": 2}, "'median'"),
        ("pmedian", {"p": 9}, "got 9"),
        ("pmedian", {"p": 0}, "got 0"),
        ("pmedian", {"p": 2.5}, "got 2.5"),
        ("pcenter", {"p": None}, "got None"),
        ("mclp", {"p": 2, "target_s": -5.0}, "got -5.0"),
        ("lscp", {}, "got None"),
        ("pmedian", {"p": 2, "fixed_open": [7]}, r"got \[7\]"),
        ("pmedian", {"p": 2, "fixed_open": [1], "fixed_closed": [1]}, r"\[1\]"),
        ("pmedian", {"p": 1, "fixed_open": [1, 2]}, "more than p=1"),
    ],
)
def test_bad_arguments_quote_the_bad_value(model, kw, quoted):
    cost, w = _instance(0)
    with pytest.raises(RescuesimError, match=quoted):
        solve(model, cost, w, **kw)


def test_bad_matrices_and_weights_are_quoted():
    cost, w = _instance(0)
    with pytest.raises(RescuesimError, match=r"\(3,\)"):
        solve("pmedian", cost, w[:3], p=2)
    with pytest.raises(RescuesimError, match="-1.0"):
        solve("pmedian", cost, np.r_[-1.0, w[1:]], p=2)
    with pytest.raises(RescuesimError, match="shape"):
        solve("pmedian", cost[0], w, p=2)
    with pytest.raises(RescuesimError, match="got 0"):
        top_layouts("pmedian", cost, w, 0, p=2)


def test_lscp_names_the_uncoverable_demand_points():
    cost, w = _instance(0)
    target = float(np.sort(cost.min(axis=1))[-2]) + 0.05  # only the farthest demand point is out of reach
    far = int(np.argmax(cost.min(axis=1)))
    with pytest.raises(RescuesimError, match=rf"\[{far}\]"):
        solve_lscp(cost, target)


def test_interchange_is_a_good_start():
    cost, w = _instance(4, n=30, m=12)
    layout = interchange(cost, w, 3)
    assert len(layout) == 3
    assert w @ cost[:, list(layout)].min(axis=1) <= 1.05 * _ranked("pmedian", cost, w, p=3)[0]


def _optima(folder) -> dict[str, float]:
    lines = (folder / "pmedopt.txt").read_text().splitlines()
    return {line.split()[0]: float(line.split()[1]) for line in lines if line.strip().startswith("pmed")}


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_orlib_pmed1_to_5_reach_their_optima(k, shared_data_dir):
    folder = shared_data_dir / "orlib-pmed"
    cost, p = read_orlib_pmed(folder / f"pmed{k}.txt")
    result = solve_pmedian(cost, np.ones(len(cost)), p)
    assert result.objective == _optima(folder)[f"pmed{k}"]
    assert len(result.open_sites) == p


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_orlib_pmed1_to_5_reach_their_published_pcenter_optima(k, shared_data_dir):
    cost, p = read_orlib_pmed(shared_data_dir / "orlib-pmed" / f"pmed{k}.txt")
    result = solve_pcenter(cost, p)
    assert result.objective == PCENTER_OPTIMA[f"pmed{k}"]
    assert len(result.open_sites) == p
    assert cost[:, list(result.open_sites)].min(axis=1).max() == result.objective


def _fewest_covering(cover: np.ndarray) -> int | None:
    """The fewest columns covering every row, by enumeration (None if some row has no column)."""
    for size in range(cover.shape[1] + 1):
        if any(cover[:, list(cols)].any(axis=1).all() for cols in combinations(range(cover.shape[1]), size)):
            return size
    return None


@pytest.mark.parametrize("seed", range(12))
def test_covering_test_and_dominance_reduction_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    cover = rng.random((14, 9)) < rng.uniform(0.15, 0.4)
    cover[:, 0] |= ~cover.any(axis=1)  # every row coverable
    fewest = _fewest_covering(cover)
    reduced, columns = dominance_reduced(cover)
    assert _fewest_covering(reduced) == fewest
    assert _fewest_covering(cover[:, columns]) == fewest  # the kept columns alone still cover as well
    cost = np.where(cover, 1.0, 2.0)
    for p in range(1, 6):
        layout = covering_layout(cost, 1.0, p)
        if p < fewest:
            assert layout is None
        else:
            assert len(layout) == p and cover[:, list(layout)].any(axis=1).all()
    opened = [int(np.argmin(cover.sum(axis=0)))]  # a poor site kept open
    layout = covering_layout(cost, 1.0, fewest + 1, opened)
    assert layout is not None and opened[0] in layout and cover[:, list(layout)].any(axis=1).all()


@pytest.mark.parametrize("seed", [38, 54, 179, 313])
def test_covering_test_finds_the_cover_greedy_misses(seed):
    rng = np.random.default_rng(seed)  # seeds where greedy on the reduced matrix needs one site too many
    cover = rng.random((16, 10)) < 0.3
    fewest = _fewest_covering(cover)
    assert len(greedy_cover(dominance_reduced(cover)[0])) > fewest
    layout = covering_layout(np.where(cover, 1.0, 2.0), 1.0, fewest)
    assert len(layout) == fewest and cover[:, list(layout)].any(axis=1).all()
    assert covering_layout(np.where(cover, 1.0, 2.0), 1.0, fewest - 1) is None


@pytest.mark.parametrize("n_cols", [20, 150])
def test_sparse_lagrangian_sums_equal_the_dense_ones(n_cols):
    rng = np.random.default_rng(n_cols)
    wd = rng.integers(1, 500, (60, 200)).astype(float)
    cols = rng.choice(200, n_cols, replace=False)
    costs = ReducedCosts(wd, nearest_costs(wd, width=16), cols)
    for scale in (0.05, 0.07, 0.3, 1.0):  # from every client within its 16 cheapest sites to all beyond them
        lam = np.quantile(wd, scale, axis=1) + rng.uniform(0, 3, 60)
        dense = np.minimum(wd[:, cols] - lam[:, None], 0.0)
        chosen = rng.choice(n_cols, 5, replace=False)
        assert costs.rho(lam) == pytest.approx(dense.sum(axis=0), abs=1e-9)
        assert (costs.served(chosen) == (dense[:, chosen] < 0).sum(axis=1)).all()


def test_orlib_reader_keeps_the_last_cost_of_a_repeated_edge(tmp_path):
    (tmp_path / "x.txt").write_text("3 3 1\n1 2 5\n2 3 1\n1 2 9\n")
    cost, p = read_orlib_pmed(tmp_path / "x.txt")
    assert p == 1 and cost[0, 1] == 9 and cost[0, 2] == 10 and cost[2, 0] == 10


def test_demand_no_layout_of_p_sites_reaches_is_named():
    inf = np.inf
    cost = np.array([[1.0, inf, 5.0], [inf, 1.0, inf], [2.0, inf, 1.0]])  # each point reachable, not all by one site
    quoted = r"no layout of p=1 sites reaches every demand point; the best leaves out demand points \[1\]"
    for call in (lambda: solve_pcenter(cost, 1), lambda: solve_pmedian(cost, np.ones(3), 1)):
        with pytest.raises(RescuesimError, match=quoted):
            call()
    with pytest.raises(RescuesimError, match=r"p=2 sites .* demand points \[1\]"):
        solve_pcenter(cost, 2, fixed_open=[0, 2])
    assert solve_pcenter(cost, 2).open_sites == (0, 1)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("backup", [False, True])
def test_mclp_with_repeated_cover_sets_and_zero_weights_matches_brute_force(seed, backup):
    """MCLP merges demand points of one cover set and drops zero-weight or uncovered ones: still the brute optimum."""
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 3, (14, 6)).astype(float) * 60  # few distinct cover patterns, many repeats
    cost[:3] = cost[3:6]
    w = rng.integers(0, 4, 14).astype(float)
    result = solve_mclp(cost, w, 3, 60.0, backup=backup)
    best = _ranked("mclp", cost, w, p=3, target_s=60.0, backup=backup)[0]
    got = _value("mclp", cost, w, result.open_sites, 60.0, backup)
    assert got == pytest.approx(best)
    assert result.objective == pytest.approx(best[0] if backup else best)


def test_no_solver_banner_on_stdout():
    import subprocess
    import sys

    code = "import numpy as np; from sim.siting import solve_mclp; solve_mclp(np.eye(3), np.ones(3), 1, 0.5)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == ""
