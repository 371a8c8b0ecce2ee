"""Replications with independent seed streams, run serially or in local worker processes.

Replication r of a scenario with seed S draws its incidents from ``SeedSequence(S).spawn(R)[r]``: the streams do not
depend on the number of replications asked for beyond r, nor on bases, drills or dispatch, so variants compared
with the same seed face identical incidents (common random numbers). The model itself draws nothing: every random
duration comes from uniforms generated with the incident. Workers return each replication's raw outputs (event log,
time in each status, what the tables need of the incidents); the parent concatenates them in replication order and
derives the tables once for all replications, so any number of workers gives byte-identical tables.
"""

from __future__ import annotations

import functools
import multiprocessing
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim._cores import default_workers
from sim.hazards import IncidentStream, StreamTables, generate_incidents, stream_tables
from sim.metrics import (
    ReplicationOutputs,
    event_table_of,
    incident_table_of,
    kpis_per_replication,
    unit_table_of,
)
from sim.model import simulate
from sim.world import World


@dataclass(frozen=True, eq=False)
class RunResult:
    """All replications of one world: per-incident and per-unit tables, and KPIs per replication."""

    world: World
    seed: int
    replications: int
    incidents: pd.DataFrame
    units: pd.DataFrame
    kpis: pd.DataFrame  # one row per replication
    events: pd.DataFrame  # the event log of every replication
    notes: tuple[str, ...]


def incident_stream(world: World, seed: int, replication: int) -> IncidentStream:
    """The incidents of one replication (independent of how many replications there are in all)."""
    child = np.random.SeedSequence(seed, spawn_key=(replication,))
    return generate_incidents(world.scenario, world.sites, np.random.default_rng(child), _stream_tables(world))


@functools.lru_cache(maxsize=8)
def _stream_tables(world: World) -> StreamTables:
    """Built once per world (worlds hash by identity) and read by each of its replications in a process."""
    return stream_tables(world.scenario, world.sites)


def run_one(world: World, seed: int, replication: int) -> ReplicationOutputs:
    """Simulate one replication: its raw outputs, from which the tables are derived."""
    stream = incident_stream(world, seed, replication)
    return ReplicationOutputs.of_one(replication, simulate(world, stream), stream)


def run_block(world: World, seed: int, replications: Sequence[int]) -> ReplicationOutputs:
    """Simulate a block of replications (one task for a worker: a replication alone is too short to ship)."""
    return ReplicationOutputs.concat([run_one(world, seed, r) for r in replications])


_WORKER_WORLD: World | None = None


def _init_worker(world: World) -> None:
    """Hold the world for the worker's tasks; leave Ctrl-C to the parent, which stops the pool."""
    global _WORKER_WORLD
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_WORLD = world


def _run_in_worker(args: tuple[int, range]):
    seed, replications = args
    return run_block(_WORKER_WORLD, seed, replications)


def _blocks(reps: range, workers: int) -> list[range]:
    """Consecutive blocks of replications: about four per worker (load balance), at most 64 (progress)."""
    size = max(1, min(64, -(-len(reps) // (4 * workers))))
    return [reps[i : i + size] for i in range(0, len(reps), size)]


def run_replications(
    world: World,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run replications 0..R-1 and derive the tables.

    Serially with ``workers=1``, in a local process pool otherwise, or on Dask with ``dask="local"`` (a
    LocalCluster of ``workers`` processes) or ``dask="tcp://host:8786"`` (an existing scheduler).
    """
    seed = world.scenario.seed if seed is None else seed
    outputs = simulate_replications(
        world, replications=replications, seed=seed, workers=workers, dask=dask, progress=progress
    )
    return derive_result(world, seed, outputs)


def simulate_replications(
    world: World,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplicationOutputs:
    """Simulate replications 0..R-1 (as :func:`run_replications`) and gather their raw outputs in order."""
    replications = replications or world.scenario.replications
    seed = world.scenario.seed if seed is None else seed
    workers = default_workers() if workers is None else workers
    if dask:
        parts = list(_map_dask(world, seed, range(replications), workers, dask, progress))
    else:
        parts = list(_map(world, seed, range(replications), min(workers, replications), progress))
    return ReplicationOutputs.concat(parts)


def derive_result(world: World, seed: int, outputs: ReplicationOutputs) -> RunResult:
    """The tables and KPIs of replications 0..R-1, derived at once from their raw outputs (in that order)."""
    incidents = incident_table_of(world, outputs)
    replications = len(outputs.replication)
    return RunResult(
        world=world,
        seed=seed,
        replications=replications,
        incidents=incidents,
        units=unit_table_of(world, outputs),
        kpis=kpis_per_replication(incidents, world.scenario.targets, replications),
        events=event_table_of(world, outputs),
        notes=tuple(sorted(set(outputs.notes) | set(world.notes))),
    )


def _map(world: World, seed: int, reps: range, workers: int, progress):
    total = len(reps)
    if workers <= 1:
        for done, r in enumerate(reps, 1):
            yield run_one(world, seed, r)
            if progress:
                progress(done, total)
        return
    done = 0
    pool = multiprocessing.Pool(processes=workers, initializer=_init_worker, initargs=(world,))
    try:
        for part in pool.imap(_run_in_worker, [(seed, block) for block in _blocks(reps, workers)]):
            yield part
            done += len(part.replication)
            if progress:
                progress(done, total)
        pool.close()
    except BaseException:  # an error or Ctrl-C: stop the workers now rather than let them finish their blocks
        pool.terminate()
        raise
    finally:
        pool.join()


def _map_dask(world: World, seed: int, reps: range, workers: int, address: str, progress):
    """Replications as Dask tasks, gathered in replication order."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        from sim.errors import RescuesimError

        raise RescuesimError("--dask needs dask.distributed: pip install 'rescuesim[dask]'") from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="10s")
        except OSError as exc:
            from sim.errors import RescuesimError

            raise RescuesimError(f"--dask: cannot reach the scheduler at {address}: {exc}") from None
    try:
        world_f = client.scatter(world, broadcast=True)
        blocks = _blocks(reps, max(workers, len(client.scheduler_info().get("workers", {}))))
        futures = client.map(run_block, [world_f] * len(blocks), [seed] * len(blocks), blocks, pure=False)
        done = 0
        for future in futures:
            part = future.result()
            yield part
            done += len(part.replication)
            if progress:
                progress(done, len(reps))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
