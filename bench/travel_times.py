"""Travel-time precomputation on synthetic square road grids: seconds, peak memory, speed-up over networkx.

    python bench/travel_times.py [--sizes 10000,100000,1000000] [--sources 100] [--nx-sources 5] [--workers W]

For each size: a lattice of about N nodes (100 m blocks, two-way streets, every tenth line a primary road) is built
straight into arrays; ``TravelTimes.from_graph`` computes the shortest times from S sources to every node and back
(multi-source Dijkstra on scipy sparse matrices, float32 tables), once with ``workers=1`` (in-process) and once
with ``workers=W`` (default: every core this process may use; runs too small to repay worker processes stay
in-process, shown by a worker RSS of "-"). Each run is timed in a fresh Python process, so that its memory figures
are its own:

- traced MiB: tracemalloc's peak during ``from_graph`` in the main process (worker processes not included);
- peak RSS MiB: the main process's peak resident memory (grid build included);
- worker RSS MiB: the largest worker process's peak resident memory (``RUSAGE_CHILDREN``);
- total MiB: peak RSS + workers x worker RSS, an upper bound on the memory of the whole run: the peaks need not
  coincide and a forked worker's RSS also counts the pages it shares with the main process.

networkx ``single_source_dijkstra_path_length`` then runs in this process on the same graph from the first sources:
all S of them up to 20,000 nodes, else ``--nx-sources`` of them, scaled per source (the output says which). The
speed-ups compare time per source and direction: per core (networkx against ``workers=1``) and wall-clock
(networkx, which has one thread, against ``workers=W``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

import networkx as nx
import numpy as np

from sim._cores import usable_cores
from sim.network import DEFAULT_SPEEDS_KPH, RoadNetwork, TravelTimes, grid_network

NX_ALL_SOURCES_UP_TO = 20_000


def grid(n_nodes: int) -> RoadNetwork:
    """A lattice of about ``n_nodes`` with ~100 m blocks near lon 120, lat 30."""
    k = int(round(n_nodes**0.5))
    span_lon, span_lat = k * 100.0 / 96_000.0, k * 100.0 / 111_000.0
    return grid_network(n_nodes, (120.0, 30.0, 120.0 + span_lon, 30.0 + span_lat), DEFAULT_SPEEDS_KPH)


def sources_of(net: RoadNetwork, count: int) -> np.ndarray:
    return np.linspace(0, net.n_nodes - 1, count).astype(np.int64)


def measure_here(size: int, n_sources: int, workers: int) -> dict:
    """Build the grid, then time and trace ``TravelTimes.from_graph`` (no disk cache) in this process."""
    t0 = time.perf_counter()
    net = grid(size)
    build_s = time.perf_counter() - t0
    sources = sources_of(net, n_sources)
    tracemalloc.start()
    t0 = time.perf_counter()
    travel = TravelTimes.from_graph(net, sources, workers=workers)
    travel_s = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "workers": workers,
        "build_s": build_s,
        "travel_s": travel_s,
        "per_source_s": travel_s / (2 * len(sources)),  # outbound and inbound
        "traced_mib": traced_peak / 2**20,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # kilobytes on Linux
        "worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,  # 0: no worker ran
        "reachable": float(np.isfinite(travel.outbound_s).mean()),
    }


def measure(size: int, n_sources: int, workers: int) -> dict:
    """:func:`measure_here` in a fresh Python process."""
    done = subprocess.run(
        [sys.executable, __file__, "--measure", f"{size},{n_sources},{workers}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def networkx_per_source_s(size: int, n_sources: int, nx_sources: int) -> tuple[float, int]:
    """Mean seconds of one networkx single-source run on the same grid and sources; how many sources were run."""
    net = grid(size)
    csr = net.csr().tocoo()
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(zip(csr.row.tolist(), csr.col.tolist(), csr.data.tolist(), strict=True))
    sources = sources_of(net, n_sources)
    run = sources if net.n_nodes <= NX_ALL_SOURCES_UP_TO else sources[:nx_sources]
    t0 = time.perf_counter()
    for s in run:
        nx.single_source_dijkstra_path_length(graph, int(s))
    return (time.perf_counter() - t0) / len(run), len(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated node counts")
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument(
        "--nx-sources", type=int, default=5, help=f"networkx sources above {NX_ALL_SOURCES_UP_TO} nodes"
    )
    parser.add_argument("--workers", type=int, default=usable_cores(), help="the parallel run (default: cores)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # SIZE,SOURCES,WORKERS: one run, printed as JSON
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_here(*(int(v) for v in args.measure.split(",")))))
        return
    sizes = [int(v) for v in args.sizes.split(",")]
    print(
        f"rescuesim TravelTimes.from_graph, {args.sources} sources, outbound + inbound, 1 and {args.workers} workers "
        f"({usable_cores()} cores usable); each run in a fresh process",
        flush=True,
    )
    print(
        f"{'nodes':>9s} {'edges':>9s} {'grid s':>7s} {'workers':>7s} {'travel s':>9s} {'s/source/dir':>12s} "
        f"{'vs 1':>5s} {'traced MiB':>10s} {'peak RSS MiB':>12s} {'worker RSS MiB':>14s} {'total MiB':>9s}",
        flush=True,
    )
    ours = []
    for size in sizes:
        runs = [measure(size, args.sources, workers) for workers in dict.fromkeys([1, args.workers])]
        ours.append(runs)
        for r in runs:
            spawned = r["worker_rss_mib"] > 0
            worker = f"{r['worker_rss_mib']:14.0f}" if spawned else f"{'-':>14s}"
            total = r["rss_mib"] + (r["workers"] * r["worker_rss_mib"] if spawned else 0.0)
            print(
                f"{r['nodes']:9d} {r['edges']:9d} {r['build_s']:7.2f} {r['workers']:7d} {r['travel_s']:9.2f} "
                f"{r['per_source_s']:12.4f} {runs[0]['travel_s'] / r['travel_s']:4.2f}x {r['traced_mib']:10.0f} "
                f"{r['rss_mib']:12.0f} {worker} {total:9.0f}",
                flush=True,
            )
    print("\nnetworkx single_source_dijkstra_path_length on the same graphs and sources", flush=True)
    print(
        f"{'nodes':>9s} {'nx s/source':>11s} {'sources run':>24s} {'nx est. total s':>15s} "
        f"{'per core':>8s} {f'wall, {args.workers} workers':>16s}"
    )
    for size, runs in zip(sizes, ours, strict=True):
        nx_s, ran = networkx_per_source_s(size, args.sources, args.nx_sources)
        how = f"all {ran}" if ran == args.sources else f"{ran}, extrapolated"
        serial, parallel = runs[0], runs[-1]
        print(
            f"{serial['nodes']:9d} {nx_s:11.4f} {how:>24s} {nx_s * 2 * args.sources:15.1f} "
            f"{nx_s / serial['per_source_s']:7.1f}x {nx_s / parallel['per_source_s']:15.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
