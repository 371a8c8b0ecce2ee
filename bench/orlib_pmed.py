"""OR-Library p-median benchmark: solve each instance exactly and compare with its proven optimum.

    python bench/orlib_pmed.py DIR [NAMES...]

DIR holds pmed1.txt .. pmed40.txt and pmedopt.txt (../shared/data/orlib-pmed). Prints one line per instance:
``name n p optimum objective seconds`` and a closing count. ``seconds`` is the wall time of ``solve_pmedian``
(reading the file and the all-pairs shortest paths excluded); numerical libraries are kept to one thread.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy is imported

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sim.siting import read_orlib_pmed, solve_pmedian  # noqa: E402


def optima(folder: Path) -> dict[str, float]:
    """Proven optima by instance name, from ``pmedopt.txt``."""
    values = {}
    for line in (folder / "pmedopt.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("pmed"):
            values[parts[0]] = float(parts[1])
    return values


def main() -> None:
    """Solve the named instances and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("names", nargs="*", default=[f"pmed{k}" for k in range(1, 41)])
    args = parser.parse_args()
    best = optima(args.folder)
    print(f"{'name':8s} {'n':>4s} {'p':>4s} {'optimum':>8s} {'objective':>9s} {'seconds':>8s}", flush=True)
    reached = 0
    for name in args.names:
        cost, p = read_orlib_pmed(args.folder / f"{name}.txt")
        t0 = time.perf_counter()
        result = solve_pmedian(cost, np.ones(len(cost)), p)
        seconds = time.perf_counter() - t0
        ok = abs(result.objective - best[name]) < 0.5
        reached += ok
        print(
            f"{name:8s} {len(cost):4d} {p:4d} {best[name]:8.0f} {result.objective:9.0f} {seconds:8.2f}"
            f"{'' if ok else '  MISSED'}",
            flush=True,
        )
    print(f"{reached} of {len(args.names)} instances reached their proven optimum")


if __name__ == "__main__":
    main()
