"""PNG plots of dither, combined and stitched spectra (matplotlib Agg, no pyplot).

Every function builds its own :class:`matplotlib.figure.Figure` (no global
pyplot state, no display), draws it with the Agg canvas and writes the PNG
atomically.  Each returns the path written.

* :func:`plot_dithers`: each dither (offset vertically for legibility) with
  its flagged points marked;
* :func:`plot_combined`: the combined spectrum with its 1-sigma band and
  the number of dithers used;
* :func:`plot_stitched`: the stitched spectrum, each band in its own colour
  when the band boundaries are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jwstspec.fileio import atomic_path
from jwstspec.spectrum import Spectrum

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
