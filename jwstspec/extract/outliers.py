"""Empirical spatial profiles and outlier (cosmic ray) flagging against the slice's scaled profile."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

__all__ = ["ProfileNoise", "flag_outliers", "local_profile", "median_variance_factor", "scale_profile"]


def _sum_w(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    if w.ndim == 3:
        return np.einsum("kij,kij->k", a, w)
    return np.einsum("kij,ij->k", a, w)


def median_variance_factor(n: np.ndarray | int) -> np.ndarray:
    """``n * Var(median of n) / sigma**2`` for Gaussian samples: ``(pi/2) n / (n + pi/2 - 1)``.

    The asymptotic ``pi/2`` with a finite-size correction (within 2 % of a
    Monte Carlo for n = 3 ... 121).
    """
    n = np.asarray(n, dtype=float)
    return (np.pi / 2) * n / (n + np.pi / 2 - 1)


@dataclasses.dataclass
class ProfileNoise:
    """How the noise of the slices enters each slice's empirical profile (arrays of length nw).

    The profile of slice ``k`` is ``sum_b c_kb * median(block b)`` of
    normalised slices; per voxel its noise variance is ``gain[k]`` times the
    (normalised) variance of one slice, and its covariance with slice ``k``'s
    own noise is ``self_weight[k]`` times that variance (a median of ``n``
    Gaussian samples covaries with each by ``sigma**2 / n``, like the mean).
    """

    gain: np.ndarray  #: sum_b c_kb**2 kappa(n_b) / n_b (kappa: :func:`median_variance_factor`)
    self_weight: np.ndarray  #: c_kb / n_b for the block b holding slice k (0 when k's block is not used)


def local_profile(sub: np.ndarray, valid: np.ndarray, weights: np.ndarray, window: int,
                  noise: bool = False) -> np.ndarray | tuple[np.ndarray, ProfileNoise]:
    """Empirical spatial profile for every slice from its neighbours.

    The background-subtracted slices are normalised by their weighted sum;
    the median over blocks of ``2 * window + 1`` slices gives one profile
    per block, interpolated linearly along wavelength between the centres of
    blocks holding data (blocks in a gap or at NaN edges are skipped), so the
    profile follows a PSF that widens and drifts with wavelength.  Each
    slice's profile is renormalised so that ``sum(profile * weights) == 1``.
    Vectorised: no Python loop over slices.  ``noise``: also return the
    :class:`ProfileNoise` of every slice (what the PSF fit's error needs).
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
    # samples per block: finite normalised slices (a slice counts when its region holds data)
    counts = np.isfinite(scaled).any(axis=(1, 2))
    del scaled
    nblocks = len(centres)
    block_of = np.minimum(np.arange(nw) // size, nblocks - 1)
    n_b = np.bincount(block_of, weights=counts, minlength=nblocks)
    has = np.isfinite(blocks).any(axis=(1, 2))
    if not has.any():
        zeros = np.zeros_like(sub)
        return (zeros, ProfileNoise(np.zeros(nw), np.zeros(nw))) if noise else zeros
    index = np.flatnonzero(has)
    blocks, centres = np.where(np.isfinite(blocks[has]), blocks[has], 0.0), centres[has]
    if len(centres) == 1:
        prof = np.broadcast_to(blocks[0], sub.shape).copy()
        j, t = np.zeros(nw, int), np.zeros(nw)
    else:
        k = np.arange(nw, dtype=float)
        j = np.clip(np.searchsorted(centres, k) - 1, 0, len(centres) - 2)
        t = np.clip((k - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0)
        prof = blocks[j] * (1 - t)[:, None, None]
        prof += blocks[j + 1] * t[:, None, None]
    total = _sum_w(prof, weights)
    with np.errstate(invalid="ignore", divide="ignore"):
        prof /= np.where(total > 0, total, np.nan)[:, None, None]
    prof = np.nan_to_num(prof, copy=False)
    if not noise:
        return prof
    return prof, _profile_noise(block_of, index, n_b, j, t, counts)


def _profile_noise(block_of: np.ndarray, index: np.ndarray, n_b: np.ndarray, j: np.ndarray, t: np.ndarray,
                   counts: np.ndarray) -> ProfileNoise:
    """:class:`ProfileNoise` of the interpolation ``(1 - t) block[index[j]] + t block[index[j + 1]]``."""
    lo = index[j]
    hi = index[np.minimum(j + 1, len(index) - 1)]
    n_lo, n_hi = np.maximum(n_b[lo], 1.0), np.maximum(n_b[hi], 1.0)
    c_lo = np.where(lo == hi, 1.0, 1.0 - t)
    c_hi = np.where(lo == hi, 0.0, t)
    gain = c_lo**2 * median_variance_factor(n_lo) / n_lo + c_hi**2 * median_variance_factor(n_hi) / n_hi
    own = np.where(block_of == lo, c_lo / n_lo, 0.0) + np.where(block_of == hi, c_hi / n_hi, 0.0)
    return ProfileNoise(gain, np.where(counts, own, 0.0))


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
