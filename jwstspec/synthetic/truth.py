"""How well a final spectrum recovers the spectrum injected into a synthetic observation.

Every demo observation checks itself: :func:`truth_record` compares one
final spectrum with the injected truth on the spectrum's own wavelengths,
and :func:`write_truth_file` writes the records of one run as
``demo_truth.json`` beside its summary (``combined/``), a JSON object keyed
by final product name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.fileio import atomic_write_text
from jwstspec.spectrum import read_spectrum

#: a truth: the final spectrum (read) -> the injected flux (Jy) on its wavelengths
Truth = Callable[[Any], np.ndarray]


def truth_record(path: str | Path, truth: Truth) -> dict[str, Any]:
    """Compare the spectrum in ``path`` with ``truth`` on the points with data.

    Parameters
    ----------
    path : path
        A final spectrum (EXTRACT1D FITS).
    truth : callable
        Spectrum -> injected flux (Jy) at ``spectrum.wavelength``.

    Returns
    -------
    dict
        ``median_ratio`` (median of flux / truth), ``frac_within_3pct``
        (fraction of the points within 3 % of the truth), ``npoints`` (points
        compared: finite, DQ 0, truth > 0), ``wavelength_um`` (range compared)
        and ``file``.  Both ratios are None when no point can be compared.
    """
    spec = read_spectrum(path)
    expected = np.asarray(truth(spec), float)
    good = np.isfinite(spec.flux) & (spec.dq == 0) & np.isfinite(expected) & (expected > 0)
    record: dict[str, Any] = {"file": str(path), "npoints": int(good.sum())}
    if not good.any():
        return {**record, "median_ratio": None, "frac_within_3pct": None, "wavelength_um": None}
    ratio = spec.flux[good] / expected[good]
    return {
        **record,
        "median_ratio": round(float(np.median(ratio)), 5),
        "frac_within_3pct": round(float(np.mean(np.abs(ratio - 1.0) < 0.03)), 5),
        "wavelength_um": [round(float(spec.wavelength[good].min()), 5), round(float(spec.wavelength[good].max()), 5)],
    }


def product_key(path: str | Path) -> str:
    """The key of a final product in ``demo_truth.json``: its file name without ``.fits``."""
    return Path(path).name.removesuffix(".fits")


def stitched_truth(band_files: list[str | Path], truth: Truth) -> Truth:
    """The truth of a stitched spectrum, taken from the band spectra it was stitched from.

    A truth may depend on a band's own extraction (the MIRI aperture is
    ``RADIUS`` x ``PIXSCALE`` of that band's cube), which the stitched header
    no longer holds: each stitched point gets the truth of the first band
    whose wavelength range covers it, interpolated on that band's grid.
    """
    bands = []
    for path in band_files:
        spec = read_spectrum(path)
        order = np.argsort(spec.wavelength)
        bands.append((spec.wavelength[order], np.asarray(truth(spec), float)[order]))

    def _truth(spec: Any) -> np.ndarray:
        out = np.full(len(spec), np.nan)
        for w, t in bands:
            inside = np.isnan(out) & (spec.wavelength >= w[0]) & (spec.wavelength <= w[-1])
            out[inside] = np.interp(spec.wavelength[inside], w, t)
        return out

    return _truth


def truth_records(products: Mapping[str, Any], truth: Truth) -> dict[str, dict[str, Any]]:
    """Records of every final spectrum of a run's ``products`` (``{band: {"fits": path, ...}}``), keyed by product name.

    The ``stitched`` product is compared with :func:`stitched_truth` of the other products.
    """
    files = {band: record.get("fits") for band, record in products.items() if isinstance(record, Mapping) and record.get("fits")}
    bands = [f for band, f in sorted(files.items()) if band != "stitched"]
    out: dict[str, dict[str, Any]] = {}
    for band, fits_path in files.items():
        own = stitched_truth(bands, truth) if band == "stitched" else truth
        out[product_key(fits_path)] = truth_record(fits_path, own)
    return dict(sorted(out.items()))


def write_truth_file(path: str | Path, records: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``records`` as a JSON object to ``path`` (atomically)."""
    return atomic_write_text(path, json.dumps(records, indent=2, sort_keys=True) + "\n")


def format_records(records: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per product for the console: name, median ratio, fraction within 3 %."""
    lines = []
    for name, r in records.items():
        if r.get("median_ratio") is None:
            lines.append(f"{name}: no point to compare")
        else:
            depth = f", white-light depth/injected {r['depth_ratio']:.4f}" if r.get("depth_ratio") is not None else ""
            lines.append(f"{name}: median flux/truth {r['median_ratio']:.4f}, "
                         f"{100 * r['frac_within_3pct']:.1f} % of {r['npoints']} points within 3 %{depth}")
    return lines
