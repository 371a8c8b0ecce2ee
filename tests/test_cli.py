"""The command line: user errors are one clear message with exit status 2 and no results."""

from __future__ import annotations

import json

import pytest
import yaml

from sim.cli import main


def _write(tmp_path, raw, name="bad.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_bad_scenario_exits_2_with_every_problem_and_writes_nothing(tmp_path, capsys):
    raw = {
        "name": "bad",
        "horizon_days": 10,
        "sites": [{"id": "s", "lon": 121, "lat": 30, "incidents_per_yr": 1}],
        "bases": [{"id": "a", "lon": 121, "lat": 30, "units": [{"type": "engine", "count": -1}]}],
        "replicatons": 3,
    }
    path = _write(tmp_path, raw)
    code = main(["run", str(path), "--results", str(tmp_path / "results"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(path) in err and "bases[0].units[0].count: must be > 0, got -1" in err
    assert "replicatons: unknown field" in err and "Traceback" not in err
    assert not (tmp_path / "results").exists()


def test_missing_scenario_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: 1 problem" in capsys.readouterr().err


def test_missing_network_file_named(tmp_path, capsys):
    raw = {
        "name": "x",
        "horizon_days": 10,
        "network": {"source": "osm_xml", "path": "missing.osm"},
        "sites": [{"id": "s", "lon": 121, "lat": 30, "incidents_per_yr": 1}],
        "bases": [{"id": "a", "lon": 121, "lat": 30, "units": [{"type": "engine", "count": 1}]}],
    }
    path = _write(tmp_path, raw, "net.yaml")
    assert main(["run", str(path), "--results", str(tmp_path / "results"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "missing.osm" in err and "Traceback" not in err
    assert not any((tmp_path / "results").rglob("*.csv"))


def test_schema_is_json(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "bases" in schema["properties"]


def test_bad_option_value_exits_2(tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["run", "x.yaml", "--replications", "0"])
    assert info.value.code == 2


def test_validate_finds_an_hca_beyond_the_pipeline_without_the_network(tmp_path, capsys):
    raw = {
        "name": "x",
        "horizon_days": 10,
        "pipelines": [
            {
                "id": "g",
                "product": "natural_gas",
                "coordinates": [[121.0, 30.0], [121.1, 30.0]],
                "hca": [{"from_km": 1, "to_km": 2}, {"from_km": 5, "to_km": 12.3}],
            }
        ],
        "bases": [{"id": "a", "lon": 121, "lat": 30, "units": [{"type": "engine", "count": 1}]}],
    }
    assert main(["validate", str(_write(tmp_path, raw, "hca.yaml"))]) == 2
    err = capsys.readouterr().err
    assert "pipelines[0].hca[1].to_km: 12.3 km is beyond the pipeline's length 9.63 km" in err
    assert "Traceback" not in err


def test_ctrl_c_wrapped_by_a_library_still_exits_130(tmp_path, capsys, monkeypatch):
    """scipy turns a Ctrl-C during the import of a C extension into an ImportError: still an interrupt."""
    import sim.cli

    def import_interrupted(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr(sim.cli, "cmd_schema", import_interrupted)  # the parser binds it when main builds it
    assert main(["schema"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_every_command_describes_its_positional_arguments(capsys):
    import pytest

    from sim.cli import main

    for command in ("run", "drills", "site", "study", "validate", "report"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        positional = text.split("positional arguments:")[1].split("options:")[0]
        lines = [line for line in positional.splitlines() if line.strip()]
        assert lines and all(len(line.split(None, 1)) == 2 for line in lines), (command, lines)
