"""Incidents simulated per second per core: the full model on a scenario vs a bare SimPy loop.

The bare loop has the same number of incidents and, per incident, the events the issue names: an arrival, a resource
request and three timeouts (turnout, travel, on scene). Both run in this process, one after the other, so their
ratio is measured on the same machine state. Usage:

    python bench/throughput.py [SCENARIO] [--replications N] [--repeat K]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import simpy

from sim.experiment import incident_stream
from sim.model import simulate
from sim.scenario import load_scenario
from sim.world import build_world

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo_park.yaml"


def bare_loop(call_at_s: np.ndarray, capacity: int, seed: int = 1) -> float:
    """Seconds to run the bare SimPy loop over the given call times."""
    rng = np.random.default_rng(seed)
    durations = rng.exponential([60.0, 300.0, 3600.0], size=(len(call_at_s), 3))
    env = simpy.Environment()
    units = simpy.Resource(env, capacity=capacity)

    def incident(i: int):
        with units.request() as req:
            yield req
            yield env.timeout(durations[i, 0])
            yield env.timeout(durations[i, 1])
            yield env.timeout(durations[i, 2])

    def source():
        for i, t in enumerate(call_at_s):
            yield env.timeout(t - env.now)
            env.process(incident(i))

    t0 = time.perf_counter()
    env.process(source())
    env.run()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--replications", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3, help="best of K timings")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    world = build_world(scenario)
    streams = [incident_stream(world, scenario.seed, r) for r in range(args.replications)]
    n = sum(len(s) for s in streams)
    model_s = min(_time(lambda: [simulate(world, s) for s in streams]) for _ in range(args.repeat))
    bare_s = min(sum(bare_loop(s.call_at_s, len(world.units)) for s in streams) for _ in range(args.repeat))
    print(f"scenario: {scenario.name} ({len(world.units)} units, {n} incidents over {args.replications} replications)")
    print(f"model:     {n / model_s:10.0f} incidents/s per core ({model_s:.3f} s)")
    print(f"bare loop: {n / bare_s:10.0f} incidents/s per core ({bare_s:.3f} s)")
    print(f"ratio model / bare loop: {bare_s / model_s:.2f} (goal >= 0.30)")


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
