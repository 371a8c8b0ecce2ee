"""Run boundaries of grouped keys."""

import numpy as np

from sim._arrays import run_ends, run_starts


def test_run_boundaries():
    keys = np.array([3, 3, 5, 7, 7, 7])
    assert run_starts(keys).tolist() == [True, False, True, True, False, False]
    assert run_ends(keys).tolist() == [False, True, True, False, False, True]


def test_one_row_and_no_rows():
    assert run_starts(np.array([4])).tolist() == run_ends(np.array([4])).tolist() == [True]
    empty = np.array([], dtype=np.int64)
    assert len(run_starts(empty)) == len(run_ends(empty)) == 0  # no phantom row
