"""Results integrity: a planner is never handed figures that do not belong to the inputs.

Resumed studies reuse a cell only when every input is unchanged; a results folder is complete or absent (Ctrl-C at
any moment); unusable output locations are refused before any work; study variants are whole scenarios; a study
file is validated whole before its first cell runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import sim.studies.files as study_files
from sim.cli import main
from sim.errors import RescuesimError, ScenarioError
from sim.studies.files import load_study, run_study
from sim.studies.variants import Variant, run_variants
from sim.world import build_world, load_network, world_from_matrix
from tests.helpers import TWO_BASES, TWO_BY_TWO_TRAVEL_S, TWO_SITES, two_site_raw

pytestmark = pytest.mark.slow  # the fast lane (-m 'not slow') leaves this module out

PROJECT_DIR = Path(__file__).resolve().parents[1]

BASES, SITES, TRAVEL = TWO_BASES, TWO_SITES, TWO_BY_TWO_TRAVEL_S


def _raw(**extra) -> dict:
    return two_site_raw("integrity", **extra)


def _write_yaml(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _matrix_worlds(variant):
    return world_from_matrix(variant, TRAVEL)


# --- 1. resumed studies never reuse stale cells ------------------------------------------------------------------


def _study(tmp_path, scenario_raw: dict, **study_extra) -> Path:
    _write_yaml(tmp_path / "scenario.yaml", scenario_raw)
    study = {"name": "resume", "scenario": "scenario.yaml", "grid": {"drills.interval_days": [10, 20]}} | study_extra
    return _write_yaml(tmp_path / "study.yaml", study)


def _run(study_path: Path, results: Path, world_for=_matrix_worlds) -> tuple[pd.DataFrame, list[str]]:
    said: list[str] = []
    folder = run_study(load_study(study_path), results, world_for=world_for, workers=1, progress=said.append)
    return pd.read_csv(folder / "study.csv"), said


def test_an_unchanged_study_reuses_every_cell(tmp_path):
    study = _study(tmp_path, _raw())
    first, said = _run(study, tmp_path / "results")
    assert all(s.endswith(": new") for s in said)
    again, said = _run(study, tmp_path / "results")
    assert all(s.endswith("reused (inputs unchanged)") for s in said) and len(said) == 2
    pd.testing.assert_frame_equal(first, again)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda raw, st: raw["bases"][1]["units"][0].update(count=3), "scenario.bases changed"),
        (lambda raw, st: raw["bases"][0].update(lon=121.05), "scenario.bases changed"),
        (lambda raw, st: raw["sites"][0].update(incidents_per_yr=900), "scenario.sites changed"),
        (lambda raw, st: st.update(replications=4), "replications 3 -> 4"),
        (lambda raw, st: st.update(seed=7), "seed 20261122 -> 7"),
    ],
    ids=["unit count", "base moved", "incident rate", "replications", "seed"],
)
def test_a_changed_input_redoes_the_cells_and_says_why(tmp_path, change, reason):
    raw, study_extra = _raw(), {}
    study = _study(tmp_path, raw)
    _run(study, tmp_path / "results")
    change(raw, study_extra)
    study = _study(tmp_path, raw, **study_extra)
    table, said = _run(study, tmp_path / "results")
    assert len(said) == 2 and all(f"redone: {reason}" in s for s in said), said
    fresh, _ = _run(study, tmp_path / "fresh")  # what the changed inputs give from scratch
    pd.testing.assert_frame_equal(table, fresh)


def test_a_changed_referenced_file_redoes_the_cells(tmp_path):
    inst = tmp_path / "east.csv"
    inst.write_text("id,kind,lon,lat,incidents_per_yr\nt1,tank_farm,121.0,30.0,100\n", encoding="utf-8")
    raw = _raw(
        sites=[SITES[0]],
        parks=[{"id": "east", "risk_grade": "B", "installations_file": "east.csv"}],
        incident_mix={"site": {"call": 1.0}, "tank_farm": {"call": 1.0}},
    )

    def world_for(variant):  # a park installation and s1 (the park's site is listed first)
        return world_from_matrix(variant, [[120.0, 130.0], [500.0, 510.0]])

    study = _study(tmp_path, raw)
    first, _ = _run(study, tmp_path / "results", world_for)
    inst.write_text("id,kind,lon,lat,incidents_per_yr\nt1,tank_farm,121.0,30.0,1000\n", encoding="utf-8")
    table, said = _run(study, tmp_path / "results", world_for)
    assert all("file east.csv changed" in s for s in said), said
    assert (table["incidents"] > first["incidents"]).all()


def test_changed_travel_times_or_code_redo_the_cells(tmp_path, monkeypatch):
    study = _study(tmp_path, _raw())
    _run(study, tmp_path / "results")
    said: list[str] = []
    slower = [[t * 2 for t in row] for row in TRAVEL]
    run_study(
        load_study(study), tmp_path / "results", world_for=lambda v: world_from_matrix(v, slower), progress=said.append
    )
    assert all("redone: travel times changed" in s for s in said), said
    import sim.provenance

    monkeypatch.setattr(sim.provenance, "code_digest", lambda: "another version of the code")
    _, said = _run(study, tmp_path / "results")
    assert all("rescuesim code changed" in s for s in said), said


def test_earlier_cells_are_kept_and_reused_when_the_inputs_come_back(tmp_path):
    raw = _raw()
    study = _study(tmp_path, raw)
    first, _ = _run(study, tmp_path / "results")
    raw["bases"][1]["units"][0]["count"] = 3
    _run(_study(tmp_path, raw), tmp_path / "results")
    raw["bases"][1]["units"][0]["count"] = 1
    back, said = _run(_study(tmp_path, raw), tmp_path / "results")
    assert all(s.endswith("reused (inputs unchanged)") for s in said), said
    pd.testing.assert_frame_equal(first, back)


# --- 2. a results folder is complete or absent ---------------------------------------------------------------------


def _final_folders(results: Path) -> list[Path]:
    return [p for p in results.rglob("*") if p.is_dir() and not any(part.startswith(".") for part in p.parts)]


def _leftovers(results: Path) -> list[Path]:
    return [p for p in results.rglob(".*")]


def _grid_scenario(tmp_path: Path, **extra) -> Path:
    raw = (
        _raw(
            network={"source": "grid", "bbox": [120.99, 29.99, 121.11, 30.01], "grid_nodes": 400},
            replications=2,
            targets=[{"name": "5 min", "applies_to": "all", "first_arrival_min": 5, "share": 0.9}],
        )
        | extra
    )
    return _write_yaml(tmp_path / "grid.yaml", raw)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RESCUESIM_CACHE_DIR", str(tmp_path / "cache"))


def _interrupted(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["sim.report.html.build_map", "sim.report.gis.write_geopackage"])
@pytest.mark.parametrize("command", ["run", "drills", "site"])
def test_ctrl_c_while_the_report_is_written_leaves_nothing(tmp_path, monkeypatch, capsys, cache, where, command):
    monkeypatch.setattr(where, _interrupted)
    scenario = _grid_scenario(tmp_path)
    args = {
        "run": ["run", str(scenario)],
        "drills": ["drills", str(scenario), "--intervals", "10,20"],
        "site": ["site", str(scenario), "--model", "pmedian", "--p", "1", "--simulate-top", "1"],
    }[command]
    results = tmp_path / "results"
    code = main([*args, "--results", str(results), "--quiet", "--workers", "1"])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert _final_folders(results / "integrity") == [] and _leftovers(results) == []


def test_rebuilding_a_report_replaces_the_old_one_only_when_complete(tmp_path, monkeypatch, capsys, cache):
    results = tmp_path / "results"
    assert main(["run", str(_grid_scenario(tmp_path)), "--results", str(results), "--quiet", "--workers", "1"]) == 0
    (run_dir,) = _final_folders(results / "integrity")
    before = {n: (run_dir / n).read_bytes() for n in ("report.html", "map.html", "results.gpkg")}

    (run_dir / "map.html").write_text("the earlier map")  # marks the earlier files
    before["map.html"] = b"the earlier map"
    with monkeypatch.context() as m:
        m.setattr("sim.report.gis.write_geopackage", _interrupted)
        assert main(["report", str(run_dir)]) == 130
    assert {n: (run_dir / n).read_bytes() for n in before} == before
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []
    assert main(["report", str(run_dir)]) == 0  # and when complete, the new files replace the old
    assert (run_dir / "map.html").read_bytes() != b"the earlier map"
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def _complete(folder: Path) -> bool:
    names = {p.name for p in folder.iterdir()}
    need = {"manifest.json", "summary.json", "incidents.csv", "units.parquet", "report.html", "map.html"}
    return need | {"results.gpkg"} <= names


def _default_sigint() -> None:
    """In the child: Ctrl-C as in a terminal, even when this test runs where SIGINT is ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_at_any_moment_stops_promptly_and_leaves_complete_or_nothing(tmp_path):
    """SIGINT to a real ``rescuesim run`` at several moments (imports, network, simulation, tables, report)."""
    scenario = _grid_scenario(tmp_path, replications=20, horizon_days=120)
    env = dict(os.environ, RESCUESIM_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(PROJECT_DIR))
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "sim", "run", str(scenario), "--results", str(results), "--quiet"]
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)  # also warms the cache
    full_s = time.monotonic() - t0
    shutil.rmtree(results)
    outcomes = []
    for fraction in (0.5, 0.8, 0.95):
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint
        )
        time.sleep(full_s * fraction)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        stopped_s = time.monotonic() - sent
        folders = _final_folders(results / "integrity") if results.exists() else []
        outcomes.append(proc.returncode)
        assert _leftovers(results) == [] if results.exists() else True
        # -SIGINT: the signal came before Python's handler was installed or after it was removed at exit
        assert proc.returncode in (0, 130, -signal.SIGINT), err
        assert folders == [] or (len(folders) == 1 and _complete(folders[0])), folders
        if proc.returncode == 130:
            assert folders == [], f"interrupted at {fraction:.0%} but left {folders}"
            assert "Traceback" not in err and "interrupted" in err
            assert stopped_s < 10, f"took {stopped_s:.1f} s to stop"
        for folder in folders:
            shutil.rmtree(folder)
    assert 130 in outcomes, outcomes
    print(f"full run {full_s:.1f} s; exit codes {outcomes}")


# --- 3. unusable output locations are refused before any work ----------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    import sim.world

    def refuse(*args, **kwargs):
        raise AssertionError("the network was loaded before the output location was checked")

    monkeypatch.setattr(sim.world, "load_network", refuse)


def _refused(capsys, args: list[str], path: Path, reason: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(path) in err and reason in err and "Traceback" not in err, err


def test_results_that_is_a_file_or_under_a_file_is_refused(tmp_path, capsys, no_network):
    scenario = _grid_scenario(tmp_path)
    plain = tmp_path / "plain.txt"
    plain.write_text("not a folder")
    _refused(capsys, ["run", str(scenario), "--results", str(plain)], plain, "is a regular file")
    under = plain / "results"
    _refused(capsys, ["run", str(scenario), "--results", str(under)], under, "regular file")
    study = _write_yaml(tmp_path / "study.yaml", {"name": "s", "scenario": "grid.yaml"})
    _refused(capsys, ["study", str(study), "--results", str(under)], under, "regular file")
    assert plain.read_text() == "not a folder"


def test_a_read_only_results_folder_is_refused(tmp_path):
    """Read-only for real: a read-only bind mount when run as root (root writes through file modes), else 0o555."""
    scenario = _grid_scenario(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    run = [sys.executable, "-m", "sim", "run", str(scenario), "--results", str(ro / "results")]
    env = dict(os.environ, PYTHONPATH=str(PROJECT_DIR), RESCUESIM_CACHE_DIR=str(tmp_path / "cache"))
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("root without unshare: no way to make a folder read-only")
        script = f"mount --bind -o ro {ro} {ro} && exec {' '.join(run)}"
        cmd = ["unshare", "-m", "sh", "-c", script]
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip("mount namespaces not allowed here")
    else:
        ro.chmod(0o555)
        cmd = run
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert str(ro / "results") in out.stderr
    assert "read-only" in out.stderr.lower() or "permission" in out.stderr.lower(), out.stderr
    assert "Traceback" not in out.stderr and "road nodes" not in out.stdout
    assert not (ro / "results").exists()


def test_a_folder_without_permission_is_refused(tmp_path):
    """As a user without permission (nobody, in a forked child, when run as root)."""
    from sim.results import check_writable_folder

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    if os.geteuid() != 0:
        locked.chmod(0o000)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, probe, report through the pipe
        os.close(read)
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            check_writable_folder(locked / "results")
            message = "accepted"
        except RescuesimError as exc:
            message = f"refused: {exc}"
        except BaseException as exc:  # noqa: BLE001 - any crash is reported to the parent
            message = f"crashed: {exc!r}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    message = os.read(read, 4096).decode()
    os.close(read)
    locked.chmod(0o700)
    assert message.startswith("refused:") and "permission denied" in message and str(locked) in message, message


# --- 5. study variants are whole scenarios -------------------------------------------------------------------------


def _world_with_every_source():
    from sim.hazards import build_sites
    from sim.scenario import scenario_from_dict

    raw = _raw(
        horizon_days=200,
        parks=[
            {
                "id": "east",
                "risk_grade": "C",
                "installations": [{"id": "t1", "kind": "tank_farm", "lon": 121.0, "lat": 30.0}],
            }
        ],
        pipelines=[
            {
                "id": "gas",
                "product": "natural_gas",
                "coordinates": [[121.0, 30.0], [121.01, 30.0]],
                "failures_per_1000km_yr": 2000,
                "segment_m": 500,
            }
        ],
        incident_mix={k: {"call": 1.0} for k in ("site", "tank_farm", "pipeline")},
        jurisdiction=None,
    )
    raw.pop("jurisdiction")
    raw["bases"][1] = raw["bases"][1] | {"jurisdiction": "other"}
    scenario = scenario_from_dict(raw)
    n_sites = len(build_sites(scenario))
    rng = np.random.default_rng(1)
    return world_from_matrix(scenario, rng.uniform(60, 900, size=(2, n_sites)).round())


def _counts(result, column: str) -> pd.Series:
    return result.incidents.groupby(column).size()


OVERRIDES = {
    "sites": ({"sites[0].incidents_per_yr": 3000}, lambda r: _counts(r, "source").get("site", 0)),
    "parks": ({"parks[0].risk_grade": "A"}, lambda r: _counts(r, "source").get("park", 0)),
    "pipelines": ({"pipelines[0].failures_per_1000km_yr": 20000}, lambda r: _counts(r, "source").get("pipeline", 0)),
    "bases": ({"bases[0].units[0].count": 4}, lambda r: len(r.units)),
    "drills": ({"drills": {"interval_days": 10, "duration_h": 4}}, lambda r: r.units["drills"].sum()),
    "dispatch": ({"dispatch.home_jurisdiction": "other"}, lambda r: (r.incidents["first_base"] == "b").sum()),
    "traffic": ({"traffic": [{"from_h": 0, "to_h": 24, "travel_factor": 2}]}, lambda r: r.incidents["travel_s"].sum()),
}


@pytest.mark.parametrize("section", list(OVERRIDES))
def test_an_override_of_every_section_takes_effect(section):
    world = _world_with_every_source()
    overrides, measure = OVERRIDES[section]
    results = run_variants(world, [Variant("base", {}), Variant(section, overrides)], replications=2, seed=3, workers=1)
    before, after = measure(results["base"]), measure(results[section])
    assert after > before, f"{section}: {before} -> {after}"


def test_a_variant_that_moves_a_base_is_rebuilt_on_the_network(tmp_path, cache):
    from sim.scenario import load_scenario, with_overrides

    scenario = load_scenario(_grid_scenario(tmp_path))
    network = load_network(scenario)
    world = build_world(scenario, network)
    moved = with_overrides(scenario, {"bases[1].lon": 121.02})
    with pytest.raises(RescuesimError, match="needs the road network"):
        run_variants(world, [Variant("moved", {"bases[1].lon": 121.02})], replications=1, workers=1)
    results = run_variants(
        world, [Variant("moved", {"bases[1].lon": 121.02})], network=network, replications=1, workers=1
    )
    rebuilt = results["moved"].world
    assert not np.array_equal(rebuilt.travel_out_s, world.travel_out_s)
    np.testing.assert_array_equal(rebuilt.travel_out_s, build_world(moved, network).travel_out_s)


# --- 6. a study file is validated whole before its first cell ------------------------------------------------------


def test_a_study_is_validated_whole_before_any_cell_runs(tmp_path, monkeypatch):
    _write_yaml(tmp_path / "scenario.yaml", _raw())
    study = _write_yaml(
        tmp_path / "my_study.yaml",
        {
            "name": "bad",
            "scenario": "scenario.yaml",
            "variants": [
                {"name": "current"},
                {"name": "two hazmat units", "overrides": {"bases[1].unit[2].count": 2}},
            ],
            "grid": {"drills.interval_days": [91, -1]},
        },
    )
    ran = []
    monkeypatch.setattr(study_files, "run_replications", lambda *a, **k: ran.append(1))
    with pytest.raises(ScenarioError) as info:
        run_study(load_study(study), tmp_path / "results", world_for=_matrix_worlds, workers=1)
    text = str(info.value)
    assert text.startswith(f"{study}:")
    assert "variants[1] (two hazmat units), grid drills.interval_days=91: bases[1].unit[2].count" in text
    assert "variants[0] (current), grid drills.interval_days=-1: drills.interval_days" in text
    assert ran == [] and not (tmp_path / "results").exists()


def test_a_missing_scenario_is_said_to_be_relative_to_the_study_file(tmp_path, capsys):
    study = _write_yaml(tmp_path / "s.yaml", {"name": "s", "scenario": "nope.yaml"})
    assert main(["study", str(study), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "scenario: file not found: nope.yaml (relative to the study file" in err and str(tmp_path) in err


def test_manifest_records_the_fingerprint(tmp_path, cache):
    results = tmp_path / "results"
    assert main(["run", str(_grid_scenario(tmp_path)), "--results", str(results), "--quiet", "--no-report"]) == 0
    (run_dir,) = _final_folders(results / "integrity")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["run_id"] == run_dir.name
    assert {"scenario.bases", "travel times", "seed", "replications", "rescuesim code"} <= set(manifest["fingerprint"])
