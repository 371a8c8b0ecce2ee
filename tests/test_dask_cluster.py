"""The Dask path on a real cluster (scheduler and workers as loopback subprocesses): a worker killed mid-run changes
nothing in the results; a lost, unreachable or empty scheduler is one clear error; completion order never counts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("dask.distributed")

from distributed import Client, LocalCluster  # noqa: E402

import sim.experiment  # noqa: E402
from sim.cli import main  # noqa: E402
from sim.errors import ClusterError  # noqa: E402
from sim.experiment import run_block, run_replications  # noqa: E402
from sim.world import world_from_matrix  # noqa: E402
from tests.dask_faults import PROJECT_DIR, FaultAtFirstBlock, LoopbackCluster  # noqa: E402
from tests.helpers import base, tiny_scenario  # noqa: E402

pytestmark = pytest.mark.slow  # the fast lane (-m 'not slow') leaves this module out

WATCHDOG_S = 60.0
REPLICATIONS = 8  # 8 blocks of one on two workers: plenty still running when the first block is done
SCENARIO = {
    "name": "cluster check",
    "seed": 11,
    "horizon_days": 365,
    "replications": REPLICATIONS,
    "network": {"source": "grid", "grid_nodes": 400, "bbox": [121.0, 30.0, 121.1, 30.1], "max_snap_m": 1000},
    "targets": [{"name": "5 min", "applies_to": "site", "first_arrival_min": 5, "share": 0.9}],
    "bases": [
        {"id": "a", "lon": 121.02, "lat": 30.02, "units": [{"type": "engine", "count": 2}]},
        {"id": "b", "lon": 121.08, "lat": 30.07, "units": [{"type": "engine", "count": 1}]},
    ],
    "sites": [
        {"id": "s1", "lon": 121.03, "lat": 30.03, "incidents_per_yr": 900},
        {"id": "s2", "lon": 121.07, "lat": 30.08, "incidents_per_yr": 600},
    ],
    "incident_types": {"call": {"severity": {1: 1.0}, "on_scene_min": {"exponential": {"mean": 40}}}},
    "incident_mix": {"site": {"call": 1.0}},
    "response_plans": {"call": {1: {"engine": 1}}},
}
STUDY = {
    "name": "two cells",
    "scenario": "cluster.yaml",
    "replications": 4,
    "variants": [{"name": "current"}, {"name": "more at b", "overrides": {"bases[1].units[0].count": 2}}],
}


@pytest.fixture
def files(tmp_path, monkeypatch) -> dict[str, Path]:
    monkeypatch.setenv("RESCUESIM_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(SCENARIO), encoding="utf-8")
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY), encoding="utf-8")
    return {"scenario": tmp_path / "cluster.yaml", "study": tmp_path / "study.yaml"}


@pytest.fixture
def start_cluster(tmp_path):
    """Start a loopback cluster with n workers; every process is killed at teardown, pass or fail."""

    clusters: list[LoopbackCluster] = []
    watchdogs: list[threading.Timer] = []

    def start(n_workers: int) -> LoopbackCluster:
        folder = tmp_path / f"cluster{len(clusters)}"
        folder.mkdir()
        clusters.append(LoopbackCluster(folder))
        # a run that hangs loses its cluster after WATCHDOG_S: it then fails with an error instead of hanging CI
        watchdogs.append(threading.Timer(WATCHDOG_S, clusters[-1].stop))
        watchdogs[-1].start()
        return clusters[-1].start(n_workers)

    yield start
    for watchdog in watchdogs:
        watchdog.cancel()
    for cluster in clusters:
        cluster.stop()


def _inject(address: str, fault: FaultAtFirstBlock) -> None:
    with Client(address, timeout=10) as client:
        client.register_plugin(fault)


def _plugin_state(address: str) -> tuple[dict | None, dict[str, list[str]], int]:
    def read(dask_scheduler):
        plugin = dask_scheduler.plugins[FaultAtFirstBlock.name]
        return plugin.record, plugin.finished_on, len(dask_scheduler.workers)

    with Client(address, timeout=10) as client:
        return client.run_on_scheduler(read)


def _files(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def _only_folder(root: Path) -> Path:
    (folder,) = [p for p in root.glob("*/*") if p.is_dir()]
    return folder


def test_worker_killed_mid_run_gives_the_serial_results_and_the_cluster_goes_on(files, tmp_path, start_cluster):
    cluster = start_cluster(2)
    _inject(cluster.address, FaultAtFirstBlock("worker"))
    run = ["run", str(files["scenario"]), "--workers", "1", "--quiet", "--no-report"]
    assert main([*run, "--dask", cluster.address, "--results", str(tmp_path / "dask")]) == 0, cluster.logs()
    record, finished_on, workers_left = _plugin_state(cluster.address)

    assert record is not None, "no worker was killed mid-run:\n" + cluster.logs()
    victim = next(p for p in cluster.workers if p.pid == record["pid"])
    assert victim.wait(timeout=10) == -signal.SIGKILL and workers_left == 1
    assert record["running"], record  # blocks it was running when killed: rescheduled, finished on the survivor
    for key in record["running"]:  # (results it held may have been gathered already: then nothing to redo)
        assert finished_on[key][-1] != record["victim"], (key, finished_on)
    # and a whole study on what is left of the cluster
    study = ["study", str(files["study"]), "--workers", "1", "--quiet"]
    assert main([*study, "--dask", cluster.address, "--results", str(tmp_path / "dask-study")]) == 0, cluster.logs()

    assert main([*run, "--results", str(tmp_path / "serial")]) == 0
    assert main([*study, "--results", str(tmp_path / "serial-study")]) == 0
    for dask_root, serial_root in [("dask", "serial"), ("dask-study", "serial-study")]:
        dask_folder, serial_folder = _only_folder(tmp_path / dask_root), _only_folder(tmp_path / serial_root)
        # every table and summary byte for byte (the manifest records the command line and the time)
        dask_files, serial_files = _files(dask_folder, ("manifest.json",)), _files(serial_folder, ("manifest.json",))
        assert len(serial_files) >= 6 and dask_files.keys() == serial_files.keys()
        for name, content in serial_files.items():
            assert dask_files[name] == content, f"{dask_root}: {name}"
    kpis = pd.read_parquet(_only_folder(tmp_path / "dask") / "kpis.parquet")
    assert kpis["replication"].tolist() == list(range(REPLICATIONS))  # none lost, none counted twice


def test_scheduler_lost_mid_run_is_one_clear_error_and_no_results(files, tmp_path, start_cluster):
    cluster = start_cluster(2)
    _inject(cluster.address, FaultAtFirstBlock("scheduler"))
    results = tmp_path / "results"
    env = os.environ | {"PYTHONPATH": str(PROJECT_DIR)}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(files["scenario"]), "--dask", cluster.address, "--workers", "1"]
        + ["--quiet", "--no-report", "--results", str(results)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed_s = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr + cluster.logs()
    assert f"lost the Dask scheduler at {cluster.address}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert not results.exists() or not any(results.rglob("*")), list(results.rglob("*"))
    assert elapsed_s < 30


def test_every_worker_lost_mid_run_is_one_clear_error(start_cluster):
    cluster = start_cluster(2)
    _inject(cluster.address, FaultAtFirstBlock("all workers"))
    world = world_from_matrix(tiny_scenario([base("a", engine=1)], horizon_days=60), [[60.0]])
    # the workers held the scattered world: with all of them gone the run cannot go on (and must not hang)
    with pytest.raises(ClusterError, match=f"Dask cluster at {cluster.address} dropped the run after 0 of 8") as info:
        run_replications(world, replications=8, workers=1, dask=cluster.address)
    assert "were all its workers lost?" in str(info.value)


def test_unreachable_or_malformed_scheduler_address_is_one_clear_error(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sim.experiment, "DASK_TIMEOUT_S", 2.0)
    with socket.socket() as closed:  # bound, not listening: connections are refused and the port stays ours
        closed.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
        for dask, expected in [
            (address, f"cannot reach the Dask scheduler at {address} within 2 s"),
            ("nope", "'nope'"),
        ]:
            t0 = time.monotonic()
            code = main(
                ["run", str(files["scenario"]), "--dask", dask, "--quiet", "--no-report", "--workers", "1"]
                + ["--results", str(tmp_path / "results")]
            )
            err = capsys.readouterr().err
            assert code == 2 and expected in err and "Traceback" not in err, err
            assert time.monotonic() - t0 < 10
    assert not (tmp_path / "results").exists()


def test_scheduler_without_workers_is_a_clear_error(start_cluster, monkeypatch):
    cluster = start_cluster(0)
    monkeypatch.setattr(sim.experiment, "DASK_TIMEOUT_S", 2.0)
    world = world_from_matrix(tiny_scenario([base("a", engine=1)]), [[60.0]])
    with pytest.raises(ClusterError, match=f"scheduler at {cluster.address} has no workers"):
        run_replications(world, workers=1, dask=cluster.address)


# --- completion order: blocks finishing out of order are still gathered in replication order ---------------------

_LATER_BLOCK_DONE = threading.Event()
_FINISHED: list[int] = []


def _first_block_last(world, seed, replications):
    """``run_block``, except that the block of replication 0 waits until a later block has finished."""
    if replications[0] == 0:
        assert _LATER_BLOCK_DONE.wait(timeout=20)
    out = run_block(world, seed, replications)
    _FINISHED.append(replications[0])
    if replications[0] != 0:
        _LATER_BLOCK_DONE.set()
    return out


def test_blocks_finishing_out_of_order_are_gathered_in_replication_order(monkeypatch):
    world = world_from_matrix(
        tiny_scenario(
            [base("a", engine=2)],
            [{"id": "s", "lon": 121.0, "lat": 30.0, "incidents_per_yr": 500}],
            drills={"interval_days": 3, "duration_h": 6},
        ),
        [[90.0]],
    )
    serial = run_replications(world, replications=6, workers=1)
    _LATER_BLOCK_DONE.clear()
    _FINISHED.clear()
    monkeypatch.setattr(sim.experiment, "run_block", _first_block_last)
    # threads in this process (so the event is shared), reached like any cluster: through its tcp:// address
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        dask = run_replications(world, replications=6, workers=1, dask=cluster.scheduler_address)
    assert _FINISHED[0] != 0 and sorted(_FINISHED) == [0, 1, 2, 3, 4, 5]  # 6 blocks of one, the first done last
    for name in ("incidents", "units", "kpis", "events"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(dask, name))
