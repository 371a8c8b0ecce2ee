"""Replications: common random numbers, and byte-identical results whatever the number of workers."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.experiment import incident_stream, run_replications, simulate_kpis
from sim.world import world_from_matrix
from tests.helpers import tiny_scenario

BASES = [
    {"id": "a", "lon": 121.0, "lat": 30.0, "units": [{"type": "engine", "count": 2}]},
    {"id": "b", "lon": 121.1, "lat": 30.0, "units": [{"type": "engine", "count": 1}]},
]
SITES = [
    {"id": "s1", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 400},
    {"id": "s2", "lon": 121.1, "lat": 30.0, "incidents_per_yr": 300},
]


def _world(**extra):
    return world_from_matrix(tiny_scenario(BASES, SITES, **extra), [[60.0, 500.0], [400.0, 90.0]])


def test_serial_and_parallel_results_are_identical(tmp_path):
    world = _world(drills={"interval_days": 3, "duration_h": 6})
    serial = run_replications(world, replications=4, workers=1)
    parallel = run_replications(world, replications=4, workers=2)
    for name in ("incidents", "units", "kpis", "events"):
        a, b = getattr(serial, name), getattr(parallel, name)
        pd.testing.assert_frame_equal(a, b)
        a.to_parquet(tmp_path / "a.parquet")
        b.to_parquet(tmp_path / "b.parquet")
        assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_replication_stream_independent_of_replication_count_and_bases():
    w1 = _world()
    w2 = world_from_matrix(tiny_scenario(BASES[:1], SITES), [[10.0, 20.0]])
    s1, s2 = incident_stream(w1, 5, 3), incident_stream(w2, 5, 3)
    assert (s1.call_at_s == s2.call_at_s).all() and (s1.site == s2.site).all()
    r2 = run_replications(w1, replications=2, workers=1).incidents
    r3 = run_replications(w1, replications=3, workers=1).incidents
    pd.testing.assert_frame_equal(r2, r3[r3.replication < 2])


def test_different_seeds_differ():
    w = _world()
    assert (
        len(incident_stream(w, 1, 0)) != len(incident_stream(w, 2, 0))
        or (incident_stream(w, 1, 0).call_at_s != incident_stream(w, 2, 0).call_at_s).any()
    )


@pytest.mark.slow  # starts a Dask cluster
def test_dask_local_cluster_gives_identical_results():
    pytest.importorskip("dask.distributed")
    world = _world(drills={"interval_days": 3, "duration_h": 6})
    serial = run_replications(world, replications=3, workers=1)
    dask = run_replications(world, replications=3, workers=2, dask="local")
    for name in ("incidents", "units", "kpis", "events"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(dask, name))
    pd.testing.assert_frame_equal(simulate_kpis(world, replications=3, workers=2, dask="local"), serial.kpis)


def test_kpis_reduced_in_the_workers_equal_the_full_run_on_every_executor():
    targets = [{"name": "first 5 min", "first_arrival_min": 5, "share": 0.9}]
    world = _world(drills={"interval_days": 3, "duration_h": 6}, targets=targets)
    full = run_replications(world, replications=5, workers=1).kpis
    assert full["target:first 5 min"].between(0, 1).all() and full["incidents"].gt(0).all()
    for workers in (1, 2):
        pd.testing.assert_frame_equal(simulate_kpis(world, replications=5, workers=workers), full)
