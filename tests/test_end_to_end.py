"""Whole runs through the command line: shipped scenarios, determinism, the real OSM extract, bad places."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.cli import main
from tests.conftest import PROJECT_DIR

SHIPPED = sorted((PROJECT_DIR / "scenarios").glob("*.yaml"))
STUDIES = [p for p in SHIPPED if "scenario" in yaml.safe_load(p.read_text(encoding="utf-8"))]  # study files
SCENARIOS = [p for p in SHIPPED if p not in STUDIES]
QUICK = ["--replications", "2", "--workers", "1", "--quiet", "--no-report"]


def _folders(results: Path) -> set[Path]:
    return {p for p in results.glob("*/*") if p.is_dir() and not p.name.startswith(".")}


def _run(scenario: Path, results: Path, *extra: str) -> Path:
    before = _folders(results)
    code = main(["run", str(scenario), "--results", str(results), "--quiet", "--no-report", *extra])
    assert code == 0
    (folder,) = _folders(results) - before
    return folder


@pytest.mark.parametrize("study", STUDIES, ids=[p.stem for p in STUDIES])
def test_shipped_studies_run_and_report(study, tmp_path):
    assert main(["study", str(study), "--results", str(tmp_path), "--workers", "1", "--quiet"]) == 0
    (folder,) = [p for p in tmp_path.glob("*/study-*") if p.is_dir()]
    table = pd.read_csv(folder / "study.csv")
    assert len(table) == len(yaml.safe_load(study.read_text(encoding="utf-8"))["variants"])
    assert (folder / "report.html").is_file()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
@pytest.mark.slow  # runs every shipped scenario, a million-node grid included
def test_shipped_scenarios_run(scenario, tmp_path):
    folder = _run(scenario, tmp_path, "--replications", "2", "--workers", "1")
    for name in (
        "manifest.json",
        "summary.json",
        "incidents.csv",
        "incidents.parquet",
        "units.csv",
        "units.parquet",
        "events.parquet",
        "breakdown.csv",
        "response_times.png",
    ):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seed"] == yaml.safe_load(scenario.read_text())["seed"]
    assert manifest["scenario_text"] == scenario.read_text(encoding="utf-8")
    assert str(scenario) in manifest["input_checksums"] and "road network content" in manifest["input_checksums"]
    incidents = pd.read_parquet(folder / "incidents.parquet")
    assert len(incidents) > 0 and incidents["first_arrival_s"].notna().all()


def test_same_seed_same_bytes_serial_or_parallel_and_never_overwritten(tmp_path):
    scenario = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    a = _run(scenario, tmp_path / "a", "--replications", "4", "--workers", "1")
    b = _run(scenario, tmp_path / "b", "--replications", "4", "--workers", "2")
    for name in ("incidents.csv", "units.csv", "kpis.csv", "summary.json", "incidents.parquet", "events.parquet"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    again = _run(scenario, tmp_path / "a", "--replications", "4", "--workers", "1")
    assert again != a and (a / "incidents.csv").is_file()


def _osm_scenario(tmp_path: Path, shared_data_dir: Path, *, far_site: bool = False) -> Path:
    """A park and a pipeline placed on the real central-Shanghai extract (written here, never committed)."""
    osm = shared_data_dir / "osm" / "shanghai_center.osm.bz2"
    raw = {
        "name": "Shanghai extract",
        "horizon_days": 120,
        "replications": 2,
        "network": {"source": "osm_xml", "path": str(osm), "max_snap_m": 400},
        "targets": [{"name": "5 min", "applies_to": "park", "first_arrival_min": 5}],
        "parks": [
            {
                "id": "p",
                "name": "测试园区",
                "risk_grade": "A",
                "installations": [
                    {"id": "t1", "kind": "tank_farm", "lon": 121.47, "lat": 31.23, "incidents_per_yr": 20},
                    {"id": "u1", "kind": "process_unit", "lon": 121.48, "lat": 31.24, "incidents_per_yr": 20},
                ],
            }
        ],
        "pipelines": [
            {
                "id": "g",
                "product": "natural_gas",
                "failures_per_1000km_yr": 5000,
                "coordinates": [[121.43, 31.20], [121.46, 31.21], [121.50, 31.22]],
                "hca": [{"from_km": 1.0, "to_km": 2.5}],
            }
        ],
        "bases": [
            {
                "id": "b1",
                "lon": 121.46,
                "lat": 31.22,
                "units": [{"type": "engine", "count": 3}, {"type": "hazmat", "count": 1}],
            },
            {
                "id": "b2",
                "lon": 121.50,
                "lat": 31.25,
                "units": [{"type": "engine", "count": 2}, {"type": "foam", "count": 1}],
            },
        ],
    }
    if far_site:
        raw["sites"] = [{"id": "out-at-sea", "lon": 122.5, "lat": 31.0, "incidents_per_yr": 1}]
    path = tmp_path / "osm.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.slow  # the real OSM extract
def test_park_and_pipeline_on_the_real_extract(tmp_path, shared_data_dir):
    folder = _run(_osm_scenario(tmp_path, shared_data_dir), tmp_path / "results", "--workers", "1")
    incidents = pd.read_parquet(folder / "incidents.parquet")
    assert set(incidents["source"]) == {"park", "pipeline"}
    pipe = incidents[incidents["source"] == "pipeline"]
    assert (pipe["access_s"] > 0).all() and pipe["in_hca"].any()
    breakdown = pd.read_csv(folder / "breakdown.csv")
    assert {"park", "pipeline (HCA)", "pipeline (outside HCA)"} <= set(breakdown["group"])


def test_unreachable_site_named_and_nothing_written(tmp_path, shared_data_dir, capsys):
    path = _osm_scenario(tmp_path, shared_data_dir, far_site=True)
    code = main(["run", str(path), "--results", str(tmp_path / "results"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "sites[out-at-sea]" in err and "limit 400 m" in err and "Traceback" not in err
    assert not any((tmp_path / "results").rglob("*.csv"))


def test_drills_command_writes_table_and_plot(tmp_path):
    scenario = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    code = main(["drills", str(scenario), "--intervals", "91,365", "--results", str(tmp_path), *QUICK])
    assert code == 0
    (folder,) = list(tmp_path.glob("*/*drills*"))
    table = pd.read_csv(folder / "drills.csv")
    assert list(table["interval_days"]) == [91.0, 365.0] and table["best"].sum() == 1
    assert (folder / "tradeoff.png").stat().st_size > 10_000


def test_drills_that_cannot_be_told_apart_are_reported_as_tied(tmp_path, capsys):
    scenario = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    args = ["--intervals", "182,183", "--results", str(tmp_path), "--replications", "3", "--workers", "1"]
    assert main(["drills", str(scenario), *args, "--no-report"]) == 0
    (folder,) = list(tmp_path.glob("*/*drills*"))
    table = pd.read_csv(folder / "drills.csv")
    objective = [c for c in table.columns if c.endswith("_vs_best")][0]
    other = table[~table["best"]].iloc[0]
    assert abs(other[objective]) <= other[f"{objective}_ci"]  # one day apart: the paired CI includes 0
    assert other["tied_with_best"] and not table.loc[table["best"], "tied_with_best"].any()
    out = capsys.readouterr().out
    assert "no single best interval" in out and ("183 days tie" in out or "182 days tie" in out)
    assert "warning: only 3 replications" not in out  # the drill study prints no run summary


def test_a_target_no_incident_matched_is_said_in_words(tmp_path, capsys):
    from sim.cli import _summary_text

    summary = {
        "kpis": {k: {"mean": 60.0, "half_width": 6.0} for k in (
            "first_arrival_mean_s", "first_arrival_median_s", "first_arrival_p90_s", "full_response_mean_s")},
        "replications": 4,
        "notes": [],
        "targets": [
            {"name": "sites 5 min", "applies_to": "site", "required_share": 0.9, "verdict": "no incidents",
             "achieved_share": {"mean": float("nan"), "half_width": float("nan"), "n": 0}},
        ],
    }  # fmt: skip
    text = _summary_text(summary, 10, 0.1)
    assert "target sites 5 min: no incident matched applies_to: site" in text
    assert "nan" not in text and "warning: only 4 replications" in text


def test_site_command_ranks_layouts_and_the_current_one(tmp_path):
    scenario = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    args = ["--model", "pmedian", "--p", "4", "--simulate-top", "2", "--results", str(tmp_path), *QUICK]
    code = main(["site", str(scenario), *args])
    assert code == 0
    (folder,) = list(tmp_path.glob("*/*site*"))
    table = pd.read_csv(folder / "siting.csv")
    assert set(table["layout"]) == {"current", "pmedian #1", "pmedian #2"}
    assert sorted(table["rank"]) == [1, 2, 3]
    layouts = json.loads((folder / "layouts.geojson").read_text())
    assert {f["properties"]["layout"] for f in layouts["features"]} == set(table["layout"])


def test_site_command_with_mexclp_measures_the_busy_fraction_on_todays_layout(tmp_path):
    from sim.siting import busy_fraction_from

    scenario = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    args = ["--model", "mexclp", "--p", "4", "--target-min", "5", "--simulate-top", "1", "--results", str(tmp_path)]
    assert main(["site", str(scenario), *args, *QUICK]) == 0
    (folder,) = list(tmp_path.glob("*/*site*"))
    table = pd.read_csv(folder / "siting.csv")
    assert set(table["layout"]) == {"current", "mexclp #1"}
    q = table["busy_fraction"].iloc[0]
    assert (table["busy_fraction"] == q).all() and 0 < q < 0.5
    if table.loc[0, "layout"] == "current":  # the run tables are the best layout's: today's, when it ranks first
        assert q == pytest.approx(busy_fraction_from(pd.read_parquet(folder / "units.parquet")))
    mexclp = table[table["layout"] == "mexclp #1"].iloc[0]
    current = table[table["layout"] == "current"].iloc[0]
    assert mexclp["model_objective"] >= current["model_objective"] - 1e-9  # the optimum beats today's 4 bases
    assert main(["site", str(scenario), "--model", "malp", "--p", "4", "--target-min", "5", "--alpha", "1.5"]) == 2


def test_site_fleet_keep_adds_bases_and_says_what_happened_to_each(tmp_path, capsys):
    scenario = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    args = ["--model", "pmedian", "--p", "5", "--simulate-top", "1", "--fleet", "keep", "--results", str(tmp_path)]
    assert main(["site", str(scenario), *args, "--replications", "2", "--workers", "1", "--no-report"]) == 0
    (folder,) = list(tmp_path.glob("*/*site*"))
    fleet = pd.read_csv(folder / "fleet.csv")
    today = ["town-fs", "special-fs", "park-team", "hazchem"]
    assert fleet.loc[fleet["change"] == "kept", "base"].tolist() == today
    siting = pd.read_csv(folder / "siting.csv")
    assert all(set(today) <= set(sites.split()) for sites in siting["sites"])  # every layout keeps today's bases
    assert siting.loc[siting["layout"] == "pmedian #1", "bases"].item() == 5
    new = fleet[fleet["change"] != "kept"]  # the best-ranked layout's: today's (none new) or the five-base one
    assert len(new) == siting.loc[0, "bases"] - len(today)
    assert (new["change"] == "opened with new units").all() and (new["units"] == "2 engine, 1 hazmat").all()
    assert "the fleet under the best layout" in capsys.readouterr().out
    too_few = ["--model", "pmedian", "--p", "3", "--fleet", "keep", "--results", str(tmp_path), *QUICK]
    assert main(["site", str(scenario), *too_few]) == 2


def test_fleet_changes_account_for_every_base_when_units_move():
    from sim.scenario import load_scenario
    from sim.siting.candidates import build_candidates, fleet_changes
    from sim.world import build_world, load_network

    scenario = load_scenario(PROJECT_DIR / "scenarios" / "demo_park.yaml")
    network = load_network(scenario)
    candidates = build_candidates(scenario, network, build_world(scenario, network))
    index = {sid: i for i, sid in enumerate(candidates.site_id)}
    rows = {r["base"]: r["change"] for r in fleet_changes(scenario, candidates, [index[s] for s in ("c1", "c2", "c3")])}
    assert set(rows) == {"town-fs", "special-fs", "park-team", "hazchem", "c1", "c2", "c3"}
    assert all(rows[b].startswith("closed, its units move to ") for b in ("town-fs", "special-fs", "park-team"))
    assert sum(rows[c].startswith("opened with the units of") for c in ("c1", "c2", "c3")) == 3
    assert rows["hazchem"].split()[-1] in {"c1", "c2", "c3"}  # four closed, three new: one goes to the nearest


def test_site_iterate_measures_the_busy_fraction_on_the_models_own_layout_until_it_repeats(tmp_path, capsys):
    scenario = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    args = ["--model", "mexclp", "--p", "4", "--target-min", "5", "--simulate-top", "1", "--iterate"]
    assert main(["site", str(scenario), *args, "--results", str(tmp_path), "--replications", "2", "--no-report"]) == 0
    measured = [
        line.split() for line in capsys.readouterr().out.splitlines() if "busy fraction" in line and "on" in line
    ]
    measured = [(float(words[2]), " ".join(words[5:])) for words in measured if words[0] == "busy"]
    assert measured[0][1] == "current" and len(measured) >= 2
    (folder,) = list(tmp_path.glob("*/*site*"))
    table = pd.read_csv(folder / "siting.csv")
    assert table["busy_fraction"].iloc[0] == pytest.approx(measured[-1][0], abs=5e-5)  # the last q measured is used
    assert table.loc[table["layout"] == "mexclp #1", "sites"].item() == measured[-1][1]  # its layout repeated
    assert main(["site", str(scenario), "--model", "mclp", "--p", "3", "--target-min", "5", "--iterate", *QUICK]) == 2


def test_site_curve_gives_each_number_of_bases_its_optimal_layout_simulated(tmp_path):
    scenario = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    args = ["--model", "mclp", "--p", "3", "--target-min", "5", "--simulate-top", "1", "--curve", "1-4"]
    assert main(["site", str(scenario), *args, "--results", str(tmp_path), *QUICK]) == 0
    (folder,) = list(tmp_path.glob("*/*site*"))
    curve = pd.read_csv(folder / "curve.csv")
    assert curve["p"].tolist() == [1, 2, 3, 4] and (curve["sites"].str.split().str.len() == curve["p"]).all()
    assert curve["model_objective"].is_monotonic_increasing  # each point optimal: one more base never covers less
    siting = pd.read_csv(folder / "siting.csv")
    assert curve.loc[2, "model_objective"] == pytest.approx(
        siting.loc[siting["layout"] == "mclp #1", "model_objective"].item()
    )
    assert curve["first_arrival_mean_s"].notna().all() and (folder / "curve.png").stat().st_size > 10_000
    assert main(["site", str(scenario), "--model", "lscp", "--target-min", "5", "--curve", "1-3", *QUICK]) == 2
    assert main(["site", str(scenario), "--model", "mclp", "--target-min", "5", "--curve", "0-3", *QUICK]) == 2


def test_layouts_keep_the_fleet():
    from sim.forces import build_units
    from sim.scenario import load_scenario
    from sim.siting.candidates import build_candidates, layout_scenario
    from sim.world import build_world, load_network

    scenario = load_scenario(PROJECT_DIR / "scenarios" / "demo_park.yaml")
    network = load_network(scenario)
    candidates = build_candidates(scenario, network, build_world(scenario, network))
    index = {sid: i for i, sid in enumerate(candidates.site_id)}
    for layout in (["park-team", "c7", "c8"], ["c1", "c2", "c3", "c4"], ["town-fs", "c5", "c6", "c9", "c10"]):
        variant = layout_scenario(scenario, candidates, [index[s] for s in layout])
        local = {b.id for b in variant.bases if b.units and b.jurisdiction == "local"}
        assert local == set(layout)
        before = sorted(build_units(scenario).unit_type)
        after = sorted(build_units(variant).unit_type)
        if len(layout) <= 4:
            assert after == before  # the same fleet, redistributed
        else:
            assert len(after) > len(before)  # a fifth site brings new units


def test_candidates_from_file_and_road_grid(tmp_path):
    from sim.scenario import load_scenario, with_overrides
    from sim.siting.candidates import build_candidates
    from sim.world import build_world, load_network

    (tmp_path / "sites.csv").write_text(
        "id,name,lon,lat\nx1,北站,121.30,30.76\nx2,南站,121.32,30.72\n", encoding="utf-8"
    )
    base = load_scenario(PROJECT_DIR / "scenarios" / "demo_park.yaml")
    scenario = with_overrides(
        base, {"siting.candidates_file": str(tmp_path / "sites.csv"), "siting.grid": {"spacing_m": 2000}}
    )
    network = load_network(scenario)
    candidates = build_candidates(scenario, network, build_world(scenario, network))
    ids = list(candidates.site_id)
    assert ids[:4] == ["town-fs", "special-fs", "park-team", "hazchem"]  # existing local bases first
    assert {"c1", "c10", "x1", "x2"} <= set(ids)
    grid = [i for i in ids if i.startswith("grid-")]
    assert 10 <= len(grid) <= 40
    at_grid = [ids.index(g) for g in grid]
    assert (network.lon[candidates.node[at_grid]] == candidates.lon[at_grid]).all()  # grid sites sit on road nodes
    assert candidates.existing.sum() == 4 and "regional" not in ids  # other jurisdictions are not sited


def test_candidates_far_from_the_road_refused_by_validate_and_site(tmp_path, capsys):
    raw = yaml.safe_load((PROJECT_DIR / "scenarios" / "demo_park.yaml").read_text(encoding="utf-8"))
    raw["bases"].append({"id": "c-far", "lon": 122.1, "lat": 30.75, "candidate": True})  # about 77 km out
    raw["siting"]["candidates"] = [
        {"id": "x-near", "lon": 121.3, "lat": 30.75},
        {"id": "x-far", "lon": 121.3, "lat": 31.5},
    ]
    path = tmp_path / "far.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert main(["validate", str(path), "--quiet"]) == 0  # without the network there is nothing to snap
    capsys.readouterr()
    site = ["site", str(path), "--model", "pmedian", "--p", "4", "--results", str(tmp_path / "results"), *QUICK]
    for argv in (["validate", str(path), "--network"], site):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and "x-near" not in err
        assert (
            "bases[c-far]: " in err
            and "m from the nearest road node (limit 300 m) at lon=122.10000, lat=30.75000" in err
        )
        assert "siting.candidates[x-far]: " in err and "at lon=121.30000, lat=31.50000" in err
    assert not (tmp_path / "results").exists()


def test_a_run_without_any_incident_writes_its_folder(tmp_path):
    raw = yaml.safe_load((PROJECT_DIR / "scenarios" / "demo_park.yaml").read_text(encoding="utf-8"))
    raw["horizon_days"] = 1e-6  # a valid scenario in which nothing happens
    path = tmp_path / "quiet.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    folder = _run(path, tmp_path / "results", "--replications", "2", "--workers", "1")
    assert len(pd.read_parquet(folder / "incidents.parquet")) == 0 and (folder / "response_times.png").is_file()
