"""Exact location models against brute-force enumeration, fixed sites, top layouts, OR-Library optima."""

from __future__ import annotations

import numpy as np
import pytest

from sim.errors import RescuesimError
from sim.siting import brute_force, interchange, read_orlib_pmed, solve, top_layouts

SEEDS = range(6)


def _instance(seed: int, n: int = 9, m: int = 6):
    rng = np.random.default_rng(seed)
    demand, sites = rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2))
    cost = np.round(np.linalg.norm(demand[:, None, :] - sites[None, :, :], axis=2) * 60, 1)  # "seconds"
    weights = rng.integers(1, 10, n).astype(float)
    return cost, weights


@pytest.mark.parametrize("seed", SEEDS)
def test_every_model_matches_brute_force(seed):
    cost, w = _instance(seed)
    target = float(np.median(cost))
    for model, kw in (
        ("lscp", {"target_s": target}),
        ("mclp", {"p": 2, "target_s": target}),
        ("pmedian", {"p": 3}),
        ("pcenter", {"p": 2}),
    ):
        result = solve(model, cost, w, **kw)
        assert result.objective == pytest.approx(brute_force(model, cost, w, **kw)), model
        if model != "lscp":
            assert len(result.open_sites) == kw["p"]


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_with_backup_matches_brute_force(seed):
    cost, w = _instance(seed)
    target = float(np.quantile(cost, 0.4))
    result = solve("mclp", cost, w, p=3, target_s=target, backup=True)
    primary, secondary = brute_force("mclp", cost, w, p=3, target_s=target, backup=True)
    covers = (cost[:, list(result.open_sites)] <= target).sum(axis=1)
    assert w @ (covers >= 1) == pytest.approx(primary)
    assert w @ (covers >= 2) == pytest.approx(secondary)


def test_fixed_sites_respected():
    cost, w = _instance(3)
    free = solve("pmedian", cost, w, p=2)
    worst = int(np.argmax(w @ cost))  # the worst single site is surely not in the free optimum
    forced = solve("pmedian", cost, w, p=2, fixed_open=[worst], fixed_closed=[free.open_sites[0]])
    assert worst in forced.open_sites and free.open_sites[0] not in forced.open_sites
    assert forced.objective == pytest.approx(
        brute_force("pmedian", cost, w, p=2, fixed_open=[worst], fixed_closed=[free.open_sites[0]])
    )
    assert forced.objective >= free.objective
    covered = solve("lscp", cost, w, target_s=float(cost.max()), fixed_open=[worst])
    assert covered.open_sites == (worst,)


def test_top_layouts_distinct_and_ordered():
    cost, w = _instance(1)
    layouts = top_layouts("pmedian", cost, w, 5, p=2)
    assert len({r.open_sites for r in layouts}) == 5
    values = [r.objective for r in layouts]
    assert values == sorted(values)


def test_bad_arguments_are_clear():
    cost, w = _instance(0)
    with pytest.raises(RescuesimError, match="got 9"):
        solve("pmedian", cost, w, p=9)
    with pytest.raises(RescuesimError, match="'median'"):
        solve("median", cost, w, p=2)
    with pytest.raises(RescuesimError, match="cannot be reached within"):
        solve("lscp", cost, w, target_s=0.001)


def test_interchange_is_a_good_start():
    cost, w = _instance(4, n=30, m=12)
    layout = interchange(cost, w, 3)
    assert len(layout) == 3
    assert w @ cost[:, list(layout)].min(axis=1) <= 1.05 * brute_force("pmedian", cost, w, p=3)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_orlib_pmed1_to_5_reach_their_optima(k, shared_data_dir):
    folder = shared_data_dir / "orlib-pmed"
    optimum = {
        line.split()[0]: float(line.split()[1])
        for line in (folder / "pmedopt.txt").read_text().splitlines()
        if line.strip().startswith("pmed")
    }
    cost, p = read_orlib_pmed(folder / f"pmed{k}.txt")
    result = solve("pmedian", cost, np.ones(len(cost)), p=p)
    assert result.objective == optimum[f"pmed{k}"]


def test_orlib_reader_keeps_the_last_cost_of_a_repeated_edge(tmp_path):
    (tmp_path / "x.txt").write_text("3 3 1\n1 2 5\n2 3 1\n1 2 9\n")
    cost, p = read_orlib_pmed(tmp_path / "x.txt")
    assert p == 1 and cost[0, 1] == 9 and cost[0, 2] == 10
