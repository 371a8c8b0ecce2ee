"""Scenario loading and validation: every problem at once, with its path and the bad value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from sim.errors import ScenarioError
from sim.scenario import json_schema, load_scenario, scenario_from_dict, set_dotted, with_overrides

GOOD = {
    "name": "t",
    "horizon_days": 30,
    "bases": [{"id": "a", "lon": 121.0, "lat": 30.0, "units": [{"type": "engine", "count": 2}]}],
    "sites": [{"id": "s", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 5}],
}


def _problems(raw: dict) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(raw)
    return info.value.problems


def test_good_scenario_is_frozen():
    s = scenario_from_dict(GOOD)
    assert s.bases[0].units[0].count == 2
    with pytest.raises(ValidationError, match="frozen"):
        s.name = "x"


def test_all_problems_reported_with_path_and_value():
    raw = json.loads(json.dumps(GOOD))
    raw["bases"].append({"id": "b", "lon": 121.0, "lat": 30.0, "units": [{"type": "engine", "count": -1}]})
    raw["horizon_days"] = 0
    raw["bases"][0]["kind"] = "firehouse"
    problems = _problems(raw)
    assert "bases[1].units[0].count: must be > 0, got -1" in problems
    assert "horizon_days: must be > 0.0, got 0" in problems
    assert any(p.startswith("bases[0].kind: must be one of") and "'firehouse'" in p for p in problems)
    assert len(problems) == 3


def test_unknown_key_is_an_error_with_a_suggestion():
    raw = dict(GOOD, replicatons=5)
    assert _problems(raw) == ["replicatons: unknown field (did you mean 'replications'?)"]


def test_cross_references_checked():
    raw = dict(GOOD, bases=GOOD["bases"] * 2, response_plans={"flood": {1: {"engine": 1}}})
    problems = _problems(raw)
    assert any("duplicate id 'a'" in p for p in problems)
    assert any("response_plans.flood" in p for p in problems)


def test_files_resolve_relative_to_the_scenario(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "inst.csv").write_text(
        "id,name,kind,lon,lat,hazards\nt1,罐区,tank_farm,121.0,30.0,flammable;toxic\nt2,x,reactor,121.0,30.0,\n",
        encoding="utf-8",
    )
    raw = dict(GOOD, parks=[{"id": "p", "risk_grade": "B", "installations_file": "data/inst.csv"}])
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert any("installations_file[row 2].kind" in p and "'reactor'" in p for p in info.value.problems)
    (tmp_path / "data" / "inst.csv").write_text("id,kind,lon,lat,hazards\nt1,tank_farm,121.0,30.0,flammable;toxic\n")
    s = load_scenario(path)
    assert s.parks[0].installations[0].hazards == ("flammable", "toxic")


def test_missing_file_named():
    raw = dict(GOOD, pipelines=[{"id": "g", "product": "natural_gas", "geojson": "nope.geojson"}])
    problems = _problems(raw)
    assert any(p.startswith("pipelines[0].geojson: file not found") and "nope.geojson" in p for p in problems)


def test_missing_scenario_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)


def test_dotted_overrides():
    s = scenario_from_dict(GOOD)
    t = with_overrides(s, {"bases[0].units[0].count": 5, "bases.a.lon": 121.5, "drills.interval_days": 91})
    assert t.bases[0].units[0].count == 5 and t.bases[0].lon == 121.5 and t.drills.interval_days == 91
    with pytest.raises(ScenarioError, match=r"bases\[0\].units\[0\].count: must be > 0, got 0"):
        with_overrides(s, {"bases[0].units[0].count": 0})
    tree = {"a": [{"id": "x", "v": 1}]}
    with pytest.raises(IndexError):
        set_dotted(tree, "a[3].v", 2)


def test_json_schema_describes_the_file():
    schema = json_schema()
    assert "bases" in schema["properties"] and schema["additionalProperties"] is False
    assert "Base" in schema["$defs"]


def test_installations_and_pipeline_from_geojson(tmp_path: Path):
    points = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [121.01, 30.02]},
                "properties": {"id": "t1", "name": "罐区", "kind": "tank_farm", "hazard_source_level": 2},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [121.03, 30.01]},
                "properties": {"id": "w1", "kind": "warehouse"},
            },
        ],
    }
    line = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "LineString", "coordinates": [[121.0, 30.0], [121.05, 30.0], [121.1, 30.02]]},
            }
        ],
    }
    (tmp_path / "inst.geojson").write_text(json.dumps(points, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "gas.geojson").write_text(json.dumps(line), encoding="utf-8")
    raw = dict(
        GOOD,
        parks=[{"id": "p", "risk_grade": "A", "installations_file": "inst.geojson"}],
        pipelines=[{"id": "g", "product": "natural_gas", "geojson": "gas.geojson"}],
    )
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    s = load_scenario(path)
    assert [(i.id, i.kind, i.lon, i.lat) for i in s.parks[0].installations] == [
        ("t1", "tank_farm", 121.01, 30.02),
        ("w1", "warehouse", 121.03, 30.01),
    ]
    assert s.parks[0].installations[0].hazard_source_level == 2
    assert s.pipelines[0].coordinates == ((121.0, 30.0), (121.05, 30.0), (121.1, 30.02))


def test_cross_field_problems_one_per_line_with_their_paths():
    raw = dict(
        GOOD,
        bases=GOOD["bases"] * 2,
        traffic=[{"from_h": 7, "to_h": 9, "travel_factor": 1.2}, {"from_h": 8, "to_h": 10, "travel_factor": 1.3}],
    )
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(raw)
    assert err.value.problems == ["bases: duplicate id 'a'", "traffic[1]: overlaps traffic[0] (7-9 h)"]


def _pipeline(**extra) -> dict:
    """A 9.6 km gas line along 30 N (0.1 degree of longitude)."""
    return {"id": "g", "product": "natural_gas", "coordinates": [[121.0, 30.0], [121.1, 30.0]]} | extra


def test_hca_beyond_the_line_and_bad_line_points_found_at_load_time():
    hca = [{"from_km": 1, "to_km": 2}, {"from_km": 5, "to_km": 12.3}]
    bad_point = _pipeline(id="h", coordinates=[[121.0, 30.0], [500.0, 30.0]])
    raw = dict(
        GOOD, horizon_days=0, pipelines=[_pipeline(hca=hca), bad_point, _pipeline(id="z", coordinates=[[121, 30]] * 2)]
    )
    assert _problems(raw) == [
        "horizon_days: must be > 0.0, got 0",  # reported together with the geometry
        "pipelines[0].hca[1].to_km: 12.3 km is beyond the pipeline's length 9.63 km",
        "pipelines[1].coordinates[1]: need -180 <= lon <= 180 and -90 <= lat <= 90, got [500.0, 30.0]",
        "pipelines[2].coordinates: the line has zero length (all points are the same)",
    ]


def test_bboxes_duplicate_targets_and_candidate_ids_are_errors():
    raw = dict(
        GOOD,
        network={"source": "grid", "bbox": [121.4, 30.7, 121.2, 30.8], "grid_nodes": 100},
        targets=[{"name": "5 min", "first_arrival_min": 5}, {"name": "5 min", "first_arrival_min": 6}],
        siting={
            "grid": {"spacing_m": 1000, "bbox": [121.0, 31.0, 121.1, 30.9]},
            "candidates": [{"id": "x", "lon": 121, "lat": 30}, {"id": "x", "lon": 121, "lat": 30}],
        },
    )
    problems = _problems(raw)
    assert any(p.startswith("network.bbox: need west < east") and "[121.4, 30.7, 121.2, 30.8]" in p for p in problems)
    assert any(p.startswith("siting.grid.bbox: need west < east") for p in problems)
    raw["network"], raw["siting"]["grid"] = {"source": "synthetic"}, None
    raw["siting"]["candidates"].append({"id": "a", "lon": 121, "lat": 30})
    assert _problems(raw) == [
        "targets: duplicate name '5 min'",
        "siting.candidates: duplicate id 'x'",
        "siting.candidates: id 'a' is also a base's id",
    ]


def test_missing_network_file_found_at_load_time(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(dict(GOOD, network={"source": "osm_xml", "path": "roads.osm"})))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == [f"network.path: file not found: {tmp_path / 'roads.osm'}"]


def _points_geojson(rows: list[dict]) -> str:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": {k: v for k, v in r.items() if k not in ("lon", "lat")},
        }
        for r in rows
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def test_the_same_points_as_csv_and_as_geojson_give_the_same_scenario(tmp_path: Path):
    (tmp_path / "inst.csv").write_text(
        "id,name,kind,hazards,hazard_source_level,lon,lat,incidents_per_yr\n"
        "007,罐区,tank_farm,flammable;toxic,2,121.01,30.02,0.5\n"
        "w1,,warehouse,,,121.03,30.01,\n",
        encoding="utf-8",
    )
    installations = [
        {"id": "007", "name": "罐区", "kind": "tank_farm", "hazards": ["flammable", "toxic"], "hazard_source_level": 2,
         "lon": 121.01, "lat": 30.02, "incidents_per_yr": 0.5},
        {"id": "w1", "kind": "warehouse", "lon": 121.03, "lat": 30.01},
    ]  # fmt: skip
    (tmp_path / "inst.geojson").write_text(_points_geojson(installations), encoding="utf-8")
    (tmp_path / "sites.csv").write_text("id,name,lon,lat\n010,北站,121.30,30.76\n", encoding="utf-8")
    (tmp_path / "sites.geojson").write_text(
        _points_geojson([{"id": "010", "name": "北站", "lon": 121.30, "lat": 30.76}]), encoding="utf-8"
    )
    loaded = []
    for ext in ("csv", "geojson"):
        raw = dict(
            GOOD,
            parks=[{"id": "p", "risk_grade": "A", "installations_file": f"inst.{ext}"}],
            siting={"candidates_file": f"sites.{ext}"},
        )
        path = tmp_path / f"{ext}.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        loaded.append(load_scenario(path))
    from_csv, from_geojson = loaded
    assert from_csv.parks[0].installations == from_geojson.parks[0].installations
    assert from_csv.siting.candidates == from_geojson.siting.candidates
    first = from_csv.parks[0].installations[0]
    assert (first.id, first.hazard_source_level, first.hazards) == ("007", 2, ("flammable", "toxic"))
    assert from_csv.siting.candidates[0].id == "010"


def test_bad_rows_of_point_files_are_named_by_row_and_field(tmp_path: Path):
    (tmp_path / "inst.csv").write_text(
        "id,kind,hazard_source_level,hazards,lon,lat\n"
        "t1,tank_farm,5,flammable;toxc,121.0,30.0\n"
        "t2,tank_farm,1,,east,30.0\n",
        encoding="utf-8",
    )
    (tmp_path / "sites.csv").write_text("id,lon,lat,notes\nx,121.0,95,new\n", encoding="utf-8")
    raw = dict(
        GOOD,
        parks=[{"id": "p", "risk_grade": "A", "installations_file": "inst.csv"}],
        siting={"candidates_file": "sites.csv"},
    )
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    assert "parks[0].installations_file[row 1].hazard_source_level: must be one of 1, 2, 3 or 4, got '5'" in problems
    assert any(p.startswith("parks[0].installations_file[row 1].hazards[1]") and "'toxc'" in p for p in problems)
    assert any(p.startswith("parks[0].installations_file[row 2].lon") and "'east'" in p for p in problems)
    assert "siting.candidates_file[row 1].lat: must be <= 90.0, got 95.0" in problems
    assert "siting.candidates_file[row 1].notes: unknown field" in problems
    assert len(problems) == 5


def test_sources_that_can_never_have_an_incident_are_an_error():
    raw = dict(GOOD, sites=[], pipelines=[_pipeline(failures_per_1000km_yr=0)])
    assert _problems(raw) == ["no incident source has a rate above 0: no incident would ever happen"]
    raw["parks"] = [{"id": "p", "risk_grade": "C", "installations": [{"id": "t", "lon": 121.0, "lat": 30.0}]}]
    assert scenario_from_dict(raw).parks[0].installations[0].incidents_per_yr is None  # the default rate, > 0


def test_an_incident_type_without_a_plan_takes_the_explicit_default_plan():
    from tests.helpers import base, tiny_scenario

    scenario = tiny_scenario([base("a", engine=1, hazmat=1)], default_response_plan={"hazmat": 1})
    assert scenario.plan("no such type", 2) == {"hazmat": 1}
    assert tiny_scenario([base("a", engine=1)]).plan("no such type", 1) == {"engine": 1}
    with pytest.raises(ScenarioError, match=r"default_response_plan.engine: count must be > 0, got 0"):
        tiny_scenario([base("a", engine=1)], default_response_plan={"engine": 0})
