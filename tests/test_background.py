"""sim.background.aside: calls made in a worker process while the caller goes on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sim.background import aside


def _write_pid(path: Path) -> None:
    path.write_text(str(os.getpid()))


def _fail(message: str) -> None:
    raise ValueError(message)


def test_every_call_is_done_on_leaving_and_runs_beside_the_caller(tmp_path):
    paths = [tmp_path / f"{k}.txt" for k in range(3)]
    with aside() as submit:
        for path in paths:
            submit(_write_pid, path)
    pids = {path.read_text() for path in paths}
    assert len(pids) == 1  # one worker, every call in it
    if len(os.sched_getaffinity(0)) > 1:
        assert pids != {str(os.getpid())}


def test_a_failing_call_raises_its_error_in_the_caller(tmp_path):
    with pytest.raises(ValueError, match="no good"):
        with aside() as submit:
            submit(_fail, "no good")
            submit(_write_pid, tmp_path / "after.txt")


def test_an_error_in_the_caller_is_raised_as_it_is():
    with pytest.raises(KeyError):
        with aside() as submit:
            submit(_write_pid, Path(os.devnull))
            raise KeyError("caller")
