"""MCLP, rescuesim against PySAL spopt on the same OR-Library cost matrices, in one run.

    pip install -e ".[bench]"     # spopt and pulp: benchmark only, never a runtime dependency
    python bench/siting_vs_spopt.py DIR [NAMES...]

DIR holds the OR-Library p-median files (../shared/data/orlib-pmed); default instances pmed6, pmed11, pmed16. The
service radius is the 20th percentile of the finite costs; weights are 1; p is the instance's p. Prints one line per
(instance, solver): covered weight and wall seconds of the solve (matrix building excluded for rescuesim, model
building included for spopt, as a user would call it). spopt has no backup-cover MCLP, so the backup line is compared
with spopt's plain MCLP, which does less work. Numerical libraries on one thread.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy is imported

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sim.siting import read_orlib_pmed, solve_mclp  # noqa: E402


def spopt_mclp(cost: np.ndarray, p: int, radius: float, solver_name: str) -> tuple[float, float]:
    """Covered weight and seconds of spopt's MCLP with the named pulp solver ("cbc" or "highs")."""
    import pulp
    from spopt.locate import MCLP

    solver = pulp.PULP_CBC_CMD(msg=False) if solver_name == "cbc" else pulp.HiGHS(msg=False)
    t0 = time.perf_counter()
    model = MCLP.from_cost_matrix(cost, np.ones(len(cost)), service_radius=radius, p_facilities=p)
    model = model.solve(solver)
    seconds = time.perf_counter() - t0
    open_sites = [j for j, var in enumerate(model.fac_vars) if var.value() > 0.5]
    return float((cost[:, open_sites].min(axis=1) <= radius).sum()), seconds


def main() -> None:
    """Solve the named instances with both and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("names", nargs="*", default=["pmed6", "pmed11", "pmed16"])
    args = parser.parse_args()
    print(f"{'name':8s} {'solver':18s} {'covered':>8s} {'seconds':>8s}", flush=True)
    for name in args.names:
        cost, p = read_orlib_pmed(args.folder / f"{name}.txt")
        radius = float(np.percentile(cost[np.isfinite(cost)], 20))
        for backup in (False, True):
            t0 = time.perf_counter()
            result = solve_mclp(cost, np.ones(len(cost)), p, radius, backup=backup)
            label = "rescuesim+backup" if backup else "rescuesim"
            print(f"{name:8s} {label:18s} {result.objective:8.0f} {time.perf_counter() - t0:8.2f}", flush=True)
        for solver_name in ("cbc", "highs"):
            covered, seconds = spopt_mclp(cost, p, radius, solver_name)
            print(f"{name:8s} {'spopt+' + solver_name:18s} {covered:8.0f} {seconds:8.2f}", flush=True)


if __name__ == "__main__":
    main()
