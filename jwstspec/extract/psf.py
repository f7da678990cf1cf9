"""PSF-fitting extraction: weighted linear least squares of the empirical profile, all slices at once."""

from __future__ import annotations

import numpy as np

from jwstspec.extract.outliers import ProfileNoise

__all__ = ["amplitude_weights", "psf_fit"]


def amplitude_weights(err: np.ndarray, good: np.ndarray, profile: np.ndarray, region: np.ndarray,
                      fit_background: bool = False) -> np.ndarray:
    """The fitted amplitude's weight on each voxel times the voxel's error, up to a per-slice factor.

    ``A = sum_i a_i x_i`` with ``a_i ∝ p_i / e_i**2`` (``a_i ∝ (S1 p_i - Sp) / e_i**2``
    when a constant is fitted too); this returns ``a_i e_i`` (0 outside the
    fit), the input :func:`jwstspec.extract.covariance.inflation` needs for
    the amplitude's error inflation under correlated noise.
    """
    use = good & np.broadcast_to(region, err.shape) & (err > 0) & np.isfinite(err)
    e = np.where(use, err, np.inf)
    p = np.where(use, np.nan_to_num(profile), 0.0)
    if not fit_background:
        return p / e
    wt = 1.0 / e**2
    s1 = wt.sum(axis=(1, 2))
    sp = np.einsum("kij,kij->k", p, wt)
    return np.where(use, s1[:, None, None] * p - sp[:, None, None], 0.0) / e


def psf_fit(sub: np.ndarray, err: np.ndarray, good: np.ndarray, profile: np.ndarray, region: np.ndarray,
            bkg_var: np.ndarray | None = None, fit_background: bool = False,
            profile_noise: ProfileNoise | None = None, weights: np.ndarray | None = None,
            inflation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``sub = A * profile (+ B)`` in every slice by weighted linear least squares.

    Parameters
    ----------
    sub : ndarray (nw, ny, nx)
        Data (background already subtracted unless ``fit_background``).
    err : ndarray
        Per-voxel 1-sigma error.
    good : ndarray of bool
        Voxels used in the fit (valid and not outliers).
    profile : ndarray (nw, ny, nx)
        Empirical profile, normalised so ``A`` is the flux it represents
        (``sum(profile * weights) == 1``).
    region : ndarray of bool (ny, nx) or (nw, ny, nx)
        Fit region.
    bkg_var : ndarray (nw,), optional
        Variance of a subtracted per-slice background (propagated into ``A``).
    fit_background : bool
        Fit a constant ``B`` with the source.
    profile_noise : ProfileNoise, optional
        How the slices' noise enters the empirical profile
        (:func:`jwstspec.extract.outliers.local_profile` with ``noise=True``);
        with ``weights``, the profile's own noise is propagated (see Notes).
    weights : ndarray (ny, nx) or (nw, ny, nx), optional
        The extraction region's pixel weights the profile is normalised on.
    inflation : ndarray (nw,), optional
        Variance factor ``F**2`` of correlated voxel noise for the fitted
        amplitude (:func:`amplitude_weights`,
        :func:`jwstspec.extract.covariance.inflation`); multiplies the
        least-squares variance, not ``bkg_var`` (inflate that with its own
        weights before passing it) nor the profile-noise term (the
        normalised empirical profile keeps little of the correlated part of
        its noise: on cubes with rho 0.6 one spaxel apart the robust pull
        scatter was 0.89 with it inflated too, 0.95-1.00 without).

    Returns
    -------
    amp, amp_err, background : ndarray (nw,)
        Amplitude, its least-squares uncertainty (plus the subtracted
        background's and the empirical profile's contributions), fitted
        background (0 when not fitted).

    Notes
    -----
    ``A = sum_i a_i d_i`` with least-squares weights ``a`` (``sum a p = 1``).
    The profile is a median of normalised neighbouring slices, so to first
    order ``A * dp = m - p sum_i W_i m_i`` with ``m`` the (median) noise of
    the neighbours and ``W`` the region's weights; the amplitude's error is
    ``sum a n - sum a m + sum W m``.  Its variance adds
    ``gain * sum err**2 (W - a)**2`` (the profile's noise: 0 for a profile
    that is flat over the aperture, large for a sharp PSF in a wide
    aperture) and ``2 * self_weight * (sum err**2 a W - sum err**2 a**2)``
    (the slice's own share of its profile; 0 without a fitted constant).
    A constant ``PROFILE_NOISE / N`` relative term calibrated on one PSF
    overstated the errors by 10-15 % for PSFs broad in their aperture and
    understated them for sharp ones.
    """
    wt = np.where(good & np.broadcast_to(region, sub.shape), 1.0 / np.where(err > 0, err, np.inf) ** 2, 0.0)
    d = np.where(good, sub, 0.0)
    spp = np.einsum("kij,kij,kij->k", profile, profile, wt)
    spd = np.einsum("kij,kij,kij->k", profile, d, wt)
    sp = np.einsum("kij,kij->k", profile, wt)
    with np.errstate(invalid="ignore", divide="ignore"):
        if fit_background:
            s1 = wt.sum(axis=(1, 2))
            sd = np.einsum("kij,kij->k", d, wt)
            det = spp * s1 - sp**2
            amp = (s1 * spd - sp * sd) / det
            back = (spp * sd - sp * spd) / det
            var_ls = s1 / det
            a = (s1[:, None, None] * profile - sp[:, None, None]) * wt / det[:, None, None]
        else:
            amp = spd / spp
            back = np.zeros_like(amp)
            var_ls = 1.0 / spp
            a = profile * wt / spp[:, None, None]
    a = np.nan_to_num(a)
    factor = np.ones_like(var_ls) if inflation is None else inflation
    var = var_ls * factor
    sum_a = a.sum(axis=(1, 2))
    if profile_noise is not None and weights is not None:
        gain, own = profile_noise.gain, profile_noise.self_weight
        use = wt > 0
        e2 = np.where(use, 1.0 / np.where(use, wt, 1.0), 0.0)  # err**2 of the fitted voxels
        w_reg = np.where(use, np.broadcast_to(weights, sub.shape), 0.0)
        spread = np.einsum("kij,kij->k", e2, (w_reg - a) ** 2)
        cross = np.einsum("kij,kij,kij->k", e2, a, w_reg - a)
        # the profile's own noise is not inflated: normalising the profile divides out most of its correlated part
        var = var + gain * spread + 2.0 * own * cross
        area = w_reg.sum(axis=(1, 2))
        if bkg_var is not None and not fit_background:
            var = var + bkg_var * (sum_a**2 + gain * (sum_a - area) ** 2 - 2.0 * own * sum_a * (sum_a - area))
    elif bkg_var is not None and not fit_background:
        var = var + sum_a**2 * bkg_var
    bad = ~(spp > 0)
    amp[bad] = np.nan
    var[bad] = np.nan
    return amp, np.sqrt(var), back
