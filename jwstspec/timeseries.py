"""Time-series products from ``calwebb_tso3``'s per-integration spectra (``x1dints``).

For a transit or eclipse observation the products that matter are light
curves.  From one ``x1dints`` product this module builds:

* the **white-light curve**: the flux summed over every usable wavelength
  point (valid in all integrations, inside ``wavelength_range``, mean
  out-of-transit S/N >= ``min_snr``: :func:`usable`), divided by a polynomial in time fitted to the
  out-of-transit baseline (:func:`white_light`);
* **spectroscopic light curves**: the same in ``bins`` wavelength channels
  holding equal numbers of valid wavelength points
  (:func:`spectroscopic_light_curves`), with each channel's depth;
* the **mean out-of-transit spectrum** (:func:`mean_spectrum`), an
  ``EXTRACT1D`` spectrum like every other jwstspec spectrum;
* the **per-integration spectra** on the common valid grid, one
  ``EXTRACT1D`` row per integration (jwst 3.0's ``x1dints`` layout, which
  ``specutils.SpectrumList.read(..., format="JWST x1d multi")`` reads).

Times: the product's ``TDB-MID`` column (BJD_TDB) when it holds times, else
its ``MJD-AVG`` (UTC), else the integration number; the column used is
recorded (``TIMECOL``).  The baseline is the first and last
``baseline_fraction`` of the integrations, or the user's ranges of
integration numbers.  The depth of a light curve is one minus the mean
normalised flux of the integrations outside the baseline (a quick-look
figure for a box-like transit; fit a transit model for science).

:func:`build_products` writes every file of one ``x1dints`` product (plots
and ECSV first, FITS last) and returns a :class:`TimeSeriesProduct`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from astropy.io import fits
from astropy.table import Table

from jwstspec.config import TimeSeriesOptions
from jwstspec.errors import InputFileError, require_file
from jwstspec.fileio import atomic_path
from jwstspec.spectrum import DQ_FLAGS, Spectrum

log = logging.getLogger("jwstspec.timeseries")

#: time columns of an x1dints ``EXTRACT1D`` table, in order of preference, and their names here
TIME_COLUMNS: tuple[tuple[str, str], ...] = (("TDB-MID", "BJD_TDB"), ("MJD-AVG", "MJD_UTC"))


@dataclasses.dataclass
class TimeSeries:
    """Per-integration spectra of one time series on one wavelength grid.

    Attributes
    ----------
    time : ndarray, shape (nint,)
        Mid-time of each integration (see ``time_column``).
    time_column : str
        ``BJD_TDB``, ``MJD_UTC`` or ``INT_NUM`` (no times in the product).
    int_num : ndarray of int, shape (nint,)
        Integration numbers (1-based).
    wavelength : ndarray, shape (nwave,)
        Wavelength in micron.
    flux, flux_error : ndarray, shape (nint, nwave)
        Flux density and its error in Jy.
    dq : ndarray of int64, shape (nint, nwave)
        jwst's DQ bits of each point.
    npixels : ndarray, shape (nint, nwave), optional
        Pixels summed into each point (jwst's ``NPIXELS``).
    meta : dict
        Header keywords of the product (``INSTRUME``, ``EXP_TYPE``, ``FILTER`` ...).
    detector : ndarray of str, shape (nwave,), optional
        Detector of each wavelength point, when the product holds several
        (NIRSpec NRS1 and NRS2); None for one detector.
    """

    time: np.ndarray
    time_column: str
    int_num: np.ndarray
    wavelength: np.ndarray
    flux: np.ndarray
    flux_error: np.ndarray
    dq: np.ndarray
    npixels: np.ndarray | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    detector: np.ndarray | None = None

    @property
    def detectors(self) -> list[str]:
        """The detectors of the product, in wavelength-grid order ([] for one detector)."""
        return [] if self.detector is None else list(dict.fromkeys(self.detector))

    @property
    def valid(self) -> np.ndarray:
        """Wavelength points with a finite flux and error, no DO_NOT_USE, and the same ``NPIXELS`` in every integration.

        A point summed over fewer pixels in some integrations (jwst's
        outlier detection removed a pixel there, e.g. one that a deep transit
        made look deviant) is not comparable between integrations.
        """
        good = np.isfinite(self.flux) & np.isfinite(self.flux_error) & ((self.dq & DQ_FLAGS["NO_DATA"]) == 0)
        same = np.all(self.npixels == self.npixels[:1], axis=0) if self.npixels is not None else True
        return good.all(axis=0) & np.isfinite(self.wavelength) & same


@dataclasses.dataclass
class LightCurves:
    """Normalised light curves of one or more wavelength channels.

    Attributes
    ----------
    time : ndarray, shape (nint,)
    flux, error : ndarray, shape (nint, nchan)
        Flux divided by the baseline fit, and its error.
    raw : ndarray, shape (nint, nchan)
        Summed flux in Jy before normalisation.
    baseline : ndarray of bool, shape (nint,)
        Integrations of the out-of-transit baseline.
    wave_lo, wave_hi, wave_mid : ndarray, shape (nchan,)
        Channel edges (first and last wavelength point) and the flux-weighted mean wavelength.
    npoints : ndarray of int, shape (nchan,)
        Wavelength points summed per channel.
    depth, depth_error : ndarray, shape (nchan,)
        One minus the mean normalised flux outside the baseline, and its error.
    detector : ndarray of str, shape (nchan,), optional
        Detector of each channel when the product holds several (a channel never spans two).
    """

    time: np.ndarray
    flux: np.ndarray
    error: np.ndarray
    raw: np.ndarray
    baseline: np.ndarray
    wave_lo: np.ndarray
    wave_hi: np.ndarray
    wave_mid: np.ndarray
    npoints: np.ndarray
    depth: np.ndarray
    depth_error: np.ndarray
    detector: np.ndarray | None = None


@dataclasses.dataclass
class TimeSeriesProduct:
    """The files written for one ``x1dints`` product (what the flow's task returns).

    ``fits`` is the spectroscopic light curves (written last: the file the
    cache checks); ``depth`` and ``depth_error`` the white-light depth.
    """

    fits: str
    whitelight: str
    whitelight_png: str | None
    speclc_ecsv: str
    speclc_png: str | None
    oot_spectrum: str
    oot_spectrum_ecsv: str
    spectra: str
    source: str
    nints: int
    nbaseline: int
    time_column: str
    depth: float
    depth_error: float
    notes: list[str] = dataclasses.field(default_factory=list)
    kind: str = "timeseries"

    #: the files of the product, in the order a summary lists them
    FILES: ClassVar[tuple[str, ...]] = ("whitelight", "whitelight_png", "fits", "speclc_ecsv", "speclc_png",
                                        "oot_spectrum", "oot_spectrum_ecsv", "spectra")

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields that are set."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


# ---------------------------------------------------------------------- reading
def read_x1dints(path: str | Path) -> TimeSeries:
    """Read the per-integration spectra of a ``calwebb_tso3`` ``x1dints`` product.

    jwst 3.0 writes one ``EXTRACT1D`` table per input exposure (or segment)
    and spectral order, with one row per integration and vector columns.
    The tables of the first table's spectral order and slit (``SPORDER``,
    ``SLTNAME``) are read (order 1 for NIRISS SOSS): tables of one detector
    (segments) are joined row by row, and the tables of different detectors
    (``DETECTOR``: a NIRSpec bright-object time series with G395H gives
    NRS1 and NRS2 in one Tso3 product, as jwst's ``tso3`` association rule
    groups them) are joined along the wavelength axis, each point keeping
    its detector (:attr:`TimeSeries.detector`).  Rows are sorted by
    ``INT_NUM``.

    Parameters
    ----------
    path : str or Path
        The ``*_x1dints.fits`` file.

    Returns
    -------
    TimeSeries

    Raises
    ------
    InputFileError
        No ``EXTRACT1D`` table, a table of one spectrum (not per integration),
        fewer than 3 integrations, integrations on different wavelength grids,
        or detectors with different integrations.
    """
    p = require_file(path)
    try:
        with fits.open(p) as hdul:
            if "EXTRACT1D" not in hdul:
                raise InputFileError(p, "no EXTRACT1D extension (not an x1dints product)")
            hdus = [h for h in hdul if h.name == "EXTRACT1D"]
            first = hdus[0].header
            same = [h for h in hdus
                    if (h.header.get("SPORDER"), h.header.get("SLTNAME")) == (first.get("SPORDER"), first.get("SLTNAME"))]
            parts: dict[str, list[Table]] = {}
            for h in same:
                parts.setdefault(str(h.header.get("DETECTOR", "") or "").strip().upper(), []).append(Table.read(h))
            header = dict(hdul[0].header)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(p, f"cannot be read as x1dints ({type(exc).__name__}: {exc})") from None
    pieces = [_read_detector(p, tables) for tables in parts.values()]
    reference = pieces[0]
    for detector, piece in zip(list(parts)[1:], pieces[1:], strict=True):
        if not np.array_equal(piece["int_num"], reference["int_num"]):
            raise InputFileError(p, f"EXTRACT1D of detector {detector} holds integrations "
                                    f"{_ranges(piece['int_num'])}, {list(parts)[0] or 'the first'} {_ranges(reference['int_num'])}")
    meta = {k: header[k] for k in ("INSTRUME", "DETECTOR", "EXP_TYPE", "FILTER", "GRATING", "SUBARRAY", "PROGRAM",
                                   "OBSERVTN", "TARGPROP", "FILENAME") if k in header}
    detector = None
    if len(pieces) > 1:
        detector = np.concatenate([np.full(q["wave"].size, d, dtype=object) for d, q in zip(parts, pieces, strict=True)])
        meta["DETECTOR"] = ",".join(parts)
    return TimeSeries(time=reference["time"], time_column=reference["time_column"], int_num=reference["int_num"],
                      wavelength=np.concatenate([q["wave"] for q in pieces]),
                      flux=np.concatenate([q["flux"] for q in pieces], axis=1),
                      flux_error=np.concatenate([q["flux_error"] for q in pieces], axis=1),
                      dq=np.concatenate([q["dq"] for q in pieces], axis=1),
                      npixels=None if any(q["npixels"] is None for q in pieces)
                      else np.concatenate([q["npixels"] for q in pieces], axis=1),
                      meta=meta, detector=detector)


def _ranges(int_num: np.ndarray) -> str:
    return f"{int(int_num.min())}-{int(int_num.max())} ({int_num.size})" if int_num.size else "none"


def _read_detector(p: Path, tables: list[Table]) -> dict[str, Any]:
    """The integrations of one detector: its tables (segments) joined row by row, sorted by ``INT_NUM``."""
    for table in tables:
        if "WAVELENGTH" not in table.colnames or np.ndim(table["WAVELENGTH"]) != 2:
            raise InputFileError(p, "EXTRACT1D column WAVELENGTH is not one spectrum per integration (expected jwst 3.0 x1dints rows)")
        for column in ("FLUX", "FLUX_ERROR"):
            if column not in table.colnames:
                raise InputFileError(p, f"EXTRACT1D has no column {column}")
    widths = {np.shape(t["WAVELENGTH"])[1] for t in tables}
    if len(widths) > 1:
        raise InputFileError(p, "EXTRACT1D integrations are on different wavelength grids")
    table = tables[0] if len(tables) == 1 else _vstack(tables)
    if len(table) < 3:
        raise InputFileError(p, f"EXTRACT1D has {len(table)} integration(s); a light curve needs at least 3")
    nint = len(table)
    int_num = np.asarray(table["INT_NUM"], dtype=int) if "INT_NUM" in table.colnames else np.arange(1, nint + 1)
    if np.all(int_num == 0):
        int_num = np.arange(1, nint + 1)
    order = np.argsort(int_num, kind="stable")
    wave = np.asarray(table["WAVELENGTH"], dtype=float)[order]
    reference = wave[0]
    same = np.isclose(wave, reference, rtol=1e-7, atol=0) | (np.isnan(wave) & np.isnan(reference))
    if not same.all():
        raise InputFileError(p, "EXTRACT1D integrations are on different wavelength grids")
    time, time_column = np.asarray(int_num[order], dtype=float), "INT_NUM"
    for column, name in TIME_COLUMNS:
        if column in table.colnames:
            values = np.asarray(table[column], dtype=float)[order]
            if np.all(np.isfinite(values)) and np.all(values > 0) and np.all(np.diff(values) > 0):
                time, time_column = values, name
                break
    dq = np.asarray(table["DQ"], dtype=np.int64)[order] if "DQ" in table.colnames else np.zeros(wave.shape, np.int64)
    npixels = np.asarray(table["NPIXELS"], dtype=float)[order] if "NPIXELS" in table.colnames else None
    return {"time": time, "time_column": time_column, "int_num": int_num[order], "wave": np.asarray(reference),
            "flux": np.asarray(table["FLUX"], dtype=float)[order],
            "flux_error": np.asarray(table["FLUX_ERROR"], dtype=float)[order], "dq": dq, "npixels": npixels}


def _vstack(tables: list[Table]) -> Table:
    """Tables of one detector (segments of an exposure) as one, the columns they all have."""
    from astropy.table import vstack

    common = [c for c in tables[0].colnames if all(c in t.colnames for t in tables)]
    return vstack([t[common] for t in tables], metadata_conflicts="silent")


# ---------------------------------------------------------------------- science
def baseline_mask(int_num: np.ndarray, options: TimeSeriesOptions | Mapping[str, Any] | None = None) -> np.ndarray:
    """The out-of-transit baseline: which integrations it holds.

    Parameters
    ----------
    int_num : ndarray of int
        Integration numbers, in time order.
    options : TimeSeriesOptions or mapping, optional
        ``baseline_integrations`` (inclusive ranges of integration numbers)
        or, when empty, ``baseline_fraction`` of the integrations at each end.

    Returns
    -------
    ndarray of bool

    Raises
    ------
    OptionError
        The baseline holds fewer than ``baseline_order + 2`` integrations, or
        every integration (no transit left to measure).
    """
    from jwstspec.errors import OptionError

    o = TimeSeriesOptions.resolve(options)
    int_num = np.asarray(int_num)
    n = int_num.size
    if o.baseline_integrations:
        mask = np.zeros(n, bool)
        for first, last in o.baseline_integrations:
            mask |= (int_num >= first) & (int_num <= last)
        name = o.option_name("baseline_integrations")
    else:
        k = max(1, int(round(o.baseline_fraction * n)))
        mask = np.zeros(n, bool)
        mask[:k] = mask[n - k:] = True
        name = o.option_name("baseline_fraction")
    if mask.sum() < o.baseline_order + 2:
        raise OptionError(name, f"the baseline holds {int(mask.sum())} of {n} integrations; "
                                f"a polynomial of degree {o.baseline_order} needs at least {o.baseline_order + 2}")
    if mask.all():
        raise OptionError(name, f"the baseline holds all {n} integrations: nothing is left in transit")
    return mask


def normalise(time: np.ndarray, flux: np.ndarray, error: np.ndarray, baseline: np.ndarray,
              order: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Divide light curves by a polynomial in time fitted to their baseline points.

    Parameters
    ----------
    time : ndarray, shape (nint,)
    flux, error : ndarray, shape (nint,) or (nint, nchan)
    baseline : ndarray of bool, shape (nint,)
    order : int
        Polynomial degree (0: the weighted baseline mean).

    Returns
    -------
    flux, error : ndarray
        Normalised, same shape as the input.
    """
    flux2 = np.asarray(flux, dtype=float).reshape(len(time), -1)
    err2 = np.asarray(error, dtype=float).reshape(len(time), -1)
    t = np.asarray(time, dtype=float)
    x = (t - t[baseline].mean()) / (np.ptp(t[baseline]) or 1.0)  # scaled for a well-conditioned fit
    design = np.vander(x, order + 1, increasing=True)
    w = 1.0 / np.where(err2[baseline] > 0, err2[baseline], np.inf)  # (nb, nchan)
    trend = np.empty_like(flux2)
    for j in range(flux2.shape[1]):  # nchan small; each a tiny weighted least-squares
        coef, *_ = np.linalg.lstsq(design[baseline] * w[:, j, None], flux2[baseline, j] * w[:, j], rcond=None)
        trend[:, j] = design @ coef
    return (flux2 / trend).reshape(np.shape(flux)), (err2 / np.abs(trend)).reshape(np.shape(flux))


def transit_depth(flux: np.ndarray, error: np.ndarray, baseline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One minus the weighted mean normalised flux of the integrations outside the baseline.

    Parameters
    ----------
    flux, error : ndarray, shape (nint,) or (nint, nchan)
        Normalised light curves.
    baseline : ndarray of bool, shape (nint,)

    Returns
    -------
    depth, depth_error : ndarray, shape (nchan,) (scalars for 1-D input)
        The error is the larger of the propagated one and the scatter of the
        in-transit points about their mean over the square root of their number.
    """
    f = np.asarray(flux, dtype=float)[~baseline]
    e = np.asarray(error, dtype=float)[~baseline]
    w = 1.0 / e**2
    mean = (w * f).sum(axis=0) / w.sum(axis=0)
    propagated = 1.0 / np.sqrt(w.sum(axis=0))
    n = f.shape[0]
    scatter = f.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return 1.0 - mean, np.maximum(propagated, scatter)


def channels(valid: np.ndarray, nbins: int, segments: np.ndarray | None = None) -> list[np.ndarray]:
    """Split the valid wavelength points into ``nbins`` channels of equal counts (indices in grid order).

    Fewer channels are made when there are fewer valid points than ``nbins``.
    With ``segments`` (a label per point, e.g. the detector), no channel
    spans two segments: each segment gets a share of the ``nbins`` channels
    in proportion to its valid points (at least one), split in equal counts.
    """
    index = np.flatnonzero(valid)
    if index.size == 0:
        return []
    if segments is None or len(set(np.asarray(segments)[index])) < 2:
        return [part for part in np.array_split(index, min(nbins, index.size)) if part.size]
    labels = list(dict.fromkeys(np.asarray(segments)[index]))
    members = [index[np.asarray(segments)[index] == label] for label in labels]
    counts = np.array([m.size for m in members], float)
    share = np.maximum(1, np.floor(max(nbins, len(labels)) * counts / counts.sum())).astype(int)
    while share.sum() < max(nbins, len(labels)):  # largest remainder first
        share[np.argmax(max(nbins, len(labels)) * counts / counts.sum() - share)] += 1
    return [part for m, k in zip(members, share, strict=True) for part in np.array_split(m, min(k, m.size)) if part.size]


def usable(ts: TimeSeries, baseline: np.ndarray, options: TimeSeriesOptions | Mapping[str, Any] | None = None) -> np.ndarray:
    """Wavelength points summed into light curves.

    Valid in every integration (:attr:`TimeSeries.valid`), inside
    ``wavelength_range``, and with a mean out-of-transit signal-to-noise
    ratio of at least ``min_snr``.
    """
    o = TimeSeriesOptions.resolve(options)
    mask = ts.valid.copy()
    if o.wavelength_range is not None:
        lo, hi = o.wavelength_range
        mask &= (ts.wavelength >= lo) & (ts.wavelength <= hi)
    if o.min_snr > 0:
        n = int(baseline.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            snr = ts.flux[baseline].mean(axis=0) / (np.sqrt((ts.flux_error[baseline] ** 2).sum(axis=0)) / n)
        mask &= np.nan_to_num(snr) >= o.min_snr
    return mask


def _usable_or_raise(ts: TimeSeries, baseline: np.ndarray, o: TimeSeriesOptions) -> np.ndarray:
    mask = usable(ts, baseline, o)
    if not mask.any():
        raise InputFileError(ts.meta.get("FILENAME", "x1dints"),
                             f"no wavelength point is valid in every integration with S/N >= {o.min_snr:g}"
                             + (f" inside {list(o.wavelength_range)} um" if o.wavelength_range else ""))
    return mask


def _curves(ts: TimeSeries, groups: list[np.ndarray], baseline: np.ndarray, order: int) -> LightCurves:
    raw = np.stack([ts.flux[:, g].sum(axis=1) for g in groups], axis=1)
    raw_err = np.stack([np.sqrt((ts.flux_error[:, g] ** 2).sum(axis=1)) for g in groups], axis=1)
    flux, error = normalise(ts.time, raw, raw_err, baseline, order)
    depth, depth_error = transit_depth(flux, error, baseline)
    oot = ts.flux[baseline].mean(axis=0)
    mid = np.array([np.sum(ts.wavelength[g] * np.clip(oot[g], 0, None)) / np.sum(np.clip(oot[g], 0, None))
                    if np.sum(np.clip(oot[g], 0, None)) > 0 else ts.wavelength[g].mean() for g in groups])
    lo = np.array([ts.wavelength[g].min() for g in groups])
    hi = np.array([ts.wavelength[g].max() for g in groups])
    detector = None
    if ts.detector is not None:
        detector = np.array([",".join(dict.fromkeys(ts.detector[g])) for g in groups])
    return LightCurves(ts.time, flux, error, raw, baseline, lo, hi, mid, np.array([g.size for g in groups]), depth,
                       depth_error, detector)


def white_light(ts: TimeSeries, options: TimeSeriesOptions | Mapping[str, Any] | None = None) -> LightCurves:
    """The white-light curve: every usable wavelength point (:func:`usable`) summed, normalised by the baseline fit.

    Raises
    ------
    InputFileError
        No wavelength point is usable.
    """
    o = TimeSeriesOptions.resolve(options)
    baseline = baseline_mask(ts.int_num, o)
    return _curves(ts, [np.flatnonzero(_usable_or_raise(ts, baseline, o))], baseline, o.baseline_order)


def spectroscopic_light_curves(ts: TimeSeries, options: TimeSeriesOptions | Mapping[str, Any] | None = None) -> LightCurves:
    """Light curves in ``bins`` channels of equal numbers of usable wavelength points, each normalised by its baseline fit.

    Raises
    ------
    InputFileError
        No wavelength point is usable.
    """
    o = TimeSeriesOptions.resolve(options)
    baseline = baseline_mask(ts.int_num, o)
    return _curves(ts, channels(_usable_or_raise(ts, baseline, o), o.bins, ts.detector), baseline, o.baseline_order)


def detector_light_curves(ts: TimeSeries, options: TimeSeriesOptions | Mapping[str, Any] | None = None) -> LightCurves | None:
    """One white-light curve per detector (a channel each) when the product holds several, else None.

    Detectors have their own systematics: their depths side by side show
    whether they agree.
    """
    if ts.detector is None:
        return None
    o = TimeSeriesOptions.resolve(options)
    baseline = baseline_mask(ts.int_num, o)
    mask = _usable_or_raise(ts, baseline, o)
    groups = [np.flatnonzero(mask & (ts.detector == d)) for d in ts.detectors]
    return _curves(ts, [g for g in groups if g.size], baseline, o.baseline_order)


def mean_spectrum(ts: TimeSeries, baseline: np.ndarray) -> Spectrum:
    """The mean out-of-transit spectrum on the valid grid (``NCOMBINED``: integrations averaged)."""
    valid = ts.valid
    n = int(baseline.sum())
    flux = ts.flux[baseline][:, valid].mean(axis=0)
    error = np.sqrt((ts.flux_error[baseline][:, valid] ** 2).sum(axis=0)) / n
    meta = {k: v for k, v in ts.meta.items() if k != "FILENAME"}
    meta.update({"NINTS": int(ts.flux.shape[0]), "NBASELIN": n, "SRCTYPE": "POINT"})
    return Spectrum(ts.wavelength[valid], flux, error, ncombined=np.full(int(valid.sum()), n), meta=meta)


# ---------------------------------------------------------------------- writers
def _time_table(curves: LightCurves, column: str) -> Table:
    table = Table()
    table[column] = curves.time
    if column != "INT_NUM":
        table[column].unit = "d"
    return table


def write_whitelight(path: Path, ts: TimeSeries, lc: LightCurves, per_detector: LightCurves | None = None) -> Path:
    """White-light curve as ECSV: time, integration, normalised flux, error, raw flux (Jy), baseline flag.

    With ``per_detector`` (:func:`detector_light_curves`) each detector's
    curve is a column ``FLUX_<DETECTOR>`` and its depth ``DEPTH_<DETECTOR>``
    (``DEPTHERR_<DETECTOR>``) in the metadata.
    """
    table = _time_table(lc, ts.time_column)
    table["INT_NUM"] = ts.int_num
    table["FLUX"] = lc.flux[:, 0]
    table["FLUX_ERROR"] = lc.error[:, 0]
    table["RAW_FLUX"] = lc.raw[:, 0]
    table["RAW_FLUX"].unit = "Jy"
    table["BASELINE"] = lc.baseline
    table.meta.update({"TIMECOL": ts.time_column, "DEPTH": float(lc.depth[0]), "DEPTHERR": float(lc.depth_error[0]),
                       "WAVE_LO": float(lc.wave_lo[0]), "WAVE_HI": float(lc.wave_hi[0]), "NPOINTS": int(lc.npoints[0]),
                       **ts.meta})
    if per_detector is not None and per_detector.detector is not None:
        for j, det in enumerate(per_detector.detector):
            table[f"FLUX_{det}"] = per_detector.flux[:, j]
            table.meta[f"DEPTH_{det}"] = float(per_detector.depth[j])
            table.meta[f"DEPTHERR_{det}"] = float(per_detector.depth_error[j])
    with atomic_path(path) as tmp:
        table.write(tmp, format="ascii.ecsv")
    return Path(path)


def speclc_tables(ts: TimeSeries, lc: LightCurves) -> tuple[Table, Table]:
    """The spectroscopic light curves as (curves, channels) tables.

    ``curves``: one row per integration (time, ``INT_NUM``, ``BASELINE``,
    vector columns ``FLUX``/``FLUX_ERROR``/``RAW_FLUX`` of one value per
    channel); ``channels``: one row per channel (``WAVE_LO``, ``WAVE_HI``,
    ``WAVELENGTH`` flux-weighted mean, ``NPOINTS``, ``DEPTH``, ``DEPTH_ERROR``).
    """
    curves = _time_table(lc, ts.time_column)
    curves["INT_NUM"] = ts.int_num
    curves["BASELINE"] = lc.baseline
    curves["FLUX"] = lc.flux
    curves["FLUX_ERROR"] = lc.error
    curves["RAW_FLUX"] = lc.raw
    curves["RAW_FLUX"].unit = "Jy"
    chans = Table({"CHANNEL": np.arange(1, lc.depth.size + 1), "WAVE_LO": lc.wave_lo, "WAVE_HI": lc.wave_hi,
                   "WAVELENGTH": lc.wave_mid, "NPOINTS": lc.npoints, "DEPTH": lc.depth, "DEPTH_ERROR": lc.depth_error})
    if lc.detector is not None:
        chans["DETECTOR"] = lc.detector
    for column in ("WAVE_LO", "WAVE_HI", "WAVELENGTH"):
        chans[column].unit = "um"
    return curves, chans


def write_speclc(fits_path: Path, ecsv_path: Path, ts: TimeSeries, lc: LightCurves, source: str) -> tuple[Path, Path]:
    """Spectroscopic light curves: FITS (``SPECLC`` and ``CHANNELS`` tables) and a long ECSV (one row per integration and channel)."""
    curves, chans = speclc_tables(ts, lc)
    nint, nchan = lc.flux.shape
    long = Table()
    long[ts.time_column] = np.repeat(lc.time, nchan)
    long["INT_NUM"] = np.repeat(ts.int_num, nchan)
    for column in ("CHANNEL", "WAVE_LO", "WAVE_HI", "WAVELENGTH") + (("DETECTOR",) if "DETECTOR" in chans.colnames else ()):
        long[column] = np.tile(np.asarray(chans[column]), nint)
        long[column].unit = chans[column].unit
    long["FLUX"] = lc.flux.ravel()
    long["FLUX_ERROR"] = lc.error.ravel()
    long["BASELINE"] = np.repeat(lc.baseline, nchan)
    meta = {"TIMECOL": ts.time_column, "NCHAN": nchan, "NINTS": nint, "SRCFILE": source, **ts.meta}
    long.meta.update(meta)
    with atomic_path(ecsv_path) as tmp:
        long.write(tmp, format="ascii.ecsv")
    phdr = fits.Header()
    phdr["TELESCOP"] = "JWST"
    phdr["ORIGIN"] = "jwstspec"
    for key, value in meta.items():
        phdr[key] = value
    curves_hdu = fits.table_to_hdu(curves)
    curves_hdu.name = "SPECLC"
    chans_hdu = fits.table_to_hdu(chans)
    chans_hdu.name = "CHANNELS"
    with atomic_path(fits_path) as tmp:
        fits.HDUList([fits.PrimaryHDU(header=phdr), curves_hdu, chans_hdu]).writeto(tmp)
    return Path(fits_path), Path(ecsv_path)


def write_spectra(path: Path, ts: TimeSeries, baseline: np.ndarray, source: str) -> Path:
    """The per-integration spectra on the valid grid: one ``EXTRACT1D`` row per integration (jwst 3.0 x1dints layout).

    ``specutils.SpectrumList.read(path, format="JWST x1d multi")`` gives one
    spectrum per integration.  Columns: ``WAVELENGTH`` (um), ``FLUX`` and
    ``FLUX_ERROR`` (Jy), ``DQ`` (vectors), ``INT_NUM``, the time column,
    ``BASELINE`` and ``SOURCE_TYPE``.
    """
    valid = ts.valid
    nint = ts.flux.shape[0]
    table = Table()
    table["INT_NUM"] = ts.int_num
    table[ts.time_column] = ts.time
    table["BASELINE"] = baseline
    table["WAVELENGTH"] = np.broadcast_to(ts.wavelength[valid], (nint, int(valid.sum())))
    table["WAVELENGTH"].unit = "um"
    table["FLUX"] = ts.flux[:, valid]
    table["FLUX"].unit = "Jy"
    table["FLUX_ERROR"] = ts.flux_error[:, valid]
    table["FLUX_ERROR"].unit = "Jy"
    table["DQ"] = ts.dq[:, valid]
    table["SOURCE_TYPE"] = np.array(["POINT"] * nint)
    hdu = fits.table_to_hdu(table)
    hdu.name = "EXTRACT1D"
    hdu.header["SRCTYPE"] = "POINT"
    hdu.header["TIMECOL"] = ts.time_column
    phdr = fits.Header()
    phdr["TELESCOP"] = "JWST"
    phdr["ORIGIN"] = "jwstspec"
    phdr["SRCFILE"] = source
    for key, value in ts.meta.items():
        if key != "FILENAME":
            phdr[key] = value
    with atomic_path(path) as tmp:
        fits.HDUList([fits.PrimaryHDU(header=phdr), hdu]).writeto(tmp)
    return Path(path)


def build_products(x1dints: str | Path, paths: Mapping[str, Path],
                   options: TimeSeriesOptions | Mapping[str, Any] | None = None, *, plot: bool = True) -> TimeSeriesProduct:
    """Every time-series product of one ``x1dints`` file.

    Parameters
    ----------
    x1dints : str or Path
        ``calwebb_tso3``'s per-integration spectra.
    paths : mapping
        Output path per kind (:meth:`jwstspec.layout.Layout.timeseries_paths`).
    options : TimeSeriesOptions or mapping, optional
        The ``[timeseries]`` options.
    plot : bool
        Draw the two PNG plots.

    Returns
    -------
    TimeSeriesProduct
    """
    from jwstspec.plots import plot_speclc, plot_whitelight

    o = TimeSeriesOptions.resolve(options)
    source = Path(x1dints).name
    ts = read_x1dints(x1dints)
    wl = white_light(ts, o)
    slc = spectroscopic_light_curves(ts, o)
    per_detector = detector_light_curves(ts, o)
    notes = []
    dropped = int((~ts.valid & np.isfinite(ts.wavelength)).sum())
    if dropped:
        notes.append(f"{source}: {dropped} of {ts.wavelength.size} wavelength points left out: not valid in every "
                     "integration (NaN, DO_NOT_USE, or fewer pixels summed in some integrations)")
    title = f"{source}: white-light depth {1e2 * wl.depth[0]:.3f} ± {1e2 * wl.depth_error[0]:.3f} %"
    if plot:
        plot_whitelight(paths["whitelight_png"], wl, time_label=ts.time_column, title=title)
        plot_speclc(paths["speclc_png"], slc, time_label=ts.time_column, title=f"{source}: {slc.depth.size} channels")
    write_whitelight(paths["whitelight"], ts, wl, per_detector)
    oot = mean_spectrum(ts, wl.baseline)
    oot.meta["SRCFILE"] = source
    oot.write_ecsv(paths["oot_spectrum_ecsv"])
    oot.write_fits(paths["oot_spectrum"], primary={k: v for k, v in ts.meta.items() if k != "FILENAME"})
    write_spectra(paths["spectra"], ts, wl.baseline, source)
    write_speclc(paths["speclc"], paths["speclc_ecsv"], ts, slc, source)  # last: the file the cache checks
    for note in notes:
        log.warning(note)
    return TimeSeriesProduct(
        fits=str(paths["speclc"]), whitelight=str(paths["whitelight"]), whitelight_png=str(paths["whitelight_png"]) if plot else None,
        speclc_ecsv=str(paths["speclc_ecsv"]), speclc_png=str(paths["speclc_png"]) if plot else None, oot_spectrum=str(paths["oot_spectrum"]),
        oot_spectrum_ecsv=str(paths["oot_spectrum_ecsv"]), spectra=str(paths["spectra"]), source=str(x1dints),
        nints=int(ts.flux.shape[0]), nbaseline=int(wl.baseline.sum()), time_column=ts.time_column,
        depth=float(wl.depth[0]), depth_error=float(wl.depth_error[0]), notes=notes)
