"""One progress display for a whole command: its stages (road network, shortest paths, replications, tables and
figures, report) share one bar, each stage a fixed share of it, so a planner sees how far the whole run is and
which step it is in. Silent with ``--quiet`` or when the console is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TextIO

RUN_STAGES = (  # (stage, share of the bar): rough shares of the demo run's wall time
    ("road network", 5),
    ("shortest paths", 10),
    ("replications", 35),
    ("tables and figures", 20),
    ("report", 30),
)


class StageProgress:
    """A bar over named stages; :meth:`stage` enters one, :meth:`part` is a ``progress(done, total)`` callback for
    the stage's own steps. ``stream=None`` (quiet) draws nothing; the bar is redrawn at most every ``redraw_s``."""

    def __init__(self, stages: Sequence[tuple[str, float]], stream: TextIO | None, *, redraw_s: float = 0.1) -> None:
        self._start: dict[str, float] = {}
        self._share: dict[str, float] = {}
        total = float(sum(share for _, share in stages))
        at = 0.0
        for name, share in stages:
            self._start[name], self._share[name] = 100.0 * at / total, 100.0 * share / total
            at += share
        self._current: str | None = None
        self._bar = None
        if stream is not None:
            from tqdm import tqdm

            fmt = "{desc:<20} {percentage:3.0f}%|{bar}| {elapsed}"
            self._bar = tqdm(total=100.0, file=stream, bar_format=fmt, leave=False, mininterval=redraw_s)

    def stage(self, name: str) -> None:
        """Enter a stage (the bar moves to its start)."""
        self._current = name
        self._move(self._start[name], name)

    def part(self, done: int, total: int) -> None:
        """``done`` of ``total`` steps of the current stage are done."""
        if self._current is not None and total > 0:
            share = self._share[self._current] * min(done, total) / total
            self._move(self._start[self._current] + share, f"{self._current} {done}/{total}")

    def write(self, text: str) -> None:
        """Print a line to stdout without breaking the bar (it is cleared and drawn again below)."""
        if self._bar is None:
            print(text)
        else:
            self._bar.write(text, file=sys.stdout)

    def close(self) -> None:
        if self._bar is not None:
            self._move(100.0, "done")
            self._bar.close()

    def _move(self, to: float, desc: str) -> None:
        if self._bar is None:
            return
        self._bar.set_description_str(desc, refresh=False)
        self._bar.update(max(to - self._bar.n, 0.0))


def run_progress(quiet: bool, stream: TextIO | None = None) -> StageProgress:
    """The progress display of a command: drawn on ``stream`` (default stderr) if it is a terminal and not quiet."""
    stream = sys.stderr if stream is None else stream
    drawn = not quiet and stream.isatty()
    return StageProgress(RUN_STAGES, stream if drawn else None)


ProgressCallback = Callable[[int, int], None]
