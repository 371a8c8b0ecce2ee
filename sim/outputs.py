"""What a run writes: the manifest with its fingerprint, the incident, unit and KPI tables, the event log, the
breakdowns by source, type, level and base, the summary and the response-time figure, then any extra files (a
study's table, the report), all into one folder that :mod:`sim.results` renames into place when complete."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sim.background import aside
from sim.calibration import calibration_summary, calibration_table
from sim.metrics import breakdown, run_summary, with_source_group
from sim.provenance import run_fingerprint
from sim.results import manifest, new_run_dir, write_csv, write_json

if TYPE_CHECKING:
    from sim.experiment import RunResult

BREAKDOWN_BY = ("source_group", "incident_type", "level_final", "first_base", "call_hour")


def written_tables(result: RunResult) -> dict[str, pd.DataFrame]:
    """The tables of a run that :func:`write_run` writes as they are (by file stem): the report can take them instead
    of reading them back."""
    return {"incidents": result.incidents, "units": result.units, "kpis": result.kpis, "events": result.events}


def breakdown_table(result: RunResult) -> pd.DataFrame:
    """The run's KPIs broken down by each of :data:`BREAKDOWN_BY`: one row per (``by``, ``group``)."""
    grouped = with_source_group(result.incidents)
    targets, replications = result.world.scenario.targets, result.replications
    parts = [
        breakdown(grouped, by, targets, replications).rename(columns={by: "group"}).assign(by=by) for by in BREAKDOWN_BY
    ]
    table = pd.concat(parts, ignore_index=True)
    table["group"] = table["group"].astype(str)
    return table[["by", *[c for c in table.columns if c != "by"]]]


def write_run(
    result: RunResult,
    results_root: Path,
    *,
    command: str,
    network_hash: str | None = None,
    label: str | None = None,
    extras: Sequence[Callable[[Path, Path], None]] = (),
    manifest_extra: dict | None = None,
) -> Path:
    """Write a whole run (manifest, tables, summary, breakdowns, figure) and return its folder.

    Each of ``extras(tmp, final)`` writes more files into the temporary folder ``tmp`` (a study's table, the
    report) after the manifest and tables; ``final`` is the name the folder will have. Only when all of them are
    done is the folder renamed into place.
    """
    from sim.report.figures import plot_calibration, plot_response_cdf  # matplotlib: only when a run is written

    scenario = result.world.scenario
    with new_run_dir(results_root, scenario.name, label=label or f"seed{result.seed}") as run:
        fingerprint = run_fingerprint(result.world, seed=result.seed, replications=result.replications)
        write_json(
            manifest(
                scenario,
                seed=result.seed,
                replications=result.replications,
                command=command,
                network_hash=network_hash,
                extra={"run_id": run.path.name, "fingerprint": fingerprint.to_json()} | (manifest_extra or {}),
            ),
            run.tmp / "manifest.json",
        )
        with tables_written_aside(run.tmp) as write:  # the CSVs are written meanwhile, the report included
            write(result.incidents, "incidents")
            write(result.units, "units")
            write(result.kpis, "kpis")
            result.events.to_parquet(run.tmp / "events.parquet", index=False)
            write(breakdown_table(result), "breakdown")
            write_json(run_summary(result), run.tmp / "summary.json")
            calibration = calibration_table(result.world, result.incidents)
            if calibration is not None:  # replayed calls with observed times
                write(calibration, "calibration")
                write(calibration_summary(calibration), "calibration_summary")
                plot_calibration(calibration, save=True, filepath=run.tmp / "calibration.png")
            plot_response_cdf(
                result.incidents,
                scenario.targets,
                title=f"{scenario.name}: response times",
                save=True,
                filepath=run.tmp / "response_times.png",
            )
            for extra in extras:
                extra(run.tmp, run.path)
    return run.path


@contextmanager
def tables_written_aside(folder: Path) -> Iterator[Callable[[pd.DataFrame, str], None]]:
    """A ``write(df, stem)`` that writes tables as :func:`sim.results.write_table` does, the parquet at once and the
    CSV (pandas' CSV writer is the slowest step of writing a run) beside (:func:`sim.background.aside`) while the
    caller goes on; on leaving, every CSV is complete."""
    with aside() as submit:

        def write(df: pd.DataFrame, stem: str) -> None:
            df.to_parquet(folder / f"{stem}.parquet", index=False)
            submit(write_csv, df, folder / f"{stem}.csv")

        yield write
