"""The KPIs a study may rank by, and resolving the one asked for: the drill and siting studies share them."""

from __future__ import annotations

from sim.errors import RescuesimError
from sim.scenario import Scenario

OBJECTIVES = {  # KPI column -> True when larger is better
    "first_arrival_mean_s": False,
    "first_arrival_p90_s": False,
    "full_response_mean_s": False,
    "full_response_p90_s": False,
    "escalation_share": False,
}


def resolve_objective(scenario: Scenario, objective: str | None) -> tuple[str, bool]:
    """The KPI to optimise and whether larger is better (default: the first target's compliance)."""
    targets = {f"target:{t.name}": True for t in scenario.targets}
    if objective is None:
        return (next(iter(targets)), True) if targets else ("first_arrival_mean_s", False)
    if objective in targets:
        return objective, True
    if objective in OBJECTIVES:
        return objective, OBJECTIVES[objective]
    choices = ", ".join([*OBJECTIVES, *targets])
    raise RescuesimError(f"--objective: unknown objective {objective!r}; choose from {choices}")
