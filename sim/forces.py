"""Rescue forces: bases, their units and turnout models, as flat tables the model indexes by integer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from sim.distributions import Duration
from sim.scenario import Base, Scenario


class UnitStatus(IntEnum):
    """What a unit is doing; the model changes it in one place and accumulates the time spent in each."""

    AVAILABLE = 0
    MOBILISING = 1  # dispatch order received (mutual-aid activation and turnout)
    EN_ROUTE = 2  # driving and the last leg on foot / off road
    ON_SCENE = 3
    RETURNING = 4
    DRILL_OFF_SITE = 5  # out of service
    DRILL_AT_BASE = 6  # available with a recall delay
    RELOCATING = 7  # driving to cover another base's district, or home from it (dispatchable, crew aboard)
    POSTED = 8  # standing at another base to cover its district (dispatchable from there)


@dataclass(frozen=True, eq=False)
class UnitTable:
    """One row per unit."""

    unit_id: tuple[str, ...]
    base: np.ndarray  # index into the scenario's active bases
    unit_type: tuple[str, ...]
    local: np.ndarray  # bool: same jurisdiction as the dispatch centre
    turnout: tuple[Duration, ...]

    def __len__(self) -> int:
        return len(self.unit_id)


def active_bases(scenario: Scenario) -> tuple[Base, ...]:
    """Bases that hold units (candidates without units are for siting only)."""
    return tuple(b for b in scenario.bases if b.units)


def build_units(scenario: Scenario) -> UnitTable:
    """Expand each base's unit groups into units named ``<base>/<type>-<n>``."""
    ids, base_ix, types, local, turnout = [], [], [], [], []
    for bi, base in enumerate(active_bases(scenario)):
        for group in base.units:
            for k in range(group.count):
                ids.append(f"{base.id}/{group.type}-{k + 1}")
                base_ix.append(bi)
                types.append(group.type)
                local.append(base.jurisdiction == scenario.dispatch.home_jurisdiction)
                turnout.append(base.turnout())
    return UnitTable(
        unit_id=tuple(ids),
        base=np.asarray(base_ix, dtype=np.int64),
        unit_type=tuple(types),
        local=np.asarray(local, dtype=bool),
        turnout=tuple(turnout),
    )
