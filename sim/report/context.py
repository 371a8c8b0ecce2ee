"""Everything a report needs from a results folder: its tables, and the scenario's world rebuilt from the manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.errors import RescuesimError
from sim.results import read_run
from sim.scenario import Scenario, scenario_from_dict
from sim.world import World, build_world, load_network


@dataclass(eq=False)
class ReportContext:
    run_dir: Path
    manifest: dict
    summary: dict
    tables: dict[str, pd.DataFrame]
    scenario: Scenario
    network: object
    world: World
    layouts: dict | None = None  # layouts.geojson of a siting study
    _isochrones: dict | None = field(default=None, repr=False)

    @property
    def incidents(self) -> pd.DataFrame:
        return self.tables["incidents"]

    def target_minutes(self) -> list[float]:
        minutes = sorted({t.limit_s / 60 for t in self.scenario.targets if t.measure == "first_arrival"})
        return minutes or [5.0, 10.0]

    def isochrones(self) -> dict:
        """Coverage polygons (lon/lat) per first-arrival target time, from the bases holding units."""
        if self._isochrones is None:
            from sim.network import TravelTimes
            from sim.report.coverage import isochrones
            from sim.world import default_cache_dir

            travel = TravelTimes.from_graph(self.network, self.world.base_node, cache_dir=default_cache_dir())
            rows = [travel.row(int(n)) for n in self.world.base_node]
            turnout = np.asarray([b.turnout().mean_s() for b in self.world.bases])
            self._isochrones = isochrones(self.network, travel.outbound_s[rows], turnout, self.target_minutes())
        return self._isochrones

    def chosen_base_ids(self) -> set[str]:
        """Bases of the best-ranked simulated layout of a siting study (empty otherwise)."""
        if not self.layouts:
            return set()
        return {f["properties"]["base_id"] for f in self.layouts["features"] if f["properties"]["rank"] == 1}


REPORT_TABLES = ("incidents", "units", "events", "breakdown")  # every run folder has them; the report reads them


def load_context(
    run_dir: Path, *, network=None, world: World | None = None, tables: dict[str, pd.DataFrame] | None = None
) -> ReportContext:
    """Read a results folder; its world is rebuilt from the manifest unless the caller has it (``network`` and
    ``world``, those the run was made with), and its tables read back but for those the caller has (``tables``, as
    :func:`sim.results.read_run` takes them). A missing or damaged file is a :class:`RescuesimError` naming it."""
    run_dir = Path(run_dir)
    manifest, raw_scenario = _read_manifest(run_dir)
    missing = [f"{name}.parquet" for name in REPORT_TABLES if not (run_dir / f"{name}.parquet").is_file()]
    if missing:
        raise RescuesimError(f"{run_dir}: incomplete results folder: {', '.join(missing)} missing")
    try:
        run = read_run(run_dir, tables=tables)
        layouts_path = run_dir / "layouts.geojson"
        layouts = json.loads(layouts_path.read_text(encoding="utf-8")) if layouts_path.is_file() else None
        for extra in ("drills", "siting", "fleet", "curve"):
            path = run_dir / f"{extra}.csv"
            if path.is_file():
                run[extra] = pd.read_csv(path)
    except (OSError, ValueError) as exc:  # pyarrow's and pandas' read errors are of these kinds
        raise RescuesimError(f"{run_dir}: cannot read {_unreadable(run_dir)}: {exc}") from None
    run.pop("manifest", None)
    summary = run.pop("summary", {})
    source = manifest.get("scenario_file") or "<scenario>"
    base_dir = Path(source).parent if manifest.get("scenario_file") else None
    scenario = scenario_from_dict(
        raw_scenario,
        source=source,
        base_dir=base_dir,
        text=manifest["scenario_text"],
        overrides=manifest.get("overrides") or {},
    )
    if world is not None:
        scenario = world.scenario
    network = network if network is not None else load_network(scenario)
    world = world if world is not None else build_world(scenario, network)
    return ReportContext(
        run_dir=run_dir,
        manifest=manifest,
        summary=summary,
        tables=run,
        scenario=scenario,
        network=network,
        world=world,
        layouts=layouts,
    )


def _read_manifest(run_dir: Path) -> tuple[dict, dict]:
    """The manifest and the scenario it records, or an error saying what is wrong with it."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise RescuesimError(f"{run_dir}: not a results folder (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RescuesimError(f"{path}: damaged manifest, cannot read it: {exc}") from None
    if not isinstance(manifest, dict):
        raise RescuesimError(f"{path}: damaged manifest, expected a JSON object, got {type(manifest).__name__}")
    missing = [key for key in ("scenario_text", "created_at") if not isinstance(manifest.get(key), str)]
    if missing:
        raise RescuesimError(f"{path}: damaged manifest, no {' or '.join(missing)}")
    try:
        raw = yaml.safe_load(manifest["scenario_text"])
    except yaml.YAMLError as exc:
        raise RescuesimError(f"{path}: damaged manifest, its scenario_text is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RescuesimError(f"{path}: damaged manifest, its scenario_text is not a scenario mapping")
    return manifest, raw


def _unreadable(run_dir: Path) -> str:
    """The first file the report reads that cannot be read (after reading the folder failed)."""
    import pyarrow.parquet as pq

    def read_json(path: Path) -> None:
        json.loads(path.read_text(encoding="utf-8"))

    files = [(p, pq.read_table) for p in sorted(run_dir.glob("*.parquet"))]
    files += [(run_dir / "summary.json", read_json), (run_dir / "layouts.geojson", read_json)]
    files += [(run_dir / f"{name}.csv", pd.read_csv) for name in ("drills", "siting")]
    for path, read in files:
        try:
            if path.is_file():
                read(path)
        except (OSError, ValueError):
            return path.name
    return "its files"
