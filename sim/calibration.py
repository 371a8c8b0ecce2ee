"""Simulated against observed response-time parts of replayed historical calls: does the model fit the place?

For each replayed call with observed times, the mean over replications of its simulated turnout, travel (road and
last leg: wheels rolling to on scene) and first arrival beside the observed ones; per part, the bias (simulated
minus observed, mean), the mean absolute error and the share of calls within one minute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.hazards import replayed_calls
from sim.world import World

PARTS = {  # part: (observed field in minutes, simulated seconds from the incident table's columns)
    "turnout": ("observed_turnout_min", ("turnout_s",)),
    "travel": ("observed_travel_min", ("travel_s", "access_s")),
    "first_arrival": ("observed_first_arrival_min", ("first_arrival_s",)),
}


def calibration_table(world: World, incidents: pd.DataFrame) -> pd.DataFrame | None:
    """One row per replayed call and part with an observed time (None if there is none)."""
    calls = [c for c in replayed_calls(world.scenario) if any(getattr(c, f) is not None for f, _ in PARTS.values())]
    if not calls:
        return None
    replayed = incidents[(incidents["owner_id"] == "replay") & incidents["site_id"].isin([c.id for c in calls])]
    simulated = {part: replayed[list(cols)].sum(axis=1, min_count=len(cols)) for part, (_, cols) in PARTS.items()}
    means = pd.DataFrame(simulated).assign(call=replayed["site_id"].to_numpy()).groupby("call", sort=False).mean()
    rows = []
    for call in calls:
        for part, (field, _) in PARTS.items():
            observed = getattr(call, field)
            if observed is None:
                continue
            sim_min = float(means.loc[call.id, part]) / 60 if call.id in means.index else np.nan
            rows.append({"call": call.id, "part": part, "observed_min": observed, "simulated_min": sim_min})
    table = pd.DataFrame(rows)
    table["error_min"] = table["simulated_min"] - table["observed_min"]
    return table


def calibration_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per part: calls compared, bias, mean absolute error and the share within one minute (minutes)."""
    grouped = table.dropna(subset=["error_min"]).groupby("part", sort=False)["error_min"]
    return pd.DataFrame(
        {
            "calls": grouped.size(),
            "bias_min": grouped.mean(),
            "mae_min": grouped.apply(lambda e: e.abs().mean()),
            "within_1_min_share": grouped.apply(lambda e: (e.abs() <= 1.0).mean()),
        }
    ).reset_index()
