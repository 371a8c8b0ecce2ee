"""The one MILP builder and HiGHS solve every model uses: a problem over site variables y (the first m columns) and
auxiliaries, site bounds from the fixed sites, the cardinality row, no-good cuts that exclude layouts, sparse blocks
for covering rows, and the solve to a zero gap (optionally from a warm start, returning the proven bound)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import LinearConstraint
from scipy.sparse import csr_array

from sim.errors import RescuesimError


@dataclass(frozen=True, eq=False)
class Problem:
    """A MILP over site variables y (first m columns) and auxiliaries."""

    c: np.ndarray
    constraints: list[LinearConstraint]
    integrality: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    m: int


def site_bounds(m: int, fixed_open: Sequence[int], fixed_closed: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the site variables: 1 <= y_j for fixed open, y_j <= 0 for fixed closed."""
    lower, upper = np.zeros(m), np.ones(m)
    lower[list(fixed_open)] = 1
    upper[list(fixed_closed)] = 0
    return lower, upper


def no_good_cuts(exclude: Sequence[Sequence[int]], total_vars: int, m: int) -> list[LinearConstraint]:
    """Forbid each layout S: sum_{j in S} (1 - y_j) + sum_{j not in S} y_j >= 1."""
    cuts = []
    for layout in exclude:
        row = np.zeros(total_vars)
        row[:m] = 1.0
        row[list(layout)] = -1.0
        cuts.append(LinearConstraint(row[None, :], 1 - len(layout), np.inf))
    return cuts


def solve_milp(problem: Problem, exclude: Sequence[Sequence[int]] = (), start: np.ndarray | None = None) -> np.ndarray:
    """Solve with HiGHS to a zero gap; ``start`` is a feasible solution to begin from (optional)."""
    return solve_milp_bounded(problem, exclude, start)[0]


def solve_milp_bounded(
    problem: Problem, exclude: Sequence[Sequence[int]] = (), start: np.ndarray | None = None, abs_gap: float = 1e-9
) -> tuple[np.ndarray, float]:
    """Solve with HiGHS until the incumbent is within ``abs_gap`` of the proven bound; return both."""
    import highspy

    h = _highs_model(problem, exclude)
    ints = np.flatnonzero(problem.integrality > 0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", abs_gap)
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


def solve_milp_within(problem: Problem, at_most: float) -> np.ndarray | None:
    """A solution of objective at most ``at_most``, or None when HiGHS proves there is none.

    HiGHS stops as soon as it holds such a solution or its proven bound exceeds ``at_most`` (a cut-off: the
    minimum itself is not sought), and prunes every node whose bound exceeds it.
    """
    import highspy

    h = _highs_model(problem, ())
    tolerance = 1e-6 * max(1.0, abs(at_most))
    h.setOptionValue("objective_bound", at_most + tolerance)

    found, proven_none = [], []  # the primal bound the callback sees is the cut-off itself until a solution exists
    h.cbMipImprovingSolution.subscribe(lambda event: found.append(event.data_out.objective_function_value))

    def stop_early(event) -> None:
        if event.data_out.mip_dual_bound > at_most + tolerance:
            proven_none.append(True)
            event.interrupt()
        elif found and min(found) <= at_most + tolerance:
            event.interrupt()

    h.cbMipInterrupt.subscribe(stop_early)
    h.run()
    x = np.asarray(h.getSolution().col_value)
    if h.getInfo().primal_solution_status == 2 and len(x) and float(problem.c @ x) <= at_most + tolerance:
        return x
    status = h.getModelStatus()
    if proven_none or status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kObjectiveBound):
        return None
    if h.getInfo().mip_dual_bound > at_most + tolerance or status == highspy.HighsModelStatus.kOptimal:
        return None
    raise RescuesimError(f"siting: HiGHS ended without a proof: {h.modelStatusToString(status)}")


def _highs_model(problem: Problem, exclude: Sequence[Sequence[int]]):
    """A quiet HiGHS instance holding ``problem`` and the no-good cuts of ``exclude``."""
    import highspy

    constraints = problem.constraints + no_good_cuts(exclude, len(problem.c), problem.m)
    h = quiet_highs()
    h.setOptionValue("output_flag", False)
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
    return h


def quiet_highs():
    """A HiGHS instance whose constructor's banner (printed by the C library to file descriptor 1) goes to stderr,
    so that stdout carries only rescuesim's own output."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def layout_of(x: np.ndarray, m: int) -> tuple[int, ...]:
    """The open sites of a solution vector."""
    return tuple(int(j) for j in np.flatnonzero(x[:m] > 0.5))


def cardinality(m: int, p: int, total_vars: int) -> LinearConstraint:
    """sum_j y_j = p."""
    row = np.zeros(total_vars)
    row[:m] = 1.0
    return LinearConstraint(row[None, :], p, p)


def eye(n: int, scale: float = 1.0) -> csr_array:
    """A sparse scaled identity."""
    return csr_array((np.full(n, scale), (np.arange(n), np.arange(n))), shape=(n, n))


def hstack_blocks(
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
