"""Exact facility-location models on a cost matrix, solved to proven optimality (HiGHS through ``highspy``).

Inputs are ``cost_s`` (n_demand x n_sites; travel time from each candidate site to each demand point, ``inf`` when
unreachable), demand ``weights`` and site indices fixed open or closed. Models:

- **LSCP** (set covering): fewest sites so every demand with weight > 0 is within ``target_s``.
- **MCLP** (maximal covering): most weighted demand within ``target_s`` with exactly ``p`` sites; with
  ``backup=True`` the covered weight is maximised first and then, holding it, the weight covered by two sites
  (lexicographic: two solves).
- **p-median**: least weighted sum of time to the nearest open site. An interchange heuristic and a Lagrangian
  bound fix most sites; a Lagrangian branch and bound (p <= 20) or the radius (cumulative distance) formulation of
  Elloumi (2010, "A tighter formulation of the p-median problem", J Comb Optim 19:69-83) in HiGHS finishes the
  proof. The radius model is written as a chain, so each client costs one row per distinct distance and one
  non-zero per site (:func:`_pmedian_matrix`), and client i needs distances only up to its (m - p + 1)-th nearest
  site: among any m - p + 1 sites one is open. See docs/siting.md.
- **p-center**: least worst time, by bisection over the distinct costs with a covering feasibility problem.

:func:`top_layouts` returns the k best distinct layouts by adding a no-good cut after each solve.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import LinearConstraint
from scipy.sparse import coo_array, csr_array

from sim.errors import RescuesimError

SITING_MODELS = ("lscp", "mclp", "pmedian", "pcenter")


@dataclass(frozen=True, eq=False)
class SitingResult:
    """An optimal layout: its open sites (sorted column indices) and the model's objective.

    ``objective`` is the site count (LSCP), the covered weight (MCLP), the weighted time in seconds (p-median) or
    the worst time in seconds (p-center). ``assignment`` holds the nearest open site of each demand point and
    ``covered_share`` the weighted share of demand within the target (NaN when no target is given).
    """

    model: str
    open_sites: tuple[int, ...]
    objective: float
    assignment: np.ndarray
    covered_share: float
    solve_s: float
    optimal: bool


@dataclass(frozen=True, eq=False)
class _Problem:
    """A MILP over site variables y (first m columns) and auxiliaries."""

    c: np.ndarray
    constraints: list[LinearConstraint]
    integrality: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    m: int


def solve(
    model: str,
    cost_s: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    p: int | None = None,
    target_s: float | None = None,
    backup: bool = False,
    fixed_open: Sequence[int] = (),
    fixed_closed: Sequence[int] = (),
    exclude: Sequence[Sequence[int]] = (),
) -> SitingResult:
    """Solve the model named ``model`` (one of :data:`SITING_MODELS`) to proven optimality.

    ``p`` is needed by mclp, pmedian and pcenter, ``target_s`` by lscp and mclp (and gives ``covered_share`` for
    the others); ``exclude`` lists layouts (open sets) that must not be returned. Bad arguments and infeasible
    models raise :class:`RescuesimError`.
    """
    cost_s, weights = _check(model, cost_s, weights, p, target_s, fixed_open, fixed_closed)
    t0 = time.perf_counter()
    if model == "lscp":
        open_sites, objective = _lscp(cost_s, weights, target_s, fixed_open, fixed_closed, exclude)
    elif model == "mclp":
        open_sites, objective = _mclp(cost_s, weights, p, target_s, backup, fixed_open, fixed_closed, exclude)
    elif model == "pmedian":
        open_sites, objective = _pmedian(cost_s, weights, p, fixed_open, fixed_closed, exclude)
    else:
        open_sites, objective = _pcenter(cost_s, weights, p, fixed_open, fixed_closed, exclude)
    return _result(model, cost_s, weights, open_sites, objective, target_s, time.perf_counter() - t0)


def solve_lscp(
    cost_s: np.ndarray,
    target_s: float,
    *,
    weights: np.ndarray | None = None,
    fixed_open: Sequence[int] = (),
    fixed_closed: Sequence[int] = (),
) -> SitingResult:
    """Fewest sites such that every demand point with weight > 0 (all, without weights) is within ``target_s``."""
    return solve("lscp", cost_s, weights, target_s=target_s, fixed_open=fixed_open, fixed_closed=fixed_closed)


def solve_mclp(
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int,
    target_s: float,
    *,
    backup: bool = False,
    fixed_open: Sequence[int] = (),
    fixed_closed: Sequence[int] = (),
) -> SitingResult:
    """Most weighted demand within ``target_s`` with exactly ``p`` sites.

    With ``backup`` the objective is lexicographic: the covered weight first, then (holding it) the weight covered
    by at least two open sites. ``objective`` is the covered weight in both cases.
    """
    return solve(
        "mclp", cost_s, weights, p=p, target_s=target_s, backup=backup, fixed_open=fixed_open, fixed_closed=fixed_closed
    )


def solve_pmedian(
    cost_s: np.ndarray, weights: np.ndarray, p: int, *, fixed_open: Sequence[int] = (), fixed_closed: Sequence[int] = ()
) -> SitingResult:
    """Least weighted sum of the time from each demand point to its nearest of ``p`` open sites."""
    return solve("pmedian", cost_s, weights, p=p, fixed_open=fixed_open, fixed_closed=fixed_closed)


def solve_pcenter(
    cost_s: np.ndarray,
    p: int,
    *,
    weights: np.ndarray | None = None,
    fixed_open: Sequence[int] = (),
    fixed_closed: Sequence[int] = (),
) -> SitingResult:
    """Least worst time to the nearest of ``p`` open sites over demand points with weight > 0."""
    return solve("pcenter", cost_s, weights, p=p, fixed_open=fixed_open, fixed_closed=fixed_closed)


def top_layouts(model: str, cost_s: np.ndarray, weights: np.ndarray | None, k: int, **kw) -> list[SitingResult]:
    """The ``k`` best distinct layouts, best first (fewer if the model has fewer feasible layouts).

    Each is the optimum of the model with a no-good cut excluding every layout found before; ``kw`` are the
    keyword arguments of :func:`solve`.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise RescuesimError(f"siting: the number of layouts must be a whole number >= 1, got {k!r}")
    found: list[SitingResult] = []
    for _ in range(k):
        try:
            found.append(solve(model, cost_s, weights, exclude=[r.open_sites for r in found], **kw))
        except RescuesimError:
            if not found:
                raise
            break
    return found


# --- argument checks ------------------------------------------------------------------------------------------


def _check(model, cost_s, weights, p, target_s, fixed_open, fixed_closed) -> tuple[np.ndarray, np.ndarray]:
    """Validated float copies of the cost matrix and weights; every problem is quoted in one error."""
    if model not in SITING_MODELS:
        raise RescuesimError(f"siting model: unknown model {model!r}; choose from {', '.join(SITING_MODELS)}")
    cost_s = np.asarray(cost_s, float)
    if cost_s.ndim != 2 or 0 in cost_s.shape:
        raise RescuesimError(f"siting: cost matrix must be 2-D and non-empty, got shape {cost_s.shape}")
    n, m = cost_s.shape
    weights = np.ones(n) if weights is None else np.asarray(weights, float)
    problems = []
    if np.isnan(cost_s).any() or (cost_s < 0).any():
        problems.append(f"cost_s must be >= 0 or inf, got {cost_s[np.isnan(cost_s) | (cost_s < 0)][:5].tolist()}")
    if weights.shape != (n,):
        problems.append(f"weights must have one value per demand point ({n}), got shape {weights.shape}")
    elif not (np.isfinite(weights) & (weights >= 0)).all():
        bad_weights = weights[~(np.isfinite(weights) & (weights >= 0))]
        problems.append(f"weights must be finite and >= 0, got {bad_weights[:5].tolist()}")
    bad = [j for j in (*fixed_open, *fixed_closed) if not (isinstance(j, int | np.integer) and 0 <= j < m)]
    if bad:
        problems.append(f"site indices must be in 0..{m - 1}, got {bad}")
    elif set(fixed_open) & set(fixed_closed):
        problems.append(f"sites both fixed open and closed: {sorted(set(fixed_open) & set(fixed_closed))}")
    if model != "lscp":
        usable = m - len(set(fixed_closed))
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or not 0 < p <= usable:
            problems.append(f"p must be a whole number between 1 and the {usable} sites that may open, got {p!r}")
        elif len(set(fixed_open)) > p:
            problems.append(f"{len(set(fixed_open))} sites are fixed open, more than p={p}")
    if model in ("lscp", "mclp") and (target_s is None or not target_s > 0):
        problems.append(f"the {model} model needs a target time > 0 s, got {target_s!r}")
    if problems:
        raise RescuesimError(f"siting ({model}): " + "; ".join(problems))
    return cost_s, weights


def _site_bounds(m: int, fixed_open, fixed_closed) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the site variables: 1 <= y_j for fixed open, y_j <= 0 for fixed closed."""
    lower, upper = np.zeros(m), np.ones(m)
    lower[list(fixed_open)] = 1
    upper[list(fixed_closed)] = 0
    return lower, upper


def _no_good_cuts(exclude, total_vars: int, m: int) -> list[LinearConstraint]:
    """Forbid each layout S: sum_{j in S} (1 - y_j) + sum_{j not in S} y_j >= 1."""
    cuts = []
    for layout in exclude:
        row = np.zeros(total_vars)
        row[:m] = 1.0
        row[list(layout)] = -1.0
        cuts.append(LinearConstraint(row[None, :], 1 - len(layout), np.inf))
    return cuts


def _solve(problem: _Problem, exclude=(), start: np.ndarray | None = None) -> np.ndarray:
    """Solve with HiGHS to a zero gap; ``start`` is a feasible solution to begin from (optional)."""
    return _solve_bounded(problem, exclude, start)[0]


def _solve_bounded(
    problem: _Problem, exclude=(), start: np.ndarray | None = None, abs_gap: float = 1e-9
) -> tuple[np.ndarray, float]:
    """Solve with HiGHS until the incumbent is within ``abs_gap`` of the proven bound; return both."""
    import highspy

    constraints = problem.constraints + _no_good_cuts(exclude, len(problem.c), problem.m)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", abs_gap)
    total = len(problem.c)
    h.addVars(total, problem.lower, problem.upper)
    h.changeColsCost(total, np.arange(total, dtype=np.int32), problem.c)
    ints = np.flatnonzero(problem.integrality > 0).astype(np.int32)
    if len(ints):
        h.changeColsIntegrality(len(ints), ints, np.full(len(ints), highspy.HighsVarType.kInteger))
    for con in constraints:
        a = csr_array(con.A)
        lb = np.broadcast_to(np.asarray(con.lb, float), (a.shape[0],)).copy()
        ub = np.broadcast_to(np.asarray(con.ub, float), (a.shape[0],)).copy()
        lb[np.isneginf(lb)], ub[np.isposinf(ub)] = -highspy.kHighsInf, highspy.kHighsInf
        h.addRows(
            a.shape[0], lb, ub, a.nnz, a.indptr.astype(np.int32), a.indices.astype(np.int32), a.data.astype(float)
        )
    if start is not None:  # a strong incumbent is given: spend the effort on the bound, not on finding layouts
        h.setOptionValue("mip_heuristic_effort", 0.0)
        h.setOptionValue("mip_allow_restart", False)
        solution = highspy.HighsSolution()
        solution.col_value = list(map(float, start))
        solution.value_valid = True
        h.setSolution(solution)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        raise RescuesimError("siting: no feasible layout (check targets, p and fixed sites)")
    if status != highspy.HighsModelStatus.kOptimal:
        raise RescuesimError(f"siting: HiGHS did not prove optimality: {h.modelStatusToString(status)}")
    x = np.asarray(h.getSolution().col_value)
    bound = h.getInfo().mip_dual_bound if len(ints) else float(problem.c @ x)
    return x, min(float(bound), float(problem.c @ x))


def _open(x: np.ndarray, m: int) -> tuple[int, ...]:
    """The open sites of a solution vector."""
    return tuple(int(j) for j in np.flatnonzero(x[:m] > 0.5))


def _cardinality(m: int, p: int, total_vars: int) -> LinearConstraint:
    """sum_j y_j = p."""
    row = np.zeros(total_vars)
    row[:m] = 1.0
    return LinearConstraint(row[None, :], p, p)


# --- models ---------------------------------------------------------------------------------------------------


def _lscp(cost_s, weights, target_s, fixed_open, fixed_closed, exclude):
    """Set covering: fewest sites covering every demand point with weight > 0 within ``target_s``."""
    n, m = cost_s.shape
    _check_reach("lscp", cost_s, weights, None, fixed_open, fixed_closed, within_s=target_s)
    cover = (cost_s <= target_s).astype(float)
    cover[:, list(fixed_closed)] = 0
    need = weights > 0
    lower, upper = _site_bounds(m, fixed_open, fixed_closed)
    problem = _Problem(
        c=np.ones(m),
        constraints=[LinearConstraint(csr_array(cover[need]), 1, np.inf)],
        integrality=np.ones(m),
        lower=lower,
        upper=upper,
        m=m,
    )
    x = _solve(problem, exclude)
    return _open(x, m), float(round(x.sum()))


def _mclp(cost_s, weights, p, target_s, backup, fixed_open, fixed_closed, exclude):
    """Maximal covering, then (``backup``) the most weight covered twice while holding the covered weight."""
    n, m = cost_s.shape
    cover = csr_array((cost_s <= target_s).astype(float))
    k = 2 if backup else 1
    total = m + k * n
    lower, upper = _site_bounds(m, fixed_open, fixed_closed)
    lower = np.concatenate([lower, np.zeros(k * n)])
    upper = np.concatenate([upper, np.ones(k * n)])
    rows = [LinearConstraint(_hstack(-cover, _eye(n), n * (k - 1)), -np.inf, 0)]  # z_i <= covering sites
    if backup:
        rows.append(LinearConstraint(_hstack(-cover, None, 0, _eye(n, scale=2.0), n), -np.inf, 0))  # 2u_i <= cover
    rows.append(_cardinality(m, p, total))
    integrality = np.concatenate([np.ones(m), np.zeros(k * n)])
    primary = np.concatenate([np.zeros(m), -weights, np.zeros((k - 1) * n)])
    problem = _Problem(c=primary, constraints=rows, integrality=integrality, lower=lower, upper=upper, m=m)
    x = _solve(problem, exclude)
    covered = float(weights @ x[m : m + n])
    if backup:
        keep = LinearConstraint(-primary[None, :], covered - 1e-7 * max(1.0, covered), np.inf)
        second = np.concatenate([np.zeros(m + n), -weights])
        x = _solve(
            _Problem(c=second, constraints=[*rows, keep], integrality=integrality, lower=lower, upper=upper, m=m),
            exclude,
        )
    return _open(x, m), float(weights[np.min(cost_s[:, list(_open(x, m))], axis=1) <= target_s].sum())


def _eye(n: int, scale: float = 1.0) -> csr_array:
    """A sparse scaled identity."""
    return csr_array((np.full(n, scale), (np.arange(n), np.arange(n))), shape=(n, n))


def _hstack(
    sites: csr_array, first: csr_array | None, first_pad: int, second: csr_array | None = None, second_pad: int = 0
) -> csr_array:
    """[sites | first | zeros(first_pad)] or [sites | zeros(n) | second] blocks for the MCLP rows."""
    from scipy.sparse import hstack

    n = sites.shape[0]
    blocks = [sites]
    if first is not None:
        blocks.append(first)
        if first_pad:
            blocks.append(csr_array((n, first_pad)))
    else:
        blocks += [csr_array((n, second_pad)), second]
    return csr_array(hstack(blocks, format="csr"))


_BRANCH_MAX_P = 20  # the Lagrangian branch and bound beats HiGHS on the radius model up to about this p
_BRANCH_MAX_ITERATIONS = 400_000  # then the radius model takes over (both are exact)


def _pmedian(cost_s, weights, p, fixed_open, fixed_closed, exclude):
    """Heuristic upper bound, Lagrangian bound and variable fixing, then an exact search.

    A numpy interchange heuristic gives a layout (upper bound UB). Subgradient optimisation of the Lagrangian
    relaxation of the assignment constraints (Beasley 1993) gives a lower bound; if it meets UB the layout is
    optimal. Otherwise every site whose forced opening (closing) lifts the Lagrangian bound to UB or beyond (with
    integral data, beyond UB - 1) is fixed closed (open): an optimum strictly better than the incumbent cannot
    have it so. For small p a Lagrangian branch and bound (:func:`_lagrangian_branch`) finishes the proof; for
    larger p (or when it runs out of its budget) the reduced problem is solved exactly with HiGHS
    (:func:`_pmedian_radius`) and the better of its optimum and the incumbent is returned.
    Unreachable pairs get a cost above any layout that reaches every demand point.
    """
    n, m = cost_s.shape
    w = np.asarray(weights, float)
    need = w > 0
    _check_reach("pmedian", cost_s, w, p, fixed_open, fixed_closed)
    finite = cost_s[np.isfinite(cost_s)]
    finite_max = float(finite.max()) if finite.size else 1.0
    big = np.ceil(finite_max * w.sum() / w[need].min()) + 1 if need.any() else finite_max + 1
    cost = np.where(np.isfinite(cost_s), cost_s, big)
    layout, value = _pmedian_exact(cost, w, p, fixed_open, fixed_closed, exclude)
    unreached = np.flatnonzero(need & ~np.isfinite(cost_s[:, list(layout)].min(axis=1)))
    if len(unreached):  # some layout reaches them all (_check_reach), but only layouts in ``exclude`` do
        raise RescuesimError(
            f"siting (pmedian): no layout of p={p} sites not yet found reaches every demand point, e.g. "
            f"{unreached.tolist()[:20]}"
        )
    return layout, value


def _pmedian_exact(cost, w, p, fixed_open, fixed_closed, exclude):
    """The optimal layout and its cost for a finite cost matrix (see :func:`_pmedian`), avoiding ``exclude``."""
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
    lower_bound, force_open, force_closed, lam = _lagrangian_fixing(cost, w, p, opened, closed, upper_bound, slack)
    if upper_bound - lower_bound < slack or len(opened | force_open) > p:
        return incumbent, upper_bound
    opened, closed = opened | force_open, closed | force_closed
    if p <= _BRANCH_MAX_P:
        active = w > 0
        found = _lagrangian_branch(
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


def _lagrangian_branch(
    cost, w, p, opened, closed, incumbent, slack, lam, budget: int, excluded: set = frozenset()
) -> tuple[tuple[int, ...], float] | None:
    """Depth-first branch and bound on the sites with Lagrangian bounds; None when ``budget`` iterations run out.

    Each node runs a short subgradient optimisation from its parent's multipliers, tries the layout of the
    Lagrangian solution, fixes sites by the bound test of :func:`_fix_by_bound` (repeating while that fixes any),
    and branches on the open-in-the-relaxation free site with the most negative reduced cost (open child first).
    Layouts in ``excluded`` never become the incumbent (the bounds stay valid: they ignore the exclusion).
    """
    n, m = cost.shape
    wd = w[:, None] * cost
    best_value = float(w @ cost[:, list(incumbent)].min(axis=1))
    best = tuple(incumbent)
    free0 = np.setdiff1d(np.setdiff1d(np.arange(m), closed), opened)
    stack = [(np.asarray(opened, dtype=np.int64), free0, lam)]
    used = 0
    while stack:
        forced, free, lam = stack.pop()
        while True:
            if len(forced) > p or len(forced) + len(free) < p:
                break
            if len(forced) == p or len(forced) + len(free) == p:
                layout = np.concatenate([forced, free])[:p] if len(forced) < p else forced
                value, key = float(w @ cost[:, layout].min(axis=1)), tuple(sorted(int(j) for j in layout))
                if value < best_value - 1e-9 and key not in excluded:
                    best, best_value = key, value
                break
            if used >= budget:
                return None
            cols = np.concatenate([forced, free])
            bound, lam, rho, chosen, spent = _subgradient(wd[:, cols], p, len(forced), lam, best_value, slack)
            used += spent
            layout = cols[chosen]
            value, key = float(w @ cost[:, layout].min(axis=1)), tuple(sorted(int(j) for j in layout))
            if value < best_value - 1e-9 and key not in excluded:
                best, best_value = key, value
            if best_value - bound < slack:
                break
            free_rho = rho[len(forced) :]
            to_open, to_close = _fix_by_bound(bound, free_rho, p - len(forced), best_value, slack)
            if to_open.any() or to_close.any():
                forced, free = np.concatenate([forced, free[to_open]]), free[~(to_open | to_close)]
                continue
            in_relaxation = chosen[chosen >= len(forced)] - len(forced)
            j = int(in_relaxation[np.argmin(free_rho[in_relaxation])])
            rest = np.delete(free, j)
            stack.append((forced, rest, lam))  # site closed
            stack.append((np.append(forced, free[j]), rest, lam))  # site open, explored first
            break
    return best, best_value


def _subgradient(
    wd: np.ndarray, p: int, n_forced: int, lam: np.ndarray, upper_bound: float, slack: float
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, int]:
    """A short subgradient run (Polyak steps towards ``upper_bound``) on the columns of ``wd``.

    The first ``n_forced`` columns are open. Returns the best bound, its multipliers, the sites' reduced costs,
    the open columns of the Lagrangian solution, and the iterations used.
    """
    k = p - n_forced
    step, stall = 2.0, 0
    best = (-np.inf, lam, None, None)
    spent = 0
    for _ in range(80):
        spent += 1
        reduced = np.minimum(wd - lam[:, None], 0.0)
        rho = reduced.sum(axis=0)
        chosen = np.concatenate([np.arange(n_forced), np.argpartition(rho[n_forced:], k - 1)[:k] + n_forced])
        bound = float(lam.sum() + rho[chosen].sum())
        if bound > best[0] + 1e-9:
            best, stall = (bound, lam, rho, chosen), 0
        else:
            stall += 1
            if stall >= 8:
                step, stall = step / 2, 0
        if upper_bound - best[0] < slack:
            break
        gradient = 1.0 - (reduced[:, chosen] < 0).sum(axis=1)
        norm = float(gradient @ gradient)
        if norm == 0:
            break
        lam = lam + step * (upper_bound - bound) / norm * gradient
    return (*best, spent)


def _fix_by_bound(
    bound: float, rho: np.ndarray, k: int, upper_bound: float, slack: float
) -> tuple[np.ndarray, np.ndarray]:
    """Free sites to open and to close: swapping one in (out of) the Lagrangian solution lifts the bound so far
    that no layout with it open (closed) can beat ``upper_bound``."""
    order = np.argsort(rho, kind="stable")
    kth = rho[order[k - 1]] if k > 0 else -np.inf
    following = rho[order[k]] if k < len(order) else np.inf
    inside = np.zeros(len(rho), bool)
    inside[order[:k]] = True
    limit = upper_bound - slack + 1e-9
    return inside & (bound - rho + following >= limit), ~inside & (bound + rho - kth >= limit)


def _lagrangian_fixing(
    cost, w, p, opened: set, closed: set, upper_bound: float, slack: float, iterations: int = 3000
) -> tuple[float, set, set, np.ndarray]:
    """Best Lagrangian bound by subgradient steps, the sites it proves must be open / closed, and its multipliers."""
    n, m = cost.shape
    wd = w[:, None] * cost
    lam = np.sort(wd, axis=1)[:, min(1, m - 1)].copy()
    forced = np.zeros(m, bool)
    forced[list(opened)] = True
    banned = np.zeros(m, bool)
    banned[list(closed)] = True
    k = p - int(forced.sum())
    best = (-np.inf, None, lam)
    step, stall = 2.0, 0
    for _ in range(iterations):
        reduced = np.minimum(wd - lam[:, None], 0.0)
        rho = reduced.sum(axis=0)
        order = np.argsort(np.where(forced | banned, np.inf, rho), kind="stable")
        chosen = np.concatenate([np.flatnonzero(forced), order[:k]])
        bound = float(lam.sum() + rho[chosen].sum())
        if bound > best[0] + 1e-9:
            best, stall = (bound, rho, lam), 0
        else:
            stall += 1
            if stall >= 30:
                step, stall = step / 2, 0
        if step < 1e-3 or upper_bound - best[0] < slack:
            break
        gradient = 1.0 - (reduced[:, chosen] < 0).sum(axis=1)
        norm = float(gradient @ gradient)
        if norm == 0:
            break
        lam = lam + step * (upper_bound - bound) / norm * gradient
    bound, rho, lam = best
    free = np.flatnonzero(~(forced | banned))
    to_open, to_close = _fix_by_bound(bound, rho[free], k, upper_bound, slack)
    return bound, {int(j) for j in free[to_open]}, {int(j) for j in free[to_close]}, lam


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
    lower, upper = _site_bounds(m, fixed_open, fixed_closed)
    integral = bool(np.all(w == np.round(w)) and np.all(reduced == np.round(reduced)))
    while True:
        a, lb, c, z_level, z_client = _pmedian_matrix(reduced, w, p, cap)
        n_z = len(c)
        problem = _Problem(
            c=np.concatenate([np.zeros(m), c]),
            constraints=[LinearConstraint(_remap_sites(a, usable, m), lb, np.inf), _cardinality(m, p, m + n_z)],
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
        x, bound = _solve_bounded(problem, exclude, start, abs_gap=0.999 if integral else 1e-9)
        layout = [position[j] for j in _open(x, m)]
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


def _pcenter(cost_s, weights, p, fixed_open, fixed_closed, exclude):
    """Bisection over the sorted distinct costs for the least radius a p-site layout covers.

    The search starts between the farthest demand point's nearest usable site (a lower bound) and the radius of a
    heuristic layout (an upper bound); each layout found lowers the upper bound to its own radius.
    """
    n, m = cost_s.shape
    need = weights > 0
    if not need.any():
        raise RescuesimError("siting (pcenter): every demand weight is 0; nothing to cover")
    _check_reach("pcenter", cost_s, weights, p, fixed_open, fixed_closed)
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


def _check_reach(model, cost_s, weights, p, fixed_open, fixed_closed, within_s: float | None = None) -> None:
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
    layout, _ = _mclp(np.where(reach, 0.0, 1.0), need.astype(float), p, 0.5, False, fixed_open, fixed_closed, ())
    left = np.flatnonzero(need & ~reach[:, list(layout)].any(axis=1))
    if len(left):
        raise RescuesimError(
            f"siting ({model}): no layout of p={p} sites reaches every demand point{how}; the best leaves out "
            f"demand points {left.tolist()[:20]}"
        )


def _cover_with_p(cost_s, radius, p, fixed_open, fixed_closed, exclude) -> tuple[int, ...] | None:
    """A layout of exactly p sites covering every row within ``radius``, or None."""
    n, m = cost_s.shape
    cover = (cost_s <= radius).astype(float)
    cover[:, list(fixed_closed)] = 0
    if (cover.sum(axis=1) == 0).any():
        return None
    lower, upper = _site_bounds(m, fixed_open, fixed_closed)
    problem = _Problem(
        c=np.zeros(m),
        constraints=[LinearConstraint(csr_array(cover), 1, np.inf), _cardinality(m, p, m)],
        integrality=np.ones(m),
        lower=lower,
        upper=upper,
        m=m,
    )
    try:
        return _open(_solve(problem, exclude), m)
    except RescuesimError:
        return None


def _result(model, cost_s, weights, open_sites, objective, target_s, solve_s) -> SitingResult:
    """The result record: sorted open sites, nearest-site assignment and the share covered within the target."""
    columns = list(open_sites)
    nearest = cost_s[:, columns].min(axis=1)
    assignment = np.asarray(columns)[cost_s[:, columns].argmin(axis=1)]
    share = float(weights[nearest <= target_s].sum() / weights.sum()) if target_s and weights.sum() else float("nan")
    return SitingResult(
        model=model,
        open_sites=tuple(sorted(columns)),
        objective=objective,
        assignment=assignment,
        covered_share=share,
        solve_s=solve_s,
        optimal=True,
    )


# --- OR-Library -----------------------------------------------------------------------------------------------


def read_orlib_pmed(path: Path) -> tuple[np.ndarray, int]:
    """An OR-Library p-median instance: all-pairs shortest-path cost matrix and p (an edge listed twice keeps its
    last cost)."""
    from scipy.sparse.csgraph import shortest_path

    lines = Path(path).read_text().split("\n")
    n, m, p = (int(v) for v in lines[0].split()[:3])
    data = np.loadtxt(lines[1 : m + 1], dtype=np.int64).reshape(-1, 3)
    edges: dict[tuple[int, int], int] = {}
    for i, j, c in data:
        edges[(min(i, j) - 1, max(i, j) - 1)] = int(c)  # the last line for an edge wins
    ij = np.asarray(list(edges), dtype=np.int64)
    cost = np.asarray(list(edges.values()), dtype=float)
    graph = csr_array((cost, (ij[:, 0], ij[:, 1])), shape=(n, n))
    return shortest_path(graph, directed=False), p
