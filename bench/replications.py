"""Replications per second with 1 and 2 local worker processes and with a Dask LocalCluster (same run, one table).

    python bench/replications.py [SCENARIO] [--replications N] [--horizon-days D]

Start-up of the pool or cluster is included (it is part of what a user waits for); the world (network, travel
times) is built once before timing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sim.experiment import run_replications
from sim.scenario import load_scenario, with_overrides
from sim.world import build_world

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo_park.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--replications", type=int, default=40)
    parser.add_argument("--horizon-days", type=float, default=None, help="stretch the horizon (more work per rep)")
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
    base = None
    reference = None
    print(f"{'executor':32s} {'seconds':>8s} {'reps/s':>8s} {'speed-up':>8s}  identical")
    for name, kw in runs:
        t0 = time.perf_counter()
        result = run_replications(world, replications=args.replications, **kw)
        seconds = time.perf_counter() - t0
        base = base or seconds
        same = "-" if reference is None else str(result.incidents.equals(reference))
        reference = result.incidents if reference is None else reference
        print(f"{name:32s} {seconds:8.2f} {args.replications / seconds:8.1f} {base / seconds:8.2f}  {same}")


if __name__ == "__main__":
    main()
