"""Reports: every section, images that are not blank, a GeoPackage that round-trips (the browser test of the map is
in test_map_browser.py)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import geopandas as gpd
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.report.html import SECTIONS
from tests.conftest import PROJECT_DIR


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
        assert f"<section id='{key}'>" in html, key
    assert "东区化工园区" in html
    images = _images(html)
    assert len(images) >= 5
    for image in images:
        rgb = image[..., :3].reshape(-1, 3)
        assert rgb.std() > 0.02  # not blank
        assert len(np.unique((rgb * 255).astype(np.uint8), axis=0)) > 20


def test_geopackage_round_trips(run_dir):
    path = run_dir / "results.gpkg"
    layers = set(gpd.list_layers(path)["name"])
    assert layers == {"bases", "sites", "pipelines", "incidents", "coverage"}
    incidents = gpd.read_file(path, layer="incidents")
    assert len(incidents) == len(pd.read_parquet(run_dir / "incidents.parquet"))
    assert incidents.crs.to_epsg() == 4326 and incidents.geometry.geom_type.eq("Point").all()
    bases = gpd.read_file(path, layer="bases")
    assert len(bases) == 15 and set(bases["status"]) == {"existing", "candidate"}
    pipes = gpd.read_file(path, layer="pipelines")
    assert pipes["in_hca"].any() and (~pipes["in_hca"]).any()
    coverage = gpd.read_file(path, layer="coverage")
    assert (
        list(coverage["within_min"]) == [5.0, 15.0]
        and coverage.to_crs(3857).area.iloc[1] > coverage.to_crs(3857).area.iloc[0]
    )


def test_report_rebuilds_from_the_folder(run_dir, capsys):
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").is_file()
    assert main(["report", str(run_dir.parent)]) == 2
