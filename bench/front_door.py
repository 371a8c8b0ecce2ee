"""Wall time of the main job against the time of just importing the libraries it stands on.

Three fresh processes, timed in turn within each of K rounds (the machine is shared and noisy, so each round's
ratios are measured under one machine state and the median over rounds is reported):

(a) ``python -c "import numpy, pandas, matplotlib, simpy, networkx, scipy.sparse"`` (the yardstick),
(b) ``python -m sim run SCENARIO --results TMPDIR --quiet`` (all tables, figures, report, map, GeoPackage),
(c) ``python -m sim validate SCENARIO``.

Goals (issue 16): (b)/(a) <= 2.5 and (c)/(a) <= 1 in wall time. Each time printed is the best of its K; the ratios
are the median (and range) of the K rounds' own ratios. CPU times (user + system, worker processes included) are
printed beside, as a steadier view on a busy machine. Runs write into a temporary folder, nothing under results/.
Usage:

    python bench/front_door.py [SCENARIO] [--rounds K] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = ROOT / "scenarios" / "demo_park.yaml"
IMPORTS = "import numpy, pandas, matplotlib, simpy, networkx, scipy.sparse"


def timed_s(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, its worker processes included) of one fresh subprocess."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed_s = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed_s, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def commands(scenario: Path, out: Path, workers: int | None) -> dict[str, list[str]]:
    run = [sys.executable, "-m", "sim", "run", str(scenario), "--results", str(out), "--quiet"]
    if workers is not None:
        run += ["--workers", str(workers)]
    return {
        "import": [sys.executable, "-c", IMPORTS],
        "run": run,
        "validate": [sys.executable, "-m", "sim", "validate", str(scenario)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="passed to run (default: the CLI's)")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"import": [], "run": [], "validate": []}
    cpu: dict[str, list[float]] = {"import": [], "run": [], "validate": []}
    with tempfile.TemporaryDirectory(prefix="front_door_") as tmp:
        cwd = Path(tmp)
        cmds = commands(args.scenario.resolve(), cwd / "results", args.workers)
        timed_s(cmds["import"], cwd)  # warm the file cache once, untimed
        for k in range(args.rounds):
            for name, cmd in cmds.items():
                wall, used = timed_s(cmd, cwd)
                times[name].append(wall)
                cpu[name].append(used)
            print(
                f"round {k + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f} s (cpu {cpu[n][-1]:.2f} s)" for n in times),
                flush=True,
            )
    best = {name: min(ts) for name, ts in times.items()}
    print(f"best of {args.rounds}: " + ", ".join(f"{name} {t:.2f} s" for name, t in best.items()))
    for name, goal in (("run", 2.5), ("validate", 1.0)):
        ratios = [t / a for t, a in zip(times[name], times["import"], strict=True)]
        print(
            f"{name}/import: median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}; "
            f"ratio of bests {best[name] / best['import']:.2f}; goal <= {goal:g})"
        )
    for name in ("run", "validate"):  # CPU time is steadier than wall time on a busy machine (not the goal)
        ratios = [t / a for t, a in zip(cpu[name], cpu["import"], strict=True)]
        low, high = min(ratios), max(ratios)
        print(f"{name}/import cpu time: median {statistics.median(ratios):.2f} (range {low:.2f}-{high:.2f})")


if __name__ == "__main__":
    main()
