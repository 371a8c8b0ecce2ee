"""Studies: variants and grids on common random numbers, resumable after an interruption; the drill study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.studies.drills import drill_table, drill_variants
from sim.studies.files import load_study, run_study, study_cells
from sim.studies.variants import run_variants
from sim.world import world_from_matrix
from tests.helpers import TWO_BASES, TWO_BY_TWO_TRAVEL_S, TWO_SITES, tiny_scenario, two_site_raw

BASES, SITES, TRAVEL = TWO_BASES, TWO_SITES, TWO_BY_TWO_TRAVEL_S


def _scenario_file(tmp_path, **extra):
    raw = two_site_raw("tiny study", **extra)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


def _matrix_worlds(variant):
    return world_from_matrix(variant, TRAVEL)


def test_study_runs_variants_and_grid_and_resumes(tmp_path, monkeypatch):
    scenario_path = _scenario_file(tmp_path)
    study = {
        "name": "two variants",
        "scenario": scenario_path.name,
        "variants": [{"name": "current"}, {"name": "more at b", "overrides": {"bases[1].units[0].count": 2}}],
        "grid": {"drills.interval_days": [10, 20]},
    }
    study_path = tmp_path / "study.yaml"
    study_path.write_text(yaml.safe_dump(study))
    spec = load_study(study_path)
    assert len(study_cells(spec)) == 4

    import sim.studies.files as study_files

    calls = []
    real = study_files.run_replications

    def counting(world, **kw):
        calls.append(world.scenario.drills.interval_days)
        if len(calls) == 3:
            raise KeyboardInterrupt  # interrupted while running the third cell
        return real(world, **kw)

    monkeypatch.setattr(study_files, "run_replications", counting)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, tmp_path / "results", world_for=_matrix_worlds, workers=1)
    folder = tmp_path / "results" / "tiny-study" / "study-two-variants"
    done = sorted(p.name for p in (folder / "cells").iterdir())
    assert len(done) == 2 and not any(name.startswith(".") for name in done)
    assert not (folder / "study.csv").exists()

    calls.clear()
    monkeypatch.setattr(study_files, "run_replications", lambda world, **kw: (calls.append(1), real(world, **kw))[1])
    out = run_study(spec, tmp_path / "results", world_for=_matrix_worlds, workers=1)
    assert len(calls) == 2  # only the two unfinished cells ran
    table = pd.read_csv(out / "study.csv")
    assert len(table) == 4 and table["first_arrival_mean_s"].notna().all()
    # common random numbers: every cell saw the same number of incidents
    assert table["incidents"].nunique() == 1
    # paired differences from the first cell, replication by replication
    assert (table.loc[0, [c for c in table.columns if c.endswith("_vs_baseline")]] == 0).all()
    cells = [pd.read_parquet(folder / "cells" / c / "kpis.parquet") for c in table["cell_id"]]
    diff = (cells[3]["first_arrival_mean_s"] - cells[0]["first_arrival_mean_s"]).to_numpy()
    assert table.loc[3, "first_arrival_mean_s_vs_baseline"] == pytest.approx(diff.mean())
    half = table.loc[3, "first_arrival_mean_s_vs_baseline_ci"]
    assert 0 < half < table.loc[3, "first_arrival_mean_s_ci"]  # pairing removes the common incident noise
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Paired difference from the baseline" in report and "data:image/png;base64," in report
    assert all(f"<td>{name}</td>" in report for name in table["cell"])


def test_drill_sweep_faces_identical_incidents():
    scenario = tiny_scenario(BASES, SITES, drills={"interval_days": 10, "duration_h": 8}, horizon_days=60)
    world = world_from_matrix(scenario, TRAVEL)
    intervals = [5, 15, 60]
    results = run_variants(world, drill_variants(scenario, intervals), replications=2, workers=1)
    calls = [
        r.incidents[["replication", "incident", "call_at_s", "site_id", "incident_type"]] for r in results.values()
    ]
    for other in calls[1:]:
        pd.testing.assert_frame_equal(calls[0], other)
    downtime = [r.units["drill_downtime_s"].sum() for r in results.values()]
    assert downtime[0] > downtime[1] > downtime[2]


def _drill_kpi(duration_h: float, intervals: list[float], replications: int = 4) -> np.ndarray:
    """Mean first arrival per interval for one unit-short world (first target: none; objective first arrival)."""
    bases = [{"id": "a", "lon": 121.0, "lat": 30.0, "turnout_min": 1, "units": [{"type": "engine", "count": 2}]}]
    sites = [{"id": "s1", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 700}]
    scenario = tiny_scenario(
        bases,
        sites,
        horizon_days=120,
        drills={"interval_days": 30, "duration_h": duration_h, "off_site": True},
        readiness={"half_life_days": 60, "turnout_penalty": 3.0},
        incident_types={"call": {"severity": {1: 1.0}, "on_scene_min": {"exponential": {"mean": 60}}}},
    )
    world = world_from_matrix(scenario, [[300.0]])
    results = run_variants(world, drill_variants(scenario, intervals), replications=replications, workers=1)
    table = drill_table(intervals, results, "first_arrival_mean_s", larger_is_better=False)
    return table["first_arrival_mean_s"].to_numpy()


def test_free_drills_more_often_never_worse():
    kpi = _drill_kpi(0.0, [7, 30, 120])
    assert kpi[0] <= kpi[1] <= kpi[2]


def test_very_long_drills_too_often_is_worse():
    kpi = _drill_kpi(72.0, [4, 30])
    assert kpi[0] > kpi[1]
