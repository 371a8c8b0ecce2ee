"""Availability-aware covering models, where a unit may be busy when a call comes and a site may hold several units:
MEXCLP (Daskin 1983, the expected covered weight when each unit is busy with probability q independently) and MALP
(ReVelle & Hogan 1989, the weight covered by at least b_i units, b_i the fewest units that are all busy with
probability at most 1 - alpha; MALP I with one system-wide q, MALP II with a local busy fraction), and the busy
fraction of units estimated from a simulation's unit table.

A layout is a multiset of sites, one entry per unit (``unit_sites``); the MILPs have a binary open variable o_j per
site (the first m columns, so fixed sites and no-good cuts act on open sets) and an integer unit count x_j with
o_j <= x_j <= cap o_j and sum_j x_j = p. See docs/siting.md."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import LinearConstraint
from scipy.sparse import csr_array, hstack

from sim.siting.covering import distinct_cover_rows
from sim.siting.milp import Problem, eye, site_bounds, solve_milp

_TOL = 1e-12  # 1 - q^b >= alpha is tested with this slack, so that 1 - 0.5^2 >= 0.75 holds in floating point


# --- objectives of a given layout ------------------------------------------------------------------------------


def units_within(cost_s: np.ndarray, unit_sites: Sequence[int], target_s: float) -> np.ndarray:
    """Per demand point, the number of units (entries of ``unit_sites``) within ``target_s``."""
    counts = np.bincount(np.asarray(unit_sites, dtype=int), minlength=cost_s.shape[1])
    return (cost_s <= target_s).astype(int) @ counts


def mexclp_value(
    cost_s: np.ndarray, weights: np.ndarray, unit_sites: Sequence[int], target_s: float, busy_fraction: float
) -> float:
    """Expected covered weight sum_i w_i (1 - q^c_i), c_i the units within ``target_s`` of demand point i."""
    return float(weights @ (1.0 - busy_fraction ** units_within(cost_s, unit_sites, target_s)))


def malp_value(
    cost_s: np.ndarray,
    weights: np.ndarray,
    unit_sites: Sequence[int],
    target_s: float,
    busy_fraction: float,
    alpha: float,
    p: int,
    local_busy: bool = False,
) -> float:
    """Weight of the demand points with at least b_i units within ``target_s`` (:func:`malp_required_units`)."""
    need = malp_required_units(cost_s <= target_s, weights, busy_fraction, alpha, p, local_busy)
    return float(weights[units_within(cost_s, unit_sites, target_s) >= need].sum())


def malp_required_units(
    cover: np.ndarray, weights: np.ndarray, busy_fraction: float, alpha: float, p: int, local_busy: bool = False
) -> np.ndarray:
    """Per demand point, b_i: the least integer b >= 1 with 1 - q_i^b >= alpha (capped at p + 1, unreachable).

    MALP I: q_i = q for all i. MALP II (``local_busy``): the system's workload q p (in busy units) is spread over
    demand by weight, and the demand k sharing a covering site with i (N_k and N_i meet) loads the units near i:
    rho_i = q p W(M_i) / W, q_i = rho_i / b, so b_i is the least b with 1 - (rho_i / b)^b >= alpha.
    """
    n = cover.shape[0]
    if local_busy:
        rows, inverse = np.unique(cover, axis=0, return_inverse=True)  # points with the same N_i share M_i
        c = csr_array(rows.astype(float))
        row_weight = np.bincount(inverse.ravel(), weights=weights, minlength=len(rows))
        share = (((c @ c.T) > 0).astype(float) @ row_weight)[inverse.ravel()]
        rho = busy_fraction * p * share / max(float(weights.sum()), np.finfo(float).tiny)
    need = np.full(n, p + 1)
    for b in range(p, 0, -1):  # downwards, so that the least b that satisfies the test is kept
        q = np.minimum(rho / b, 1.0) if local_busy else np.full(n, busy_fraction)
        need[1.0 - q**b >= alpha - _TOL] = b
    return need


# --- MILPs ------------------------------------------------------------------------------------------------------


def mexclp_layout(
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int,
    target_s: float,
    busy_fraction: float,
    max_units_per_site: int | None,
    fixed_open: Sequence[int],
    fixed_closed: Sequence[int],
    exclude: Sequence[Sequence[int]],
) -> tuple[tuple[int, ...], float]:
    """MEXCLP: the p unit sites of most expected covered weight, and that weight.

    For each (merged) demand row r and k = 1..K_r (K_r the most units that can cover it), continuous y_rk in [0, 1]
    with sum_k y_rk <= sum_{j covers r} x_j; y_rk earns w_r (1 - q) q^(k-1). The earnings fall with k, so the LP
    fills the first c_r levels for c_r covering units: the integrality of x is enough.
    """
    m = cost_s.shape[1]
    cap = _cap(p, max_units_per_site)
    rows, w = distinct_cover_rows(cost_s <= target_s, weights)
    depth = np.minimum(p, cap * rows.sum(axis=1)).astype(int)
    level = np.concatenate([np.arange(d) for d in depth]) if len(depth) else np.zeros(0, int)
    owner = np.repeat(np.arange(len(depth)), depth)
    gain = w[owner] * (1.0 - busy_fraction) * busy_fraction**level
    levels = csr_array((np.ones(len(owner)), (owner, np.arange(len(owner)))), shape=(len(depth), len(owner)))
    problem = _unit_problem(rows, levels, gain, np.zeros(len(owner)), p, cap, fixed_open, fixed_closed)
    unit_sites = _unit_sites(solve_milp(problem, exclude), m)
    return unit_sites, mexclp_value(cost_s, weights, unit_sites, target_s, busy_fraction)


def malp_layout(
    cost_s: np.ndarray,
    weights: np.ndarray,
    p: int,
    target_s: float,
    busy_fraction: float,
    alpha: float,
    max_units_per_site: int | None,
    local_busy: bool,
    fixed_open: Sequence[int],
    fixed_closed: Sequence[int],
    exclude: Sequence[Sequence[int]],
) -> tuple[tuple[int, ...], float]:
    """MALP I (or II with ``local_busy``): the p unit sites covering the most weight with at least b_i units.

    Binary z_r per merged demand row (same covering sites and b) with b_r z_r <= sum_{j covers r} x_j; z must be
    integral, since a continuous one would credit c_r / b_r of the weight of a row covered by c_r < b_r units.
    """
    m = cost_s.shape[1]
    cap = _cap(p, max_units_per_site)
    cover = cost_s <= target_s
    need = malp_required_units(cover, weights, busy_fraction, alpha, p, local_busy)
    reachable = need <= cap * cover.sum(axis=1)  # also drops b_i = p + 1 (more than p units) and uncovered rows
    keyed = np.column_stack([cover, need]).astype(int)
    merged, w = distinct_cover_rows(keyed, np.where(reachable, weights, 0.0))
    rows, b = merged[:, :m].astype(bool), merged[:, m].astype(float)
    problem = _unit_problem(rows, _diag(b), w, np.ones(len(b)), p, cap, fixed_open, fixed_closed)
    unit_sites = _unit_sites(solve_milp(problem, exclude), m)
    return unit_sites, malp_value(cost_s, weights, unit_sites, target_s, busy_fraction, alpha, p, local_busy)


def _unit_problem(
    rows: np.ndarray,
    levels: csr_array,
    gain: np.ndarray,
    integral: np.ndarray,
    p: int,
    cap: int,
    fixed_open: Sequence[int],
    fixed_closed: Sequence[int],
) -> Problem:
    """Columns [o (m, binary) | x (m, integer 0..cap) | a (auxiliaries)], maximising gain @ a subject to
    o_j <= x_j <= cap o_j, sum_j x_j = p and levels @ a <= rows @ x (one row per demand row)."""
    n_rows, m = rows.shape
    n_aux = len(gain)
    lower_o, upper_o = site_bounds(m, fixed_open, fixed_closed)
    zeros_aux = csr_array((m, n_aux))
    constraints = [
        LinearConstraint(csr_array(hstack([-eye(m), eye(m), zeros_aux])), 0, np.inf),  # x_j >= o_j
        LinearConstraint(csr_array(hstack([eye(m, scale=cap), -eye(m), zeros_aux])), 0, np.inf),  # x_j <= cap o_j
        LinearConstraint(np.concatenate([np.zeros(m), np.ones(m), np.zeros(n_aux)])[None, :], p, p),
    ]
    if n_rows:
        block = csr_array(hstack([csr_array((n_rows, m)), -csr_array(rows.astype(float)), levels]))
        constraints.append(LinearConstraint(block, -np.inf, 0))
    return Problem(
        c=np.concatenate([np.zeros(2 * m), -gain]),
        constraints=constraints,
        integrality=np.concatenate([np.ones(2 * m), integral]),
        lower=np.concatenate([lower_o, np.zeros(m + n_aux)]),
        upper=np.concatenate([upper_o, cap * upper_o, np.ones(n_aux)]),
        m=m,
    )


def _diag(values: np.ndarray) -> csr_array:
    n = len(values)
    return csr_array((values, (np.arange(n), np.arange(n))), shape=(n, n))


def _cap(p: int, max_units_per_site: int | None) -> int:
    return p if max_units_per_site is None else min(int(max_units_per_site), p)


def _unit_sites(x: np.ndarray, m: int) -> tuple[int, ...]:
    """The site of each unit (sorted, a site repeated once per unit it holds) from a solution vector."""
    counts = np.rint(x[m : 2 * m]).astype(int)
    return tuple(int(j) for j in np.repeat(np.arange(m), counts))


# --- argument checks --------------------------------------------------------------------------------------------


def availability_problems(
    model: str,
    p: object,
    usable_sites: int,
    n_fixed_open: int,
    busy_fraction: object,
    alpha: object,
    max_units_per_site: object,
) -> list[str]:
    """What is wrong with the arguments of mexclp or malp (empty when nothing)."""
    problems = []
    cap_ok = max_units_per_site is None or (
        isinstance(max_units_per_site, int | np.integer)
        and not isinstance(max_units_per_site, bool)
        and max_units_per_site >= 1
    )
    if not cap_ok:
        problems.append(f"max_units_per_site must be a whole number >= 1 or None, got {max_units_per_site!r}")
    if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 1:
        problems.append(f"p (units) must be a whole number >= 1, got {p!r}")
    elif cap_ok:
        room = usable_sites * _cap(int(p), max_units_per_site)
        if p > room:
            problems.append(f"p={p} units do not fit: {usable_sites} sites may open, {room} units at most")
        elif n_fixed_open > p:
            problems.append(f"{n_fixed_open} sites are fixed open, more than p={p} units")
    if not _fraction(busy_fraction):
        problems.append(f"busy_fraction must be a number in (0, 1), got {busy_fraction!r}")
    if model == "malp" and not _fraction(alpha):
        problems.append(f"alpha (reliability) must be a number in (0, 1), got {alpha!r}")
    return problems


def _fraction(value: object) -> bool:
    return isinstance(value, float | int | np.floating) and not isinstance(value, bool) and 0 < value < 1


# --- busy fraction from a simulation ------------------------------------------------------------------------------


def busy_fraction_from(
    units: pd.DataFrame, *, unit_type: str | Sequence[str] | None = None, include_drills: bool = False
) -> float:
    """The share of unit time spent busy, over all rows (unit and replication) of a simulation's unit table.

    ``units`` is ``SimResult.units`` (or the units table of a results folder): per unit and replication the time
    in each status. Busy means on a call (mobilising, en route, on scene, returning), as the table's
    ``utilisation``; with ``include_drills`` off-site drills (out of service) count too. ``unit_type`` keeps only
    those unit types. Time-weighted: sum of busy time / sum of time, so every replication counts by its length.
    """
    from sim.forces import UnitStatus
    from sim.metrics import BUSY  # imported here: sim.metrics brings in the whole model

    if unit_type is not None:
        units = units[units["unit_type"].isin([unit_type] if isinstance(unit_type, str) else list(unit_type))]
    busy = [*BUSY, UnitStatus.DRILL_OFF_SITE] if include_drills else list(BUSY)
    present = [f"{s.name.lower()}_s" for s in UnitStatus if f"{s.name.lower()}_s" in units.columns]  # older tables
    total_s = units[present].to_numpy(float).sum()
    busy_s = units[[f"{s.name.lower()}_s" for s in busy]].to_numpy(float).sum()
    return float(busy_s / total_s) if total_s > 0 else float("nan")
