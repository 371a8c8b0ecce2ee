"""How many worker processes to start when the user does not say: the cores this process may run on, at most 8."""

from __future__ import annotations

import os

MAX_DEFAULT_WORKERS = 8  # each worker holds its own copy of the world or of the road graphs


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one, else every core)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    return max(1, min(usable_cores(), MAX_DEFAULT_WORKERS))
