"""PNG plots of dither, combined and stitched spectra (matplotlib Agg, no pyplot).

Every function builds its own :class:`matplotlib.figure.Figure` (no global
pyplot state, no display), draws it with the Agg canvas and writes the PNG
atomically.  Each returns the path written.

* :func:`plot_dithers`: each dither (offset vertically for legibility) with
  its flagged points marked;
* :func:`plot_combined`: the combined spectrum with its 1-sigma band and
  the number of dithers used;
* :func:`plot_stitched`: the stitched spectrum, each band in its own colour
  when the band boundaries are given;
* :func:`plot_whitelight`, :func:`plot_speclc`: time series, the white-light
  curve with its baseline marked, and flux against time and wavelength.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jwstspec.fileio import atomic_path
from jwstspec.spectrum import Spectrum

if TYPE_CHECKING:  # pragma: no cover
    from jwstspec.timeseries import LightCurves

DPI = 110


def _figure(nrows: int = 1, height: float = 4.5, ratios: Sequence[float] | None = None):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, height), layout="constrained")
    FigureCanvasAgg(fig)
    if nrows == 1:
        return fig, [fig.add_subplot()]
    axes = fig.subplots(nrows, 1, sharex=True, gridspec_kw={"height_ratios": list(ratios or [1] * nrows)})
    return fig, list(axes)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return path


def _label_axes(ax, title: str) -> None:
    ax.set_xlabel("wavelength (µm)")
    ax.set_ylabel("flux density (Jy)")
    if title:
        ax.set_title(title, fontsize=9)


def _robust_limits(values: np.ndarray, pad: float = 0.15, q: float = 0.0) -> tuple[float, float] | None:
    """Y limits from the ``q`` and ``100 - q`` percentiles of the finite values, padded."""
    v = values[np.isfinite(values)]
    if v.size < 2:
        return None
    lo, hi = np.percentile(v, [q, 100 - q])
    span = hi - lo if hi > lo else max(abs(hi), 1e-30)
    return float(lo - pad * span), float(hi + pad * span)


def plot_dithers(path: str | Path, spectra: Sequence[Spectrum], flags: Sequence[np.ndarray] | None = None,
                 labels: Sequence[str] | None = None, *, title: str = "",
                 combined: Spectrum | None = None) -> Path:
    """Each dither with its flagged points (red crosses), optionally the combination on top.

    Parameters
    ----------
    path : str or Path
        PNG file to write.
    spectra : sequence of Spectrum
        The dithers.
    flags : sequence of bool arrays, optional
        Rejected points per dither (True = flagged).
    labels : sequence of str, optional
        Legend entries (default ``dither 1``, ...).
    title : str
        Figure title.
    combined : Spectrum, optional
        Drawn in black over the dithers.
    """
    fig, (ax,) = _figure()
    labels = list(labels) if labels is not None else [f"dither {i + 1}" for i in range(len(spectra))]
    clean, flagged = [], []
    for i, s in enumerate(spectra):
        ax.plot(s.wavelength, s.flux, lw=0.6, alpha=0.8, label=labels[i])
        f = np.zeros(s.flux.shape, bool)
        if flags is not None and i < len(flags) and np.shape(flags[i]) == s.flux.shape:
            f = np.asarray(flags[i], bool)
        clean.append(s.flux[~f])
        flagged.append((s.wavelength[f], s.flux[f]))
    if combined is not None:
        ax.plot(combined.wavelength, combined.flux, lw=0.9, color="black", label="combined")
    # limits from the clean points (lines included); flagged points beyond them are drawn at the edge
    lim = _robust_limits(combined.flux if combined is not None else np.concatenate(clean), q=0.0 if combined is not None else 0.1)
    label = "flagged"
    for w, f in flagged:
        if not w.size:
            continue
        if lim:
            for sel, y, marker in ((f > lim[1], lim[1], "^"), (f < lim[0], lim[0], "v")):
                if sel.any():
                    ax.plot(w[sel], np.full(sel.sum(), y), marker, ms=5, color="red", clip_on=False, label=label)
                    label = "_nolegend_"
            inside = (f >= lim[0]) & (f <= lim[1])
            w, f = w[inside], f[inside]
        if w.size:
            ax.plot(w, f, "x", ms=4, mew=0.8, color="red", label=label)
            label = "_nolegend_"
    if lim:
        ax.set_ylim(*lim)
    _label_axes(ax, title)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_combined(path: str | Path, combined: Spectrum, *, title: str = "") -> Path:
    """The combined spectrum with its 1-sigma band; a lower panel shows ``NCOMBINED``."""
    has_n = combined.ncombined is not None
    fig, axes = _figure(2 if has_n else 1, height=5.5 if has_n else 4.5, ratios=(4, 1))
    ax = axes[0]
    w, f, e = combined.wavelength, combined.flux, combined.flux_error
    ax.fill_between(w, f - e, f + e, color="tab:blue", alpha=0.3, lw=0, label="±1σ")
    ax.plot(w, f, lw=0.7, color="tab:blue", label="combined")
    lim = _robust_limits(f)
    if lim:
        ax.set_ylim(*lim)
    _label_axes(ax, title)
    ax.legend(fontsize=7)
    if has_n:
        axes[0].set_xlabel("")
        axes[1].step(w, combined.ncombined, where="mid", lw=0.7, color="tab:gray")
        axes[1].set_ylabel("N dithers")
        axes[1].set_xlabel("wavelength (µm)")
    return _save(fig, path)


def plot_stitched(path: str | Path, stitched: Spectrum, *, title: str = "",
                  bands: Mapping[str, tuple[float, float]] | None = None) -> Path:
    """The stitched spectrum with errors; each band coloured when ``bands`` (name -> (lo, hi) µm) is given."""
    fig, (ax,) = _figure()
    w, f, e = stitched.wavelength, stitched.flux, stitched.flux_error
    ax.fill_between(w, f - e, f + e, color="0.7", alpha=0.5, lw=0)
    if bands:
        for name, (lo, hi) in bands.items():
            sel = (w >= lo) & (w <= hi)
            if sel.any():
                ax.plot(w[sel], f[sel], lw=0.7, label=name)
        ax.legend(fontsize=7, ncol=3)
    else:
        ax.plot(w, f, lw=0.7, color="black")
    lim = _robust_limits(f)
    if lim:
        ax.set_ylim(*lim)
    _label_axes(ax, title)
    return _save(fig, path)


def _time_axis(time: np.ndarray, label: str) -> tuple[np.ndarray, str]:
    """Times relative to the first integration, in hours (integration numbers as they are)."""
    if label == "INT_NUM":
        return np.asarray(time, dtype=float), "integration"
    return (np.asarray(time, dtype=float) - time[0]) * 24.0, f"time - {time[0]:.5f} ({label}, hours)"


def plot_whitelight(path: str | Path, lc: LightCurves, *, time_label: str = "BJD_TDB", title: str = "") -> Path:
    """White-light curve: normalised flux against time, the out-of-transit baseline marked.

    Parameters
    ----------
    path : str or Path
        Output PNG.
    lc : LightCurves
        One channel (:func:`jwstspec.timeseries.white_light`).
    time_label : str
        The time column (``BJD_TDB``, ``MJD_UTC`` or ``INT_NUM``).
    title : str
        Figure title.
    """
    fig, (ax,) = _figure(height=4.0)
    t, xlabel = _time_axis(lc.time, time_label)
    base = lc.baseline
    ax.errorbar(t[~base], lc.flux[~base, 0], lc.error[~base, 0], fmt="o", ms=3, color="C0", label="in transit/eclipse")
    ax.errorbar(t[base], lc.flux[base, 0], lc.error[base, 0], fmt="o", ms=3, color="C1", label="out-of-transit baseline")
    for lo, hi in _runs(t, base):
        ax.axvspan(lo, hi, color="C1", alpha=0.12, lw=0)
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.axhline(1.0 - lc.depth[0], color="C0", lw=0.8, ls="--", label=f"depth {1e2 * lc.depth[0]:.3f} %")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("normalised flux")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_speclc(path: str | Path, lc: LightCurves, *, time_label: str = "BJD_TDB", title: str = "") -> Path:
    """Spectroscopic light curves: normalised flux against time and wavelength, and each channel's depth.

    Parameters
    ----------
    path : str or Path
        Output PNG.
    lc : LightCurves
        Several channels (:func:`jwstspec.timeseries.spectroscopic_light_curves`).
    time_label : str
        The time column.
    title : str
        Figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [2, 1]})
    t, xlabel = _time_axis(lc.time, time_label)
    order = np.argsort(lc.wave_mid)  # channels in increasing wavelength (MIRI LRS grids run long to short)
    lo, hi, flux = lc.wave_lo[order], lc.wave_hi[order], lc.flux[:, order]
    edges = np.concatenate([lo[:1], (hi[:-1] + lo[1:]) / 2, hi[-1:]])
    tedges = np.concatenate([[t[0] - (t[1] - t[0]) / 2], (t[1:] + t[:-1]) / 2, [t[-1] + (t[-1] - t[-2]) / 2]])
    limits = _robust_limits(flux.ravel(), pad=0.0, q=1.0) or (0.98, 1.02)
    mesh = top.pcolormesh(tedges, edges, flux.T, shading="flat", cmap="viridis", vmin=limits[0], vmax=limits[1])
    fig.colorbar(mesh, ax=top, label="normalised flux")
    top.set_xlabel(xlabel)
    top.set_ylabel("wavelength (µm)")
    bottom.errorbar(lc.wave_mid, 1e2 * lc.depth, 1e2 * lc.depth_error, fmt="o", ms=4)
    bottom.set_xlabel("wavelength (µm)")
    bottom.set_ylabel("depth (%)")
    if title:
        top.set_title(title, fontsize=9)
    return _save(fig, path)


def _runs(t: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Spans of consecutive True values of ``mask`` (half a step beyond the end points)."""
    step = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    out: list[tuple[float, float]] = []
    start = None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if start is not None and (not m or i == mask.size - 1):
            end = i if m else i - 1
            out.append((float(t[start] - step / 2), float(t[end] + step / 2)))
            start = None
    return out
