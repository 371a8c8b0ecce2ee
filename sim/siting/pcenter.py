"""The p-center: the least worst time, by bisection over the distinct costs. At each radius a covering test asks
whether p sites can cover every demand point within it, on the covering matrix reduced by dominance: a greedy
cover within p sites answers yes, more than p rows with disjoint cover sets answer no, else the set-covering MILP
(fewest sites) on a growing subset of the rows runs with a cut-off at p. See docs/siting.md."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import LinearConstraint
from scipy.sparse import csr_array

from sim.errors import RescuesimError
from sim.siting.covering import check_reach
from sim.siting.milp import Problem, cardinality, layout_of, site_bounds, solve_milp, solve_milp_within
from sim.siting.pmedian import interchange

_DOMINANCE_MAX_WORK = 4e9  # multiply-adds of one pairwise dominance test (about a second)


def pcenter_layout(
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int,
    fixed_open: Sequence[int],
    fixed_closed: Sequence[int],
    exclude: Sequence[Sequence[int]],
) -> tuple[tuple[int, ...], float]:
    """Bisection over the sorted distinct costs for the least radius a p-site layout covers.

    The search starts between the farthest demand point's nearest usable site (a lower bound) and the radius of a
    heuristic layout (an upper bound); each layout found lowers the upper bound to its own radius. With layouts to
    exclude, the optimum without them is a lower bound, and the bisection above it goes on with a covering MILP of
    exactly p sites that carries the no-good cuts.
    """
    n, m = cost_s.shape
    need = weights > 0
    if not need.any():
        raise RescuesimError("siting (pcenter): every demand weight is 0; nothing to cover")
    check_reach("pcenter", cost_s, weights, p, fixed_open, fixed_closed)
    usable = np.setdiff1d(np.arange(m), list(fixed_closed))
    cost = cost_s[need]
    values = np.unique(cost[:, usable][np.isfinite(cost[:, usable])])
    lo = int(np.searchsorted(values, cost[:, usable].min(axis=1).max()))
    position = {int(j): k for k, j in enumerate(usable)}
    opened = [position[int(j)] for j in fixed_open]
    heuristic = _heuristic(cost[:, usable], p, opened)
    best, hi = None, len(values) - 1
    if heuristic is not None:
        best, hi = heuristic, int(np.searchsorted(values, _radius(cost[:, usable], heuristic)))
    while lo < hi or (best is None and lo <= hi):  # smallest radius whose covering needs at most p sites
        mid = (lo + hi) // 2
        layout = covering_layout(cost[:, usable], values[mid], p, opened)
        if layout is None:
            lo = mid + 1
        else:
            best, hi = layout, int(np.searchsorted(values, _radius(cost[:, usable], layout)))
    if best is None:
        raise RescuesimError("siting (pcenter): no feasible layout (check p and fixed sites)")
    found = tuple(sorted(int(usable[k]) for k in best))
    excluded = {tuple(sorted(int(j) for j in layout)) for layout in exclude}
    if found in excluded:
        found = _bisect_excluding(cost, values, lo, p, fixed_open, fixed_closed, exclude, excluded, usable)
    return found, _radius(cost, found)


def _bisect_excluding(cost, values, lo, p, fixed_open, fixed_closed, exclude, excluded, usable) -> tuple[int, ...]:
    """The best layout not in ``excluded``, by bisection from the radius index ``lo`` (a lower bound) upward."""
    best, hi = None, len(values) - 1
    finite = np.where(np.isfinite(cost[:, usable]), cost[:, usable], 2 * values[-1] + 1)  # unreachable: worst
    position = {int(j): k for k, j in enumerate(usable)}
    start = interchange(finite, np.ones(len(cost)), p, fixed=[position[int(j)] for j in fixed_open])
    heuristic = tuple(sorted(int(usable[k]) for k in start))
    if np.isfinite(_radius(cost, heuristic)) and heuristic not in excluded:
        best, hi = heuristic, int(np.searchsorted(values, _radius(cost, heuristic)))
    while lo < hi or (best is None and lo <= hi):
        mid = (lo + hi) // 2
        layout = _cover_with_p(cost, values[mid], p, fixed_open, fixed_closed, exclude)
        if layout is None:
            lo = mid + 1
        else:
            best, hi = layout, int(np.searchsorted(values, _radius(cost, layout)))
    if best is None:
        raise RescuesimError("siting (pcenter): no feasible layout (check p and fixed sites)")
    return best


def _radius(cost: np.ndarray, layout: Sequence[int]) -> float:
    """The worst time from a demand point to its nearest site of ``layout``."""
    return float(cost[:, list(layout)].min(axis=1).max())


def _heuristic(cost: np.ndarray, p: int, opened: Sequence[int]) -> tuple[int, ...] | None:
    """A p-center layout by farthest-first traversal (Gonzalez 1985): to the sites of ``opened`` (else the site
    nearest to the first demand point), add the site nearest to the demand point farthest from the layout, until p
    are open; None if it leaves a demand point unreached."""
    layout = [int(j) for j in opened] or [int(np.argmin(cost[0]))]
    nearest = cost[:, layout].min(axis=1)
    while len(layout) < p:
        site = next(int(j) for j in np.argsort(cost[int(np.argmax(nearest))], kind="stable") if j not in layout)
        layout.append(site)
        nearest = np.minimum(nearest, cost[:, site])
    return tuple(sorted(layout)) if np.isfinite(nearest.max()) else None


def covering_layout(cost: np.ndarray, radius: float, p: int, opened: Sequence[int] = ()) -> tuple[int, ...] | None:
    """A layout of exactly p sites (columns; ``opened`` among them) covering every row within ``radius``, or None
    when none exists (proven: greedy cover or set-covering MILP on the matrix reduced by dominance)."""
    m = cost.shape[1]
    cover = cost <= radius
    rows = ~cover[:, list(opened)].any(axis=1)
    free = np.setdiff1d(np.arange(m), list(opened))
    cover = cover[np.ix_(rows, free)]
    k = p - len(opened)
    if not cover.any(axis=1).all() or (k == 0 and len(cover)):
        return None
    chosen: list[int] = []
    if len(cover):
        reduced, columns = dominance_reduced(cover)
        greedy = greedy_cover(reduced)
        chosen = list(columns[greedy]) if len(greedy) <= k else _fewest_sites(reduced, columns, k)
        if chosen is None:
            return None
    layout = [*opened, *(int(free[j]) for j in chosen)]
    spare = np.setdiff1d(np.arange(m), layout)[: p - len(layout)]  # any further sites keep every row covered
    return tuple(sorted([*layout, *(int(j) for j in spare)]))


def _fewest_sites(cover: np.ndarray, columns: np.ndarray, k: int) -> list[int] | None:
    """At most k of the columns covering every row (indices into the original columns), or None when none exist.

    Row generation: the MILP covers only a subset of the rows (first rows with pairwise disjoint cover sets, then
    every row its layouts left uncovered); no cover of a subset within k sites proves there is none for all rows.
    """
    disjoint = _disjoint_rows(cover)
    if len(disjoint) > k:
        return None
    subset = np.zeros(len(cover), bool)
    subset[disjoint] = True
    while True:
        part, kept = dominance_reduced(cover[subset])
        m = part.shape[1]
        problem = Problem(
            c=np.ones(m),
            constraints=[LinearConstraint(csr_array(part.astype(float)), 1, np.inf)],
            integrality=np.ones(m),
            lower=np.zeros(m),
            upper=np.ones(m),
            m=m,
        )
        x = solve_milp_within(problem, k)
        if x is None:
            return None
        chosen = kept[list(layout_of(x, m))]
        left = ~cover[:, chosen].any(axis=1)
        if not left.any():
            return [int(columns[j]) for j in chosen]
        subset |= left


def _disjoint_rows(cover: np.ndarray) -> np.ndarray:
    """Rows with pairwise disjoint cover sets, picked greedily from the smallest set up (more than k of them
    prove that k sites cannot cover them)."""
    picked, used = [], np.zeros(cover.shape[1], bool)
    for i in np.argsort(cover.sum(axis=1), kind="stable"):
        if not (cover[i] & used).any():
            picked.append(int(i))
            used |= cover[i]
    return np.asarray(picked, dtype=int)


def dominance_reduced(cover: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The covering matrix without dominated rows and columns, and the kept columns' indices.

    A row whose set of covering columns contains another row's is covered whenever that one is; a column whose set
    of covered rows lies within another column's can be swapped for it. Of equal rows or columns the first is kept.
    Both reductions repeat until neither removes anything (a matrix too large for the pairwise test is left as it
    is); the fewest columns covering all rows stay the same.
    """
    cover = np.unique(cover, axis=0)  # equal rows: one stays
    columns = np.arange(cover.shape[1])
    while True:
        kept_rows = ~_dominated(cover, superset_dominated=True)
        cover = cover[kept_rows]
        kept_columns = ~_dominated(cover.T, superset_dominated=False)
        cover, columns = cover[:, kept_columns], columns[kept_columns]
        if kept_rows.all() and kept_columns.all():
            return cover, columns


def _dominated(sets: np.ndarray, superset_dominated: bool) -> np.ndarray:
    """Rows of the boolean matrix ``sets`` that contain (``superset_dominated``) or lie within another row, or
    equal an earlier one."""
    if len(sets) ** 2 * sets.shape[1] > _DOMINANCE_MAX_WORK:  # too large to compare all pairs: keep them all
        return np.zeros(len(sets), bool)
    as_float = sets.astype(np.float32)
    common = as_float @ as_float.T  # common[a, b] = |S_a & S_b|, exact in float32 below 2**24
    size = as_float.sum(axis=1)
    inside = common >= size[:, None] - 0.5  # inside[a, b]: S_a within S_b
    np.fill_diagonal(inside, False)
    beaten = inside.T if superset_dominated else inside  # beaten[a, b]: b makes a redundant
    equal = inside & inside.T
    earlier = np.tri(len(sets), k=-1, dtype=bool)  # earlier[a, b]: b < a
    return ((beaten & ~equal) | (equal & earlier)).any(axis=1)


def greedy_cover(cover: np.ndarray) -> np.ndarray:
    """Columns covering every row (each must be coverable), chosen greedily by the most rows still uncovered."""
    left = np.ones(len(cover), bool)
    chosen = []
    while left.any():
        j = int(np.argmax(cover[left].sum(axis=0)))
        chosen.append(j)
        left &= ~cover[:, j]
    return np.asarray(chosen, dtype=int)


def _cover_with_p(cost_s, radius, p, fixed_open, fixed_closed, exclude) -> tuple[int, ...] | None:
    """A layout of exactly p sites covering every row within ``radius`` and not in ``exclude``, or None."""
    n, m = cost_s.shape
    cover = (cost_s <= radius).astype(float)
    cover[:, list(fixed_closed)] = 0
    if (cover.sum(axis=1) == 0).any():
        return None
    lower, upper = site_bounds(m, fixed_open, fixed_closed)
    problem = Problem(
        c=np.zeros(m),
        constraints=[LinearConstraint(csr_array(cover), 1, np.inf), cardinality(m, p, m)],
        integrality=np.ones(m),
        lower=lower,
        upper=upper,
        m=m,
    )
    try:
        return layout_of(solve_milp(problem, exclude), m)
    except RescuesimError:
        return None
