"""Array helpers for tables derived from grouped rows (a log sorted by unit, dispatches sorted by incident)."""

from __future__ import annotations

import numpy as np


def run_starts(keys: np.ndarray) -> np.ndarray:
    """True where a row's key differs from the row before: the first row of each run of equal keys."""
    return np.r_[True, keys[1:] != keys[:-1]][: len(keys)]


def run_ends(keys: np.ndarray) -> np.ndarray:
    """True where a row's key differs from the row after: the last row of each run of equal keys."""
    return np.r_[keys[1:] != keys[:-1], True][: len(keys)]
