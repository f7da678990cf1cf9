"""Combining a few noisy spectra is unbiased at low S/N (``combine.combine_dithers``, ``dither_weights``).

A flat spectrum of known flux, S/N 2 and 5 per point, 2 and 3 dithers,
many seeds.  The errors are what a pipeline gives when the Poisson
variance comes from the measured signal (jwst's ramp fit uses the measured
slope): the noise is that of the true flux, the ``ERR`` follows each
point's own fluctuation.  With ``1 / ERR**2`` weights and thresholds in
units of the point's own ``ERR`` the combination was biased (two dithers
at S/N 2: -6 % from the weights; +2 % from the clipping once the weights
were fixed): the median of the combined spectrum over truth must now be 1
within its standard error over the seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from jwstspec.combine import combine_dithers, dither_weights
from jwstspec.spectrum import Spectrum

NPTS, SEEDS = 1000, 60


def _dithers(n: int, snr: float, seed: int, *, measured_err: bool = True) -> list[Spectrum]:
    rng = np.random.default_rng(seed)
    w = np.linspace(3.0, 5.0, NPTS)
    sigma = 1.0 / snr
    out = []
    for _ in range(n):
        f = 1.0 + rng.normal(0.0, sigma, NPTS)  # truth 1: the noise of the true flux
        e = sigma * np.sqrt(np.clip(f, 0.05, None)) if measured_err else np.full(NPTS, sigma)
        out.append(Spectrum(w, f, e, meta={}))
    return out


def _naive_median(spectra: list[Spectrum]) -> float:
    """The median of the plain 1 / ERR**2 weighted mean (what the combination did before)."""
    f = np.array([s.flux for s in spectra])
    w = 1.0 / np.array([s.flux_error for s in spectra]) ** 2
    return float(np.median((w * f).sum(axis=0) / w.sum(axis=0)))


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("snr", [2.0, 5.0])
def test_combined_median_is_unbiased_with_signal_dependent_errors(n: int, snr: float) -> None:
    medians, naive = [], []
    for seed in range(SEEDS):
        spectra = _dithers(n, snr, 1000 * n + seed)
        combined = combine_dithers(spectra).combined
        medians.append(np.nanmedian(combined.flux))
        naive.append(_naive_median(spectra))
    medians = np.array(medians)
    se = medians.std(ddof=1) / np.sqrt(SEEDS)
    assert abs(medians.mean() - 1.0) < 3 * se + 1e-4, (medians.mean(), se)
    # the test can see such a bias: the naive weights fail it by many standard errors
    assert 1.0 - np.mean(naive) > 10 * se, (np.mean(naive), se)


def test_errors_of_the_combination_with_flat_errors() -> None:
    """Errors independent of the flux: the weights are the inverse variances, the pulls have unit scatter."""
    pulls = []
    for seed in range(20):
        spectra = _dithers(3, 3.0, seed, measured_err=False)
        c = combine_dithers(spectra).combined
        np.testing.assert_allclose(c.flux_error, (1 / 3.0) / np.sqrt(3), rtol=1e-12)
        pulls.append((c.flux - 1.0) / c.flux_error)
    assert np.std(np.concatenate(pulls)) == pytest.approx(1.0, abs=0.03)


def test_weights_follow_the_neighbours_variance_not_the_points_own() -> None:
    err = np.full((2, 41), 1.0)
    err[1] = 2.0  # the second dither is twice as noisy everywhere
    err[0, 20] = 0.01  # one point of the first dither claims a tiny error
    w = dither_weights(err, np.ones_like(err, bool), window_half=5)
    np.testing.assert_allclose(w[0], 1.0)  # its weight is its neighbours' 1 / var (the point left out)
    np.testing.assert_allclose(w[1], 0.25)
    use = np.ones_like(err, bool)
    use[1, 10:30] = False  # unused points get no weight and do not enter the neighbours' median
    w = dither_weights(err, use, window_half=5)
    assert np.all(w[1, 10:30] == 0) and np.allclose(w[1, use[1]], 0.25)
