"""OR-Library p-center benchmark: solve each pmed instance as a p-center and compare with its published optimum.

    python bench/orlib_pcenter.py DIR [NAMES...]

DIR holds pmed1.txt .. pmed40.txt (../shared/data/orlib-pmed); the cost matrix is the all-pairs shortest paths of
the instance graph, as for the p-median (``read_orlib_pmed``), every vertex a demand point and a candidate. Prints
one line per instance: ``name n p optimum radius seconds`` and a closing count. ``seconds`` is the wall time of
``solve(..., model="pcenter")`` (reading the file and the shortest paths excluded); numerical libraries are kept to
one thread.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy is imported

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from sim.siting import read_orlib_pmed, solve  # noqa: E402
from sim.siting.orlib import PCENTER_OPTIMA  # noqa: E402


def main() -> None:
    """Solve the named instances and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("names", nargs="*", default=[f"pmed{k}" for k in range(1, 41)])
    args = parser.parse_args()
    print(f"{'name':8s} {'n':>4s} {'p':>4s} {'optimum':>8s} {'radius':>8s} {'seconds':>8s}", flush=True)
    reached, total_s = 0, 0.0
    for name in args.names:
        cost, p = read_orlib_pmed(args.folder / f"{name}.txt")
        t0 = time.perf_counter()
        result = solve("pcenter", cost, None, p=p)
        seconds = time.perf_counter() - t0
        total_s += seconds
        ok = abs(result.objective - PCENTER_OPTIMA[name]) < 0.5
        reached += ok
        print(
            f"{name:8s} {len(cost):4d} {p:4d} {PCENTER_OPTIMA[name]:8d} {result.objective:8.0f} {seconds:8.2f}"
            f"{'' if ok else '  MISSED'}",
            flush=True,
        )
    print(f"{reached} of {len(args.names)} instances reached their published optimum; {total_s:.1f} s in all")


if __name__ == "__main__":
    main()
