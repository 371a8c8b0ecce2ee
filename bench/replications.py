"""Replications per second with 1 and 2 local worker processes and with a Dask LocalCluster (same run, one table),
and how each run's time splits between simulating and deriving the tables.

    python bench/replications.py [SCENARIO] [--replications N] [--horizon-days D] [--kpis-only]

A study of the busy city (about 100,000 everyday calls a year on 30 stations; goal: a speed-up of 1.8 or more on
2 cores) keeps only the KPIs of each replication, reduced in its worker, as a study of many long replications must
(a year of it logs about 800,000 events):

    python bench/replications.py bench/busy_city.yaml --replications 1000 --kpis-only

Each run is timed in its two steps, as ``run_replications`` does them: ``simulate`` (the workers simulate and
return each replication's raw outputs, gathered in the parent; wall clock, start-up of the pool or cluster included,
since a user waits for it) and ``tables`` (the parent derives the incident, unit and event tables and the KPIs of
all replications at once; wall clock). Before timing, the world (network, travel times) is built and one
replication is run serially (imports, per-world caches). With ``--kpis-only`` the workers return each
replication's KPI row (``simulate_kpis``) and ``tables`` is 0. Below the table, the serial run's CPU time
(``time.process_time``, one process) per replication in each step, which other processes on the machine do not
inflate. ``identical`` compares the four tables with the serial run's.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from sim.experiment import derive_result, simulate_kpis, simulate_replications
from sim.scenario import load_scenario, with_overrides
from sim.world import build_world

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo_park.yaml"
TABLES = ("incidents", "units", "kpis", "events")


def timed_kpis(world, replications: int, **executor):
    """The KPI table, and the wall and CPU seconds of simulating and reducing (no tables step)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    kpis = simulate_kpis(world, replications=replications, **executor)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return kpis, {"simulate": wall, "tables": 0.0}, {"simulate": cpu, "tables": 0.0}


def timed_run(world, replications: int, **executor):
    """The result, and the wall and CPU seconds of simulating and of deriving the tables."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    outputs = simulate_replications(world, replications=replications, **executor)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    result = derive_result(world, world.scenario.seed, outputs)
    wall2, cpu2 = time.perf_counter(), time.process_time()
    wall = {"simulate": wall1 - wall0, "tables": wall2 - wall1}
    return result, wall, {"simulate": cpu1 - cpu0, "tables": cpu2 - cpu1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--replications", type=int, default=40)
    parser.add_argument("--horizon-days", type=float, default=None, help="stretch the horizon (more work per rep)")
    parser.add_argument("--kpis-only", action="store_true", help="keep only each replication's KPIs")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    if args.horizon_days:
        scenario = with_overrides(scenario, {"horizon_days": args.horizon_days})
    world = build_world(scenario)
    runs = [
        ("1 worker (serial)", {"workers": 1}),
        ("2 local processes", {"workers": 2}),
        ("Dask LocalCluster, 2 workers", {"workers": 2, "dask": "local"}),
    ]
    reps = args.replications
    timed = timed_kpis if args.kpis_only else timed_run
    timed(world, 1, workers=1)  # warm up: imports and per-world caches in this process
    base = reference = serial_cpu = None
    print(f"{reps} replications of {scenario.name}" + (" (KPIs only)" if args.kpis_only else ""))
    header = f"{'executor':32s} {'seconds':>8s} {'reps/s':>8s} {'speed-up':>8s} {'simulate':>9s} {'tables':>7s}"
    print(f"{header}  identical")
    for name, kw in runs:
        result, wall, cpu = timed(world, reps, **kw)
        seconds = wall["simulate"] + wall["tables"]
        base = base or seconds
        if reference is None:
            reference, serial_cpu, same = result, cpu, "-"
        else:
            same = str(_identical(result, reference))
        print(
            f"{name:32s} {seconds:8.2f} {reps / seconds:8.1f} {base / seconds:8.2f} "
            f"{wall['simulate']:9.2f} {wall['tables']:7.2f}  {same}"
        )
    sim_ms, tables_ms = (1e3 * serial_cpu[step] / reps for step in ("simulate", "tables"))
    print(
        f"serial CPU per replication: simulate {sim_ms:.2f} ms, tables {tables_ms:.2f} ms "
        f"({tables_ms / (sim_ms + tables_ms):.0%} of the total)"
    )


def _identical(result, reference) -> bool:
    """The same KPI table, or the same four tables."""
    if isinstance(result, pd.DataFrame):
        return result.equals(reference)
    return all(getattr(result, t).equals(getattr(reference, t)) for t in TABLES)


if __name__ == "__main__":
    main()
