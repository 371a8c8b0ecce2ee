"""Shared test fixtures: Agg backend, paths to the shared data (never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

PROJECT_DIR = Path(__file__).resolve().parents[1]
SHARED_DATA_DIR = Path(os.environ.get("RESCUESIM_SHARED_DATA", PROJECT_DIR.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    if not SHARED_DATA_DIR.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA_DIR} (set RESCUESIM_SHARED_DATA)")
    return SHARED_DATA_DIR
