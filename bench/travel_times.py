"""Travel-time precomputation on synthetic square road grids: seconds, peak memory, speed-up over networkx.

    python bench/travel_times.py [--sizes 10000,100000,1000000] [--sources 100] [--nx-sources 5]

For each size: a lattice of about N nodes (100 m blocks, two-way streets, every tenth line a primary road) is built
straight into arrays; ``TravelTimes.from_graph`` computes the shortest times from S sources to every node and back
(two multi-source Dijkstra runs on scipy sparse matrices, float32 tables). Peak memory is tracemalloc's peak during
that call and the process's peak RSS so far (networkx runs only afterwards, so it does not count).

networkx ``single_source_dijkstra_path_length`` then runs on the same graph from the first sources: all S of them up
to 20,000 nodes, else ``--nx-sources`` of them, scaled per source (the output says which). The speed-up compares time
per source and direction.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc

import networkx as nx
import numpy as np

from sim.network import DEFAULT_SPEEDS_KPH, RoadNetwork, TravelTimes, grid_network

NX_ALL_SOURCES_UP_TO = 20_000


def grid(n_nodes: int) -> RoadNetwork:
    """A lattice of about ``n_nodes`` with ~100 m blocks near lon 120, lat 30."""
    k = int(round(n_nodes**0.5))
    span_lon, span_lat = k * 100.0 / 96_000.0, k * 100.0 / 111_000.0
    return grid_network(n_nodes, (120.0, 30.0, 120.0 + span_lon, 30.0 + span_lat), DEFAULT_SPEEDS_KPH)


def sources_of(net: RoadNetwork, count: int) -> np.ndarray:
    return np.linspace(0, net.n_nodes - 1, count).astype(np.int64)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure_ours(size: int, n_sources: int) -> dict:
    """Build the grid, then time and trace ``TravelTimes.from_graph`` (no disk cache)."""
    gc.collect()
    t0 = time.perf_counter()
    net = grid(size)
    build_s = time.perf_counter() - t0
    sources = sources_of(net, n_sources)
    tracemalloc.start()
    t0 = time.perf_counter()
    travel = TravelTimes.from_graph(net, sources)
    travel_s = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    reachable = float(np.isfinite(travel.outbound_s).mean())
    return {
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "build_s": build_s,
        "travel_s": travel_s,
        "per_source_s": travel_s / (2 * len(sources)),  # outbound and inbound
        "traced_mib": traced_peak / 2**20,
        "rss_mib": peak_rss_mib(),
        "reachable": reachable,
    }


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
    args = parser.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    print(f"rescuesim TravelTimes.from_graph, {args.sources} sources, outbound + inbound", flush=True)
    print(
        f"{'nodes':>9s} {'edges':>9s} {'grid s':>7s} {'travel s':>9s} {'s/source/dir':>12s} "
        f"{'traced MiB':>10s} {'peak RSS MiB':>12s}",
        flush=True,
    )
    ours = []
    for size in sizes:
        r = measure_ours(size, args.sources)
        ours.append(r)
        print(
            f"{r['nodes']:9d} {r['edges']:9d} {r['build_s']:7.2f} {r['travel_s']:9.2f} {r['per_source_s']:12.4f} "
            f"{r['traced_mib']:10.0f} {r['rss_mib']:12.0f}",
            flush=True,
        )
    print("\nnetworkx single_source_dijkstra_path_length on the same graphs and sources", flush=True)
    print(f"{'nodes':>9s} {'nx s/source':>11s} {'sources run':>24s} {'nx est. total s':>15s} {'speed-up':>8s}")
    for size, r in zip(sizes, ours, strict=True):
        nx_s, ran = networkx_per_source_s(size, args.sources, args.nx_sources)
        how = f"all {ran}" if ran == args.sources else f"{ran}, extrapolated"
        print(
            f"{r['nodes']:9d} {nx_s:11.4f} {how:>24s} {nx_s * 2 * args.sources:15.1f} {nx_s / r['per_source_s']:7.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
