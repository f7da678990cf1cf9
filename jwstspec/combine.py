"""Dither cleaning, combination and stitching of 1-D spectra (first version).

* :func:`clean_dithers`: flag points where one dither deviates from the
  group while the others agree (threshold ``clip_sigma`` in units of the
  point's error): with three or more dithers against the group median at
  that wavelength, with two against each dither's running median
  (half-width ``window_half``): the non-interactive replacement of the
  research code's interactive prompt loop.  When the dithers scatter
  more than their errors say (resampled cubes carry covariance their ERR
  does not), the threshold is widened by :func:`error_scale`, measured
  on the dithers themselves, so clean points are not clipped.
* :func:`combine_dithers`: inverse-variance weighted mean on the first
  dither's grid (other grids are resampled by :func:`resample`, flux and
  variance conserving), its error, ``NCOMBINED``.  The weights come from
  each dither's running median of its variance (:func:`dither_weights`),
  never from a point's own error, which follows its own noise at low S/N.
* :func:`stitch_result` / :func:`stitch`: all bands into one spectrum,
  sorted by wavelength; two-channel MIRI MRS spectra are cut into their
  sub-bands first (from their headers), each overlap between neighbouring
  bands is resolved on its own (the shorter-wavelength band kept there);
  optional scaling of each band to its neighbour.  Any wavelength order is
  accepted (MIRI LRS runs long to short): inputs are sorted, never assumed.
* :func:`combine_files` / :func:`stitch_files`: paths in, FITS + ECSV + PNG out
  (plots drawn by :mod:`jwstspec.plots`: ``plot`` gets the dithers with their
  flagged points, ``<plot stem>_combined.png`` the combination with errors).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from jwstspec.errors import InputFileError
from jwstspec.spectrum import DQ_FLAGS, Spectrum, read_spectrum


@dataclasses.dataclass
class CombineResult:
    """A combined spectrum, its inputs and what was flagged."""

    combined: Spectrum
    spectra: list[Spectrum]
    flags: list[np.ndarray]
    notes: list[str]


def _edges(centres: np.ndarray) -> np.ndarray:
    """Bin edges around increasing bin centres (midpoints; the end bins mirrored)."""
    mid = 0.5 * (centres[1:] + centres[:-1])
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def resample(wavelength: np.ndarray, flux: np.ndarray, error: np.ndarray,
             grid: np.ndarray, *, min_coverage: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Flux-conserving resampling of a binned spectrum onto ``grid``, with variance propagation.

    Each point stands for a bin between the midpoints to its neighbours.  An
    output bin gets the overlap-weighted mean of the flux densities of the
    input bins it overlaps (so the integral of the flux density is
    conserved) and the variance ``sum(w_i**2 var_i) / (sum w_i)**2`` of
    that weighted mean.  NaN inputs are left out; an output bin less than
    ``min_coverage`` covered by valid input is NaN.

    Parameters
    ----------
    wavelength, flux, error : ndarray
        Input spectrum (any wavelength order: sorted here).
    grid : ndarray
        Output bin centres (any order; the result follows it).

    Returns
    -------
    flux, error : ndarray
        On ``grid``.
    """
    w = np.asarray(wavelength, float)
    order = np.argsort(w, kind="stable")
    w, f, e = w[order], np.asarray(flux, float)[order], np.asarray(error, float)[order]
    g = np.asarray(grid, float)
    if w.size < 2 or g.size < 2:
        raise ValueError("resampling needs at least two points on each grid")
    if np.any(np.diff(g) < 0):  # decreasing (or unordered) grid: resample on the sorted grid, put back
        go = np.argsort(g, kind="stable")
        sf, se = resample(w, f, e, g[go], min_coverage=min_coverage)
        out_f, out_e = np.empty_like(sf), np.empty_like(se)
        out_f[go], out_e[go] = sf, se
        return out_f, out_e
    ein, eout = _edges(w), _edges(g)
    lo, hi = eout[:-1], eout[1:]
    i0 = np.clip(np.searchsorted(ein, lo, side="right") - 1, 0, w.size - 1)
    i1 = np.clip(np.searchsorted(ein, hi, side="left") - 1, 0, w.size - 1)
    valid = np.isfinite(f) & np.isfinite(e)
    fz, vz = np.where(valid, f, 0.0), np.where(valid, e * e, 0.0)
    num = np.zeros(g.size)
    var = np.zeros(g.size)
    cover = np.zeros(g.size)
    for k in range(int((i1 - i0).max()) + 1 if g.size else 0):
        i = np.minimum(i0 + k, w.size - 1)
        ov = np.clip(np.minimum(hi, ein[i + 1]) - np.maximum(lo, ein[i]), 0.0, None)
        ov = np.where((i0 + k <= i1) & valid[i], ov, 0.0)
        num += ov * fz[i]
        var += ov * ov * vz[i]
        cover += ov
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = cover >= min_coverage * (hi - lo)
        out_f = np.where(ok, num / cover, np.nan)
        out_e = np.where(ok, np.sqrt(var) / cover, np.nan)
    return out_f, out_e


def _on_grid(spec: Spectrum, grid: np.ndarray) -> Spectrum:
    if spec.wavelength.shape == grid.shape and np.allclose(spec.wavelength, grid, rtol=1e-7, atol=0):
        return spec
    f, e = resample(spec.wavelength, spec.flux, spec.flux_error, grid)
    return Spectrum(grid, f, e, meta=dict(spec.meta))


def _running_median(values: np.ndarray, half: int) -> np.ndarray:
    """NaN-aware running median of half-width ``half`` (vectorised with a sliding window)."""
    from numpy.lib.stride_tricks import sliding_window_view

    padded = np.pad(values, half, mode="edge")
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(sliding_window_view(padded, 2 * half + 1), axis=1)


ERROR_SCALE_NOTE = 1.2  # a larger error scale is reported in the combine notes
MIN_SCALE_POINTS = 50  # fewer common points than this: the errors are taken as they are


def error_scale(flux: np.ndarray, err: np.ndarray) -> float:
    """How much more the dithers scatter than their errors say (1 when they agree or scatter less).

    The robust standard deviation (1.4826 MAD) over wavelength and over
    every pair of dithers of ``(f_i - f_j) / sqrt(e_i**2 + e_j**2)``:
    real spectral structure is common to the dithers and cancels, and the
    few single-dither artefacts do not move a median.  Never below 1, so
    errors that are too large are left as they are.

    Parameters
    ----------
    flux, err : ndarray
        ``(n_dithers, n_points)`` on one grid; NaN where a point is unusable.

    Returns
    -------
    float
        The factor (>= 1); 1 with fewer than two dithers or fewer than
        ``MIN_SCALE_POINTS`` usable points.
    """
    i, j = np.triu_indices(len(flux), k=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (flux[i] - flux[j]) / np.hypot(err[i], err[j])
    z = z[np.isfinite(z)]
    if z.size < MIN_SCALE_POINTS:
        return 1.0
    return max(1.0, float(1.4826 * np.median(np.abs(z - np.median(z)))))


def clean_dithers(spectra: Sequence[Spectrum], *, window_half: int = 10, clip_sigma: float = 5.0,
                  mask_ranges: Sequence[tuple[float, float]] = ()) -> list[np.ndarray]:
    """Boolean flags (True = rejected) per dither; all spectra on one grid.

    The threshold is ``clip_sigma`` times each point's error (never less
    than the dither's running median of its errors, so that a low
    fluctuation with a signal-dependent ``ERR`` is not clipped more readily
    than a high one), widened by :func:`error_scale` of the dithers.
    """
    return _clean(spectra, window_half=window_half, clip_sigma=clip_sigma, mask_ranges=mask_ranges)[0]


def _clean(spectra: Sequence[Spectrum], *, window_half: int, clip_sigma: float,
           mask_ranges: Sequence[tuple[float, float]]) -> tuple[list[np.ndarray], float]:
    """Flags per dither and the error scale used."""
    flux = np.array([s.flux for s in spectra])
    err = np.array([s.flux_error for s in spectra])
    wave = spectra[0].wavelength
    bad = ~np.isfinite(flux) | ~np.isfinite(err) | (err <= 0)
    for lo, hi in mask_ranges:
        bad |= (wave >= lo) & (wave <= hi)
    if len(spectra) < 2:
        return list(bad), 1.0
    filled = np.where(bad, np.nan, flux)
    n = len(spectra)
    # a point's own ERR follows its own noise where the variance comes from the measured signal: a low
    # fluctuation gets a small ERR and would be clipped more readily than a high one (an upward bias
    # at low S/N), so the threshold never goes below the dither's running median of its errors
    with np.errstate(invalid="ignore"):
        err = np.where(bad, err, np.fmax(err, np.sqrt(_smooth_variance(err, ~bad, window_half))))
    factor = error_scale(filled, np.where(bad, np.nan, err))
    err = err * factor
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if n >= 3:
            # deviation from the group at the same wavelength: real lines are in every dither, so the
            # group median carries them and only single-dither artefacts stand out
            consensus = np.nanmedian(filled, axis=0)
            scale = err * np.sqrt(1 + np.pi / (2 * n))  # the median's own noise
            out = np.nan_to_num(np.abs(filled - consensus[None]) / scale, nan=0.0) > clip_sigma
            # second pass: the consensus of the points kept (two artefacts at one wavelength shift a median of 4)
            consensus2 = np.nanmedian(np.where(out, np.nan, filled), axis=0)
            consensus = np.where(np.isfinite(consensus2), consensus2, _running_median(consensus, window_half))
            out = np.nan_to_num(np.abs(filled - consensus[None]) / scale, nan=0.0) > clip_sigma
            flags = bad | out
        else:
            # two dithers: a point deviating from its own running median in one dither but not the other
            runmed = np.array([_running_median(f, window_half) for f in filled])
            out = np.nan_to_num(np.abs(filled - runmed) / err, nan=0.0) > clip_sigma
            flags = bad | (out & (out.sum(axis=0) == 1)[None])
    return list(flags), factor


def dither_weights(err: np.ndarray, use: np.ndarray, window_half: int) -> np.ndarray:
    """Inverse-variance weights of the dithers from each dither's running median of its variance.

    A point's own ``ERR`` follows its own noise where the variance comes
    from the measured signal (Poisson variance from the ramp's slope):
    weighting each point by ``1 / ERR**2`` then favours the points that
    fluctuated low and biases the mean (at S/N 2 per point, two dithers
    combined 6 % low, three 12 %).  The running median over ``2 *
    window_half + 1`` points (the dither's usable points only) keeps the
    weights' wavelength dependence but not the point's own fluctuation.

    Parameters
    ----------
    err : ndarray (n_dithers, n_points)
        The dithers' errors on one grid.
    use : ndarray of bool, same shape
        Points that enter the combination.
    window_half : int
        Half-width of the running median.

    Returns
    -------
    ndarray
        Weights (0 where a point is not used).
    """
    smooth = _smooth_variance(err, use, window_half)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(use & np.isfinite(smooth) & (smooth > 0), 1.0 / smooth, 0.0)


def _smooth_variance(err: np.ndarray, use: np.ndarray, window_half: int) -> np.ndarray:
    """Each dither's running median of ``err**2`` over its ``use`` neighbours (``window_half`` either side, the point left out).

    Leaving the point out makes a point's weight independent of its own
    noise (with the point in, the bias of a signal-dependent ``ERR`` was
    still -1 % at S/N 2).  Where no neighbour is usable: the point's own.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    var = np.where(use, np.asarray(err, float) ** 2, np.nan)
    half = max(int(window_half), 1)
    padded = np.pad(var, ((0, 0), (half, half)), constant_values=np.nan)
    windows = sliding_window_view(padded, 2 * half + 1, axis=1).copy()
    windows[..., half] = np.nan  # leave the point out
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        smooth = np.nanmedian(windows, axis=-1)
    return np.where(np.isfinite(smooth) & (smooth > 0), smooth, var)


def combine_dithers(spectra: Sequence[Spectrum], *, window_half: int = 10, clip_sigma: float = 5.0,
                    mask_ranges: Sequence[tuple[float, float]] = (), rescale_errors: bool = False) -> CombineResult:
    """Clean the dithers and average them with inverse-variance weights (:func:`dither_weights`).

    The combined error is propagated from the inputs' ``ERR`` through those weights.  How much
    more the dithers actually scatter (:func:`error_scale`, which also
    widens the clipping threshold) is kept in the ``ERRSCALE`` header
    keyword, with a note when it exceeds ``ERROR_SCALE_NOTE``; with
    ``rescale_errors`` the combined error is multiplied by it
    (``ERRRESCL = True``).
    """
    if not spectra:
        raise ValueError("no spectrum to combine")
    from jwstspec.bands import increasing

    spectra = [increasing(s) for s in spectra]  # any wavelength order (MIRI LRS runs long to short)
    grid = spectra[0].wavelength
    on_grid = [_on_grid(s, grid) for s in spectra]
    for i, (s, g) in enumerate(zip(spectra, on_grid)):
        if not np.isfinite(g.flux).any():
            label = s.meta.get("SRCFILE") or f"dither {i + 1}"
            lo, hi = np.nanmin(grid), np.nanmax(grid)
            raise InputFileError(label, f"no valid point overlaps the first spectrum's range {lo:.4f}-{hi:.4f} um")
    notes = []
    flags, factor = _clean(on_grid, window_half=window_half, clip_sigma=clip_sigma, mask_ranges=mask_ranges)
    if factor > ERROR_SCALE_NOTE:
        treated = "multiplied by it" if rescale_errors else "propagated from the inputs' ERR"
        notes.append(f"the dithers scatter {factor:.2f}x more than their errors say: clipping used the scatter "
                     f"(ERRSCALE); the combined errors are {treated}")
    flux = np.array([s.flux for s in on_grid])
    err = np.array([s.flux_error for s in on_grid])
    use = ~np.array(flags)
    w = dither_weights(err, use, window_half)
    wsum = w.sum(axis=0)
    e_use = np.where(use, err, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(wsum > 0, (w * np.where(use, flux, 0.0)).sum(axis=0) / wsum, np.nan)
        sigma = np.where(wsum > 0, np.sqrt((w * w * e_use * e_use).sum(axis=0)) / wsum, np.nan)
        sigma = sigma * (factor if rescale_errors else 1.0)
    n = use.sum(axis=0)
    dq = np.where(n == 0, DQ_FLAGS["NO_DATA"], 0) | np.where((n > 0) & (n < len(on_grid)), DQ_FLAGS["DITHER_CLIPPED"], 0)
    for lo, hi in mask_ranges:
        dq = dq | np.where((grid >= lo) & (grid <= hi), DQ_FLAGS["USER_MASKED"], 0)
    if len(on_grid) == 1:
        notes.append("one dither: the combined spectrum is that dither")
    meta = {k: v for k, v in spectra[0].meta.items() if k not in ("SRCFILE",)}
    meta["NDITHERS"] = len(on_grid)
    meta["ERRSCALE"] = round(factor, 3)
    meta["ERRRESCL"] = bool(rescale_errors)
    combined = Spectrum(grid, mean, sigma, dq=dq, ncombined=n, meta=meta)
    return CombineResult(combined, list(on_grid), flags, notes)


@dataclasses.dataclass(frozen=True)
class Overlap:
    """Where two bands' valid ranges overlap, and the band whose points are kept there."""

    lower: str
    upper: str
    start: float
    end: float
    kept: str

    def __str__(self) -> str:
        return f"{self.lower}/{self.upper} {self.start:.4f}-{self.end:.4f} um: {self.kept} kept"


@dataclasses.dataclass
class StitchResult:
    """A stitched spectrum and how it was made.

    Attributes
    ----------
    spectrum : Spectrum
        Sorted by wavelength; header ``BANDS``, ``OVERLAP``, ``OVERLAPS``,
        ``NOVERLAP``, ``SCALED``, ``SCALING``.
    bands : list of str
        Band keys in order of their shortest valid wavelength.
    ranges : dict
        ``{band: (first, last valid wavelength)}``.
    overlaps : list of Overlap
        Every overlap between two bands' valid ranges and the band kept.
    scaling : list of str
        With ``scale``: the factor (or why none) of every band but the first.
    notes : list of str
        Bands left out (no valid point) or entirely inside another band.
    """

    spectrum: Spectrum
    bands: list[str]
    ranges: dict[str, tuple[float, float]]
    overlaps: list[Overlap]
    scaling: list[str]
    notes: list[str]


def _intervals(wave: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(n, 2)`` wavelength ranges covered by the valid points of one band (increasing ``wave``).

    The valid points are cut where they are further apart than
    ``GAP_FACTOR`` times their median step: a run of NaN points or a gap in
    the grid is a hole another band may fill.
    """
    from jwstspec.bands import GAP_FACTOR

    w = wave[valid]
    if w.size == 0:
        return np.empty((0, 2))
    if w.size == 1:
        return np.array([[w[0], w[0]]])
    step = np.diff(w)
    med = float(np.median(step))
    cut = np.flatnonzero(step > GAP_FACTOR * med) + 1 if med > 0 else np.array([], int)
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut - 1, [w.size - 1]])
    return np.column_stack([w[starts], w[ends]])


def _covered(wave: np.ndarray, intervals: np.ndarray) -> np.ndarray:
    """Whether each wavelength lies inside one of ``intervals`` (ends included)."""
    if intervals.size == 0:
        return np.zeros(wave.shape, bool)
    return ((wave[:, None] >= intervals[None, :, 0]) & (wave[:, None] <= intervals[None, :, 1])).any(axis=1)


def stitch_result(spectra_by_band: dict[str, Spectrum], *, scale: bool = False) -> StitchResult:
    """Stitch bands into one spectrum sorted by wavelength, resolving each overlap between neighbours.

    Every input is first cut into its sub-bands (a two-channel MIRI MRS
    spectrum into its two channels, from its header: see
    :func:`jwstspec.bands.split_channels`) and sorted by wavelength (any
    input order is accepted).  Each band covers the ranges of its valid
    (finite) points; bands are ranked by their shortest valid wavelength,
    and a point of a band is kept unless a band ranked before it covers
    that wavelength.  So in every overlap the shorter-wavelength band is
    kept, a band's hole (NaN run) is filled by a neighbour when one covers
    it, and no band is dropped because an earlier band reached further.

    With ``scale`` each band is multiplied by the ratio of the median fluxes,
    in their overlap, of the (already scaled) band ranked before it that
    overlaps it most and of itself, so the whole chain is tied to the first
    band; a band without an overlap is left unscaled, with a note.  ``DQ``
    and ``NCOMBINED`` of the kept points are carried over.

    Parameters
    ----------
    spectra_by_band : dict
        ``{name: Spectrum}``; the name is used when the header gives no band.
    scale : bool
        Scale each band to its neighbour.
    """
    from jwstspec.bands import split_channels

    pieces: dict[str, Spectrum] = {}
    for name, spec in spectra_by_band.items():
        for key, part in split_channels(spec, name).items():
            k, i = key, 2
            while k in pieces:  # the same band twice: keep both, under distinct names
                k, i = f"{key}#{i}", i + 1
            pieces[k] = part
    notes: list[str] = []
    items = []
    for band, s in pieces.items():
        valid = np.isfinite(s.wavelength) & np.isfinite(s.flux)
        iv = _intervals(s.wavelength, valid)
        if iv.size == 0:
            notes.append(f"{band} has no valid point: left out")
            continue
        items.append((band, s, valid, iv))
    if not items:
        raise ValueError("no band with a valid point to stitch")
    items.sort(key=lambda it: (it[3][0, 0], it[3][-1, 1], it[0]))
    overlaps: list[Overlap] = []
    scaling: list[str] = []
    scaled: list[np.ndarray] = []  # flux of each band after scaling
    keep_w, keep_f, keep_e, keep_dq, keep_n = [], [], [], [], []
    for j, (band, s, valid, iv) in enumerate(items):
        w = s.wavelength
        covered = np.zeros(w.shape, bool)
        best, best_len, best_range = -1, 0.0, (np.nan, np.nan)
        for k in range(j):
            other, ivk = items[k][0], items[k][3]
            lo = np.maximum(iv[:, None, 0], ivk[None, :, 0])
            hi = np.minimum(iv[:, None, 1], ivk[None, :, 1])
            inter = hi >= lo
            if inter.any():
                start, end = float(lo[inter].min()), float(hi[inter].max())
                overlaps.append(Overlap(other, band, start, end, other))
                length = float((hi - lo)[inter].sum())
                if length >= best_len:
                    best, best_len, best_range = k, length, (start, end)
            covered |= _covered(w, ivk)
        f, e = s.flux.astype(float).copy(), s.flux_error.astype(float).copy()
        if scale and j > 0:
            if best >= 0:
                lo_, hi_ = best_range
                a = valid & (w >= lo_) & (w <= hi_)
                wk, vk = items[best][1].wavelength, items[best][2]
                b = vk & (wk >= lo_) & (wk <= hi_)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mine = np.nanmedian(f[a]) if a.any() else np.nan
                    theirs = np.nanmedian(scaled[best][b]) if b.any() else np.nan
            else:
                mine = theirs = np.nan
            if np.isfinite(mine) and np.isfinite(theirs) and mine != 0:
                factor = theirs / mine
                f, e = f * factor, e * abs(factor)
                scaling.append(f"{band} scaled by {factor:.4f}")
            else:
                scaling.append(f"{band} not scaled (no overlap with the previous band)")
        scaled.append(f)
        # own span (first to last valid point), not covered by a band ranked before it; a NaN point
        # inside another band's valid range is left out (that band's value is kept there)
        others = np.vstack([it[3] for i, it in enumerate(items) if i != j]) if len(items) > 1 else np.empty((0, 2))
        sel = (w >= iv[0, 0]) & (w <= iv[-1, 1]) & ~covered & (valid | ~_covered(w, others))
        if not (sel & valid).any():
            notes.append(f"{band} lies inside the bands before it: none of its points kept")
        keep_w.append(w[sel])
        keep_f.append(f[sel])
        keep_e.append(e[sel])
        keep_dq.append(s.dq[sel])
        keep_n.append(s.ncombined[sel] if s.ncombined is not None else np.ones(int(sel.sum()), int))
    w = np.concatenate(keep_w)
    order = np.argsort(w, kind="stable")
    # strictly increasing: a repeated wavelength (e.g. the seam of a two-channel MRS cube) is kept once
    keep = np.concatenate([[True], np.diff(w[order]) > 0])
    order = order[keep]
    bands = [it[0] for it in items]
    meta: dict[str, Any] = {"BANDS": ",".join(bands), "OVERLAP": "shorter-wavelength band kept in overlaps",
                            "SCALED": bool(scale), "NOVERLAP": len(overlaps)}
    if any("DEFRINGE" in it[1].meta for it in items):  # the bands' 1-D fringe correction: T only when every band had it
        meta["DEFRINGE"] = all(bool(it[1].meta.get("DEFRINGE", False)) for it in items)
    slits = {str(it[1].meta.get("SLITNAME", "") or "") for it in items}
    if len(slits) == 1 and "" not in slits:  # the bands of one slit's source (MOS: never several sources)
        meta["SLITNAME"] = slits.pop()
    if overlaps:
        meta["OVERLAPS"] = "; ".join(str(o) for o in overlaps)
    if scaling:
        meta["SCALING"] = "; ".join(scaling)
    spectrum = Spectrum(w[order], np.concatenate(keep_f)[order], np.concatenate(keep_e)[order],
                        dq=np.concatenate(keep_dq)[order], ncombined=np.concatenate(keep_n)[order], meta=meta)
    ranges = {it[0]: (float(it[3][0, 0]), float(it[3][-1, 1])) for it in items}
    return StitchResult(spectrum, bands, ranges, overlaps, scaling, notes)


def stitch(spectra_by_band: dict[str, Spectrum], *, scale: bool = False) -> Spectrum:
    """The stitched spectrum of :func:`stitch_result` (its header records the bands and overlaps)."""
    return stitch_result(spectra_by_band, scale=scale).spectrum


def _read_all(inputs: Sequence[Path]) -> list[Spectrum]:
    spectra = [read_spectrum(p) for p in inputs]
    for p, s in zip(inputs, spectra):
        if not np.isfinite(s.flux).any():
            raise InputFileError(p, "spectrum is all NaN")
    return spectra


def combine_files(inputs: Sequence[Path], output: Path, *, window_half: int = 10, clip_sigma: float = 5.0,
                  mask_ranges: Sequence[tuple[float, float]] = (), plot: Path | None = None,
                  ecsv: bool = True, rescale_errors: bool = False,
                  correct: Callable[[Spectrum], tuple[Spectrum, list[str]]] | None = None) -> CombineResult:
    """Read dither spectra, combine them, write FITS (+ ECSV, PNG).

    Parameters
    ----------
    inputs : sequence of Path
        One ``EXTRACT1D`` spectrum per dither.
    output : Path
        The combined FITS file.
    window_half, clip_sigma, mask_ranges, rescale_errors
        See :func:`combine_dithers`.
    plot : Path, optional
        The dithers' plot; the combined spectrum goes to ``<plot stem>_combined.png``.
    ecsv : bool
        Also write ``output`` with the ``.ecsv`` suffix.
    correct : callable, optional
        Applied to the combined spectrum before anything is written (e.g.
        :func:`jwstspec.corrections.defringe_1d`); returns the corrected
        spectrum and notes, which are added to the result's notes.

    Notes
    -----
    Everything is computed before the first file is written, and the FITS
    file, the product the flow's cache checks, is written last: a run killed
    while writing leaves no FITS file, never a FITS file without its ECSV or plots.
    """
    spectra = _read_all([Path(p) for p in inputs])
    for p, sp in zip(inputs, spectra):
        sp.meta["SRCFILE"] = str(p)
    result = combine_dithers(spectra, window_half=window_half, clip_sigma=clip_sigma, mask_ranges=mask_ranges,
                             rescale_errors=rescale_errors)
    if correct is not None:
        corrected, notes = correct(result.combined)
        result = dataclasses.replace(result, combined=corrected, notes=[*result.notes, *notes])
    if ecsv:
        result.combined.write_ecsv(Path(output).with_suffix(".ecsv"))
    if plot:
        from jwstspec.plots import plot_combined, plot_dithers

        plot = Path(plot)
        plot_dithers(plot, result.spectra, result.flags, [Path(p).name for p in inputs],
                     title=f"{Path(output).name}: dithers, flagged points", combined=result.combined)
        plot_combined(combined_plot_path(plot), result.combined,
                      title=f"{Path(output).name}: combined ({len(result.spectra)} dithers)")
    result.combined.write_fits(output, extra_hdus=[dithers_hdu(result, [Path(p).name for p in inputs])])
    return result


def dithers_hdu(result: CombineResult, names: Sequence[str]) -> fits.BinTableHDU:
    """The ``DITHERS`` table of a combined file: one row per input, on the combined grid.

    Columns ``SRCFILE``, ``FLUX`` and ``FLUX_ERROR`` (Jy, the dither as
    combined, resampled when its grid differed) and ``FLAGGED`` (points the
    cleaning or the user mask left out of the average).
    """
    from astropy.table import Table

    table = Table({
        "SRCFILE": list(names),
        "FLUX": np.array([s.flux for s in result.spectra]),
        "FLUX_ERROR": np.array([s.flux_error for s in result.spectra]),
        "FLAGGED": np.array(result.flags, dtype=bool),
    })
    hdu = fits.table_to_hdu(table)
    hdu.name = "DITHERS"
    return hdu


def combined_plot_path(plot: Path) -> Path:
    """Where :func:`combine_files` draws the combined spectrum, beside the dithers' ``plot``."""
    return Path(plot).with_name(Path(plot).stem + "_combined.png")


def read_bands(inputs: Sequence[Path]) -> tuple[dict[str, Spectrum], dict[str, Path]]:
    """Read band spectra (files) and cut each into its sub-bands, named from their headers.

    Returns
    -------
    bands : dict
        ``{band key: Spectrum}`` (see :func:`jwstspec.bands.split_channels`;
        the file's stem when the header names no band).
    sources : dict
        ``{band key: file it came from}``.

    Raises
    ------
    InputFileError
        A file is unreadable, all NaN, or its header and wavelengths disagree.
    """
    from jwstspec.bands import BandError, split_channels

    bands: dict[str, Spectrum] = {}
    sources: dict[str, Path] = {}
    for p, spec in zip(inputs, _read_all([Path(p) for p in inputs])):
        try:
            parts = split_channels(spec, Path(p).stem)
        except BandError as exc:
            raise InputFileError(p, str(exc).split(": ", 1)[-1]) from None
        for key, part in parts.items():
            k, i = key, 2
            while k in bands:
                k, i = f"{key}#{i}", i + 1
            bands[k] = part
            sources[k] = Path(p)
    return bands, sources


def write_stitched(result: StitchResult, output: Path, *, plot: Path | None = None, ecsv: bool = True) -> Path:
    """Write a stitched spectrum: ECSV and plot first, the FITS file (the product the cache checks) last."""
    if ecsv:
        result.spectrum.write_ecsv(Path(output).with_suffix(".ecsv"))
    if plot:
        from jwstspec.plots import plot_stitched

        plot_stitched(Path(plot), result.spectrum, title=f"{Path(output).name}: stitched", bands=result.ranges)
    return result.spectrum.write_fits(output)


def stitch_files(inputs: Sequence[Path], output: Path, *, scale: bool = False, plot: Path | None = None,
                 ecsv: bool = True) -> Spectrum:
    """Stitch band spectra (files) into one; write FITS (+ ECSV, PNG).

    No spectral-leak correction here (that is :func:`jwstspec.products.stitch_bands`).
    """
    bands, _ = read_bands(inputs)
    result = stitch_result(bands, scale=scale)
    write_stitched(result, output, plot=plot, ecsv=ecsv)
    return result.spectrum
