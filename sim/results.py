"""The results folder ``results/<scenario>/<run-id>/`` as I/O: claiming it, the manifest, atomic writes, table and
JSON writers, and reading a run back. What a run writes into it is :mod:`sim.outputs`.

A run is written into a hidden temporary folder beside its final place and renamed into place only when every
file is complete, so a failed or interrupted run leaves no half-written results, and an earlier run is never
overwritten (a new run id is chosen if the name is taken).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

import sim
from sim.errors import RescuesimError
from sim.interrupts import interrupts_deferred
from sim.provenance import input_checksums


def slugify(name: str) -> str:
    """A folder-safe name (letters of any script, digits, dot, dash, underscore)."""
    slug = re.sub(r"[^\w.-]+", "-", name.strip(), flags=re.UNICODE).strip("-._")
    return slug or "scenario"


@dataclass
class RunDir:
    """A run folder being written: files go into ``tmp``; ``path`` is the final name it is renamed to when complete.

    The final name is chosen when writing starts (so a report can name it) and is free then; were it taken by the
    time the run is complete, the next free name is used instead.
    """

    tmp: Path
    path: Path


@contextmanager
def new_run_dir(results_root: Path, scenario_name: str, label: str = "") -> Iterator[RunDir]:
    """Yield a temporary folder to write into; on success it is renamed to a fresh ``<run-id>`` folder.

    On any exception (a Ctrl-C included) the temporary folder is removed and nothing is left under a final name.
    """
    parent = Path(results_root) / slugify(scenario_name)
    parent.mkdir(parents=True, exist_ok=True)
    run = _claim(parent, label)
    try:
        yield run
        with interrupts_deferred():
            run.path = _commit(run)
    except BaseException:
        shutil.rmtree(run.tmp, ignore_errors=True)
        raise


def check_writable_folder(folder: Path, what: str = "--results") -> None:
    """Refuse, before any work, a results location that cannot be written: a regular file, a folder under a
    regular file, a read-only or inaccessible folder. Probes by making (and removing) a temporary folder in the
    deepest folder that exists, so it tells what writing will do (for root too)."""
    folder = Path(folder)
    existing = folder.absolute()
    while True:
        try:
            is_dir = existing.is_dir()
            if is_dir or existing.exists() or existing == existing.parent:
                break
        except OSError as exc:
            raise RescuesimError(f"{what} {folder}: cannot look into {existing.parent} ({_reason(exc)})") from None
        existing = existing.parent
    if not is_dir:
        where = "is a regular file" if existing == folder.absolute() else f"is under {existing}, a regular file"
        raise RescuesimError(f"{what} {folder}: {where}, not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".rescuesim-probe-", dir=existing)
        os.rmdir(probe)
    except OSError as exc:
        raise RescuesimError(f"{what} {folder}: cannot write in {existing} ({_reason(exc)})") from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _claim(parent: Path, label: str) -> RunDir:
    """A run id free both as a final folder and as another run's temporary folder; its temporary folder made."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{slugify(label)}" if label else stamp
    for k in itertools.count(1):
        name = base if k == 1 else f"{base}-{k}"
        final, tmp = parent / name, parent / f".partial-{name}"
        if final.exists():
            continue
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        return RunDir(tmp=tmp, path=final)
    raise AssertionError("unreachable")


def _commit(run: RunDir) -> Path:
    """Rename the complete temporary folder to its final name (the next free one if that was taken meanwhile)."""
    target = run.path
    for k in itertools.count(2):
        try:
            run.tmp.rename(target)
            return target
        except OSError:
            if not target.exists():
                raise
            target = run.path.with_name(f"{run.path.name}-{k}")
    raise AssertionError("unreachable")


@contextmanager
def files_replaced(folder: Path, prefix: str = ".partial-") -> Iterator[Path]:
    """Yield a hidden staging folder inside ``folder`` to write files into; when the block ends normally, move
    every file into ``folder`` (replacing files of the same name) with Ctrl-C held off, so the folder ends with all
    of the new files or, on an error or interrupt (the staging folder is then removed), none of them."""
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    try:
        yield staging
        with interrupts_deferred():
            for path in sorted(staging.iterdir()):
                os.replace(path, Path(folder) / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_table(df: pd.DataFrame, folder: Path, stem: str) -> None:
    """``<stem>.csv`` and ``<stem>.parquet``."""
    write_csv(df, folder / f"{stem}.csv")
    df.to_parquet(folder / f"{stem}.parquet", index=False)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """A table as CSV, the one way every table is written."""
    df.to_csv(path, index=False, lineterminator="\n")


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


def read_run(run_dir: Path, *, tables: dict[str, pd.DataFrame] | None = None) -> dict[str, Any]:
    """Read a run folder back: manifest, summary and every table (from parquet). ``tables``: some of them as they
    were written (the same frames), taken instead of reading their parquet back."""
    run_dir = Path(run_dir)
    tables = tables or {}
    out: dict[str, Any] = {}
    for name in ("manifest", "summary"):
        path = run_dir / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(run_dir.glob("*.parquet")):
        out[path.stem] = tables[path.stem] if path.stem in tables else pd.read_parquet(path)
    return out
