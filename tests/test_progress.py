"""One progress display for a whole run: stages share the bar in order; silent when quiet or not on a terminal."""

from __future__ import annotations

import io

from sim.progress import RUN_STAGES, StageProgress, run_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stages_move_the_bar_forward_through_their_shares():
    stream = _Terminal()
    progress = StageProgress(RUN_STAGES, stream, redraw_s=0.0)
    seen = []
    for name, _ in RUN_STAGES:
        progress.stage(name)
        for done in range(1, 4):
            progress.part(done, 3)
            seen.append(progress._bar.n)
    progress.close()
    assert seen == sorted(seen) and abs(seen[-1] - 100.0) < 1e-9  # never backwards; the last stage ends at 100%
    text = stream.getvalue()
    positions = [text.index(name) for name, _ in RUN_STAGES]
    assert positions == sorted(positions) and "replications 2/3" in text


def test_quiet_or_not_a_terminal_draws_nothing():
    for quiet, stream in ((True, _Terminal()), (False, io.StringIO())):
        progress = run_progress(quiet, stream)
        progress.stage("replications")
        progress.part(1, 2)
        progress.close()
        assert stream.getvalue() == ""
