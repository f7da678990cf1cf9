"""Combination of dithers on different grids: flux- and variance-conserving resampling."""

from __future__ import annotations

import numpy as np

from jwstspec.combine import combine_dithers, resample
from jwstspec.spectrum import Spectrum

LINES = (5.25, 5.5, 5.75)


def truth(w: np.ndarray) -> np.ndarray:
    t = 1e-2 * (w / 5.0) ** 1.5
    for c in LINES:
        t = t + 4e-3 * np.exp(-0.5 * ((w - c) / 1.2e-3) ** 2)  # ~3.6 grid steps
    return t


def test_resample_identity_and_integral() -> None:
    w = np.linspace(5, 6, 500)
    f = truth(w)
    e = np.full(w.size, 1e-4)
    f2, e2 = resample(w, f, e, w)
    np.testing.assert_allclose(f2, f, rtol=1e-12)
    np.testing.assert_allclose(e2, e, rtol=1e-12)
    # coarser grid: the integral of the flux density is conserved over the common range
    g = np.linspace(5.0, 6.0, 173)
    fg, eg = resample(w, f, e, g)
    dw, dg = np.gradient(w), np.gradient(g)
    inner_g = (g > 5.1) & (g < 5.9)
    lo, hi = g[inner_g][0] - dg[inner_g][0] / 2, g[inner_g][-1] + dg[inner_g][-1] / 2
    sel = (w >= lo) & (w <= hi)
    ratio = (fg[inner_g] * dg[inner_g]).sum() / (f[sel] * dw[sel]).sum()
    assert abs(ratio - 1) < 2e-3, ratio
    # averaging ~3 independent points: the error shrinks by ~sqrt(3)
    assert 0.5 < np.nanmedian(eg) / 1e-4 < 0.65
    # outside the input: NaN, never extrapolated
    out_f, _ = resample(w, f, e, np.linspace(6.5, 7.0, 10))
    assert np.isnan(out_f).all()


def test_resample_skips_nan_inputs_and_keeps_input_untouched() -> None:
    w = np.linspace(5, 6, 200)
    f = truth(w)
    f[50:60] = np.nan
    keep = f.copy()
    g = w + 0.3 * (w[1] - w[0])
    fg, eg = resample(w, f, np.full(w.size, 1e-4), g)
    np.testing.assert_array_equal(np.isnan(keep), np.isnan(f))
    assert np.isnan(fg[51:58]).all() and np.isfinite(fg[:45]).all() and np.isfinite(fg[65:-1]).all()


def test_shifted_dithers_error_matches_scatter_and_lines_survive() -> None:
    rng = np.random.default_rng(3)
    base = np.linspace(5.0, 6.0, 3000)
    step = base[1] - base[0]
    spectra = []
    for i in range(4):
        w = base + (0 if i == 0 else rng.uniform(-0.5, 0.5)) * step
        spectra.append(Spectrum(w, truth(w) + rng.normal(0, 1e-4, w.size), np.full(w.size, 1e-4)))
    res = combine_dithers(spectra)
    c = res.combined
    np.testing.assert_array_equal(c.wavelength, base)
    inner = slice(2, -2)
    pull = ((c.flux - truth(base)) / c.flux_error)[inner]
    robust = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.9 < robust < 1.1, robust
    flagged = sum(int(f[inner].sum()) for f in res.flags) / (4 * pull.size)
    assert flagged <= 0.005, flagged
    cont = 1e-2 * (base / 5.0) ** 1.5
    for line in LINES:
        sel = np.abs(base - line) < 8e-3
        ratio = (c.flux[sel] - cont[sel]).sum() / (truth(base)[sel] - cont[sel]).sum()
        assert abs(ratio - 1) < 0.02, (line, ratio)
