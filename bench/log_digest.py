"""Digests of the model's event logs and status times on the demo county and busy variants of it.

A refactoring of the model must not change a single result: run this before and after, and compare the lines
(one per variant: incidents, rows, and the sha256 of the event log and of the status times over all replications).
Usage:

    python bench/log_digest.py [--replications N]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from sim.experiment import incident_stream
from sim.model import simulate
from sim.scenario import load_scenario, with_overrides
from sim.world import build_world, variant_world

DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo_park.yaml"
BUSY = {  # many more incidents on fewer units: queues, escalations, mutual aid, drills delayed
    "pipelines[0].failures_per_1000km_yr": 150000,
    "bases[0].units[0].count": 1,
    "bases[1].units[0].count": 1,
    "bases[2].units[1].count": 1,
}
VARIANTS = {
    "demo": {},
    "drills every 30 days": {"drills.interval_days": 30},
    "drills at base every 20 days": {"drills": {"interval_days": 20, "duration_h": 6, "off_site": False}},
    "48 h drills every 7 days": {"drills": {"interval_days": 7, "duration_h": 48}, "bases[3].drills": None},
    "busy": BUSY,
    "busy, no traffic": BUSY | {"traffic": []},
    "busy, drills at base": BUSY | {"drills": {"interval_days": 10, "duration_h": 8, "off_site": False}},
    "busy, slow mutual aid": BUSY | {"dispatch.mutual_aid.activation_delay_min": 40},
}


def digest(world, replications: int) -> str:
    h_log, h_status, n_inc, n_rows = hashlib.sha256(), hashlib.sha256(), 0, 0
    for r in range(replications):
        stream = incident_stream(world, world.scenario.seed, r)
        out = simulate(world, stream)
        h_log.update(np.ascontiguousarray(out.events).tobytes())
        h_status.update(np.ascontiguousarray(out.status_time_s).tobytes())
        n_inc, n_rows = n_inc + len(stream.call_at_s), n_rows + len(out.events)
    return f"{n_inc:7d} incidents {n_rows:8d} rows  log {h_log.hexdigest()[:16]}  status {h_status.hexdigest()[:16]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=6)
    args = parser.parse_args()
    scenario = load_scenario(DEMO)
    world = build_world(scenario)
    for name, overrides in VARIANTS.items():
        variant = variant_world(world, with_overrides(scenario, overrides)) if overrides else world
        print(f"{name:32s} {digest(variant, args.replications)}")


if __name__ == "__main__":
    main()
