"""map.html in a real browser (headless Chromium): Leaflet draws its panes and vector paths, no JavaScript error,
and the screenshot is not blank although no tile server is reachable."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from sim.cli import main
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.slow  # the fast lane (-m 'not slow') leaves this module out

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI (.ci/run must apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium): the map is not checked in a browser")
    return CHROMIUM


@pytest.fixture(scope="module")
def map_html(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    args = ["run", str(PROJECT_DIR / "scenarios" / "demo_park.yaml"), "--replications", "1", "--workers", "1"]
    assert main([*args, "--results", str(results), "--quiet"]) == 0
    (path,) = results.glob("*/*/map.html")
    return path


def _chromium(chromium: Path, profile: Path, *extra: str, url: str) -> subprocess.CompletedProcess:
    args = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1200,800",
        "--virtual-time-budget=5000",
        *extra,
        url,
    ]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_map_is_self_contained(map_html):
    text = map_html.read_text(encoding="utf-8")
    external = re.findall(r"<(?:script|link)[^>]+(?:src|href)=[\"']?https?://[^\"' >]+", text)
    assert not external, external  # Leaflet is embedded: the map works offline
    assert "L.control.layers" in text and "东区化工园区" in text


def test_leaflet_draws_vector_layers(chromium, map_html, tmp_path):
    proc = _chromium(chromium, tmp_path / "profile", "--dump-dom", url=map_html.resolve().as_uri())
    dom = proc.stdout
    assert "leaflet-pane" in dom, proc.stderr[-2000:]
    assert dom.count("<path") > 20  # roads, pipelines, bases, incidents, coverage drawn as SVG paths
    assert "leaflet-control-layers" in dom


def test_map_renders_without_errors_and_is_not_blank(chromium, map_html, tmp_path):
    shot = tmp_path / "map.png"
    proc = _chromium(
        chromium,
        tmp_path / "profile",
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        url=map_html.resolve().as_uri(),
    )
    errors = [
        line
        for line in proc.stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "Error" in line) and "tile.openstreetmap" not in line
    ]
    assert not errors, errors
    assert shot.is_file(), proc.stderr[-2000:]
    image = mpimg.imread(shot)[..., :3]
    pixels = (image.reshape(-1, 3) * 255).astype(np.uint8)
    assert len(np.unique(pixels, axis=0)) > 50, "blank map"
    assert (pixels.min(axis=1) < 200).mean() > 0.02, "map is (almost) all white"
