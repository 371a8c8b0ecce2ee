"""Exact facility-location models on a cost matrix, solved to proven optimality (HiGHS through ``highspy``), and
the siting inputs built from a scenario.

Inputs are ``cost_s`` (n_demand x n_sites; travel time from each candidate site to each demand point, ``inf`` when
unreachable), demand ``weights`` and site indices fixed open or closed. Models:

- **LSCP** (set covering): fewest sites so every demand with weight > 0 is within ``target_s``.
- **MCLP** (maximal covering): most weighted demand within ``target_s`` with exactly ``p`` sites; with
  ``backup=True`` the covered weight is maximised first and then, holding it, the weight covered by two sites
  (lexicographic: two solves).
- **p-median**: least weighted sum of time to the nearest open site (interchange heuristic, Lagrangian bound and
  fixing, then a Lagrangian branch and bound or the radius formulation of Elloumi 2010 in HiGHS).
- **p-center**: least worst time, by bisection over the distinct costs with a covering feasibility problem.
- **MEXCLP** and **MALP** (I and II) (:data:`AVAILABILITY_MODELS`): p units, several per site allowed, each busy
  with a probability; most expected covered weight, or most weight covered by enough units to find one free with
  probability alpha. ``SitingResult.unit_sites`` gives the site of each unit.

Modules, by concern:

- :mod:`~sim.siting.solver`: ``solve``, ``top_layouts`` (the k best distinct layouts, by no-good cuts),
  ``evaluate`` (a model's objective for a given layout), ``covered_share``, ``SitingResult``, ``SITING_MODELS``
  and the argument checks; re-exported here.
- :mod:`~sim.siting.milp`: the one MILP builder and HiGHS solve every model uses.
- :mod:`~sim.siting.covering` (LSCP, MCLP with backup, the shared reachability check),
  :mod:`~sim.siting.pmedian` (interchange, the radius model, the exact p-median),
  :mod:`~sim.siting.lagrangian` (Lagrangian bound, fixing and branch and bound), :mod:`~sim.siting.pcenter`,
  :mod:`~sim.siting.expected` (MEXCLP, MALP and ``busy_fraction_from``, the busy fraction of a simulation).
- :mod:`~sim.siting.orlib`: the OR-Library p-median reader.
- :mod:`~sim.siting.candidates`: candidate sites, demand weights and the cost matrix from a scenario, and a layout
  turned back into a scenario (imported from there: it needs the scenario and the road network).

See docs/siting.md.
"""

from sim.siting.expected import busy_fraction_from
from sim.siting.orlib import read_orlib_pmed
from sim.siting.pmedian import interchange
from sim.siting.solver import (
    AVAILABILITY_MODELS,
    SITING_MODELS,
    SitingResult,
    covered_share,
    evaluate,
    solve,
    solve_lscp,
    solve_malp,
    solve_mclp,
    solve_mexclp,
    solve_pcenter,
    solve_pmedian,
    top_layouts,
)

__all__ = [
    "AVAILABILITY_MODELS",
    "SITING_MODELS",
    "SitingResult",
    "busy_fraction_from",
    "covered_share",
    "evaluate",
    "interchange",
    "read_orlib_pmed",
    "solve",
    "solve_lscp",
    "solve_malp",
    "solve_mclp",
    "solve_mexclp",
    "solve_pcenter",
    "solve_pmedian",
    "top_layouts",
]
