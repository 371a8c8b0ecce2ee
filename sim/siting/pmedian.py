"""The exact p-median: an interchange heuristic for the incumbent, Lagrangian bound and fixing, then the Lagrangian
branch and bound (:mod:`sim.siting.lagrangian`, p <= 20) or the truncated radius formulation of Elloumi (2010) in
HiGHS. The radius model is written as a chain, so each client costs one row per distinct distance and one non-zero
per site (:func:`_pmedian_matrix`), and client i needs distances only up to its (m - p + 1)-th nearest site: among
any m - p + 1 sites one is open. See docs/siting.md."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import LinearConstraint
from scipy.sparse import coo_array, csr_array

from sim.errors import RescuesimError
from sim.siting.covering import check_reach
from sim.siting.lagrangian import lagrangian_branch, lagrangian_fixing
from sim.siting.milp import Problem, cardinality, layout_of, site_bounds, solve_milp_bounded

_BRANCH_MAX_P = 20  # the Lagrangian branch and bound beats HiGHS on the radius model up to about this p
_BRANCH_MAX_ITERATIONS = 400_000  # then the radius model takes over (both are exact)


def pmedian_layout(
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int,
    fixed_open: Sequence[int],
    fixed_closed: Sequence[int],
    exclude: Sequence[Sequence[int]],
) -> tuple[tuple[int, ...], float]:
    """Heuristic upper bound, Lagrangian bound and variable fixing, then an exact search.

    A numpy interchange heuristic gives a layout (upper bound UB). Subgradient optimisation of the Lagrangian
    relaxation of the assignment constraints (Beasley 1993) gives a lower bound; if it meets UB the layout is
    optimal. Otherwise every site whose forced opening (closing) lifts the Lagrangian bound to UB or beyond (with
    integral data, beyond UB - 1) is fixed closed (open): an optimum strictly better than the incumbent cannot
    have it so. For small p a Lagrangian branch and bound (:func:`lagrangian_branch`) finishes the proof; for
    larger p (or when it runs out of its budget) the reduced problem is solved exactly with HiGHS
    (:func:`_pmedian_radius`) and the better of its optimum and the incumbent is returned.
    Unreachable pairs get a cost above any layout that reaches every demand point.
    """
    n, m = cost_s.shape
    w = np.asarray(weights, float)
    need = w > 0
    check_reach("pmedian", cost_s, w, p, fixed_open, fixed_closed)
    finite = cost_s[np.isfinite(cost_s)]
    finite_max = float(finite.max()) if finite.size else 1.0
    big = np.ceil(finite_max * w.sum() / w[need].min()) + 1 if need.any() else finite_max + 1
    cost = np.where(np.isfinite(cost_s), cost_s, big)
    layout, value = _pmedian_exact(cost, w, p, fixed_open, fixed_closed, exclude)
    unreached = np.flatnonzero(need & ~np.isfinite(cost_s[:, list(layout)].min(axis=1)))
    if len(unreached):  # some layout reaches them all (check_reach), but only layouts in ``exclude`` do
        raise RescuesimError(
            f"siting (pmedian): no layout of p={p} sites not yet found reaches every demand point, e.g. "
            f"{unreached.tolist()[:20]}"
        )
    return layout, value


def _pmedian_exact(cost, w, p, fixed_open, fixed_closed, exclude):
    """The optimal layout and its cost for a finite cost matrix (see :func:`pmedian_layout`), avoiding ``exclude``."""
    n, m = cost.shape
    integral = bool(np.all(w == np.round(w)) and np.all(cost == np.round(cost)))
    excluded = {tuple(sorted(int(j) for j in layout)) for layout in exclude}
    free = np.setdiff1d(np.arange(m), list(fixed_closed))
    incumbent = tuple(
        int(free[j])
        for j in interchange(cost[:, free], w, p, fixed=[int(np.flatnonzero(free == j)[0]) for j in fixed_open])
    )
    if incumbent in excluded:  # top_layouts: start from the best single swap that is still allowed
        incumbent = _best_allowed_swap(cost, w, incumbent, excluded, set(fixed_open), set(fixed_closed))
    if incumbent is None:
        return _pmedian_radius(cost, w, p, fixed_open, fixed_closed, exclude, None)
    upper_bound = float(w @ cost[:, list(incumbent)].min(axis=1))
    slack = 1.0 - 1e-9 if integral else 1e-9 * max(1.0, abs(upper_bound))
    opened, closed = set(fixed_open), set(fixed_closed)
    lower_bound, force_open, force_closed, lam = lagrangian_fixing(cost, w, p, opened, closed, upper_bound, slack)
    if upper_bound - lower_bound < slack or len(opened | force_open) > p:
        return incumbent, upper_bound
    opened, closed = opened | force_open, closed | force_closed
    if p <= _BRANCH_MAX_P:
        active = w > 0
        found = lagrangian_branch(
            cost[active],
            w[active],
            p,
            sorted(opened),
            sorted(closed),
            incumbent,
            slack,
            lam[active],
            _BRANCH_MAX_ITERATIONS,
            excluded,
        )
        if found is not None:
            return found
    start = incumbent if set(incumbent) >= opened and not set(incumbent) & closed else None
    try:
        layout, value = _pmedian_radius(cost, w, p, sorted(opened), sorted(closed), exclude, start)
    except RescuesimError:
        return incumbent, upper_bound  # every layout left by the fixing costs at least the incumbent's
    return (incumbent, upper_bound) if upper_bound <= value else (layout, value)


def _best_allowed_swap(cost, w, layout, excluded: set, fixed_open: set, fixed_closed: set) -> tuple[int, ...] | None:
    """The cheapest layout one swap away from ``layout`` that is not in ``excluded`` (None if there is none)."""
    n, m = cost.shape
    options = []
    for out in set(layout) - fixed_open:
        rest = [j for j in layout if j != out]
        nearest = cost[:, rest].min(axis=1) if rest else np.full(n, np.inf)
        values = w @ np.minimum(cost, nearest[:, None])
        for j in np.argsort(values, kind="stable"):
            candidate = tuple(sorted([*rest, int(j)]))
            if j not in layout and j not in fixed_closed and candidate not in excluded:
                options.append((float(values[j]), candidate))
                break
    return min(options)[1] if options else None


def _pmedian_radius(cost, w, p, fixed_open, fixed_closed, exclude, incumbent):
    """Truncated radius formulation solved iteratively (after Garcia, Labbe and Marin 2011).

    Each client's chain stops at a cap (first its third-nearest open site in a fast interchange heuristic's
    layout). The truncated model under-counts distances beyond the caps, so its optimum is a lower bound; when the
    true cost of its layout equals that bound the layout is optimal, otherwise the caps of the clients that lie
    beyond them grow and the model is solved again (warm-started with the best layout so far).
    """
    n, m = cost.shape
    usable = np.setdiff1d(np.arange(m), list(fixed_closed))
    active = w > 0
    w = w[active]
    position = {int(j): k for k, j in enumerate(usable)}
    reduced = cost[active][:, usable]
    best = (
        tuple(position[j] for j in incumbent)
        if incumbent is not None
        else interchange(reduced, w, p, fixed=[position[j] for j in fixed_open])
    )
    cap = np.sort(reduced[:, list(best)], axis=1)[:, min(2, p - 1)]  # third-nearest open site of the heuristic
    lower, upper = site_bounds(m, fixed_open, fixed_closed)
    integral = bool(np.all(w == np.round(w)) and np.all(reduced == np.round(reduced)))
    while True:
        a, lb, c, z_level, z_client = _pmedian_matrix(reduced, w, p, cap)
        n_z = len(c)
        problem = Problem(
            c=np.concatenate([np.zeros(m), c]),
            constraints=[LinearConstraint(_remap_sites(a, usable, m), lb, np.inf), cardinality(m, p, m + n_z)],
            integrality=np.concatenate([np.ones(m), np.zeros(n_z)]),
            lower=np.concatenate([lower, np.zeros(n_z)]),
            upper=np.concatenate([upper, np.ones(n_z)]),
            m=m,
        )
        start = None
        if not any(set(usable[list(best)].tolist()) == set(layout) for layout in exclude):
            start = np.zeros(m + n_z)
            start[usable[list(best)]] = 1.0
            start[m:] = z_level < reduced[:, list(best)].min(axis=1)[z_client]
        x, bound = solve_milp_bounded(problem, exclude, start, abs_gap=0.999 if integral else 1e-9)
        layout = [position[j] for j in layout_of(x, m)]
        bound += float(w @ reduced.min(axis=1))  # proven lower bound of the truncated model, so of the problem
        distance = reduced[:, layout].min(axis=1)
        true = float(w @ distance)
        # integral data: the optimum is an integer, so a gap below 1 proves this layout optimal
        if (true - bound < 1 - 1e-9) if integral else (true <= bound + 1e-9 * max(1.0, abs(true))):
            return tuple(int(usable[j]) for j in layout), true
        beyond = distance > cap
        cap[beyond] = distance[beyond]
        if float(w @ reduced[:, list(best)].min(axis=1)) > true:
            best = tuple(layout)


def interchange(cost: np.ndarray, weights: np.ndarray, p: int, *, fixed: Sequence[int] = ()) -> tuple[int, ...]:
    """A good p-median layout fast: greedy addition, then best-improvement vertex substitution (Teitz-Bart),
    evaluating every swap at once with numpy."""
    n, m = cost.shape
    layout = list(fixed)
    nearest = cost[:, layout].min(axis=1) if layout else np.full(n, np.inf)
    while len(layout) < p:
        total = weights @ np.minimum(cost, nearest[:, None])
        total[layout] = np.inf
        j = int(np.argmin(total))
        layout.append(j)
        nearest = np.minimum(nearest, cost[:, j])
    layout = np.asarray(layout)
    movable = np.ones(m, bool)
    movable[list(fixed)] = False
    rows = np.arange(n)
    while p > 1:
        sub = cost[:, layout]
        order = np.argsort(sub, axis=1, kind="stable")
        near, d1, d2 = layout[order[:, 0]], sub[rows, order[:, 0]], sub[rows, order[:, 1]]
        gain = weights @ (np.minimum(cost, d1[:, None]) - d1[:, None])  # adding j
        extra = weights[:, None] * (np.minimum(cost, d2[:, None]) - np.minimum(cost, d1[:, None]))
        delta = np.zeros((m, m))
        np.add.at(delta, near, extra)  # delta[f, j]: extra cost of then closing f
        delta += gain[None, :]
        is_open = np.zeros(m, bool)
        is_open[layout] = True
        delta[~(is_open & movable), :] = np.inf
        delta[:, is_open] = np.inf
        f, j = np.unravel_index(np.argmin(delta), delta.shape)
        if not delta[f, j] < -1e-9:
            break
        layout[layout == f] = j
    return tuple(sorted(int(j) for j in layout))


def _pmedian_matrix(cost: np.ndarray, weights: np.ndarray, p: int, cap: np.ndarray):
    """Chain rows of the radius formulation for every client, up to its cap distance (vectorised).

    For client i with distinct distances D^1 < ... < D^K (at most its cap, and up to its (m-p+1)-th nearest site)
    and G^k the sites at exactly D^k, the rows are ``z^k + G^k(y) - z^(k-1) >= 0`` for k = 1..K-1 with z^0 = 1
    (moved to the right-hand side), so ``z^k >= 1 - sum_{l<=k} G^l(y)``; the objective is
    ``w_i (D^1 + sum_k (D^(k+1) - D^k) z^k)``. Returns the rows over [y (m sites) | z], their lower bounds, the z
    costs, and each z's distance level and client (to build warm starts).
    """
    n, m = cost.shape
    depth = m - p + 1  # the nearest `depth` sites always contain an open one
    order = np.argsort(cost, axis=1, kind="stable")[:, :depth]
    dist = np.take_along_axis(cost, order, axis=1)
    kept = dist <= np.maximum(cap, dist[:, 0])[:, None]  # a prefix of each row
    new_level = np.ones_like(kept)
    new_level[:, 1:] = dist[:, 1:] != dist[:, :-1]
    level = np.cumsum(new_level, axis=1) - 1  # level of each site entry, from 0
    n_levels = np.where(kept, level, -1).max(axis=1) + 1
    n_rows = n_levels - 1  # one chain row (and one z) per level but the last
    offset = np.concatenate([[0], np.cumsum(n_rows)[:-1]])
    total = int(n_rows.sum())
    in_rows = kept & (level < n_rows[:, None])
    client, _ = np.nonzero(in_rows)
    site_rows, site_cols = offset[client] + level[in_rows], order[in_rows]
    z_client = np.repeat(np.arange(n), n_rows)
    z_rank = np.arange(total) - offset[z_client]  # level index of each z within its client
    values = dist[kept & new_level]  # distinct levels, client-major, ascending
    start = np.concatenate([[0], np.cumsum(n_levels)[:-1]])
    z_level = values[start[z_client] + z_rank]
    z_cost = weights[z_client] * (values[start[z_client] + z_rank + 1] - z_level)
    rows = np.arange(total)
    chained = z_rank > 0  # row r also holds -z^(k-1), the z just before it
    entries_row = np.concatenate([site_rows, rows, rows[chained]])
    entries_col = np.concatenate([site_cols, m + rows, m + rows[chained] - 1])
    values_a = np.concatenate([np.ones(len(site_rows) + total), -np.ones(int(chained.sum()))])
    a = coo_array((values_a, (entries_row, entries_col)), shape=(total, m + total)).tocsr()
    return a, (~chained).astype(float), z_cost, z_level, z_client


def _remap_sites(a: csr_array, usable: np.ndarray, m: int) -> csr_array:
    """Columns of the reduced site set back to all m sites (closed sites get no entries)."""
    m_used = len(usable)
    coo = a.tocoo()
    col = np.where(coo.col < m_used, usable[np.minimum(coo.col, m_used - 1)], coo.col - m_used + m)
    return csr_array((coo.data, (coo.row, col)), shape=(a.shape[0], a.shape[1] - m_used + m))
