"""Covering models: LSCP (fewest sites covering every demand point within the target), MCLP (most weight covered
with p sites, optionally lexicographic with backup coverage), and the reachability check the other models share
(it names the demand points no allowed layout reaches, solving a covering problem when it must)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import LinearConstraint
from scipy.sparse import csr_array

from sim.errors import RescuesimError
from sim.siting.milp import Problem, cardinality, eye, hstack_blocks, layout_of, site_bounds, solve_milp


def lscp_layout(
    cost_s: np.ndarray,
    weights: np.ndarray,
    target_s: float,
    fixed_open: Sequence[int],
    fixed_closed: Sequence[int],
    exclude: Sequence[Sequence[int]],
) -> tuple[tuple[int, ...], float]:
    """Set covering: fewest sites covering every demand point with weight > 0 within ``target_s``."""
    n, m = cost_s.shape
    check_reach("lscp", cost_s, weights, None, fixed_open, fixed_closed, within_s=target_s)
    cover = (cost_s <= target_s).astype(float)
    cover[:, list(fixed_closed)] = 0
    need = weights > 0
    lower, upper = site_bounds(m, fixed_open, fixed_closed)
    problem = Problem(
        c=np.ones(m),
        constraints=[LinearConstraint(csr_array(cover[need]), 1, np.inf)],
        integrality=np.ones(m),
        lower=lower,
        upper=upper,
        m=m,
    )
    x = solve_milp(problem, exclude)
    return layout_of(x, m), float(round(x.sum()))


def mclp_layout(
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int,
    target_s: float,
    backup: bool,
    fixed_open: Sequence[int],
    fixed_closed: Sequence[int],
    exclude: Sequence[Sequence[int]],
) -> tuple[tuple[int, ...], float]:
    """Maximal covering, then (``backup``) the most weight covered twice while holding the covered weight."""
    m = cost_s.shape[1]
    full_weights = weights
    cover_rows, weights = distinct_cover_rows(cost_s <= target_s, weights)
    n = len(weights)
    cover = csr_array(cover_rows.astype(float))
    k = 2 if backup else 1
    total = m + k * n
    lower, upper = site_bounds(m, fixed_open, fixed_closed)
    lower = np.concatenate([lower, np.zeros(k * n)])
    upper = np.concatenate([upper, np.ones(k * n)])
    rows = [LinearConstraint(hstack_blocks(-cover, eye(n), n * (k - 1)), -np.inf, 0)]  # z_i <= covering sites
    if backup:
        rows.append(LinearConstraint(hstack_blocks(-cover, None, 0, eye(n, scale=2.0), n), -np.inf, 0))  # 2u_i <= cover
    rows.append(cardinality(m, p, total))
    # z may stay continuous (z_i <= min(1, cover count) is integral at the optimum); u may not: 2 u_i <= 1 would
    # credit half the weight of a point covered once
    integrality = np.concatenate([np.ones(m), np.zeros(n), np.ones((k - 1) * n)])
    primary = np.concatenate([np.zeros(m), -weights, np.zeros((k - 1) * n)])
    problem = Problem(c=primary, constraints=rows, integrality=integrality, lower=lower, upper=upper, m=m)
    x = solve_milp(problem, exclude)
    covered = float(weights @ x[m : m + n])
    if backup:
        keep = LinearConstraint(-primary[None, :], covered - 1e-7 * max(1.0, covered), np.inf)
        second = np.concatenate([np.zeros(m + n), -weights])
        x = solve_milp(
            Problem(c=second, constraints=[*rows, keep], integrality=integrality, lower=lower, upper=upper, m=m),
            exclude,
        )
    layout = layout_of(x, m)
    return layout, float(full_weights[np.min(cost_s[:, list(layout)], axis=1) <= target_s].sum())


def distinct_cover_rows(cover: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Demand points with the same set of covering sites merged into one row of summed weight; rows of zero weight
    or covered by no site dropped (they cannot change which layout is best)."""
    keep = (weights > 0) & cover.any(axis=1)
    rows, inverse = np.unique(cover[keep], axis=0, return_inverse=True)
    return rows, np.bincount(inverse.ravel(), weights=weights[keep], minlength=len(rows))


def check_reach(
    model: str,
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int | None,
    fixed_open: Sequence[int],
    fixed_closed: Sequence[int],
    within_s: float | None = None,
) -> None:
    """Raise naming the demand points (weight > 0) that no allowed layout reaches (within ``within_s``, or at all):
    those that no site that may open reaches, else (with ``p`` sites) those that the p-site layout reaching the
    most demand points still leaves out."""
    reach = np.isfinite(cost_s) if within_s is None else cost_s <= within_s
    reach[:, list(fixed_closed)] = False
    need = weights > 0
    how = "" if within_s is None else f" within {within_s / 60:g} min"
    far = np.flatnonzero(need & ~reach.any(axis=1))
    if len(far):
        raise RescuesimError(
            f"siting ({model}): demand points {far.tolist()[:20]} cannot be reached{how} from any site that may open"
        )
    usable = np.setdiff1d(np.arange(cost_s.shape[1]), list(fixed_closed))
    if p is None or reach[np.ix_(need, usable)].all():
        return
    layout, _ = mclp_layout(np.where(reach, 0.0, 1.0), need.astype(float), p, 0.5, False, fixed_open, fixed_closed, ())
    left = np.flatnonzero(need & ~reach[:, list(layout)].any(axis=1))
    if len(left):
        raise RescuesimError(
            f"siting ({model}): no layout of p={p} sites reaches every demand point{how}; the best leaves out "
            f"demand points {left.tolist()[:20]}"
        )
