"""Waiting-line disciplines: the order in which incidents waiting for units are served when a unit comes free.

A discipline is a function from the waiting incidents (in the order they began to wait) to the order in which they
are offered a unit that has just come free; :data:`DISCIPLINES` holds them by the name a scenario's
``dispatch.queue`` gives. Adding one is a function and an entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class Waiting(Protocol):
    """What a discipline may read of a waiting incident."""

    index: int  # incidents are numbered in the order they are called in
    level: int
    call_at_s: float


def first_come_first_served(waiting: Sequence[Waiting]) -> list:
    """The incident that began to wait first is served first (FIFO)."""
    return list(waiting)


def level_then_age(waiting: Sequence[Waiting]) -> list:
    """The highest level first; among equal levels the oldest call first."""
    return sorted(waiting, key=lambda inc: (-inc.level, inc.call_at_s, inc.index))


DISCIPLINES: dict[str, Callable[[Sequence[Waiting]], list]] = {
    "fifo": first_come_first_served,
    "level_then_age": level_then_age,
}
