"""Empirical spatial profiles and outlier (cosmic ray) flagging against the slice's scaled profile."""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["flag_outliers", "local_profile", "scale_profile"]


def _sum_w(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    if w.ndim == 3:
        return np.einsum("kij,kij->k", a, w)
    return np.einsum("kij,ij->k", a, w)


def local_profile(sub: np.ndarray, valid: np.ndarray, weights: np.ndarray, window: int) -> np.ndarray:
    """Empirical spatial profile for every slice from its neighbours.

    The background-subtracted slices are normalised by their weighted sum;
    the median over blocks of ``2 * window + 1`` slices gives one profile
    per block, interpolated linearly along wavelength between the centres of
    blocks holding data (blocks in a gap or at NaN edges are skipped), so the
    profile follows a PSF that widens and drifts with wavelength.  Each
    slice's profile is renormalised so that ``sum(profile * weights) == 1``.
    Vectorised: no Python loop over slices.
    """
    nw, ny, nx = sub.shape
    norm = _sum_w(np.where(valid, sub, 0.0), weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(valid & (norm[:, None, None] > 0), sub / norm[:, None, None], np.nan)
    size = max(2 * window + 1, 3)
    nblock = max(nw // size, 1)
    usable = nblock * size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        blocks = np.nanmedian(scaled[:usable].reshape(nblock, size, ny, nx), axis=1)
        centres = np.arange(nblock) * size + (size - 1) / 2.0
        if usable < nw:  # the remaining slices form a last, shorter block
            blocks = np.concatenate([blocks, np.nanmedian(scaled[usable:], axis=0)[None]], axis=0)
            centres = np.append(centres, (usable + nw - 1) / 2.0)
    del scaled
    has = np.isfinite(blocks).any(axis=(1, 2))
    if not has.any():
        return np.zeros_like(sub)
    blocks, centres = np.where(np.isfinite(blocks[has]), blocks[has], 0.0), centres[has]
    if len(centres) == 1:
        prof = np.broadcast_to(blocks[0], sub.shape).copy()
    else:
        k = np.arange(nw, dtype=float)
        j = np.clip(np.searchsorted(centres, k) - 1, 0, len(centres) - 2)
        t = np.clip((k - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0)
        prof = blocks[j] * (1 - t)[:, None, None]
        prof += blocks[j + 1] * t[:, None, None]
    total = _sum_w(prof, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof /= np.where(total > 0, total, np.nan)[:, None, None]
    return np.nan_to_num(prof, copy=False)


def scale_profile(sub: np.ndarray, good: np.ndarray, err: np.ndarray, profile: np.ndarray,
                  region: np.ndarray) -> np.ndarray:
    """Amplitude of ``profile`` in each slice: weighted least squares on the good ``region`` voxels."""
    w = np.where(good & region, 1.0 / np.where(err > 0, err, np.inf) ** 2, 0.0)
    p = profile * w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("kij,kij->k", np.where(good, sub, 0.0), p) / np.einsum("kij,kij->k", profile, p)


def flag_outliers(sub: np.ndarray, valid: np.ndarray, err: np.ndarray, profile: np.ndarray, region: np.ndarray,
                  clip_sigma: float = 5.0, rel: float = 0.02, max_per_slice: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Voxels of ``region`` that disagree with the slice's scaled profile.

    A voxel is an outlier when
    ``|data - A * profile| > clip_sigma * sqrt(err**2 + (rel * A * profile)**2)``
    with ``A`` the slice's profile amplitude fitted on the voxels not yet
    flagged; ``rel`` absorbs the profile's own imperfection, so a bright
    unresolved line (whose slices are a scaled profile) comes through whole
    while single-voxel hits are caught.  Residuals are leave-one-out
    (divided by ``1 - leverage``) so a hit on the peak cannot hide by pulling
    the fit.  Each pass flags the single worst
    voxel of every slice (all slices at once, no loop over slices), so one
    strong hit cannot drag the fit and get its neighbours flagged; up to
    ``max_per_slice`` passes.

    Returns
    -------
    outliers : ndarray of bool (nw, ny, nx)
    amplitude : ndarray (nw,)
    """
    nw = sub.shape[0]
    region = np.broadcast_to(region, sub.shape)
    out = np.zeros(sub.shape, bool)
    rows = np.arange(nw)
    for _ in range(max_per_slice):
        good = valid & ~out
        amp = scale_profile(sub, good, err, profile, region)
        model = amp[:, None, None] * profile
        # leave-one-out residual: r / (1 - leverage), so a hit on the peak cannot hide by pulling the fit
        w = np.where(good & region, 1.0 / err**2, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            lev = profile**2 * w / np.einsum("kij,kij->k", profile**2, w)[:, None, None]
            resid = (sub - model) / np.clip(1.0 - lev, 0.05, 1.0)
            score = np.abs(resid) / np.sqrt(err**2 + (rel * model) ** 2)
        score = np.where(valid & region & ~out & np.isfinite(amp)[:, None, None], score, 0.0).reshape(nw, -1)
        worst = np.argmax(score, axis=1)
        hit = score[rows, worst] > clip_sigma
        if not hit.any():
            break
        out.reshape(nw, -1)[rows[hit], worst[hit]] = True
    amp = scale_profile(sub, valid & ~out, err, profile, region)
    return out, amp
