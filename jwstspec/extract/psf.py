"""PSF-fitting extraction: weighted linear least squares of the empirical profile, all slices at once."""

from __future__ import annotations

import numpy as np

__all__ = ["PROFILE_NOISE", "psf_fit"]

#: Relative variance added by an empirical profile made of one slice (divided by the number of slices).
PROFILE_NOISE = 4.0


def psf_fit(sub: np.ndarray, err: np.ndarray, good: np.ndarray, profile: np.ndarray, region: np.ndarray,
            bkg_var: np.ndarray | None = None, fit_background: bool = False,
            profile_slices: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        Empirical profile, normalised so ``A`` is the flux it represents.
    region : ndarray of bool (ny, nx) or (nw, ny, nx)
        Fit region.
    bkg_var : ndarray (nw,), optional
        Variance of a subtracted per-slice background (propagated into ``A``).
    fit_background : bool
        Fit a constant ``B`` with the source.
    profile_slices : int, optional
        Number of slices whose median made the empirical profile: the
        profile's own noise adds ``PROFILE_NOISE / profile_slices`` to the
        relative variance of ``A`` (calibrated on synthetic cubes: the
        robust scatter of the pulls was 1.09 with 21 slices and 1.03 with
        61 without this term, i.e. 4.0 / N in both cases).

    Returns
    -------
    amp, amp_err, background : ndarray (nw,)
        Amplitude, its least-squares uncertainty (plus the subtracted
        background's contribution), fitted background (0 when not fitted).
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
            var = s1 / det
        else:
            amp = spd / spp
            back = np.zeros_like(amp)
            var = 1.0 / spp
            if bkg_var is not None:
                var = var + (sp / spp) ** 2 * bkg_var
    if profile_slices:
        var = var * (1.0 + PROFILE_NOISE / profile_slices)
    bad = ~(spp > 0)
    amp[bad] = np.nan
    var[bad] = np.nan
    return amp, np.sqrt(var), back
