"""The simulation clock as a calendar: hours of the day, weekdays and months of a moment, time profiles and windows.

The clock starts (0 s) at midnight of the scenario's ``start_date``. A time profile multiplies a source's rate by
an hour-of-day, a day-of-week and a month factor, each list scaled to mean 1 (months weighted by their days in a
common year), so that a source keeps its yearly rate and the profile only moves its calls in time. A window (drills
in working hours) is a span of hours on some weekdays.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=float)  # a common year


@dataclass(frozen=True, eq=False)
class Calendar:
    """Weekday and month of each simulated day (day 0 is ``start_date``)."""

    start_date: dt.date
    weekday_of_day: np.ndarray  # (days,) 0 = Monday
    month_of_day: np.ndarray  # (days,) 0 = January

    @classmethod
    def of(cls, start_date: dt.date, horizon_s: float) -> Calendar:
        days = int(math.ceil(horizon_s / SECONDS_PER_DAY)) + 1
        dates = np.datetime64(start_date, "D") + np.arange(days)
        months = dates.astype("datetime64[M]").astype(np.int64) % 12
        weekdays = (dates.astype(np.int64) - 4) % 7  # 1970-01-01 was a Thursday
        return cls(start_date, weekdays.astype(np.int64), months.astype(np.int64))

    def seconds_since_start(self, moment: dt.datetime) -> float:
        """Clock time of a wall-clock moment (naive, local)."""
        start = dt.datetime.combine(self.start_date, dt.time())
        return (moment - start).total_seconds()

    def day(self, at_s: np.ndarray) -> np.ndarray:
        return np.minimum((np.asarray(at_s, float) // SECONDS_PER_DAY).astype(np.int64), len(self.weekday_of_day) - 1)

    def hour(self, at_s: np.ndarray) -> np.ndarray:
        """Hour of the day 0..23 of each moment."""
        return (np.asarray(at_s, float) % SECONDS_PER_DAY // SECONDS_PER_HOUR).astype(np.int64)

    def weekday(self, at_s: np.ndarray) -> np.ndarray:
        return self.weekday_of_day[self.day(at_s)]


@dataclass(frozen=True)
class RateProfile:
    """A time profile's three factor lists, each scaled to mean 1 (see the module docstring)."""

    hour: np.ndarray  # (24,)
    weekday: np.ndarray  # (7,)
    month: np.ndarray  # (12,)

    @classmethod
    def flat(cls) -> RateProfile:
        return cls(np.ones(24), np.ones(7), np.ones(12))

    @classmethod
    def of(cls, hour_of_day=None, day_of_week=None, month=None) -> RateProfile:
        """From the scenario's lists (None: flat); each must be non-negative with a positive sum (checked when
        the scenario is loaded)."""
        return cls(
            _mean_one(hour_of_day, np.ones(24)),
            _mean_one(day_of_week, np.ones(7)),
            _mean_one(month, DAYS_IN_MONTH),
        )

    @property
    def peak(self) -> float:
        """An upper bound of the factor at any moment (the thinning envelope)."""
        return float(self.hour.max() * self.weekday.max() * self.month.max())

    @property
    def is_flat(self) -> bool:
        return self.peak == 1.0

    def factor(self, calendar: Calendar, at_s: np.ndarray) -> np.ndarray:
        """The rate factor at each moment."""
        day = calendar.day(at_s)
        return (
            self.hour[calendar.hour(at_s)]
            * self.weekday[calendar.weekday_of_day[day]]
            * self.month[calendar.month_of_day[day]]
        )


def _mean_one(values, weight: np.ndarray) -> np.ndarray:
    """Factors scaled so that their ``weight``-weighted mean is 1 (ones if not given)."""
    if values is None:
        return np.ones(len(weight))
    v = np.asarray(values, dtype=float)
    return v * (weight.sum() / float((v * weight).sum()))


@dataclass(frozen=True)
class Window:
    """Hours ``from_h`` to ``to_h`` of the given weekdays (0 = Monday): when something may start."""

    from_s: float  # seconds after midnight
    to_s: float
    weekdays: frozenset[int]
    first_weekday: int  # of day 0, the start date

    def next_open_s(self, at_s: float) -> float:
        """``at_s`` if the window is open then, else the moment it next opens (infinity if never)."""
        if at_s == math.inf:
            return at_s
        day = int(at_s // SECONDS_PER_DAY)
        for d in range(day, day + 8):  # a window opens at least once a week
            if (self.first_weekday + d) % 7 not in self.weekdays:
                continue
            opens_s, closes_s = d * SECONDS_PER_DAY + self.from_s, d * SECONDS_PER_DAY + self.to_s
            if at_s < closes_s:
                return max(at_s, opens_s)
        return math.inf
