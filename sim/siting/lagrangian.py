"""Lagrangian relaxation of the p-median's assignment rows (Beasley 1993): the subgradient bound, fixing sites by
the bound test, and the depth-first Lagrangian branch and bound that proves small-p instances optimal."""

from __future__ import annotations

from collections.abc import Sequence, Set

import numpy as np

NEAR_WIDTH = 64  # cheapest sites per client kept for the sparse Lagrangian sums


def nearest_costs(wd: np.ndarray, width: int = NEAR_WIDTH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each client's ``width`` cheapest weighted costs (in no order), their sites, and the largest of them (every
    other cost of the client is at least that edge; inf when all sites are kept)."""
    n, m = wd.shape
    if m <= width:
        return wd, np.broadcast_to(np.arange(m), (n, m)), np.full(n, np.inf)
    sites = np.argpartition(wd, width - 1, axis=1)[:, :width]
    near = np.take_along_axis(wd, sites, axis=1)
    return near, sites, near.max(axis=1)


class ReducedCosts:
    """The Lagrangian reduced costs min(w_i d_ij - lam_i, 0) over the columns ``cols`` of ``wd``.

    A client whose lam_i is at most its edge (:func:`nearest_costs`) can have a negative reduced cost only at its
    cheapest sites, so with many columns its sums run over those (exact, and far fewer than all sites); any other
    client's, and every client's when the columns are few, run over its dense row.
    """

    def __init__(self, wd: np.ndarray, nearest: tuple[np.ndarray, np.ndarray, np.ndarray], cols: np.ndarray):
        near, sites, self.edge = nearest
        self.wd, self.cols = wd, cols
        self.sparse = len(cols) > 2 * near.shape[1]
        if not self.sparse:
            self.dense = wd[:, cols]
            return
        position = np.full(wd.shape[1], -1)
        position[cols] = np.arange(len(cols))
        at = position[sites]
        self.near = np.where(at >= 0, near, np.inf)  # sites outside ``cols`` add nothing
        self.at = np.maximum(at, 0)
        self.rows = np.zeros(0, dtype=int)  # clients summed densely at the last :meth:`rho`

    def rho(self, lam: np.ndarray) -> np.ndarray:
        """Each column's sum of reduced costs at ``lam``."""
        if not self.sparse:
            self.reduced = np.minimum(self.dense - lam[:, None], 0.0)
            return self.reduced.sum(axis=0)
        self.reduced = np.minimum(self.near - lam[:, None], 0.0)
        self.rows = np.flatnonzero(lam > self.edge)
        self.reduced[self.rows] = 0.0
        rho = np.bincount(self.at.ravel(), weights=self.reduced.ravel(), minlength=len(self.cols))
        if len(self.rows):
            self.reduced_rows = np.minimum(self.wd[np.ix_(self.rows, self.cols)] - lam[self.rows, None], 0.0)
            rho += self.reduced_rows.sum(axis=0)
        return rho

    def served(self, chosen: np.ndarray) -> np.ndarray:
        """Per client, how many of the columns ``chosen`` had a negative reduced cost at the last :meth:`rho`."""
        if not self.sparse:
            return (self.reduced[:, chosen] < 0).sum(axis=1)
        mask = np.zeros(len(self.cols), bool)
        mask[chosen] = True
        count = ((self.reduced < 0) & mask[self.at]).sum(axis=1)
        if len(self.rows):
            count[self.rows] = (self.reduced_rows[:, chosen] < 0).sum(axis=1)
        return count


def lagrangian_fixing(
    cost: np.ndarray,
    w: np.ndarray,
    p: int,
    opened: set[int],
    closed: set[int],
    upper_bound: float,
    slack: float,
    iterations: int = 3000,
) -> tuple[float, set[int], set[int], np.ndarray]:
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
    costs = ReducedCosts(wd, nearest_costs(wd), np.arange(m))
    for _ in range(iterations):
        rho = costs.rho(lam)
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
        gradient = 1.0 - costs.served(chosen)
        norm = float(gradient @ gradient)
        if norm == 0:
            break
        lam = lam + step * (upper_bound - bound) / norm * gradient
    bound, rho, lam = best
    free = np.flatnonzero(~(forced | banned))
    to_open, to_close = _fix_by_bound(bound, rho[free], k, upper_bound, slack)
    return bound, {int(j) for j in free[to_open]}, {int(j) for j in free[to_close]}, lam


def lagrangian_branch(
    cost: np.ndarray,
    w: np.ndarray,
    p: int,
    opened: Sequence[int],
    closed: Sequence[int],
    incumbent: Sequence[int],
    slack: float,
    lam: np.ndarray,
    budget: int,
    excluded: Set[tuple[int, ...]] = frozenset(),
) -> tuple[tuple[int, ...], float] | None:
    """Depth-first branch and bound on the sites with Lagrangian bounds; None when ``budget`` iterations run out.

    Each node runs a short subgradient optimisation from its parent's multipliers, tries the layout of the
    Lagrangian solution, fixes sites by the bound test of :func:`_fix_by_bound` (repeating while that fixes any),
    and branches on the open-in-the-relaxation free site with the most negative reduced cost (open child first).
    Layouts in ``excluded`` never become the incumbent (the bounds stay valid: they ignore the exclusion).
    """
    n, m = cost.shape
    wd = w[:, None] * cost
    nearest = nearest_costs(np.where(np.isin(np.arange(m), closed), np.inf, wd))  # among the sites not closed
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
            bound, lam, rho, chosen, spent = _subgradient(
                ReducedCosts(wd, nearest, cols), p, len(forced), lam, best_value, slack
            )
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
    costs: ReducedCosts, p: int, n_forced: int, lam: np.ndarray, upper_bound: float, slack: float
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, int]:
    """A short subgradient run (Polyak steps towards ``upper_bound``) on the columns of ``costs``.

    The first ``n_forced`` columns are open. Returns the best bound, its multipliers, the sites' reduced costs, the
    open columns of the Lagrangian solution, and the iterations used.
    """
    k = p - n_forced
    step, stall = 2.0, 0
    best = (-np.inf, lam, None, None)
    spent = 0
    for _ in range(80):
        spent += 1
        rho = costs.rho(lam)
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
        gradient = 1.0 - costs.served(chosen)
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
