"""Travel-time precomputation on synthetic square road grids: seconds, peak memory, speed-up over networkx.

    python bench/travel_times.py [--sizes 10000,100000,1000000] [--sources 100] [--nx-sources 3]

For each size: a grid of about N nodes (100 m blocks, two-way streets, every tenth line a primary road) is built
straight into arrays; ``TravelTimes.from_graph`` computes shortest times from S sources to every node and back
(two multi-source Dijkstra runs on scipy sparse matrices, float32 tables). networkx
``single_source_dijkstra_path_length`` is timed on a few of the same sources and scaled per source (said so in the
output); the ratio compares per-source times of the outbound direction.
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


def grid(n_nodes: int) -> RoadNetwork:
    """A lattice of about n_nodes with ~100 m blocks."""
    k = int(round(n_nodes**0.5))
    span_lon, span_lat = k * 100.0 / 96_000.0, k * 100.0 / 111_000.0
    return grid_network(n_nodes, (120.0, 30.0, 120.0 + span_lon, 30.0 + span_lat), DEFAULT_SPEEDS_KPH)


def networkx_per_source_s(net: RoadNetwork, sources: np.ndarray) -> float:
    graph = nx.DiGraph()
    graph.add_weighted_edges_from(
        zip(net.edge_tail.tolist(), net.edge_head.tolist(), net.edge_travel_time_s.tolist(), strict=True)
    )
    t0 = time.perf_counter()
    for s in sources:
        nx.single_source_dijkstra_path_length(graph, int(s))
    return (time.perf_counter() - t0) / len(sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--nx-sources", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'nodes':>9s} {'edges':>9s} {'build s':>8s} {'travel s':>9s} {'peak MiB':>9s} {'per source s':>12s} "
        f"{'networkx/source s':>17s} {'speed-up':>8s}",
        flush=True,
    )
    for size in (int(v) for v in args.sizes.split(",")):
        gc.collect()
        t0 = time.perf_counter()
        net = grid(size)
        build_s = time.perf_counter() - t0
        sources = np.linspace(0, net.n_nodes - 1, args.sources).astype(np.int64)
        tracemalloc.start()
        t0 = time.perf_counter()
        travel = TravelTimes.from_graph(net, sources)
        travel_s = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        per_source = travel_s / (2 * len(sources))  # outbound and inbound
        nx_s = networkx_per_source_s(net, sources[: args.nx_sources])
        print(
            f"{net.n_nodes:9d} {net.n_edges:9d} {build_s:8.2f} {travel_s:9.2f} {peak / 2**20:9.0f} "
            f"{per_source:12.4f} {nx_s:17.4f} {nx_s / per_source:8.1f}",
            flush=True,
        )
        del travel, net
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS: {rss:.0f} MiB (includes the networkx graphs built for comparison)")


if __name__ == "__main__":
    main()
