"""Reading Beasley's OR-Library p-median instances (``pmed1.txt`` .. ``pmed40.txt``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.sparse import csr_array


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
