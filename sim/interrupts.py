"""Ctrl-C: held off for the moments that must not be cut (renames into place, forking workers), and worker
processes stopped at once when the parent is interrupted."""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold off Ctrl-C while a few steps run that must not be cut (renames that put complete results in place;
    forking workers, which would otherwise inherit Python's Ctrl-C handler): an interrupt that arrives meanwhile is
    raised once they are done (SIGINT only, main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[object] = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def ignore_interrupts() -> None:
    """In a worker process: leave Ctrl-C to the parent, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def kill_worker_processes() -> None:
    """Kill this process's worker processes now (on an error or Ctrl-C, rather than let them finish their tasks)."""
    for child in multiprocessing.active_children():
        child.kill()
    for child in multiprocessing.active_children():
        child.join(timeout=5)
