"""The command line: ``rescuesim run | validate | schema``. User errors print one message and exit 2."""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import sys
import warnings
from pathlib import Path

from sim import __version__
from sim.errors import RescuesimError


def _draw_off_screen() -> None:
    """Figures are drawn without a display (Agg); only the commands that draw import matplotlib."""
    import matplotlib

    matplotlib.use("Agg")


def _progress(args, what: str = "replications", unit: str = "rep"):
    """A progress callback drawing a tqdm bar on a terminal; None with --quiet or when not on a terminal."""
    if args.quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr)
        bar.update(done - bar.n)
        if done == total:
            bar.close()

    return show


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text)


def cmd_validate(args) -> int:
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if args.network:
        from sim.siting.candidates import build_candidates
        from sim.world import build_world, load_network

        network = load_network(scenario)
        world = build_world(scenario, network)
        candidates = build_candidates(scenario, network, world)  # the siting candidates `site` would use
        _say(
            args,
            f"{args.scenario}: network ok, {len(world.sites)} sites, {len(world.bases)} bases and "
            f"{len(candidates)} siting candidates snapped",
        )
    print(
        f"{args.scenario}: ok ({scenario.name}: {len(scenario.bases)} bases, {len(scenario.parks)} parks, "
        f"{len(scenario.pipelines)} pipelines, {len(scenario.sites)} sites)"
    )
    return 0


def cmd_schema(args) -> int:
    from sim.scenario import json_schema

    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return 0


def cmd_run(args) -> int:
    import time

    from sim.experiment import run_replications
    from sim.metrics import run_summary
    from sim.outputs import write_run, written_tables
    from sim.progress import run_progress

    progress = run_progress(args.quiet)  # one bar for the whole run
    try:
        scenario, network, world = _load_world(args, progress)
        progress.stage("replications")
        t0 = time.perf_counter()
        result = run_replications(
            world,
            replications=args.replications,
            seed=args.seed,
            workers=args.workers,
            dask=args.dask,
            progress=progress.part,
        )
        simulated_s = time.perf_counter() - t0
        progress.stage("tables and figures")
        folder = write_run(
            result,
            Path(args.results),
            command=_command_line(),
            network_hash=network.content_hash,
            extras=_report_extras(args, network, result.world, written_tables(result), progress),
        )
    finally:
        progress.close()
    _say(args, _summary_text(run_summary(result), len(result.incidents), simulated_s))
    print(folder)
    return 0


def _load_world(args, progress=None):
    """The scenario, its road network and world; ``progress`` (a :class:`sim.progress.StageProgress`) hears the
    stages, else the shortest paths get a bar of their own."""
    from sim.results import check_writable_folder
    from sim.scenario import load_scenario
    from sim.world import build_world, load_network

    scenario = load_scenario(args.scenario)
    check_writable_folder(Path(args.results))
    if progress is not None:
        progress.stage("road network")
    network = load_network(scenario)
    if progress is not None:
        progress.stage("shortest paths")
    paths = progress.part if progress is not None else _progress(args, "shortest paths", unit="source")
    world = build_world(scenario, network, progress=paths, workers=args.workers)
    facts = (
        f"{scenario.name}: {network.n_nodes} road nodes, {len(world.sites)} incident sites, "
        f"{len(world.units)} units at {len(world.bases)} bases"
    )
    if args.quiet:
        pass
    elif progress is not None:
        progress.write(facts)  # above the bar
    else:
        print(facts)
    gc.freeze()  # the modules, scenario and world last the command out: full collections need not walk them
    return scenario, network, world


def cmd_drills(args) -> int:
    from sim.outputs import write_run, written_tables
    from sim.report.studies import plot_drill_tradeoff
    from sim.results import write_json, write_table
    from sim.studies.drills import best_margin, drill_table, drill_variants
    from sim.studies.objectives import resolve_objective
    from sim.studies.variants import run_variants

    intervals = _float_list(args.intervals, "--intervals")
    scenario, network, world = _load_world(args)
    objective, larger = resolve_objective(scenario, args.objective)
    variants = drill_variants(scenario, intervals)
    results = run_variants(
        world,
        variants,
        network=network,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        dask=args.dask,
        progress=None if args.quiet else lambda n: _say(args, f"  interval {n}"),
    )
    table = drill_table(intervals, results, objective, larger)
    best_row = table[table["best"]].iloc[0]
    best_value, margin = best_margin(table, objective)

    def extra(folder: Path, final: Path) -> None:
        write_table(table, folder, "drills")
        plot_drill_tradeoff(
            table,
            objective,
            title=f"{scenario.name}: drill interval trade-off",
            save=True,
            filepath=folder / "tradeoff.png",
        )
        write_json(
            {
                "objective": objective,
                "larger_is_better": larger,
                "best_interval_days": best_row["interval_days"],
                "best_value": best_value,
                "margin_to_next": margin,
                "intervals_days": intervals,
            },
            folder / "drill_study.json",
        )

    best = results[best_row["variant"]]
    folder = write_run(
        best,
        Path(args.results),
        command=_command_line(),
        network_hash=network.content_hash,
        label="drills",
        extras=[extra, *_report_extras(args, network, best.world, written_tables(best))],
        manifest_extra={"study": "drills", "intervals_days": intervals, "objective": objective},
    )
    cols = [
        "interval_days",
        objective,
        f"{objective}_ci",
        f"{objective}_vs_best",
        f"{objective}_vs_best_ci",
        "first_arrival_p90_s",
        "escalation_share",
        "nearest_drilling_share",
        "drill_downtime_h_per_unit_yr",
        "mean_proficiency",
        "statutory_ok",
        "best",
        "tied_with_best",
    ]
    _say(args, table[list(dict.fromkeys(cols))].to_string(index=False))
    tied = table.loc[table["tied_with_best"], "interval_days"].tolist()
    if tied:
        days = ", ".join(f"{d:g}" for d in tied)
        _say(
            args,
            f"no single best interval: {best_row['interval_days']:g} days has the best estimate ({objective} = "
            f"{best_value:.4g}) but {days} days tie with it (paired 95% CI of the difference includes 0); choose "
            "among them on drill downtime and the statutory interval, or run more replications",
        )
    else:
        _say(
            args,
            f"best interval: {best_row['interval_days']:g} days ({objective} = {best_value:.4g}, "
            f"margin to the next {margin:.3g}; every other interval is worse beyond its paired 95% CI)",
        )
    print(folder)
    return 0


def cmd_site(args) -> int:
    from sim.outputs import write_run, written_tables
    from sim.results import write_json, write_table
    from sim.studies.siting import layouts_geojson, siting_study

    _check_site_args(args)
    scenario, network, world = _load_world(args)
    outcome = siting_study(
        world,
        network,
        model=args.model,
        p=args.p,
        target_min=args.target_min,
        simulate_top=args.simulate_top,
        backup=args.backup,
        objective=args.objective,
        replications=args.replications,
        seed=args.seed,
        workers=args.workers,
        dask=args.dask,
        progress=None if args.quiet else lambda n: _say(args, f"  simulating {n}"),
        busy_fraction=args.busy_fraction,
        alpha=args.alpha if args.model == "malp" else None,
        fleet=args.fleet,
        curve=_p_values(args.curve) if args.curve else (),
        iterate=args.iterate,
    )
    for name, q in outcome.busy_path:
        _say(args, f"  busy fraction {q:.4f} measured on {name}")
    table = outcome.table
    objective = table.attrs["objective"]

    def extra(folder: Path, final: Path) -> None:
        write_table(table, folder, "siting")
        write_table(outcome.fleet, folder, "fleet")
        if outcome.curve is not None:
            from sim.report.studies import plot_bases_curve

            write_table(outcome.curve, folder, "curve")
            plot_bases_curve(outcome.curve, objective, save=True, filepath=folder / "curve.png")
        write_json(layouts_geojson(outcome), folder / "layouts.geojson")

    best = table.iloc[0]
    best_run = outcome.best  # simulated by the study: the same seed and replications
    best_world = best_run.world
    folder = write_run(
        best_run,
        Path(args.results),
        command=_command_line(),
        network_hash=network.content_hash,
        label=f"site-{args.model}",
        extras=[extra, *_report_extras(args, network, best_world, written_tables(best_run))],
        manifest_extra={
            "study": "site",
            "model": args.model,
            "p": args.p,
            "target_min": args.target_min,
            "objective": objective,
            "fleet": args.fleet,
        },
    )
    cols = [
        "rank",
        "layout",
        "sites",
        "model_objective",
        "covered_share_model",
        objective,
        f"{objective}_ci",
        "first_arrival_mean_s",
        "full_response_mean_s",
        "escalation_share",
    ]
    _say(args, table[list(dict.fromkeys(cols))].to_string(index=False, max_colwidth=50))
    _say(args, f"the fleet under the best layout ({best['layout']}, --fleet {args.fleet}):")
    for change in outcome.fleet.itertuples():
        _say(args, f"  {change.base}: {change.change}" + (f" ({change.units})" if change.units else ""))
    print(folder)
    return 0


def _p_values(text: str) -> list[int]:
    """``2-6`` or ``3,5,7``: the numbers of bases of a trade-off curve (each >= 1, in increasing order)."""
    try:
        if "-" in text:
            low, high = (int(v) for v in text.split("-", 1))
            values = list(range(low, high + 1))
        else:
            values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise RescuesimError(f"--curve: expected a range like 2-6 or numbers like 3,5,7, got {text!r}") from None
    if not values or values[0] < 1:
        raise RescuesimError(f"--curve: every number of bases must be >= 1, got {text!r}")
    return values


def _check_site_args(args) -> None:
    needs_p = args.model in ("mclp", "pmedian", "pcenter", "mexclp", "malp")
    needs_t = args.model in ("lscp", "mclp", "mexclp", "malp")
    if args.busy_fraction is not None and not 0 < args.busy_fraction < 1:
        raise RescuesimError(f"--busy-fraction: must lie between 0 and 1, got {args.busy_fraction:g}")
    if args.iterate and args.model not in ("mexclp", "malp"):
        raise RescuesimError(f"--iterate: only mexclp and malp use a busy fraction, got --model {args.model}")
    if args.curve and args.model == "lscp":
        raise RescuesimError(
            "--curve: lscp chooses the number of bases itself; use mclp, pmedian, pcenter, mexclp or malp"
        )
    if args.curve:
        _p_values(args.curve)
    if not 0 < args.alpha < 1:
        raise RescuesimError(f"--alpha: must lie between 0 and 1, got {args.alpha:g}")
    if needs_p and args.p is None:
        raise RescuesimError(f"--p: the {args.model} model needs the number of bases to open")
    if needs_t and args.target_min is None:
        raise RescuesimError(f"--target-min: the {args.model} model needs the coverage time")


def _float_list(text: str, option: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise RescuesimError(f"{option}: expected numbers separated by commas, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise RescuesimError(f"{option}: every value must be > 0, got {text!r}")
    return values


def _report_extras(args, network, world, tables: dict, progress=None) -> list:
    """The report, map and GeoPackage, built inside the run's temporary folder from the run's ``tables`` as written
    (none with --no-report); ``progress`` hears the stage."""
    if args.no_report:
        return []

    def report(folder: Path, final: Path) -> None:
        from sim.report.html import build_report

        if progress is not None:
            progress.stage("report")

        build_report(folder, shown_as=final, network=network, world=world, tables=tables)

    return [report]


def cmd_report(args) -> int:
    from sim.report.html import rebuild_report
    from sim.results import check_writable_folder

    folder = Path(args.run_dir)
    if not (folder / "manifest.json").is_file():
        raise RescuesimError(f"{folder}: not a results folder (no manifest.json)")
    check_writable_folder(folder, "report folder")
    print(rebuild_report(folder))
    return 0


def _verdict_text(target: dict) -> str:
    """A target's verdict for the console: met, NOT met, or undecided with the replications likely needed."""
    from sim.metrics import verdict_word

    verdict = verdict_word(target)
    half = target["achieved_share"].get("half_width")
    if verdict == "undecided" and (half is None or half != half):
        return "undecided: too few replications with such incidents to judge"
    if verdict == "undecided":
        needed = target.get("replications_to_decide")
        more = f"about {needed} replications" if needed else "more replications"
        return f"undecided: the confidence interval straddles the requirement ({more} would likely decide it)"
    return "NOT met" if verdict == "not met" else verdict


def _half_width_text(share: dict) -> str:
    """``± 1.2`` (percentage points), or why there is no interval."""
    half = share.get("half_width")
    if half is None or half != half:
        return f"(no CI: only {share['n']} replication had such incidents)"
    return f"± {100 * half:.1f}"


def _summary_text(summary: dict, n_incidents: int, elapsed_s: float) -> str:
    k = summary["kpis"]

    def fmt(key: str, kpis: dict = k) -> str:
        v = kpis[key]
        return f"{v['mean'] / 60:.2f} ± {v['half_width'] / 60:.2f} min"

    lines = [
        f"{n_incidents} incidents over {summary['replications']} replications, simulated in {elapsed_s:.1f} s",
        f"  first arrival: mean {fmt('first_arrival_mean_s')}, median {fmt('first_arrival_median_s')}, "
        f"p90 {fmt('first_arrival_p90_s')}",
        f"  full response: mean {fmt('full_response_mean_s')}",
    ]
    by_load = summary.get("by_load", {})
    if len(by_load) > 1:  # both loads: each apart, so that the few hazmat incidents are not hidden
        for load, kpis in by_load.items():
            per_rep = kpis["incidents"]["mean"]
            lines.append(
                f"  {load} ({per_rep:.0f} per replication): first arrival mean {fmt('first_arrival_mean_s', kpis)}, "
                f"p90 {fmt('first_arrival_p90_s', kpis)}, waited {100 * kpis['waited_share']['mean']:.1f}%"
            )
    if summary["replications"] < 10:
        lines.append(
            f"  warning: only {summary['replications']} replications; confidence intervals are wide and verdicts "
            "often undecided (10 or more recommended)"
        )
    for t in summary["targets"]:
        share = t["achieved_share"]
        if not share.get("n"):
            lines.append(f"  target {t['name']}: no incident matched applies_to: {t['applies_to']}")
            continue
        lines.append(
            f"  target {t['name']}: {100 * share['mean']:.1f}% {_half_width_text(share)} "
            f"(required {100 * t['required_share']:.0f}%) {_verdict_text(t)}"
        )
    lines += [f"  note: {n}" for n in summary["notes"]]
    return "\n".join(lines)


def _command_line() -> str:
    return "rescuesim " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rescuesim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"rescuesim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="simulate a scenario and write a results folder")
    p.add_argument("scenario", type=Path, help="scenario file (YAML), e.g. scenarios/demo_park.yaml")
    _common_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("drills", help="drill-frequency study: every interval on common random numbers")
    p.add_argument("scenario", type=Path, help="scenario file (YAML), e.g. scenarios/demo_park.yaml")
    p.add_argument("--intervals", default="30,91,182,365", help="drill intervals in days (default 30,91,182,365)")
    p.add_argument(
        "--objective",
        default=None,
        help="KPI to optimise: first_arrival_mean_s, first_arrival_p90_s, full_response_mean_s, "
        "escalation_share or target:<name> (default: the first target)",
    )
    _common_run_options(p)
    p.set_defaults(func=cmd_drills)

    p = sub.add_parser("site", help="siting study: exact location model, then simulation of the best layouts")
    p.add_argument("scenario", type=Path, help="scenario file (YAML), e.g. scenarios/demo_park.yaml")
    p.add_argument(
        "--model",
        choices=("lscp", "mclp", "pmedian", "pcenter", "mexclp", "malp"),
        default="mclp",
        help="location model; mexclp (Daskin 1983) and malp (ReVelle & Hogan 1989) count on bases being busy",
    )
    p.add_argument("--p", type=_positive_int, default=None, help="bases to open (all models but lscp)")
    p.add_argument("--target-min", type=float, default=None, help="coverage time in minutes (lscp, mclp, mexclp, malp)")
    p.add_argument(
        "--busy-fraction",
        type=float,
        default=None,
        help="mexclp, malp: chance a base is busy (default: measured on a simulation of today's layout)",
    )
    p.add_argument(
        "--iterate",
        action="store_true",
        help="mexclp, malp: measure the busy fraction on the model's layout and solve again until the layout repeats",
    )
    p.add_argument(
        "--alpha", type=float, default=0.9, help="malp: required chance that a base in reach is free (default 0.9)"
    )
    p.add_argument(
        "--curve",
        default=None,
        help="trade-off curve over the number of bases, e.g. 2-6 or 3,5,7: each p's optimal layout, simulated",
    )
    p.add_argument(
        "--fleet",
        choices=("move", "keep"),
        default="move",
        help="move: today's bases may close and their units move to new sites (default); keep: today's bases stay "
        "and new sites get new units",
    )
    p.add_argument("--backup", action="store_true", help="mclp: also maximise demand covered twice")
    p.add_argument("--simulate-top", type=_positive_int, default=5, help="layouts to simulate (default 5)")
    p.add_argument("--objective", default=None, help="simulated KPI to rank by (default: the first target)")
    _common_run_options(p)
    p.set_defaults(func=cmd_site)

    p = sub.add_parser("study", help="run a study file (variants and grids on common random numbers; resumable)")
    p.add_argument("study", type=Path, help="study file (YAML): a scenario, variants and/or a grid")
    p.add_argument("--workers", type=_positive_int, default=None, help="local worker processes (default: cores)")
    p.add_argument("--results", default="results", help="results root folder (default: ./results)")
    _executor_options(p)
    p.set_defaults(func=cmd_study)

    p = sub.add_parser("validate", help="check a scenario file without running it")
    p.add_argument("scenario", type=Path, help="scenario file (YAML), e.g. scenarios/demo_park.yaml")
    p.add_argument("--network", action="store_true", help="also load the road network and snap every point")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("report", help="(re)build report.html, map.html and results.gpkg of a results folder")
    p.add_argument("run_dir", type=Path, help="a results folder, results/<scenario>/<run-id>/")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("schema", help="print the scenario file's JSON Schema")
    p.set_defaults(func=cmd_schema)
    return parser


def _common_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replications", type=_positive_int, default=None, help="default: the scenario's")
    p.add_argument("--workers", type=_positive_int, default=None, help="local worker processes (default: cores)")
    p.add_argument("--seed", type=_non_negative_int, default=None, help="default: the scenario's")
    p.add_argument("--results", default="results", help="results root folder (default: ./results)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    _executor_options(p)


def _executor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dask",
        default=None,
        metavar="local|tcp://HOST:PORT",
        help="run replications on Dask: a LocalCluster of --workers processes, or an existing scheduler",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or summaries")


def cmd_study(args) -> int:
    from sim.results import check_writable_folder
    from sim.studies.files import load_study, run_study

    spec = load_study(args.study)
    check_writable_folder(Path(args.results))
    folder = run_study(
        spec,
        Path(args.results),
        workers=args.workers,
        dask=args.dask,
        progress=None if args.quiet else lambda n: _say(args, f"  cell {n}"),
    )
    if not args.quiet:
        import pandas as pd

        print(_study_text(pd.read_csv(folder / "study.csv")))
    print(folder)
    return 0


def _study_text(table) -> str:
    """Per cell its first arrival (mean, p90) and waited share, each against the first cell (the baseline) as a
    paired difference with its 95% CI, in minutes and percent; every column is in study.csv."""
    lines = [f"{len(table)} cells; paired differences from the baseline '{table['cell'].iloc[0]}' (95% CI):"]
    for _, row in table.iterrows():
        parts = []
        for key, label in (("first_arrival_mean_s", "first arrival mean"), ("first_arrival_p90_s", "p90")):
            parts.append(f"{label} {row[key] / 60:.2f} min")
            if row.name > 0 and f"{key}_vs_baseline" in row:
                parts[-1] += f" ({row[f'{key}_vs_baseline'] / 60:+.3g} ± {row[f'{key}_vs_baseline_ci'] / 60:.2g})"
        parts.append(f"waited {100 * row['waited_share']:.1f}%")
        lines.append(f"  {row['cell']}: " + ", ".join(parts))
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


_KEPT_AFTER_INTERRUPT = {
    "study": "cells finished before were kept (rerun the study to resume); nothing unfinished was kept",
    "report": "the earlier report, map and GeoPackage are unchanged",
}


DRAWING_COMMANDS = ("run", "drills", "site", "study", "report")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    if args.command in DRAWING_COMMANDS:
        _draw_off_screen()
    try:
        return args.func(args)
    except RescuesimError as exc:
        print(f"rescuesim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(args)
    except Exception as exc:
        if _caused_by_interrupt(exc):  # e.g. Ctrl-C while a C extension is imported becomes an ImportError
            return _interrupted(args)
        raise
    finally:
        gc.unfreeze()  # what a command froze (see _load_world) is collected again when main is called in-process


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning on the console as one line a planner reads (the code location is for developers)."""
    return f"rescuesim: warning: {message}\n"


def _interrupted(args) -> int:
    print(
        f"rescuesim: interrupted; {_KEPT_AFTER_INTERRUPT.get(args.command, 'nothing unfinished was kept')}",
        file=sys.stderr,
    )
    return 130


def _caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a Ctrl-C is among the causes of an exception (libraries sometimes wrap it)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
