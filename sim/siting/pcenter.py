"""The p-center: the least worst time, by bisection over the distinct costs with a covering feasibility MILP of
exactly p sites at each step."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import LinearConstraint
from scipy.sparse import csr_array

from sim.errors import RescuesimError
from sim.siting.covering import check_reach
from sim.siting.milp import Problem, cardinality, layout_of, site_bounds, solve_milp
from sim.siting.pmedian import interchange


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
    heuristic layout (an upper bound); each layout found lowers the upper bound to its own radius.
    """
    n, m = cost_s.shape
    need = weights > 0
    if not need.any():
        raise RescuesimError("siting (pcenter): every demand weight is 0; nothing to cover")
    check_reach("pcenter", cost_s, weights, p, fixed_open, fixed_closed)
    usable = np.setdiff1d(np.arange(m), list(fixed_closed))
    cost = cost_s[need]
    reach = cost[:, usable].min(axis=1)
    values = np.unique(cost[:, usable][np.isfinite(cost[:, usable])])
    lo, hi = int(np.searchsorted(values, reach.max())), len(values) - 1
    position = {int(j): k for k, j in enumerate(usable)}
    finite = np.where(np.isfinite(cost[:, usable]), cost[:, usable], 2 * values[-1] + 1)  # unreachable: worst
    start = interchange(finite, np.ones(len(cost)), p, fixed=[position[j] for j in fixed_open])
    heuristic = tuple(sorted(int(usable[k]) for k in start))
    best = None
    radius = float(cost[:, list(heuristic)].min(axis=1).max())
    excluded = {tuple(sorted(int(j) for j in layout)) for layout in exclude}
    if np.isfinite(radius) and heuristic not in excluded:
        best, hi = heuristic, int(np.searchsorted(values, radius))
    while lo < hi or (best is None and lo <= hi):  # smallest radius whose covering needs at most p sites
        mid = (lo + hi) // 2
        layout = _cover_with_p(cost, values[mid], p, fixed_open, fixed_closed, exclude)
        if layout is None:
            lo = mid + 1
        else:
            best = layout
            hi = int(np.searchsorted(values, cost[:, list(layout)].min(axis=1).max()))
    if best is None:
        raise RescuesimError("siting (pcenter): no feasible layout (check p and fixed sites)")
    return best, float(cost[:, list(best)].min(axis=1).max())


def _cover_with_p(cost_s, radius, p, fixed_open, fixed_closed, exclude) -> tuple[int, ...] | None:
    """A layout of exactly p sites covering every row within ``radius``, or None."""
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
