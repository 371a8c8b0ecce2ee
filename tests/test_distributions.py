"""Duration distributions: inverse CDFs against their defining quantiles, the scalar quantile against the vector one."""

import math

import numpy as np
import pytest

from sim.distributions import Duration

FAMILIES = {
    "fixed": 7.0,
    "exponential": {"exponential": {"mean": 12.0}},
    "lognormal": {"lognormal": {"median": 30.0, "p90": 90.0}},
    "uniform": {"uniform": {"low": 2.0, "high": 5.0}},
    "triangular": {"triangular": {"low": 1.0, "mode": 2.0, "high": 6.0}},
    "triangular, inexact": {"triangular": {"low": 1.3, "mode": 2.1, "high": 6.7}},
}
U = np.r_[0.0, np.linspace(1e-6, 1 - 1e-6, 2001)]


def test_defining_quantiles_in_seconds():
    assert Duration.model_validate(7.0).ppf_s(0.3) == 420.0
    assert Duration.model_validate(FAMILIES["exponential"]).ppf_s(1 - math.exp(-1)) == pytest.approx(720.0)
    lognormal = Duration.model_validate(FAMILIES["lognormal"])
    assert lognormal.ppf_s([0.5, 0.9]) == pytest.approx([1800.0, 5400.0])
    assert Duration.model_validate(FAMILIES["uniform"]).ppf_s([0.0, 0.5]) == pytest.approx([120.0, 210.0])
    triangular = Duration.model_validate(FAMILIES["triangular"])
    assert triangular.ppf_s([0.0, 0.2, 1.0]) == pytest.approx([60.0, 120.0, 360.0])  # the mode at (c - a) / (b - a)


@pytest.mark.parametrize("family", FAMILIES)
def test_mean_is_the_integral_of_the_inverse_cdf(family):
    dist = Duration.model_validate(FAMILIES[family])
    u = (np.arange(200_000) + 0.5) / 200_000
    assert dist.ppf_s(u).mean() == pytest.approx(dist.mean_s(), rel=0.01)


@pytest.mark.parametrize("family", FAMILIES)
def test_scalar_quantile_matches_the_vector_one(family):
    dist = Duration.model_validate(FAMILIES[family])
    quantile_s = dist.quantile_s()
    one_at_a_time = np.array([quantile_s(float(u)) for u in U])
    vector = dist.ppf_s(U)
    if family.split(",")[0] in ("fixed", "uniform", "triangular"):  # the same IEEE operations: the same bits
        assert np.array_equal(one_at_a_time, vector)
    else:  # numpy's exp / log1p and the C library's may differ in the last bit
        np.testing.assert_allclose(one_at_a_time, vector, rtol=1e-13, atol=0)
    assert type(quantile_s(0.5)) is float  # not a numpy scalar: the model does plain-float arithmetic with it
