"""Slit geometry that fits: the trace, the background rows and the negative nod traces of a slit image.

Arrays here are ``(nw, ncross)``: one row per dispersion column, the
cross-dispersion (slit) axis last, as the slit extraction uses them.

* :func:`background_rows` -- by default the slit's rows outside the
  extraction region plus a margin, on whichever sides have them, clipped to
  the pixels that hold data and kept off the negative nod traces; when no
  such rows remain the extraction runs without background (``BKGMODE``
  ``none``) instead of failing.  An explicit pair of distances from the
  trace keeps the old meaning (and its one-line error when it leaves the
  slit, raised by the caller).
* :func:`negative_traces` -- the rows of the negative copies of the trace a
  nod subtraction leaves, found as significant negative peaks of the
  trace-aligned profile (the header positions come from
  :mod:`.reading`).
* :func:`binned_snr` / :func:`refine_trace` -- significance of the source
  in wavelength-binned profiles, and the centroid refinement of a trace
  given by the product's source position, applied only where the source is
  detected at ``>= min_snr`` sigma.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

__all__ = ["BackgroundRows", "background_rows", "binned_snr", "near", "negative_traces", "refine_trace"]

#: Rows beyond the extraction region (and around a negative trace) that are not sky.
MARGIN = 3.0
#: Fewer valid background pixels than this in the median column: no background.
MIN_BKG_PIXELS = 2


@dataclasses.dataclass
class BackgroundRows:
    """The background pixels of every column and how they were chosen.

    Attributes
    ----------
    mask : ndarray of bool or None
        ``(nw, ncross)``; None when no background is subtracted.
    mode : str
        ``BKGMODE``: ``rows`` (default: rows outside the extraction region
        plus a margin), ``annulus`` (explicit distances from the trace),
        ``off`` (background switched off), ``none`` (no clean rows left).
    note : str
        Why, for the log and the header (``BKGNOTE``).
    """

    mask: np.ndarray | None
    mode: str
    note: str = ""


def near(ncross: int, traces: list[np.ndarray], half: float) -> np.ndarray:
    """``(nw, ncross)`` mask of the pixels within ``half`` rows of any of ``traces`` (each ``(nw,)``)."""
    rows = np.arange(ncross, dtype=float)[None, :]
    out = np.zeros((len(traces[0]) if traces else 0, ncross), bool) if traces else None
    if out is None:
        return np.zeros((0, ncross), bool)
    for t in traces:
        out |= np.abs(rows - np.asarray(t, float)[:, None]) <= half
    return out


def background_rows(yc: np.ndarray, ncross: int, radius: float, valid: np.ndarray, *, background: bool = True,
                    distances: tuple[float, float] | None = None, exclude: np.ndarray | None = None,
                    margin: float = MARGIN) -> BackgroundRows:
    """Background pixels of a slit image.

    Parameters
    ----------
    yc : ndarray
        Trace row per column, ``(nw,)``.
    ncross : int
        Rows of the slit image.
    radius : float
        Half-width of the extraction region, pixels.
    valid : ndarray of bool
        ``(nw, ncross)`` pixels holding data.
    background : bool
        False: no background (``off``).
    distances : pair of float, optional
        Explicit inner and outer distance from the trace (``annulus``);
        default: every row farther than ``radius + margin``.
    exclude : ndarray of bool, optional
        ``(nw, ncross)`` pixels never used as background (negative nod traces).
    margin : float
        Rows between the extraction region and the default background.

    Returns
    -------
    BackgroundRows
    """
    if not background:
        return BackgroundRows(None, "off", "background off")
    d = np.abs(np.arange(ncross, dtype=float)[None, :] - np.asarray(yc, float)[:, None])
    if distances is not None:
        mask, mode = (d >= distances[0]) & (d <= distances[1]), "annulus"
    else:
        mask, mode = d >= radius + margin, "rows"
    if exclude is not None and exclude.shape == mask.shape:
        mask &= ~exclude
    usable = mask & valid
    per_column = usable.sum(axis=1)
    if not usable.any() or np.median(per_column) < MIN_BKG_PIXELS:
        why = "no clean background rows in the slit"
        if exclude is not None and exclude.any():
            why += " (negative nod traces excluded)"
        return BackgroundRows(None, "none", why)
    return BackgroundRows(usable, mode, "")


def _aligned_profile(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, yc: np.ndarray,
                     columns: slice | np.ndarray = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean flux and its error at offsets ``row - yc`` (binned by ``row - round(yc)``) over ``columns``.

    Returns (offsets from the trace, sub-pixel on average; mean; error of the mean).
    """
    f, e, v, y = flux[columns], err[columns], valid[columns], np.rint(np.asarray(yc)[columns]).astype(int)
    ncross = f.shape[1]
    offs = np.arange(ncross)[None, :] - y[:, None]  # (nw, ncross)
    ok = v & np.isfinite(f) & np.isfinite(e)
    lo = -ncross + 1
    idx = (offs - lo)[ok]
    n = np.bincount(idx, minlength=2 * ncross - 1).astype(float)
    s = np.bincount(idx, weights=f[ok], minlength=2 * ncross - 1)
    s2 = np.bincount(idx, weights=e[ok] ** 2, minlength=2 * ncross - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, error = s / n, np.sqrt(s2) / n
    frac = float(np.mean(np.asarray(yc, float)[columns] - y)) if len(y) else 0.0  # sub-pixel part of the trace
    return np.arange(lo, ncross) - frac, mean, error


def negative_traces(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, yc: np.ndarray, radius: float,
                    min_snr: float = 5.0) -> list[float]:
    """Offsets (rows from the trace) of the negative copies of the trace, found in the data.

    The image is averaged over all columns along the trace; local minima
    below ``-min_snr`` sigma farther than ``radius`` from the trace are
    negative traces (sub-pixel by a parabola through the minimum).

    Returns
    -------
    list of float
        Offsets in rows, e.g. ``[-5.2, 5.1]`` for a 3-point nod.
    """
    offs, mean, error = _aligned_profile(flux, err, valid, yc)
    snr = np.where(np.isfinite(mean) & (error > 0), mean / np.where(error > 0, error, 1.0), 0.0)
    out = []
    for i in range(1, len(offs) - 1):
        if snr[i] < -min_snr and abs(offs[i]) > radius and mean[i] <= mean[i - 1] and mean[i] <= mean[i + 1]:
            a, b, c = mean[i - 1], mean[i], mean[i + 1]
            den = a - 2 * b + c
            shift = 0.5 * (a - c) / den if np.isfinite(den) and den > 0 else 0.0
            out.append(float(offs[i] + np.clip(shift, -0.5, 0.5)))  # offs: already relative to the sub-pixel trace
    return out


def binned_snr(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, yc: np.ndarray, radius: float,
               nbin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detection significance of the source in ``nbin`` blocks of columns.

    In each block the trace-aligned mean profile is summed over the
    extraction region (``|offset| <= radius``), less the median of the
    rows beyond ``radius + MARGIN`` when there are some.

    Returns
    -------
    snr : ndarray
        ``(nbin,)`` signal-to-noise ratio of each block.
    centre : ndarray
        ``(nbin,)`` column index at the middle of each block.
    offset : ndarray
        ``(nbin,)`` centre of mass of the positive profile within the
        extraction region, rows from the trace (NaN where undefined).
    """
    nw = flux.shape[0]
    nbin = int(max(1, min(nbin, nw)))
    edges = np.linspace(0, nw, nbin + 1).astype(int)
    snr, centre, offset = np.zeros(nbin), 0.5 * (edges[:-1] + edges[1:] - 1), np.full(nbin, np.nan)
    for b, (a, z) in enumerate(zip(edges[:-1], edges[1:])):  # loop over blocks, not columns
        offs, mean, error = _aligned_profile(flux, err, valid, yc, slice(a, z))
        ok = np.isfinite(mean) & np.isfinite(error)
        inner = ok & (np.abs(offs) <= radius)
        outer = ok & (np.abs(offs) > radius + MARGIN)
        if not inner.any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sky = float(np.median(mean[outer])) if outer.sum() >= 2 else 0.0
        signal = float(np.sum(mean[inner] - sky))
        noise = float(np.sqrt(np.sum(error[inner] ** 2)))
        snr[b] = signal / noise if noise > 0 else 0.0
        w = np.clip(mean[inner] - sky, 0, None)
        if w.sum() > 0:
            offset[b] = float(np.sum(offs[inner] * w) / w.sum())
    return snr, centre, offset


def refine_trace(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, trace: np.ndarray, radius: float,
                 nbin: int, min_snr: float = 5.0) -> tuple[np.ndarray, bool, float]:
    """The trace from the source position, moved by the centroid where the source is significant.

    Parameters
    ----------
    flux, err, valid : ndarray
        ``(nw, ncross)``.
    trace : ndarray
        ``(nw,)`` rows from the product's source position (WCS).
    radius : float
        Half-width of the region searched and summed, rows.
    nbin : int
        Blocks of columns.
    min_snr : float
        Blocks detected at least this significantly give the centroid.

    Returns
    -------
    trace : ndarray
        The trace moved by the median centroid offset of the significant
        blocks, or unchanged.
    refined : bool
        Whether at least half the blocks detected the source.
    snr : float
        Median block significance.
    """
    snr, _, offset = binned_snr(flux, err, valid, trace, radius, nbin)
    good = (snr >= min_snr) & np.isfinite(offset)
    median_snr = float(np.median(snr)) if len(snr) else 0.0
    if good.sum() == 0 or good.sum() < 0.5 * len(snr):
        return trace, False, median_snr
    shift = float(np.median(offset[good]))
    return trace + shift, True, median_snr
