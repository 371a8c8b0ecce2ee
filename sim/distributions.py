"""Duration distributions given in minutes in the scenario, sampled in seconds by inverse CDF.

Every random duration in the model is drawn as ``dist.ppf_s(u)`` from a uniform ``u`` generated up front with the
incident, so variants that differ in bases or drills still face the same draws (common random numbers).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from pydantic import Field, model_validator

from sim.schema_base import StrictModel

_Z90 = 1.2815515655446004  # standard normal 90th percentile


class ExponentialSpec(StrictModel):
    mean: float = Field(gt=0)


class LognormalSpec(StrictModel):
    median: float = Field(gt=0)
    p90: float = Field(gt=0)

    @model_validator(mode="after")
    def _p90_above_median(self) -> LognormalSpec:
        if self.p90 <= self.median:
            raise ValueError(f"p90 must be > median, got p90={self.p90} and median={self.median}")
        return self


class UniformSpec(StrictModel):
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> UniformSpec:
        if self.high < self.low:
            raise ValueError(f"high must be >= low, got low={self.low} and high={self.high}")
        return self


class TriangularSpec(StrictModel):
    low: float = Field(ge=0)
    mode: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> TriangularSpec:
        if not self.low <= self.mode <= self.high or self.low == self.high:
            raise ValueError(f"need low <= mode <= high and low < high, got {self.low}, {self.mode}, {self.high}")
        return self


class Duration(StrictModel):
    """A duration in minutes: a plain number (fixed) or exactly one of the named families."""

    fixed: float | None = Field(default=None, ge=0)
    exponential: ExponentialSpec | None = None
    lognormal: LognormalSpec | None = None
    uniform: UniformSpec | None = None
    triangular: TriangularSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _number_is_fixed(cls, data: object) -> object:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return {"fixed": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Duration:
        given = [name for name in _FAMILIES if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(_FAMILIES)}, got {given or 'none'}")
        return self

    @functools.cached_property
    def family(self) -> str:
        return next(name for name in _FAMILIES if getattr(self, name) is not None)

    def ppf_s(self, u: np.ndarray | float) -> np.ndarray:
        """Inverse CDF in seconds at uniform(s) ``u`` in [0, 1)."""
        u = np.asarray(u, dtype=float)
        return _PPF_MIN[self.family](getattr(self, self.family), u) * 60.0

    def quantile_s(self) -> Callable[[float], float]:
        """``ppf_s`` as a plain function of one uniform, for draws made one at a time in the model's hot path
        (a numpy call per draw costs more than the draw)."""
        minutes = _QUANTILE_MIN[self.family](getattr(self, self.family))
        return lambda u: minutes(u) * 60.0

    def mean_s(self) -> float:
        """Expected value in seconds."""
        return _MEAN_MIN[self.family](getattr(self, self.family)) * 60.0


def _lognormal_params(spec: LognormalSpec) -> tuple[float, float]:
    mu = math.log(spec.median)
    return mu, (math.log(spec.p90) - mu) / _Z90


def _lognormal_ppf(mu: float, sigma: float, u: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri  # scipy.special only when sampling: validating a scenario does not need it

    return np.exp(mu + sigma * ndtri(u))


def _triangular_ppf(spec: TriangularSpec, u: np.ndarray) -> np.ndarray:
    a, c, b = spec.low, spec.mode, spec.high
    split = (c - a) / (b - a)
    left = a + np.sqrt(u * (b - a) * (c - a))
    right = b - np.sqrt((1 - u) * (b - a) * (b - c))
    return np.where(u < split, left, right)


def _triangular_quantile(spec: TriangularSpec) -> Callable[[float], float]:
    a, c, b = spec.low, spec.mode, spec.high
    split, ba, ca, bc = (c - a) / (b - a), b - a, c - a, b - c  # the operations of _triangular_ppf, in its order

    def minutes(u: float) -> float:
        return a + math.sqrt(u * ba * ca) if u < split else b - math.sqrt((1 - u) * ba * bc)

    return minutes


def _lognormal_quantile(spec: LognormalSpec) -> Callable[[float], float]:
    from scipy.special import ndtri

    mu, sigma = _lognormal_params(spec)
    return lambda u: math.exp(mu + sigma * float(ndtri(u)))


_FAMILIES = ("fixed", "exponential", "lognormal", "uniform", "triangular")

_PPF_MIN = {
    "fixed": lambda v, u: np.full_like(u, v),
    "exponential": lambda s, u: -s.mean * np.log1p(-u),
    "lognormal": lambda s, u: _lognormal_ppf(*_lognormal_params(s), u),
    "uniform": lambda s, u: s.low + (s.high - s.low) * u,
    "triangular": _triangular_ppf,
}

_QUANTILE_MIN = {  # one family's inverse CDF in minutes as a function of one uniform (same formulas as _PPF_MIN)
    "fixed": lambda v: lambda u: v,
    "exponential": lambda s: lambda u: -s.mean * math.log1p(-u),
    "lognormal": _lognormal_quantile,
    "uniform": lambda s: lambda u: s.low + (s.high - s.low) * u,
    "triangular": _triangular_quantile,
}
_MEAN_MIN = {
    "fixed": lambda v: v,
    "exponential": lambda s: s.mean,
    "lognormal": lambda s: math.exp(_lognormal_params(s)[0] + _lognormal_params(s)[1] ** 2 / 2),
    "uniform": lambda s: (s.low + s.high) / 2,
    "triangular": lambda s: (s.low + s.mode + s.high) / 3,
}
