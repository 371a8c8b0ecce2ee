"""Replications with independent seed streams, run serially, in local worker processes or on a Dask cluster.

Replication r of a scenario with seed S draws its incidents from ``SeedSequence(S).spawn(R)[r]``: the streams do not
depend on the number of replications asked for beyond r, nor on bases, drills or dispatch, so variants compared
with the same seed face identical incidents (common random numbers). The model itself draws nothing: every random
duration comes from uniforms generated with the incident. Workers return each replication's raw outputs (event log,
time in each status, what the tables need of the incidents); the parent concatenates them in replication order and
derives the tables once for all replications, so any number of workers gives byte-identical tables.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim._cores import default_workers
from sim.errors import ClusterError, RescuesimError
from sim.hazards import IncidentStream, StreamTables, generate_incidents, stream_tables
from sim.interrupts import ignore_interrupts, interrupts_deferred, kill_worker_processes
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


def kpi_block(world: World, seed: int, replications: Sequence[int]) -> pd.DataFrame:
    """The KPI rows of a block of replications, each reduced as soon as it is simulated (its log is not kept)."""
    rows = []
    for r in replications:
        incidents = incident_table_of(world, run_one(world, seed, r)).assign(replication=0)
        rows.append(kpis_per_replication(incidents, world.scenario.targets, 1).assign(replication=r))
    return pd.concat(rows, ignore_index=True)


DASK_TIMEOUT_S = 10.0
"""How long to wait to reach a Dask scheduler, and for it to have a worker, before giving up with an error."""

_WORKER_WORLD: World | None = None


def _init_worker(world: World) -> None:
    """Hold the world for the worker's tasks; leave Ctrl-C to the parent, which stops the pool."""
    global _WORKER_WORLD
    ignore_interrupts()
    _WORKER_WORLD = world


def _run_in_worker(args: tuple[Callable, int, range]):
    task, seed, replications = args
    return task(_WORKER_WORLD, seed, replications)


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
    return ReplicationOutputs.concat(_parts(run_block, world, replications, seed, workers, dask, progress))


def simulate_kpis(
    world: World,
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Only the KPIs per replication (as ``run_replications(...).kpis``, equal to them), each replication reduced in
    its worker: memory stays that of one replication, for studies of many long replications."""
    return pd.concat(_parts(kpi_block, world, replications, seed, workers, dask, progress), ignore_index=True)


def _parts(task, world: World, replications, seed, workers, dask, progress) -> list:
    """``task(world, seed, block)`` of every block of replications 0..R-1, in replication order."""
    replications = replications or world.scenario.replications
    seed = world.scenario.seed if seed is None else seed
    workers = default_workers() if workers is None else workers
    if dask:
        return _map_dask(task, world, seed, range(replications), workers, dask, progress)
    return list(_map(task, world, seed, range(replications), min(workers, replications), progress))


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


def _map(task, world: World, seed: int, reps: range, workers: int, progress):
    total = len(reps)
    if workers <= 1:
        for done in range(1, total + 1):
            yield task(world, seed, reps[done - 1 : done])
            if progress:
                progress(done, total)
        return
    done = 0
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(world,))
    try:
        blocks = _blocks(reps, workers)
        with interrupts_deferred():  # the workers are forked now (one per submit)
            futures = [pool.submit(_run_in_worker, (task, seed, block)) for block in blocks]
        for future, block in zip(futures, blocks, strict=True):
            yield future.result()
            done += len(block)
            if progress:
                progress(done, total)
    except BaseException:  # an error or Ctrl-C: stop the workers now rather than let them finish their blocks
        kill_worker_processes()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _map_dask(task, world: World, seed: int, reps: range, workers: int, address: str, progress) -> list:
    """Replications as Dask tasks, gathered in replication order whatever order they finish in.

    Each block is read once from its own future, so a block rescheduled after its worker died still counts once. A
    scheduler that cannot be reached, has no workers or is lost mid-run raises :class:`ClusterError` (after at most
    ``DASK_TIMEOUT_S``), as does a block that kept killing the workers running it.
    """
    try:
        from dask.distributed import Client, KilledWorker, LocalCluster
    except ImportError:
        raise RescuesimError("--dask needs dask.distributed: pip install 'rescuesim[dask]'") from None
    cluster = None
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=DASK_TIMEOUT_S)
        except ValueError as exc:
            raise ClusterError(f"--dask: expected local or tcp://HOST:PORT, got {address!r} ({exc})") from None
        except OSError as exc:
            raise ClusterError(
                f"--dask: cannot reach the Dask scheduler at {address} within {DASK_TIMEOUT_S:g} s ({exc})"
            ) from None
    parts: list = []
    done, lost = 0, False
    try:
        client.wait_for_workers(1, timeout=DASK_TIMEOUT_S)
        world_f = client.scatter(world, broadcast=True)
        blocks = _blocks(reps, max(workers, len(client.scheduler_info().get("workers", {}))))
        futures = client.map(task, [world_f] * len(blocks), [seed] * len(blocks), blocks, pure=False)
        for i, block in enumerate(blocks):
            parts.append(futures[i].result())
            futures[i] = None  # released: a worker lost later need not recompute what is gathered already
            got = np.asarray(parts[-1]["replication"] if isinstance(parts[-1], pd.DataFrame) else parts[-1].replication)
            if not np.array_equal(got, np.asarray(block)):
                raise RuntimeError(f"Dask returned replications {got} for {block}")
            done += len(block)
            if progress:
                progress(done, len(reps))
    except KilledWorker as exc:
        raise ClusterError(f"--dask: on the Dask cluster at {address}, {exc}") from None
    except TimeoutError:
        raise ClusterError(
            f"--dask: the Dask scheduler at {address} has no workers (none joined within {DASK_TIMEOUT_S:g} s); "
            f"start them with: dask worker {address}"
        ) from None
    except (CancelledError, OSError) as exc:
        reason = getattr(exc, "reason", None)
        lost = reason in (None, "scheduler-connection-lost")
        what = f"lost the Dask scheduler at {address}" if lost else f"the Dask cluster at {address} dropped the run"
        hint = "" if lost else ": were all its workers lost?"
        raise ClusterError(f"--dask: {what} after {done} of {len(reps)} replications ({reason or exc}{hint})") from None
    finally:
        _close(client, quietly=lost)
        if cluster is not None:
            cluster.close()
    return parts


def _close(client, *, quietly: bool) -> None:
    """Close a Dask client; ``quietly`` after its scheduler was lost, when distributed would log the cancelled
    reconnection attempt as an error with a traceback."""
    logger = logging.getLogger("distributed.client")
    level = logger.level
    if quietly:
        logger.setLevel(logging.CRITICAL)
    try:
        client.close()
    finally:
        logger.setLevel(level)
