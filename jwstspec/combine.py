"""Dither cleaning, combination and stitching of 1-D spectra (first version).

* :func:`clean_dithers`: flag points where one dither deviates from the
  group while the others agree (threshold ``clip_sigma`` in units of the
  point's error): with three or more dithers against the group median at
  that wavelength, with two against each dither's running median
  (half-width ``window_half``): the non-interactive replacement of the
  research code's interactive prompt loop.
* :func:`combine_dithers`: inverse-variance weighted mean on the first
  dither's grid (other grids are interpolated), its error, ``NCOMBINED``.
* :func:`stitch`: all bands into one spectrum, sorted by wavelength; in an
  overlap the band with the smaller median error wins.
* :func:`combine_files` / :func:`stitch_files`: paths in, FITS + ECSV + PNG out.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jwstspec.errors import InputFileError
from jwstspec.spectrum import DQ_FLAGS, Spectrum, read_spectrum


@dataclasses.dataclass
class CombineResult:
    """A combined spectrum, its inputs and what was flagged."""

    combined: Spectrum
    spectra: list[Spectrum]
    flags: list[np.ndarray]
    notes: list[str]


def _on_grid(spec: Spectrum, grid: np.ndarray) -> Spectrum:
    if spec.wavelength.shape == grid.shape and np.allclose(spec.wavelength, grid, rtol=1e-7, atol=0):
        return spec
    f = np.interp(grid, spec.wavelength, spec.flux, left=np.nan, right=np.nan)
    e = np.interp(grid, spec.wavelength, spec.flux_error, left=np.nan, right=np.nan)
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


def clean_dithers(spectra: Sequence[Spectrum], *, window_half: int = 10, clip_sigma: float = 5.0,
                  mask_ranges: Sequence[tuple[float, float]] = ()) -> list[np.ndarray]:
    """Boolean flags (True = rejected) per dither; all spectra on one grid."""
    flux = np.array([s.flux for s in spectra])
    err = np.array([s.flux_error for s in spectra])
    wave = spectra[0].wavelength
    bad = ~np.isfinite(flux) | ~np.isfinite(err) | (err <= 0)
    for lo, hi in mask_ranges:
        bad |= (wave >= lo) & (wave <= hi)
    if len(spectra) < 2:
        return list(bad)
    filled = np.where(bad, np.nan, flux)
    n = len(spectra)
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
    return list(flags)


def combine_dithers(spectra: Sequence[Spectrum], *, window_half: int = 10, clip_sigma: float = 5.0,
                    mask_ranges: Sequence[tuple[float, float]] = ()) -> CombineResult:
    """Clean the dithers and average them with inverse-variance weights."""
    if not spectra:
        raise ValueError("no spectrum to combine")
    grid = spectra[0].wavelength
    on_grid = [_on_grid(s, grid) for s in spectra]
    notes = []
    flags = clean_dithers(on_grid, window_half=window_half, clip_sigma=clip_sigma, mask_ranges=mask_ranges)
    flux = np.array([s.flux for s in on_grid])
    err = np.array([s.flux_error for s in on_grid])
    use = ~np.array(flags)
    w = np.where(use, 1.0 / np.where(use, err, 1.0) ** 2, 0.0)
    wsum = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(wsum > 0, (w * np.where(use, flux, 0.0)).sum(axis=0) / wsum, np.nan)
        sigma = np.where(wsum > 0, 1.0 / np.sqrt(wsum), np.nan)
    n = use.sum(axis=0)
    dq = np.where(n == 0, DQ_FLAGS["NO_DATA"], 0) | np.where((n > 0) & (n < len(on_grid)), DQ_FLAGS["DITHER_CLIPPED"], 0)
    if len(on_grid) == 1:
        notes.append("one dither: the combined spectrum is that dither")
    meta = {k: v for k, v in spectra[0].meta.items() if k not in ("SRCFILE",)}
    meta["NDITHERS"] = len(on_grid)
    combined = Spectrum(grid, mean, sigma, dq=dq, ncombined=n, meta=meta)
    return CombineResult(combined, list(on_grid), flags, notes)


def stitch(spectra_by_band: dict[str, Spectrum], *, scale: bool = False) -> Spectrum:
    """Stitch bands into one spectrum sorted by wavelength (overlaps: the less noisy band)."""
    items = sorted(spectra_by_band.items(), key=lambda kv: np.nanmin(kv[1].wavelength))
    keep_w, keep_f, keep_e, keep_n = [], [], [], []
    notes = []
    prev_max = -np.inf
    prev: Spectrum | None = None
    for band, s in items:
        f, e = s.flux.copy(), s.flux_error.copy()
        if scale and prev is not None:
            lo, hi = np.nanmin(s.wavelength), np.nanmax(prev.wavelength)
            a = (s.wavelength >= lo) & (s.wavelength <= hi)
            b = (prev.wavelength >= lo) & (prev.wavelength <= hi)
            if a.any() and b.any():
                factor = np.nanmedian(prev.flux[b]) / np.nanmedian(s.flux[a])
                f, e = f * factor, e * factor
                notes.append(f"{band} scaled by {factor:.4f}")
        sel = s.wavelength > prev_max
        keep_w.append(s.wavelength[sel])
        keep_f.append(f[sel])
        keep_e.append(e[sel])
        keep_n.append(np.full(sel.sum(), 1))
        prev_max = max(prev_max, np.nanmax(s.wavelength))
        prev = s
    w = np.concatenate(keep_w)
    order = np.argsort(w, kind="stable")
    # strictly increasing: a repeated wavelength (e.g. the seam of a two-channel MRS cube) is kept once
    keep = np.concatenate([[True], np.diff(w[order]) > 0])
    order = order[keep]
    meta = {"BANDS": ",".join(b for b, _ in items), "OVERLAP": "first band kept in overlaps",
            "SCALED": bool(scale)}
    if notes:
        meta["SCALING"] = "; ".join(notes)
    return Spectrum(w[order], np.concatenate(keep_f)[order], np.concatenate(keep_e)[order], meta=meta)


def _read_all(inputs: Sequence[Path]) -> list[Spectrum]:
    spectra = [read_spectrum(p) for p in inputs]
    for p, s in zip(inputs, spectra):
        if not np.isfinite(s.flux).any():
            raise InputFileError(p, "spectrum is all NaN")
    return spectra


def _plot(path: Path, curves: list[tuple[str, Spectrum, np.ndarray | None]], title: str) -> Path:
    from matplotlib.figure import Figure

    from jwstspec.fileio import atomic_path

    fig = Figure(figsize=(9, 4.5))
    ax = fig.add_subplot()
    for label, s, flags in curves:
        ax.plot(s.wavelength, s.flux, lw=0.8, label=label)
        if flags is not None and flags.any():
            ax.plot(s.wavelength[flags], s.flux[flags], "x", ms=4, color="red")
    ax.set_xlabel("wavelength (um)")
    ax.set_ylabel("flux density (Jy)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return path


def combine_files(inputs: Sequence[Path], output: Path, *, window_half: int = 10, clip_sigma: float = 5.0,
                  mask_ranges: Sequence[tuple[float, float]] = (), plot: Path | None = None,
                  ecsv: bool = True) -> CombineResult:
    """Read dither spectra, combine them, write FITS (+ ECSV, PNG)."""
    spectra = _read_all([Path(p) for p in inputs])
    result = combine_dithers(spectra, window_half=window_half, clip_sigma=clip_sigma, mask_ranges=mask_ranges)
    result.combined.write_fits(output)
    if ecsv:
        result.combined.write_ecsv(Path(output).with_suffix(".ecsv"))
    if plot:
        curves = [(Path(p).name, s, f) for p, s, f in zip(inputs, result.spectra, result.flags)]
        curves.append(("combined", result.combined, None))
        _plot(Path(plot), curves, Path(output).name)
    return result


def stitch_files(inputs: Sequence[Path], output: Path, *, scale: bool = False, plot: Path | None = None,
                 ecsv: bool = True) -> Spectrum:
    """Stitch band spectra (files) into one; write FITS (+ ECSV, PNG)."""
    spectra = _read_all([Path(p) for p in inputs])
    stitched = stitch({Path(p).stem: s for p, s in zip(inputs, spectra)}, scale=scale)
    stitched.write_fits(output)
    if ecsv:
        stitched.write_ecsv(Path(output).with_suffix(".ecsv"))
    if plot:
        _plot(Path(plot), [("stitched", stitched, None)], Path(output).name)
    return stitched
