"""Reports: every section, images that are not blank, a GeoPackage that round-trips (the browser test of the map is
in test_map_browser.py)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from sim.cli import main
from sim.report.context import load_context
from sim.report.figures import status_levels
from sim.report.html import SECTIONS, build_report
from sim.report.maps import plot_situation_map
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.slow  # the fast lane (-m 'not slow') leaves this module out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    code = main(
        [
            "run",
            str(PROJECT_DIR / "scenarios" / "demo_park.yaml"),
            "--replications",
            "2",
            "--workers",
            "1",
            "--results",
            str(results),
            "--quiet",
        ]
    )
    assert code == 0
    (folder,) = [p for p in results.glob("*/*") if p.is_dir()]
    return folder


def _images(html: str) -> list[np.ndarray]:
    return [
        mpimg.imread(io.BytesIO(base64.b64decode(m)), format="png")
        for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    ]


def test_report_has_every_section_and_real_images(run_dir):
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    for key in SECTIONS:
        assert (f"<section id='{key}'>" in html) == (key != "calibration"), key  # no replayed calls: no calibration
    assert "东区化工园区" in html
    assert not re.search(r"<(?:img|script|link)[^>]+(?:src|href)=['\"]?https?://", html)  # self-contained
    for heading in ("Scenario summary", "Coverage map", "Response-time distribution", "Compliance with the targets"):
        assert heading in html
    images = _images(html)
    assert len(images) >= 5
    for image in images:
        rgb = image[..., :3].reshape(-1, 3)
        assert rgb.std() > 0.02  # not blank
        colours = (rgb[::5] * 255).astype(np.uint32) @ np.array([65536, 256, 1], dtype=np.uint32)
        assert len(np.unique(colours)) > 20


def test_a_run_replaying_observed_calls_has_a_calibration_section_and_figure(tmp_path):
    demo = PROJECT_DIR / "scenarios" / "demo_park.yaml"
    replay = f"\nreplay: {{file: {PROJECT_DIR / 'scenarios' / 'demo_calls.csv'}, mode: beside}}\n"
    scenario = tmp_path / "replayed.yaml"
    scenario.write_text(demo.read_text(encoding="utf-8") + replay, encoding="utf-8")
    args = ["run", str(scenario), "--replications", "2", "--workers", "1", "--results", str(tmp_path / "r"), "--quiet"]
    assert main(args) == 0
    (folder,) = [p for p in (tmp_path / "r").glob("*/*") if p.is_dir()]
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "<section id='calibration'>" in html and "Calibration against replayed calls" in html
    figure = mpimg.imread(folder / "calibration.png")
    assert figure[..., :3].std() > 0.02
    summary = pd.read_csv(folder / "calibration_summary.csv")
    assert summary["part"].tolist() == ["turnout", "travel", "first_arrival"]
    observed = pd.read_csv(PROJECT_DIR / "scenarios" / "demo_calls.csv")
    assert summary["calls"].tolist() == [observed[f"observed_{p}_min"].notna().sum() for p in summary["part"]]


def test_hour_of_day_table_counts_calls_per_day_by_hour_and_load():
    from sim.report.figures import hour_of_day_table

    incidents = pd.DataFrame(
        {
            "replication": [0, 0, 0, 1, 1],
            "call_hour": [3, 3, 14, 3, 14],
            "source": ["everyday", "everyday", "park", "everyday", "everyday"],
            "first_arrival_s": [60.0, 180.0, 300.0, 240.0, 600.0],
        }
    )
    table = hour_of_day_table(incidents, replications=2, days=2.0).set_index(["load", "call_hour"])
    assert table.loc[("everyday", 3), "calls_per_day"] == pytest.approx(3 / 2 / 2)
    assert table.loc[("everyday", 3), "first_arrival_mean_min"] == pytest.approx((2.0 + 4.0) / 2)  # rep means 2, 4
    assert table.loc[("hazmat", 14), "calls_per_day"] == pytest.approx(1 / 2 / 2)
    assert np.isnan(table.loc[("hazmat", 14), "first_arrival_mean_min_ci"])  # one replication: no CI


def test_geopackage_round_trips(run_dir):
    path = run_dir / "results.gpkg"
    layers = set(gpd.list_layers(path)["name"])
    assert layers == {"bases", "sites", "pipelines", "incidents", "coverage"}
    incidents = gpd.read_file(path, layer="incidents")
    assert len(incidents) == len(pd.read_parquet(run_dir / "incidents.parquet"))
    assert incidents.crs.to_epsg() == 4326 and incidents.geometry.geom_type.eq("Point").all()
    ctx = load_context(run_dir)
    bases = gpd.read_file(path, layer="bases")
    assert len(bases) == len(ctx.scenario.bases) and set(bases["status"]) == {"existing", "candidate"}
    assert "城区消防救援站" in set(bases["name"])
    sites = gpd.read_file(path, layer="sites")
    assert len(sites) == len(ctx.world.sites) and sites.crs.to_epsg() == 4326
    pipes = gpd.read_file(path, layer="pipelines")
    assert pipes["in_hca"].any() and (~pipes["in_hca"]).any()
    coverage = gpd.read_file(path, layer="coverage")
    assert list(coverage["within_min"]) == [5.0, 10.0, 15.0] and coverage.to_crs(3857).area.is_monotonic_increasing


def test_report_rebuilds_from_the_folder(run_dir, capsys):
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").is_file()
    assert main(["report", str(run_dir.parent)]) == 2


@pytest.mark.parametrize(
    ("damage", "quoted"),
    [
        (lambda d: (d / "units.parquet").unlink(), "incomplete results folder: units.parquet missing"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json: damaged manifest, cannot read it"),
        (
            lambda d: (d / "manifest.json").write_text("{}"),
            "manifest.json: damaged manifest, no scenario_text or created_at",
        ),
        (lambda d: (d / "events.parquet").write_bytes(b"not parquet"), "cannot read events.parquet"),
    ],
    ids=["missing table", "manifest not json", "manifest fields missing", "table not parquet"],
)
def test_report_on_a_damaged_folder_names_the_file(run_dir, tmp_path, capsys, damage, quoted):
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    (folder / "report.html").unlink()
    damage(folder)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert quoted in err and "Traceback" not in err
    assert not (folder / "report.html").exists()


def test_study_sections_and_chosen_layout(run_dir, tmp_path):
    """A siting study's table and layouts reach the report, the map and the GeoPackage; a drill study's figure and
    table reach the report."""
    folder = tmp_path / "run"
    shutil.copytree(run_dir, folder)
    pd.DataFrame(
        {
            "rank": [1, 2],
            "layout": ["pmedian #1", "current"],
            "first_arrival_mean_s": [240.0, 300.0],
            "first_arrival_mean_s_ci": [12.0, 15.0],
        }
    ).to_csv(folder / "siting.csv", index=False)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [b.lon, b.lat]},
            "properties": {"layout": layout, "rank": rank, "base_id": b.id},
        }
        for layout, rank, ids in (("pmedian #1", 1, {"c1", "park-team"}), ("current", 2, {"town-fs"}))
        for b in load_context(run_dir).scenario.bases
        if b.id in ids
    ]
    (folder / "layouts.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    pd.DataFrame(
        {"base": ["park-team", "c1"], "change": ["kept", "opened with new units"], "units": ["", "2 engine"]}
    ).to_csv(folder / "fleet.csv", index=False)
    html = build_report(folder).read_text(encoding="utf-8")
    assert "Siting comparison" in html and "4.00 ± 0.20" in html  # minutes with the CI
    assert "The fleet under the best layout" in html and "opened with new units" in html
    assert "siting layout #2: current" in (folder / "map.html").read_text(encoding="utf-8")
    bases = gpd.read_file(folder / "results.gpkg", layer="bases")
    assert set(bases.loc[bases["status"] == "chosen", "base_id"]) == {"c1", "park-team"}

    (folder / "siting.csv").unlink()
    pd.DataFrame({"interval_days": [91.0, 182.0], "escalation_share": [0.02, 0.03], "best": [True, False]}).to_csv(
        folder / "drills.csv", index=False
    )
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 1])
    fig.savefig(folder / "tradeoff.png")
    plt.close(fig)
    html = build_report(folder).read_text(encoding="utf-8")
    assert "Drill-frequency study" in html and "escalation share (%)" in html and ">3.0<" in html
    assert len(_images(html)) == len(_images((run_dir / "report.html").read_text(encoding="utf-8"))) + 1


def test_chosen_bases_are_drawn_in_scenario_order(run_dir, monkeypatch):
    """The stars of a chosen layout follow the scenario's bases, not the iteration order of the set of ids (which
    changes from process to process for strings)."""
    ctx = load_context(run_dir)
    in_order = [b for b in ctx.scenario.bases if b.id in {"c1", "c4", "park-team", "hazchem"}]
    backwards = [b.id for b in reversed(in_order)]  # a collection of the same ids iterating the other way
    monkeypatch.setattr(type(ctx), "chosen_base_ids", lambda self: backwards)
    fig, ax = plot_situation_map(ctx)
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    stars = [c.get_offsets()[0].tolist() for c in scatters if c.get_sizes().tolist() == [220]]
    plt.close(fig)
    assert stars == [[b.lon, b.lat] for b in in_order]


def test_status_levels_from_a_hand_made_log():
    """Replication 0: one call (turnout 60 s, drive 300 s, on scene 3600 s, return 600 s); replication 1: an
    off-site drill over the first hour. Hourly means over two replications."""
    rows = [
        (0, 0.0, "DISPATCH", "u"),
        (0, 0.0, "MOBILISED", "u"),
        (0, 60.0, "EN_ROUTE", "u"),
        (0, 300.0, "AT_ROAD_END", "u"),
        (0, 360.0, "ON_SCENE", "u"),
        (0, 3960.0, "RELEASED", "u"),
        (0, 4560.0, "AT_BASE", "u"),
        (1, 0.0, "DRILL_START", "u"),
        (1, 3600.0, "DRILL_END", "u"),
    ]
    events = pd.DataFrame(rows, columns=["replication", "time_s", "event", "unit"]).assign(value=1.0)
    edges_s, levels = status_levels(events, 7200.0, 3600.0)
    assert list(edges_s) == [0.0, 3600.0, 7200.0]
    half = 0.5  # two replications
    np.testing.assert_allclose(levels["mobilising"], [half * 60 / 3600, 0])
    np.testing.assert_allclose(levels["en route"], [half * 300 / 3600, 0])
    np.testing.assert_allclose(levels["on scene"], [half * 3240 / 3600, half * 360 / 3600])
    np.testing.assert_allclose(levels["returning"], [0, half * 600 / 3600])
    np.testing.assert_allclose(levels["drill off site"], [half, 0])
    np.testing.assert_allclose(levels["drill at base"], [0, 0])
