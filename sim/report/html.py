"""``report.html``: one self-contained file (figures embedded) a planner can e-mail; ``map.html`` and
``results.gpkg`` are written beside it."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from sim.background import aside
from sim.metrics import verdict_word
from sim.report.context import ReportContext, load_context
from sim.report.figures import (
    plot_calibration,
    plot_hour_of_day,
    plot_response_cdf,
    plot_response_parts,
    plot_utilisation,
)
from sim.report.fonts import find_cjk_font
from sim.report.maps import MAX_INCIDENTS_PER_SITE, build_map, plot_coverage_map, plot_situation_map

SECTIONS = (
    "summary",
    "map",
    "coverage",
    "response",
    "parts",
    "hours",
    "utilisation",
    "compliance",
    "calibration",
    "study",
)

CSS = """
body{font-family:'Noto Sans CJK SC','Noto Sans',system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;
line-height:1.45;padding:0 1em}
h1{border-bottom:3px solid #2c3e50;padding-bottom:.3em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;
text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd}.note{color:#555;font-size:.9em}.bad{color:#c0392b;font-weight:bold}
.good{color:#1e8449;font-weight:bold}.scroll{overflow-x:auto}
table.facts td{text-align:left}table.facts th{width:11em;text-align:left}
"""


REPORT_FILES = ("report.html", "map.html", "results.gpkg")


def build_report(
    run_dir: Path,
    *,
    out_dir: Path | None = None,
    shown_as: Path | None = None,
    network=None,
    world=None,
    tables: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write ``report.html``, ``map.html`` and ``results.gpkg`` of a results folder into ``out_dir`` (default: the
    folder itself); return the report path. ``shown_as`` is the folder's name to print in the report (it may be
    built in a temporary folder); ``network`` and ``world`` spare rebuilding the run's world, ``tables`` (the run's,
    as written) reading them back."""
    ctx = load_context(Path(run_dir), network=network, world=world, tables=tables)
    out_dir = Path(out_dir) if out_dir is not None else ctx.run_dir
    shown_as = shown_as if shown_as is not None else ctx.run_dir
    ctx.isochrones()  # once, for the coverage figure, the map and the GeoPackage
    with aside() as submit:  # the map and the GeoPackage are made meanwhile, from what they read of the context
        beside = dataclasses.replace(ctx, tables={"incidents": ctx.incidents})
        submit(build_map, beside, out_dir / "map.html")
        submit(_write_geopackage, beside, out_dir / "results.gpkg")
        body = [
            _summary(ctx),
            _map(ctx),
            _coverage(ctx),
            _response(ctx),
            _parts(ctx),
            _hours(ctx),
            _utilisation(ctx),
            _compliance(ctx),
            _calibration(ctx),
            _study(ctx),
        ]
    title = f"rescuesim report — {ctx.scenario.name}"
    page = (
        f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class='note'>Run folder <code>{html.escape(str(shown_as))}</code>, made by "
        f"<code>{html.escape(ctx.manifest.get('command', ''))}</code> with rescuesim "
        f"{html.escape(str(ctx.manifest.get('rescuesim_version')))} at {html.escape(ctx.manifest['created_at'])}. "
        f"Interactive map: <a href='map.html'>map.html</a>; GIS layers: <code>results.gpkg</code>.</p>"
        + "".join(body)
        + "</body></html>"
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _write_geopackage(ctx: ReportContext, filepath: Path) -> None:
    """``results.gpkg``; geopandas is imported only where this runs (beside the figures)."""
    from sim.report.gis import write_geopackage

    write_geopackage(ctx, filepath)


def build_study_report(table: pd.DataFrame, path: Path, *, title: str, note: str) -> Path:
    """``report.html`` of a study: every cell's KPIs, and its paired difference from the baseline (the first cell)
    with 95% CIs, in a figure and a table (the numbers in ``study.csv``)."""
    from sim.report.studies import plot_study_differences

    keys = ["first_arrival_mean_s", "first_arrival_p90_s", "waited_share"]
    keys += [c for c in table.columns if c.startswith("target:") and not c.endswith(("_ci", "_vs_baseline"))]

    def grid(label_of, cell_of) -> str:
        head = "<th>cell</th>" + "".join(f"<th>{html.escape(label_of(k))}</th>" for k in keys)
        rows = [
            f"<tr><td>{html.escape(str(row['cell']))}</td>" + "".join(f"<td>{cell_of(row, k)}</td>" for k in keys)
            for _, row in table.iterrows()
        ]
        return f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>"

    kpis = grid(_kpi_label, lambda row, k: f"{_fmt(k, row[k])} ± {_fmt(k, row.get(f'{k}_ci'))}")
    diffs = grid(
        _difference_label, lambda row, k: _difference(k, row.get(f"{k}_vs_baseline"), row.get(f"{k}_vs_baseline_ci"))
    )
    body = _section(
        "cells",
        "Cells against the baseline",
        _img(plot_study_differences, table, alt="paired differences from the baseline")
        + f"<h3>Paired difference from the baseline ({html.escape(str(table['cell'].iloc[0]))})</h3>{diffs}"
        + f"<h3>KPIs of each cell</h3>{kpis}<p class='note'>Mean ± 95% CI over replications. The differences are "
        "paired replication by replication (every cell faces the same incidents), so a CI that excludes 0 is a real "
        "difference even when the cells' own CIs overlap. Every KPI is in <code>study.csv</code>.</p>",
    )
    page = (
        f"<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><p class='note'>{html.escape(note)}</p>"
        f"{body}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path


def _difference_label(key: str) -> str:
    """A difference's column: times in seconds (differences are small), shares in percentage points."""
    if key.endswith("_s"):
        return key.removesuffix("_s").replace("_", " ") + " (s)"
    return _kpi_label(key).replace("(%)", "(points)")


def _difference(key: str, mean, half) -> str:
    if mean is None or mean != mean:
        return "–"
    scale = 1.0 if key.endswith("_s") else 100.0
    ci = "" if half is None or half != half else f" ± {scale * half:.2g}"
    return f"{scale * mean:+.3g}{ci}"


def rebuild_report(run_dir: Path) -> Path:
    """Build the report of a results folder anew beside it and replace the old report, map and GeoPackage only
    once all three are complete (an error or Ctrl-C leaves the old ones as they were)."""
    from sim.results import files_replaced

    run_dir = Path(run_dir)
    with files_replaced(run_dir, prefix=".report-partial-") as staging:
        build_report(run_dir, out_dir=staging)
    return run_dir / "report.html"


def _section(key: str, title: str, content: str) -> str:
    return f"<section id='{key}'><h2>{html.escape(title)}</h2>{content}</section>"


def _img(plot, *args, alt: str, **kwargs) -> str:
    """Render a plot function to an embedded PNG."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig, _ = plot(*args, **kwargs)
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _png_file(path: Path, *, alt: str) -> str:
    """A PNG file of the results folder, embedded."""
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _table(df: pd.DataFrame, floatfmt: str = "{:.3g}") -> str:
    return df.to_html(index=False, escape=True, float_format=lambda v: floatfmt.format(v), border=0, na_rep="–")


def _summary(ctx: ReportContext) -> str:
    s, w, m = ctx.scenario, ctx.world, ctx.manifest
    units = pd.Series(list(w.units.unit_type)).value_counts()
    rows = [
        ("scenario", s.name),
        ("description", s.description or ""),
        ("seed", m["seed"]),
        ("replications", m["replications"]),
        ("horizon", f"{s.horizon_days:g} days"),
        (
            "road network",
            f"{ctx.network.n_nodes} nodes, {ctx.network.n_edges} directed edges "
            f"({ctx.network.dropped_nodes} dropped outside the strongly connected part)",
        ),
        (
            "parks",
            ", ".join(f"{p.name or p.id} (grade {p.risk_grade}, {len(p.installations)} installations)" for p in s.parks)
            or "none",
        ),
        (
            "pipelines",
            ", ".join(f"{p.name or p.id} ({p.product}, {len(p.hca)} HCA stretches)" for p in s.pipelines) or "none",
        ),
        ("incident sites", f"{len(w.sites)} ({(w.sites.rate_per_s.sum() * 365.25 * 86400):.1f} incidents/yr)"),
        ("bases with units", ", ".join(f"{b.name or b.id} ({b.kind}, {b.jurisdiction})" for b in w.bases)),
        ("units", ", ".join(f"{n} {t}" for t, n in units.items())),
        ("incidents simulated", len(ctx.incidents)),
    ]
    if s.overrides:
        rows.append(("overrides", ", ".join(f"{k}" for k in s.overrides)))
    kpis = ctx.summary.get("kpis", {})
    table = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    kpi_rows = [(k, v) for k, v in kpis.items() if v.get("n")]
    kpi_table = "".join(
        f"<tr><td>{html.escape(_kpi_label(k))}</td><td>{_fmt(k, v['mean'])}</td><td>± {_fmt(k, v['half_width'])}</td>"
        f"</tr>"
        for k, v in kpi_rows
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in ctx.summary.get("notes", []))
    font = find_cjk_font()
    font_note = (
        ""
        if font
        else "<p class='note'>No CJK font was found: Chinese names in the figures may show as "
        "boxes (install fonts-noto-cjk).</p>"
    )
    return _section(
        "summary",
        "Scenario summary",
        f"<table class='facts'>{table}</table><h3>Key results (mean ± 95% CI over "
        f"replications)</h3><table><tr><th>KPI</th><th>mean</th><th>95% CI</th></tr>{kpi_table}</table>"
        + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")
        + font_note,
    )


def _kpi_label(key: str) -> str:
    """``first_arrival_mean_s`` -> ``first arrival mean (min)``; ``escalation_share`` -> ``escalation share (%)``."""
    if key.endswith("_s"):
        return key.removesuffix("_s").replace("_", " ") + " (min)"
    if key.endswith("_share"):
        return key.replace("_", " ") + " (%)"
    if key.startswith("target:"):
        return f"within target '{key[7:]}' (%)"
    if key == "incidents":
        return "incidents per replication"
    return key.replace("_", " ")


def _fmt(key: str, value) -> str:
    if value is None or value != value:
        return "–"
    if key.endswith("_s"):
        return f"{value / 60:.2f}"
    if key.endswith("_share") or key.startswith("target:"):
        return f"{100 * value:.1f}"
    if isinstance(value, bool | str) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.3g}"


STUDY_DETAIL = {
    "variant",
    "first_arrival_median_s",
    "full_response_p90_s",
    "full_response_share",
    "waited_share",
    "waited_mean_s",
    "turnout_mean_s",
    "travel_mean_s",
    "access_mean_s",
    "on_scene_mean_s",
}


def _study_table(table: pd.DataFrame, csv_name: str) -> str:
    """The decision columns of a study table, each KPI as mean ± 95% CI in readable units."""
    cols = [c for c in table.columns if not c.endswith(("_ci", "_vs_best")) and c not in STUDY_DETAIL]
    head = "".join(f"<th>{html.escape(_kpi_label(c))}</th>" for c in cols)
    rows = []
    for _, row in table.iterrows():
        cells = []
        for c in cols:
            text = _fmt(c, row[c])
            if f"{c}_ci" in table.columns and pd.notna(row[f"{c}_ci"]):
                text += f" ± {_fmt(c, row[f'{c}_ci'])}"
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div><p class='note'>Mean ± 95% CI "
        f"over replications; every column (medians, parts, paired differences) is in <code>{csv_name}</code>.</p>"
    )


def _map(ctx: ReportContext) -> str:
    return _section(
        "map",
        "Map: sites, bases and incidents",
        _img(plot_situation_map, ctx, alt="situation map") + "<p class='note'>Incidents of all replications (at most "
        f"{MAX_INCIDENTS_PER_SITE} per site, the first in run order), coloured by first-arrival time (jittered "
        "slightly so repeated sites show). Squares: bases with units by kind; triangles: candidate "
        "sites; stars: the chosen layout of a siting study.</p>",
    )


def _coverage(ctx: ReportContext) -> str:
    return _section(
        "coverage",
        "Coverage map (isochrones)",
        _img(plot_coverage_map, ctx, alt="coverage map")
        + "<p class='note'>Road area the bases holding units reach within each first-arrival target: "
        "mean turnout of the base plus shortest drive.</p>",
    )


def _response_cdf(incidents: pd.DataFrame, targets, *, title: str):
    """plot_response_cdf with the x axis widened to show every target line."""
    fig, ax = plot_response_cdf(incidents, targets, title=title)
    top_min = max((t.limit_s / 60 for t in targets), default=0.0) * 1.05
    if top_min > ax.get_xlim()[1]:
        ax.set_xlim(0, top_min)
    return fig, ax


def _response(ctx: ReportContext) -> str:
    return _section(
        "response",
        "Response-time distribution",
        _img(
            _response_cdf,
            ctx.incidents,
            ctx.scenario.targets,
            alt="response-time CDF",
            title=f"{ctx.scenario.name}: first arrival and full response (min from call)",
        )
        + "<p class='note'>Mean empirical CDF over replications with a 95% band; dotted lines: each target's "
        "time limit (vertical) and required share (horizontal).</p>",
    )


def _parts(ctx: ReportContext) -> str:
    breakdown = ctx.tables.get("breakdown")
    table = ""
    if breakdown is not None:
        cols = [c for c in breakdown.columns if not c.endswith("_ci")]
        shown = breakdown[cols].copy()
        for c in cols:
            if c.endswith("_s"):
                shown[c] = shown[c] / 60
            elif c.endswith("_share") or c.startswith("target:"):
                shown[c] = shown[c] * 100
        shown.columns = [_kpi_label(c) for c in cols]
        table = "<h3>KPIs by group (times in min, shares in %)</h3><div class='scroll'>" + _table(shown) + "</div>"
    return _section(
        "parts",
        "Turnout, travel and on-scene breakdown",
        _img(plot_response_parts, ctx.incidents, alt="response-time parts") + table,
    )


def _hours(ctx: ReportContext) -> str:
    return _section(
        "hours",
        "By hour of the day",
        _img(
            plot_hour_of_day,
            ctx.incidents,
            int(ctx.manifest["replications"]),
            ctx.scenario.horizon_days,
            ctx.scenario.targets,
            alt="calls and first arrival by hour of the day",
        )
        + "<p class='note'>Calls per day by the hour of the call (local time from <code>start_date</code>), hazmat "
        "incidents and everyday calls stacked, and their mean first arrival with a 95% CI over replications; "
        "the <code>call_hour</code> rows of <code>breakdown.csv</code> hold every KPI by hour.</p>",
    )


def _calibration(ctx: ReportContext) -> str:
    table = ctx.tables.get("calibration")
    if table is None:
        return ""
    summary = ctx.tables["calibration_summary"]
    return _section(
        "calibration",
        "Calibration against replayed calls",
        _img(plot_calibration, table, alt="simulated against observed times")
        + _table(summary)
        + "<p class='note'>Each point is a replayed historical call: its observed time against the mean over "
        "replications of the simulated one (travel is road travel plus the last leg). Bias is simulated minus "
        "observed; a bias far from 0 says the road speeds or turnout assumptions do not fit the place. Per call in "
        "<code>calibration.csv</code>.</p>",
    )


def _utilisation(ctx: ReportContext) -> str:
    units = ctx.tables["units"]
    per_unit = units.groupby(["unit", "base", "unit_type"], as_index=False)[
        ["utilisation", "dispatches", "drills", "drill_downtime_s", "mean_proficiency"]
    ].mean()
    per_unit["utilisation"] *= 100
    per_unit["drill_downtime_s"] /= 3600
    per_unit.columns = [
        "unit",
        "base",
        "type",
        "utilisation (%)",
        "dispatches",
        "drills",
        "drill downtime (h)",
        "mean proficiency",
    ]
    events = ctx.tables.get("events", pd.DataFrame(columns=["replication", "time_s", "event"]))
    return _section(
        "utilisation",
        "Unit utilisation by status over time",
        _img(plot_utilisation, events, units, ctx.scenario.horizon_s, alt="utilisation")
        + "<h3>Per unit (mean over replications)</h3>"
        + _table(per_unit),
    )


def _compliance(ctx: ReportContext) -> str:
    rows = []
    for t in ctx.summary.get("targets", []):
        share = t["achieved_share"]
        word = verdict_word(t)
        css = {"met": "good", "not met": "bad"}.get(word, "")
        verdict = f"<span class='{css}'>{html.escape(word)}</span>"
        mean = "–" if share["mean"] is None else f"{100 * share['mean']:.1f}%"
        half = "–" if share["half_width"] is None else f"± {100 * share['half_width']:.1f}"
        rows.append(
            f"<tr><td>{html.escape(t['name'])}</td><td>{html.escape(t['applies_to'])}</td>"
            f"<td>{html.escape(t['measure'].replace('_', ' '))} ≤ {t['limit_min']:g} min</td>"
            f"<td>{100 * t['required_share']:.0f}%</td><td>{mean}</td><td>{half}</td><td>{verdict}</td></tr>"
        )
    table = (
        (
            "<table><tr><th>target</th><th>applies to</th><th>measure</th><th>required</th><th>achieved</th>"
            "<th>95% CI</th><th></th></tr>" + "".join(rows) + "</table>"
        )
        if rows
        else "<p>No targets.</p>"
    )
    drills = ctx.summary.get("drill_compliance") or []
    drill_html = ""
    if drills:
        frame = pd.DataFrame(drills)
        bad = frame[~frame["compliant"]]
        drill_html = (
            f"<h3>Drill compliance (statutory interval {frame['statutory_interval_days'].iloc[0]:g} "
            f"days)</h3><p>{len(frame) - len(bad)} of {len(frame)} units compliant.</p>" + _table(frame)
        )
    return _section("compliance", "Compliance with the targets", table + drill_html)


def _fleet(ctx: ReportContext) -> str:
    """What the best layout does to every base and its units (``fleet.csv``)."""
    fleet = ctx.tables.get("fleet")
    if fleet is None:
        return ""
    choice = ctx.manifest.get("fleet", "move")
    return (
        f"<h3>The fleet under the best layout (--fleet {html.escape(str(choice))})</h3>"
        + _table(fleet.fillna(""))
        + "<p class='note'>--fleet move: today's bases may close and their units move to the new sites; --fleet "
        "keep: today's bases stay with their units and new sites get <code>siting.new_base_units</code>.</p>"
    )


def _curve(ctx: ReportContext) -> str:
    """The trade-off curve of a siting study (``curve.csv``, ``curve.png``), if it has one."""
    curve, png = ctx.tables.get("curve"), ctx.run_dir / "curve.png"
    if curve is None or not png.is_file():
        return ""
    objective = ctx.manifest.get("objective", "first_arrival_mean_s")
    keep = ("p", "sites", "model_objective", objective, f"{objective}_ci")
    return (
        "<h3>Trade-off: what one more base buys</h3>"
        + _png_file(png, alt="trade-off curve")
        + "<p class='note'>Each point is the optimal layout for that number of bases, simulated on the same incidents; "
        "its sites and every KPI are in <code>curve.csv</code>.</p>"
        + _study_table(curve[[c for c in curve.columns if c in keep]], "curve.csv")
    )


def _study(ctx: ReportContext) -> str:
    if "drills" in ctx.tables:
        table = ctx.tables["drills"]
        png = ctx.run_dir / "tradeoff.png"
        img = _png_file(png, alt="drill trade-off") if png.is_file() else ""
        return _section(
            "study",
            "Drill-frequency study",
            img + "<p class='note'>Every interval ran on the same "
            "incidents (common random numbers). The run tables above are the best interval's.</p>"
            + _study_table(table, "drills.csv"),
        )
    if "siting" in ctx.tables:
        table = ctx.tables["siting"]
        return _section(
            "study",
            "Siting comparison",
            "<p class='note'>Layouts from the exact location model "
            "and the current layout, simulated on the same incidents and ranked by the simulated "
            "objective; the run tables and maps above are the best layout's (gold stars; every layout is a "
            "layer of <a href='map.html'>map.html</a>).</p>"
            + _study_table(table, "siting.csv")
            + _fleet(ctx)
            + _curve(ctx),
        )
    return _section(
        "study", "Studies", "<p>This is a single run; drill and siting studies add their sections here.</p>"
    )
