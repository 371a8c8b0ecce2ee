"""Reading Beasley's OR-Library p-median instances (``pmed1.txt`` .. ``pmed40.txt``), and their published optimal
p-center radii."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.sparse import csr_array

# Optimal vertex p-center radii of OR-Library pmed1..pmed40 (every vertex a demand point and a candidate; costs the
# shortest paths of read_orlib_pmed, an edge listed twice keeping its last cost). Source: the published optima as
# compiled from M.S. Daskin, "Network and Discrete Location" (Wiley 1995); S. Elloumi, M. Labbe and Y. Pochet, "A new
# formulation and resolution method for the p-center problem", INFORMS J Comput 16 (2004) 84-94; W. Pullan, "A
# memetic genetic algorithm for the vertex p-center problem", Evolutionary Computation 16 (2008) 417-436. The
# papers could not be re-read here (no network); every one of the 40 values is confirmed by our exact solver, which
# proves it (a layout of that radius and a proof that the next smaller cost is infeasible), with two independent
# feasibility tests: the exact-p covering MILP of the first version and the reduced set-covering test of today
# (bench/orlib_pcenter.py prints the check).
PCENTER_OPTIMA = {
    "pmed1": 127, "pmed2": 98, "pmed3": 93, "pmed4": 74, "pmed5": 48,
    "pmed6": 84, "pmed7": 64, "pmed8": 55, "pmed9": 37, "pmed10": 20,
    "pmed11": 59, "pmed12": 51, "pmed13": 36, "pmed14": 26, "pmed15": 18,
    "pmed16": 47, "pmed17": 39, "pmed18": 28, "pmed19": 18, "pmed20": 13,
    "pmed21": 40, "pmed22": 38, "pmed23": 22, "pmed24": 15, "pmed25": 11,
    "pmed26": 38, "pmed27": 32, "pmed28": 18, "pmed29": 13, "pmed30": 9,
    "pmed31": 30, "pmed32": 29, "pmed33": 15, "pmed34": 11, "pmed35": 30,
    "pmed36": 27, "pmed37": 15, "pmed38": 29, "pmed39": 23, "pmed40": 13,
}  # fmt: skip


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
