"""The results folder ``results/<scenario>/<run-id>/``: manifest, tables, summaries; written atomically.

A run is written into a hidden temporary folder beside its final place and renamed into place only when every
file is complete, so a failed or interrupted run leaves no half-written results, and an earlier run is never
overwritten (a new run id is chosen if the name is taken).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import sim


def slugify(name: str) -> str:
    """A folder-safe name (letters of any script, digits, dot, dash, underscore)."""
    slug = re.sub(r"[^\w.-]+", "-", name.strip(), flags=re.UNICODE).strip("-._")
    return slug or "scenario"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class RunDir:
    """A run folder being written: files go into ``tmp``; ``path`` is the final folder once it is complete."""

    tmp: Path
    path: Path | None = None


@contextmanager
def new_run_dir(results_root: Path, scenario_name: str, label: str = "") -> Iterator[RunDir]:
    """Yield a temporary folder to write into; on success it is renamed to a fresh ``<run-id>`` folder."""
    parent = Path(results_root) / slugify(scenario_name)
    parent.mkdir(parents=True, exist_ok=True)
    run = RunDir(tmp=parent / f".partial-{os.getpid()}-{time.time_ns()}")
    run.tmp.mkdir()
    try:
        yield run
    except BaseException:
        shutil.rmtree(run.tmp, ignore_errors=True)
        raise
    run.path = _claim(parent, label)
    run.tmp.rename(run.path)


def _claim(parent: Path, label: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{slugify(label)}" if label else stamp
    candidate, k = parent / base, 1
    while candidate.exists():
        k += 1
        candidate = parent / f"{base}-{k}"
    return candidate


def write_table(df: pd.DataFrame, folder: Path, stem: str) -> None:
    """``<stem>.csv`` and ``<stem>.parquet``."""
    df.to_csv(folder / f"{stem}.csv", index=False, lineterminator="\n")
    df.to_parquet(folder / f"{stem}.parquet", index=False)


def write_json(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(_clean(obj), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN and inf become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def input_checksums(scenario, network_hash: str | None = None) -> dict[str, str]:
    """sha256 of the scenario file and every file it references, plus the road network's content hash."""
    sums: dict[str, str] = {}
    src = scenario.source_path
    if src is not None and src.is_file():
        sums[str(src)] = sha256_file(src)
        base = src.parent
        refs = [p.installations_file for p in scenario.parks if p.installations_file]
        refs += [line.geojson for line in scenario.pipelines if line.geojson]
        if scenario.network.path is not None:
            refs.append(str(scenario.network.path))
        for ref in refs:
            path = base / ref
            if path.is_file():
                sums[str(path)] = sha256_file(path)
    else:
        sums["<scenario text>"] = hashlib.sha256(scenario.source_text.encode()).hexdigest()
    if network_hash:
        sums["road network content"] = network_hash
    return sums


def manifest(
    scenario,
    *,
    seed: int,
    replications: int,
    command: str,
    network_hash: str | None = None,
    extra: dict | None = None,
) -> dict:
    """What a run folder records about how it was made."""
    return {
        "scenario": scenario.name,
        "scenario_file": str(scenario.source_path) if scenario.source_path else None,
        "seed": seed,
        "replications": replications,
        "rescuesim_version": sim.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "command": command,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input_checksums": input_checksums(scenario, network_hash),
        "scenario_text": scenario.source_text,
        "overrides": scenario.overrides,
    } | (extra or {})


def read_run(run_dir: Path) -> dict[str, Any]:
    """Read a run folder back: manifest, summary and every table (from parquet)."""
    run_dir = Path(run_dir)
    out: dict[str, Any] = {}
    for name in ("manifest", "summary"):
        path = run_dir / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(run_dir.glob("*.parquet")):
        out[path.stem] = pd.read_parquet(path)
    return out


def write_run(
    result,
    results_root: Path,
    *,
    command: str,
    network_hash: str | None = None,
    label: str | None = None,
    extra=None,
    manifest_extra: dict | None = None,
) -> Path:
    """Write a whole run (tables, summary, breakdowns, figure, manifest) and return its folder.

    ``extra(folder)`` may write more files (a study's table and figure) before the folder is moved into place.
    """
    from sim.metrics import breakdown, run_summary, with_source_group
    from sim.report.figures import plot_response_cdf

    scenario = result.world.scenario
    with new_run_dir(results_root, scenario.name, label=label or f"seed{result.seed}") as run:
        write_table(result.incidents, run.tmp, "incidents")
        write_table(result.units, run.tmp, "units")
        write_table(result.kpis, run.tmp, "kpis")
        result.events.to_parquet(run.tmp / "events.parquet", index=False)
        grouped = with_source_group(result.incidents)
        parts = [
            breakdown(grouped, by, scenario.targets, result.replications).rename(columns={by: "group"}).assign(by=by)
            for by in ("source_group", "incident_type", "level_final", "first_base")
        ]
        table = pd.concat(parts, ignore_index=True)
        table["group"] = table["group"].astype(str)
        write_table(table[["by", *[c for c in table.columns if c != "by"]]], run.tmp, "breakdown")
        write_json(run_summary(result), run.tmp / "summary.json")
        plot_response_cdf(
            result.incidents,
            scenario.targets,
            title=f"{scenario.name}: response times",
            save=True,
            filepath=run.tmp / "response_times.png",
        )
        if extra is not None:
            extra(run.tmp)
        write_json(
            manifest(
                scenario,
                seed=result.seed,
                replications=result.replications,
                command=command,
                network_hash=network_hash,
                extra=manifest_extra,
            ),
            run.tmp / "manifest.json",
        )
    return run.path
