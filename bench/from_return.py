"""What sending units on from their way back costs the model: the same incidents simulated with
``dispatch.from_return`` off and on, in one process, interleaved round by round (CPU seconds; the ratio of each
round, then the median and range; goal: on within 1.2x of off).

    python bench/from_return.py [SCENARIO] [--rounds K]

Default scenario: the busy city (bench/busy_city.yaml), one year.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from sim.eventlog import EventKind
from sim.experiment import incident_stream
from sim.model import simulate
from sim.scenario import load_scenario, with_overrides
from sim.world import build_world

BUSY = Path(__file__).resolve().parent / "busy_city.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", type=Path, default=BUSY)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    off, on = (build_world(with_overrides(scenario, {"dispatch.from_return": flag})) for flag in (False, True))
    calls = incident_stream(off, scenario.seed, 0)
    sent_on = int((simulate(on, calls).events["kind"] == EventKind.SENT_ON).sum())  # warm-up, and what it does
    ratios, best = [], [float("inf"), float("inf")]
    for _ in range(args.rounds):
        times = []
        for world in (off, on):
            t0 = time.process_time()
            simulate(world, calls)
            times.append(time.process_time() - t0)
        ratios.append(times[1] / times[0])
        best = [min(b, t) for b, t in zip(best, times, strict=True)]
    print(f"scenario: {scenario.name}, {len(calls)} incidents, {sent_on} units sent on from their way back")
    print(f"off: best {best[0]:.3f} s; on: best {best[1]:.3f} s")
    print(
        f"on / off: median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}) over "
        f"{args.rounds} rounds; ratio of the best times {best[1] / best[0]:.3f} (goal <= 1.2)"
    )


if __name__ == "__main__":
    main()
