"""Work beside a command's main line: calls that run in one worker process while the caller goes on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

from sim._cores import usable_cores
from sim.interrupts import ignore_interrupts, interrupts_deferred, kill_worker_processes


@contextmanager
def aside() -> Iterator[Callable[..., None]]:
    """A ``submit(fn, *args)`` that runs each call in one worker process (forked at the first call; calls in
    submission order) while the caller goes on. On leaving, every call is done (the first error raised); on an error
    or Ctrl-C in the caller the worker is killed. With one usable core each call runs at once, in the caller."""
    if usable_cores() < 2:
        yield lambda fn, *args: fn(*args)
        return
    pool = ProcessPoolExecutor(max_workers=1, initializer=ignore_interrupts)
    pending: list[Future] = []

    def submit(fn: Callable[..., object], *args) -> None:
        with interrupts_deferred():  # the worker is forked at the first submit
            pending.append(pool.submit(fn, *args))

    try:
        yield submit
        for future in pending:
            future.result()
    except BaseException:  # an error or Ctrl-C: what the worker does is not kept, so it need not finish
        kill_worker_processes()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
