"""A real Dask cluster on loopback for fault tests: scheduler and workers as subprocesses, and a scheduler plugin
that injects a fault at a chosen moment of a run (imported by the scheduler, so it needs only distributed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from distributed.diagnostics.plugin import SchedulerPlugin

PROJECT_DIR = Path(__file__).resolve().parents[1]
TASK_PREFIX = "run_block"  # the name of the function rescuesim maps over blocks of replications
STARTUP_TIMEOUT_S = 30.0


class FaultAtFirstBlock(SchedulerPlugin):
    """Inject a fault the first time a block of replications finishes (for one worker: while another still runs one).

    ``target="worker"``: SIGKILL that other worker (its running block and any results it holds are lost and must be
    rescheduled); ``"all workers"``: SIGKILL every worker; ``"scheduler"``: SIGKILL the scheduler itself. The plugin
    records what it did in ``record`` and, per block task, the workers that finished it (``finished_on``).
    """

    name = "rescuesim-fault"

    def __init__(self, target: str) -> None:
        if target not in ("worker", "all workers", "scheduler"):
            raise ValueError(f"target must be 'worker', 'all workers' or 'scheduler', got {target!r}")
        self.target = target
        self.record: dict | None = None
        self.finished_on: dict[str, list[str]] = {}

    async def start(self, scheduler) -> None:
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish != "memory" or not str(key).startswith(TASK_PREFIX):
            return
        ts = self.scheduler.tasks[key]
        finisher = next(iter(ts.who_has)).address
        self.finished_on.setdefault(str(key), []).append(finisher)
        if self.record is not None:
            return
        if self.target == "scheduler":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.target == "all workers":
            self.record = {"victims": [ws.address for ws in self.scheduler.workers.values()]}
            for ws in list(self.scheduler.workers.values()):
                os.kill(ws.pid, signal.SIGKILL)
            return
        for ws in self.scheduler.workers.values():
            running = [str(t.key) for t in ws.processing if str(t.key).startswith(TASK_PREFIX)]
            if ws.address != finisher and running:
                held = [str(t.key) for t in ws.has_what if str(t.key).startswith(TASK_PREFIX)]
                self.record = {"victim": ws.address, "pid": ws.pid, "running": running, "held": held}
                os.kill(ws.pid, signal.SIGKILL)
                return


@dataclass
class LoopbackCluster:
    """``dask scheduler`` and ``dask worker`` subprocesses on 127.0.0.1 (no nanny: a killed worker stays dead)."""

    folder: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    workers: list[subprocess.Popen] = field(default_factory=list)
    address: str = ""

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))
        }
        with open(self.folder / log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def start(self, n_workers: int) -> LoopbackCluster:
        """Start the scheduler and ``n_workers`` single-threaded workers; return once the scheduler sees them all."""
        from distributed import Client

        scheduler_file = self.folder / "scheduler.json"
        self._spawn(
            [
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            "scheduler.log",
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not scheduler_file.is_file() or not scheduler_file.read_text().strip():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scheduler did not start within {STARTUP_TIMEOUT_S:g} s:\n{self.logs()}")
            time.sleep(0.05)
        self.address = json.loads(scheduler_file.read_text())["address"]
        assert self.address.startswith("tcp://127.0.0.1:"), self.address
        for i in range(n_workers):
            self.workers.append(
                self._spawn(
                    [
                        "distributed.cli.dask_worker",
                        self.address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--death-timeout",
                        "20",
                        "--name",
                        f"w{i}",
                    ],
                    f"worker{i}.log",
                )
            )
        if n_workers:
            with Client(self.address, timeout=STARTUP_TIMEOUT_S) as client:
                client.wait_for_workers(n_workers, timeout=STARTUP_TIMEOUT_S)
        return self

    def _check_alive(self) -> None:
        dead = [p for p in self.procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a cluster process exited early:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.folder.glob("*.log"))
        )

    def stop(self) -> None:
        """Kill every process still running (each by its own id) and reap it."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
