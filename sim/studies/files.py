"""Study files: a scenario, named variants and/or a grid over fields, read and validated whole (``load_study``),
expanded into cells (variant x grid point) and run resumably (``run_study``): each finished cell is kept under its
inputs' fingerprint and reused only while they are unchanged."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator

from sim.errors import ScenarioError
from sim.experiment import RunResult, run_replications
from sim.results import slugify, write_json
from sim.scenario import Scenario, with_overrides
from sim.schema_base import StrictModel
from sim.studies.variants import kpi_row, paired_row
from sim.world import World, build_world


class StudyVariant(StrictModel):
    name: str
    overrides: dict[str, Any] = Field(default_factory=dict)


class StudySpec(StrictModel):
    """A study file: a scenario, named variants and/or a grid over fields, all on common random numbers."""

    name: str
    scenario: Path
    replications: int | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, ge=0)
    variants: tuple[StudyVariant, ...] = ()
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="dotted path -> values (cartesian product)")
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The study file it was read from (None when made in code)."""
        return self._source

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [k for k, values in v.items() if not values]
        if empty:
            raise ValueError(f"every grid field needs at least one value, got none for {empty}")
        return v


def load_study(path: Path) -> StudySpec:
    """Read and validate a study file (the scenario path resolves relative to it)."""
    from sim.scenario import format_errors  # one error format for every file the user writes

    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [f"cannot read: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [f"not valid YAML: {exc}"]) from None
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(str(path), format_errors(exc, StudySpec)) from None
    if not spec.scenario.is_absolute():
        resolved = Path(path).parent / spec.scenario
        if not resolved.is_file():
            raise ScenarioError(
                str(path), [f"scenario: file not found: {spec.scenario} (relative to the study file: {resolved})"]
            )
        spec = spec.model_copy(update={"scenario": resolved})
    elif not spec.scenario.is_file():
        raise ScenarioError(str(path), [f"scenario: file not found: {spec.scenario}"])
    spec._source = Path(path)
    return spec


@dataclass(frozen=True)
class Cell:
    """One (variant x grid point) of a study: its label, overrides and where it comes from in the study file."""

    name: str
    overrides: dict[str, Any]
    origin: str  # "variants[1] (two hazmat units), grid drills.interval_days=91"


def study_cells(spec: StudySpec) -> list[Cell]:
    """Every (variant x grid point) cell, in the order of the study file."""
    variants = list(spec.variants) or [StudyVariant(name="base")]
    keys = list(spec.grid)
    points = list(itertools.product(*(spec.grid[k] for k in keys))) if keys else [()]
    cells = []
    for vi, v in enumerate(variants):
        for point in points:
            overrides = dict(v.overrides) | dict(zip(keys, point, strict=True))
            label = v.name + "".join(f" {k.split('.')[-1]}={val}" for k, val in zip(keys, point, strict=True))
            origin = f"variants[{vi}] ({v.name})" if spec.variants else "the base scenario"
            if keys:
                origin += ", grid " + ", ".join(f"{k}={val}" for k, val in zip(keys, point, strict=True))
            cells.append(Cell(name=label, overrides=overrides, origin=origin))
    return cells


def cell_scenarios(spec: StudySpec, scenario: Scenario, cells: Sequence[Cell]) -> list[Scenario]:
    """The scenario of every cell, all validated before any runs: one error naming the study file and, for each
    problem, the variant and grid point it comes from."""
    problems: list[str] = []
    out = []
    for cell in cells:
        try:
            out.append(with_overrides(scenario, cell.overrides) if cell.overrides else scenario)
        except ScenarioError as exc:
            problems += [f"{cell.origin}: {p}" for p in exc.problems]
    if problems:
        raise ScenarioError(str(spec.source or spec.name), problems)
    return out


def run_study(
    spec: StudySpec,
    results_root: Path,
    *,
    world_for: Callable[[Scenario], World] | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Run every cell whose results are not on disk yet for exactly its inputs; each cell is written atomically,
    so an interrupted study resumes.

    A finished cell is reused only when its fingerprint (the effective scenario, every referenced file, the travel
    times, seed, replications, rescuesim's version and code; :mod:`sim.provenance`) is unchanged. Cells live in
    ``cells/<name>-<fingerprint>``: a cell computed from other inputs is kept beside, never overwritten.
    ``progress`` hears, for every cell, whether it was reused, new or redone and why. The first cell is the
    baseline: every row has its paired differences from it (:func:`sim.studies.variants.paired_row`).
    ``world_for`` resolves a variant scenario into a world (default: on the scenario's road network, loaded once).
    """
    from sim.provenance import run_fingerprint
    from sim.results import files_replaced
    from sim.scenario import load_scenario

    scenario = load_scenario(spec.scenario)
    cells = study_cells(spec)
    scenarios = cell_scenarios(spec, scenario, cells)
    folder = Path(results_root) / slugify(scenario.name) / f"study-{slugify(spec.name)}"
    (folder / "cells").mkdir(parents=True, exist_ok=True)
    before = _cells_before(folder)
    world_for = world_for or _network_worlds(scenario, workers)
    rows, record, baseline = [], [], None
    for cell, variant in zip(cells, scenarios, strict=True):
        world = world_for(variant)
        seed = variant.seed if spec.seed is None else spec.seed
        replications = spec.replications or variant.replications
        fingerprint = run_fingerprint(world, seed=seed, replications=replications)
        cell_dir = folder / "cells" / f"{slugify(cell.name)[:60]}-{fingerprint.key[:12]}"
        reused = _finished(cell_dir, fingerprint)
        if progress:
            status = "reused (inputs unchanged)" if reused else _why_run(before.get(cell.name), fingerprint)
            progress(f"{cell.name}: {status}")
        if not reused:
            result = run_replications(world, replications=replications, seed=seed, workers=workers, dask=dask)
            _write_cell(cell_dir, cell, result, fingerprint)
        kpis = pd.read_parquet(cell_dir / "kpis.parquet")
        baseline = kpis if baseline is None else baseline
        rows.append(_cell_row(cell, cell_dir, kpis) | paired_row(kpis, baseline))
        record.append({"cell": cell.name, "cell_id": cell_dir.name, "fingerprint": fingerprint.to_json()})
    with files_replaced(folder, prefix=".partial-study-") as staging:
        table = pd.DataFrame(rows)
        table.to_csv(staging / "study.csv", index=False, lineterminator="\n")
        write_json({"study": spec.name, "scenario": str(spec.scenario), "cells": record}, staging / "study.json")
        _write_report(table, staging, spec, scenario)
    return folder


def _write_report(table: pd.DataFrame, folder: Path, spec: StudySpec, scenario: Scenario) -> None:
    from sim.report.html import build_study_report

    replications = spec.replications or scenario.replications
    build_study_report(
        table,
        folder / "report.html",
        title=f"rescuesim study — {spec.name}",
        note=f"Scenario {scenario.name} ({spec.scenario}); {len(table)} cells, {replications} replications each on "
        f"common random numbers; baseline: {table['cell'].iloc[0]}.",
    )


def _cells_before(folder: Path) -> dict[str, Any]:
    """The fingerprint of each cell of the study's last complete run, by cell name (none if unknown)."""
    from sim.provenance import Fingerprint

    path = folder / "study.json"
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        return {c["cell"]: Fingerprint.from_json(c["fingerprint"]) for c in cells if isinstance(c, dict)}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _finished(cell_dir: Path, fingerprint) -> bool:
    """Whether ``cell_dir`` holds a complete cell made from exactly these inputs."""
    from sim.provenance import Fingerprint

    try:
        stored = Fingerprint.from_json(json.loads((cell_dir / "fingerprint.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError):
        return False
    return stored == fingerprint and (cell_dir / "summary.json").is_file() and (cell_dir / "kpis.parquet").is_file()


def _why_run(previous, fingerprint) -> str:
    if previous is None:
        return "new"
    changes = fingerprint.changes_from(previous)
    return "redone: " + (", ".join(changes) if changes else "its results are missing")


def _network_worlds(scenario: Scenario, workers: int | None = None) -> Callable[[Scenario], World]:
    """Worlds on the scenario's road network, loaded on first use."""
    from sim.world import load_network

    network = None

    def world_for(variant: Scenario) -> World:
        nonlocal network
        network = network if network is not None else load_network(scenario)
        return build_world(variant, network, workers=workers)

    return world_for


def _write_cell(cell_dir: Path, cell: Cell, result: RunResult, fingerprint) -> None:
    from sim.metrics import run_summary

    tmp = cell_dir.with_name(f".partial-{cell_dir.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        result.kpis.to_parquet(tmp / "kpis.parquet", index=False)
        write_json({"cell": cell.name, "overrides": cell.overrides} | run_summary(result), tmp / "summary.json")
        write_json(fingerprint.to_json(), tmp / "fingerprint.json")
        shutil.rmtree(cell_dir, ignore_errors=True)
        tmp.rename(cell_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _cell_row(cell: Cell, cell_dir: Path, kpis: pd.DataFrame) -> dict[str, Any]:
    row: dict[str, Any] = {"cell": cell.name, "cell_id": cell_dir.name} | {k: v for k, v in cell.overrides.items()}
    return row | kpi_row(kpis)
