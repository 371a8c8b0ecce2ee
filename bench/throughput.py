"""Incidents simulated per second per core: the full model on a scenario vs a bare SimPy loop.

The bare loop has the same number of incidents and, per incident, the events the issue names: an arrival, a resource
request and three timeouts (turnout, travel, on scene). Both run in this process, one after the other, so their
ratio is measured on the same machine state. Usage:

    python bench/throughput.py [SCENARIO] [--replications N] [--horizon-days D] [--repeat K]

The busy city (bench/busy_city.yaml: about 100,000 everyday calls a year on 30 stations, most of them single-unit;
goal 0.5) is already long enough at one year:

    python bench/throughput.py bench/busy_city.yaml --replications 2 --horizon-days 365

The horizon is stretched (default 3650 days) so that per-replication set-up does not dominate. The model is timed
twice: as the scenario stands (drills included: they are events the bare loop does not have) and without drills.
Times are CPU seconds of this process (``time.process_time``), so that other work on a shared machine does not
count, and the three are timed in turn, replication by replication, within each of K rounds; each time is the best
of its K, and the ratio is the median (and range) of the K rounds' own ratios, each measured under one machine state
(the ratio of the best times is printed too).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import simpy

from sim.eventlog import EventKind
from sim.experiment import incident_stream
from sim.model import simulate
from sim.scenario import load_scenario, with_overrides
from sim.world import build_world, variant_world

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo_park.yaml"


def bare_loop(stream, world, seed: int = 1) -> float:
    """CPU seconds to run the bare SimPy loop over a stream's call times, with as many units as the world."""
    call_at_s, capacity = stream.call_at_s, len(world.units)
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

    t0 = time.process_time()
    env.process(source())
    env.run()
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--replications", type=int, default=5)
    parser.add_argument("--horizon-days", type=float, default=3650.0)
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args()
    scenario = with_overrides(load_scenario(args.scenario), {"horizon_days": args.horizon_days})
    world = build_world(scenario)
    no_drills = variant_world(world, _without_drills(scenario))
    streams = [incident_stream(world, scenario.seed, r) for r in range(args.replications)]
    n = sum(len(s) for s in streams)
    logs = [simulate(world, s).events["kind"] for s in streams]
    dispatches = sum(int((kind == EventKind.DISPATCH).sum()) for kind in logs)
    drills = sum(int((kind == EventKind.DRILL_START).sum()) for kind in logs)
    rounds = []
    for _ in range(args.repeat):  # replication by replication in turn, so that all three meet the same machine state
        times = np.zeros(3)
        for s in streams:
            times += (_time(simulate, world, s), _time(simulate, no_drills, s), bare_loop(s, world))
        rounds.append(times)
    model_s, plain_s, bare_s = np.min(rounds, axis=0)
    ratio = np.array([bare / model for model, _, bare in rounds])
    ratio_plain = np.array([bare / plain for _, plain, bare in rounds])
    print(
        f"scenario: {scenario.name} ({len(world.units)} units; {n} incidents, {dispatches} dispatches and {drills} "
        f"drills over {args.replications} replications of {args.horizon_days:g} days)"
    )
    print(f"model:              {n / model_s:10.0f} incidents/s per core ({model_s:.3f} s)")
    print(f"model, no drills:   {n / plain_s:10.0f} incidents/s per core ({plain_s:.3f} s)")
    print(f"bare SimPy loop:    {n / bare_s:10.0f} incidents/s per core ({bare_s:.3f} s)")
    print(
        f"ratio model / bare loop (median of {args.repeat} rounds, range): {np.median(ratio):.2f} "
        f"({ratio.min():.2f}-{ratio.max():.2f}); without drills {np.median(ratio_plain):.2f} "
        f"({ratio_plain.min():.2f}-{ratio_plain.max():.2f}) (goal >= 0.30 on the demo, >= 0.5 on the busy city)"
    )
    print(f"ratio of the best times: {bare_s / model_s:.2f}; without drills {bare_s / plain_s:.2f}")
    print(
        f"per incident: {dispatches / n:.2f} dispatches and {drills / n:.2f} drills "
        "(the bare loop: one resource request, no drill)"
    )


def _without_drills(scenario):
    raw_bases = [{k: v for k, v in b.items() if k != "drills"} for b in scenario.raw["bases"]]
    return with_overrides(scenario, {"drills": None, "bases": raw_bases})


def _time(fn, *args) -> float:
    t0 = time.process_time()
    fn(*args)
    return time.process_time() - t0


if __name__ == "__main__":
    main()
