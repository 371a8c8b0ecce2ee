"""The entry points of the location models: :func:`solve` checks the arguments (every problem quoted in one error),
runs the model's module and returns a :class:`SitingResult`; :func:`top_layouts` returns the k best distinct
layouts by adding a no-good cut after each solve; :func:`evaluate` is a model's objective for any given layout (for
an optimal one, what :func:`solve` reports) and :func:`covered_share` its weighted share of demand within a target."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.errors import RescuesimError
from sim.siting.covering import lscp_layout, mclp_layout
from sim.siting.expected import availability_problems, malp_layout, malp_value, mexclp_layout, mexclp_value
from sim.siting.pcenter import pcenter_layout
from sim.siting.pmedian import pmedian_layout

SITING_MODELS = ("lscp", "mclp", "pmedian", "pcenter")
AVAILABILITY_MODELS = ("mexclp", "malp")  # p units, several per site allowed, each busy with a probability
_MODELS = SITING_MODELS + AVAILABILITY_MODELS


@dataclass(frozen=True, eq=False)
class SitingResult:
    """An optimal layout: its open sites (sorted column indices) and the model's objective.

    ``objective`` is the site count (LSCP), the covered weight (MCLP), the weighted time in seconds (p-median),
    the worst time in seconds (p-center), the expected covered weight (MEXCLP) or the weight covered by at least
    b_i units (MALP). ``assignment`` holds the nearest open site of each demand point and ``covered_share`` the
    weighted share of demand within the target (NaN when no target is given). ``unit_sites`` is the site of each
    unit, sorted, a site repeated once per unit it holds (MEXCLP, MALP); for the other models it equals
    ``open_sites``. ``units_per_site`` gives the same as a mapping.
    """

    model: str
    open_sites: tuple[int, ...]
    objective: float
    assignment: np.ndarray
    covered_share: float
    solve_s: float
    optimal: bool
    unit_sites: tuple[int, ...]

    @property
    def units_per_site(self) -> dict[int, int]:
        """Open site -> number of units there."""
        return {j: self.unit_sites.count(j) for j in self.open_sites}


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
    busy_fraction: float | None = None,
    alpha: float | None = None,
    max_units_per_site: int | None = None,
    local_busy: bool = False,
) -> SitingResult:
    """Solve the model named ``model`` (one of :data:`SITING_MODELS` or :data:`AVAILABILITY_MODELS`) to proven
    optimality.

    ``p`` is needed by every model but lscp (mexclp, malp: the number of units), ``target_s`` by lscp, mclp,
    mexclp and malp (and gives ``covered_share`` for the others); ``exclude`` lists layouts (open sets) that must
    not be returned. mexclp and malp need ``busy_fraction`` (q in (0, 1)), malp the reliability ``alpha`` in
    (0, 1) and, with ``local_busy``, runs MALP II; ``max_units_per_site`` caps the units per site (None: p).
    Bad arguments and infeasible models raise :class:`RescuesimError`.
    """
    available = (busy_fraction, alpha, max_units_per_site)
    cost_s, weights = _check(model, cost_s, weights, p, target_s, fixed_open, fixed_closed, available)
    t0 = time.perf_counter()
    if model == "lscp":
        open_sites, objective = lscp_layout(cost_s, weights, target_s, fixed_open, fixed_closed, exclude)
    elif model == "mclp":
        open_sites, objective = mclp_layout(cost_s, weights, p, target_s, backup, fixed_open, fixed_closed, exclude)
    elif model == "pmedian":
        open_sites, objective = pmedian_layout(cost_s, weights, p, fixed_open, fixed_closed, exclude)
    elif model == "mexclp":
        open_sites, objective = mexclp_layout(
            cost_s, weights, p, target_s, busy_fraction, max_units_per_site, fixed_open, fixed_closed, exclude
        )
    elif model == "malp":
        open_sites, objective = malp_layout(
            cost_s, weights, p, target_s, busy_fraction, alpha, max_units_per_site, local_busy, fixed_open,
            fixed_closed, exclude,
        )  # fmt: skip
    else:
        open_sites, objective = pcenter_layout(cost_s, weights, p, fixed_open, fixed_closed, exclude)
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


def solve_mexclp(
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int,
    target_s: float,
    busy_fraction: float,
    *,
    max_units_per_site: int | None = None,
    fixed_open: Sequence[int] = (),
    fixed_closed: Sequence[int] = (),
) -> SitingResult:
    """Most expected weight within ``target_s`` with ``p`` units, each busy with probability ``busy_fraction``."""
    return solve(
        "mexclp", cost_s, weights, p=p, target_s=target_s, busy_fraction=busy_fraction,
        max_units_per_site=max_units_per_site, fixed_open=fixed_open, fixed_closed=fixed_closed,
    )  # fmt: skip


def solve_malp(
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int,
    target_s: float,
    busy_fraction: float,
    alpha: float,
    *,
    local_busy: bool = False,
    max_units_per_site: int | None = None,
    fixed_open: Sequence[int] = (),
    fixed_closed: Sequence[int] = (),
) -> SitingResult:
    """Most weight with a unit free within ``target_s`` with probability >= ``alpha`` (MALP I; II if
    ``local_busy``), with ``p`` units."""
    return solve(
        "malp", cost_s, weights, p=p, target_s=target_s, busy_fraction=busy_fraction, alpha=alpha,
        local_busy=local_busy, max_units_per_site=max_units_per_site, fixed_open=fixed_open,
        fixed_closed=fixed_closed,
    )  # fmt: skip


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


def evaluate(
    model: str,
    cost_s: np.ndarray,
    weights: np.ndarray,
    open_sites: Sequence[int],
    *,
    p: int | None = None,
    target_s: float | None = None,
    busy_fraction: float | None = None,
    alpha: float | None = None,
    local_busy: bool = False,
) -> float:
    """The objective of the model named ``model`` for the layout ``open_sites`` (column indices of ``cost_s``).

    For mexclp and malp ``open_sites`` holds one entry per unit (a site repeated once per unit it holds, as
    :attr:`SitingResult.unit_sites`): the expected covered weight sum_i w_i (1 - q^c_i) with c_i the units within
    ``target_s`` (mexclp), or the weight with c_i >= b_i (malp; MALP II takes the workload ``busy_fraction`` x
    ``p`` units, and ``p`` defaults to the layout's unit count).

    The site count (lscp), the weight within ``target_s`` of its nearest open site (mclp; the primary objective
    with or without backup), the weighted time to the nearest open site over demand with weight > 0 (pmedian) or
    the worst such time (pcenter); ``inf`` when such demand is unreachable, NaN for an empty layout. For an optimal
    layout it equals :attr:`SitingResult.objective`. ``p`` is accepted so that a model's arguments can be passed
    alike; the value of a given layout does not depend on it (except MALP II's workload), and a layout of another
    size (today's bases) is evaluated as it stands.
    """
    if model not in _MODELS:
        raise RescuesimError(f"siting model: unknown model {model!r}; choose from {', '.join(_MODELS)}")
    if model in ("mclp", *AVAILABILITY_MODELS) and target_s is None:
        raise RescuesimError(f"siting ({model}): evaluating a layout needs the target time")
    if not open_sites:
        return math.nan
    if model in AVAILABILITY_MODELS:
        problems = availability_problems(model, len(open_sites), len(open_sites), 0, busy_fraction, alpha, None)
        if problems:
            raise RescuesimError(f"siting ({model}): " + "; ".join(problems))
        if model == "mexclp":
            return mexclp_value(cost_s, weights, open_sites, target_s, busy_fraction)
        units = len(open_sites) if p is None else p
        return malp_value(cost_s, weights, open_sites, target_s, busy_fraction, alpha, units, local_busy)
    nearest = cost_s[:, list(open_sites)].min(axis=1)
    if model == "pmedian":
        return float((weights * np.where(weights > 0, nearest, 0.0)).sum())
    if model == "pcenter":
        return float(nearest[weights > 0].max()) if (weights > 0).any() else math.nan
    if model == "lscp":
        return float(len(open_sites))
    return float(weights[nearest <= target_s].sum())


def covered_share(cost_s: np.ndarray, weights: np.ndarray, open_sites: Sequence[int], target_s: float | None) -> float:
    """The weighted share of demand within ``target_s`` of its nearest open site (NaN without a target, an open
    site or any weight)."""
    if target_s is None or not open_sites or weights.sum() == 0:
        return math.nan
    return float(weights[cost_s[:, list(open_sites)].min(axis=1) <= target_s].sum() / weights.sum())


# --- argument checks ------------------------------------------------------------------------------------------


def _check(model, cost_s, weights, p, target_s, fixed_open, fixed_closed, available) -> tuple[np.ndarray, np.ndarray]:
    """Validated float copies of the cost matrix and weights; every problem is quoted in one error. ``available``
    is (busy_fraction, alpha, max_units_per_site), checked for mexclp and malp only."""
    if model not in _MODELS:
        raise RescuesimError(f"siting model: unknown model {model!r}; choose from {', '.join(_MODELS)}")
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
    if model in AVAILABILITY_MODELS:
        problems += availability_problems(model, p, m - len(set(fixed_closed)), len(set(fixed_open)), *available)
    elif model != "lscp":
        usable = m - len(set(fixed_closed))
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or not 0 < p <= usable:
            problems.append(f"p must be a whole number between 1 and the {usable} sites that may open, got {p!r}")
        elif len(set(fixed_open)) > p:
            problems.append(f"{len(set(fixed_open))} sites are fixed open, more than p={p}")
    if model in ("lscp", "mclp", *AVAILABILITY_MODELS) and (target_s is None or not target_s > 0):
        problems.append(f"the {model} model needs a target time > 0 s, got {target_s!r}")
    if problems:
        raise RescuesimError(f"siting ({model}): " + "; ".join(problems))
    return cost_s, weights


def _result(model, cost_s, weights, unit_sites, objective, target_s, solve_s) -> SitingResult:
    """The result record: sorted open sites (``unit_sites`` repeats a site once per unit), nearest-site assignment
    and the share covered within the target."""
    columns = sorted(set(unit_sites))
    assignment = np.asarray(columns)[cost_s[:, columns].argmin(axis=1)]
    return SitingResult(
        model=model,
        open_sites=tuple(sorted(columns)),
        objective=objective,
        assignment=assignment,
        covered_share=covered_share(cost_s, weights, columns, target_s or None),
        solve_s=solve_s,
        optimal=True,
        unit_sites=tuple(sorted(unit_sites)),
    )
