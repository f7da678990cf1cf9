"""Aperture correction of point-source spectra from the CRDS ``apcorr`` reference, as jwst's ``extract_1d`` applies it.

Every extraction method returns the flux inside its aperture; a point
source's total flux is that times the reference's correction at the
aperture's size and the wavelength.  IFU cubes (NIRSpec ``NRS_IFU``, MIRI
``MIR_MRS``) use the radial tables (``NrsIfuApcorrModel``,
``MirMrsApcorrModel``: ``radius`` and ``apcorr`` planes per radius over a
wavelength grid), interpolated as jwst's ``ApCorrRadial`` does: each radius
plane linearly in wavelength (extrapolated), then linearly in radius at the
extraction radius in pixels (extrapolated), the reference's arcsec converted
with the cube's spaxel size.  Slit modes (NIRSpec FS/MOS pixel-phase tables,
MIRI LRS) are not handled yet: :func:`find_reference` says so and the
spectrum stays uncorrected.

The reference is the ``apcorr_file`` option or, with none, the one the
local CRDS cache selects for the product, asked only when CRDS is in
server-less (cache-only) mode so that extraction never waits on a network.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.errors import InputFileError, require_file

__all__ = ["RADIAL_EXP_TYPES", "ApcorrChoice", "RadialApcorr", "find_reference", "radial_correction", "read_radial"]

#: Exposure types whose apcorr reference is a radial (IFU) table.
RADIAL_EXP_TYPES = ("NRS_IFU", "MIR_MRS")


@dataclasses.dataclass(frozen=True)
class RadialApcorr:
    """A radial aperture-correction table: ``apcorr[i, j]`` for radius ``radius[i, j]`` at ``wavelength[j]``."""

    wavelength: np.ndarray  #: (nwl,) micron
    radius: np.ndarray  #: (nrad, nwl) in ``radius_units``
    apcorr: np.ndarray  #: (nrad, nwl) multiplicative correction
    radius_units: str
    name: str  #: file name (header ``APCORREF``)


@dataclasses.dataclass(frozen=True)
class ApcorrChoice:
    """Which reference applies to one product, or why none does (``reference`` None, ``note`` says why)."""

    reference: RadialApcorr | None
    note: str = ""


def read_radial(path: str | Path) -> RadialApcorr:
    """Read the ``apcorr_table`` of an IFU apcorr reference (ASDF, as CRDS ships them).

    Raises
    ------
    InputFileError
        Missing file, not ASDF, or no usable ``apcorr_table`` (the message names the field).
    """
    import asdf

    p = require_file(path)
    try:
        with asdf.open(p, lazy_load=False, memmap=False) as af:
            table = af.tree.get("apcorr_table")
            if table is None:
                raise InputFileError(p, "apcorr reference has no apcorr_table")
            values = {k: table.get(k) for k in ("wavelength", "radius", "apcorr", "radius_units")}
    except InputFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything asdf raises on a file that is not an apcorr reference
        raise InputFileError(p, f"cannot be read as an apcorr reference ({type(exc).__name__}: {exc})") from None
    for key in ("wavelength", "radius", "apcorr"):
        if values[key] is None:
            raise InputFileError(p, f"apcorr_table has no {key}")
    wave = np.asarray(values["wavelength"], dtype=float).ravel()
    radius = np.atleast_2d(np.asarray(values["radius"], dtype=float))
    apcorr = np.atleast_2d(np.asarray(values["apcorr"], dtype=float))
    if radius.shape != apcorr.shape or radius.shape[-1] != wave.size or wave.size < 2 or radius.shape[0] < 2:
        raise InputFileError(p, f"apcorr_table radius {radius.shape} / apcorr {apcorr.shape} do not match wavelength ({wave.size},)")
    return RadialApcorr(wave, radius, apcorr, str(values["radius_units"] or "arcsec"), p.name)


def _interp_rows(x: np.ndarray, y: np.ndarray, xnew: np.ndarray) -> np.ndarray:
    """Linear interpolation (extrapolated at both ends) of every row of ``y`` over ``x`` at ``xnew``."""
    order = np.argsort(x)
    x, y = x[order], y[..., order]
    j = np.clip(np.searchsorted(x, xnew) - 1, 0, x.size - 2)
    t = (xnew - x[j]) / (x[j + 1] - x[j])
    return y[..., j] * (1 - t) + y[..., j + 1] * t


def radial_correction(ref: RadialApcorr, wavelength: np.ndarray, radius_px: float | np.ndarray,
                      pixel_arcsec: float) -> np.ndarray:
    """The multiplicative aperture correction at each wavelength for a circular aperture of ``radius_px``.

    Parameters
    ----------
    ref : RadialApcorr
        The reference table.
    wavelength : ndarray (nw,)
        Wavelengths of the spectrum (micron).
    radius_px : float or ndarray (nw,)
        Extraction radius in pixels (spaxels).
    pixel_arcsec : float
        Spaxel size, to convert a table in arcsec to pixels.

    Returns
    -------
    ndarray (nw,)
        Correction factors (NaN where the wavelength is not finite).
    """
    wave = np.asarray(wavelength, dtype=float)
    finite = np.isfinite(wave)
    w = np.where(finite, wave, np.nanmedian(wave) if finite.any() else 0.0)
    scale = pixel_arcsec if ref.radius_units.lower().startswith("arcsec") else 1.0
    size = _interp_rows(ref.wavelength, ref.radius / scale, w)  # (nrad, nw) radii in px at each wavelength
    corr = _interp_rows(ref.wavelength, ref.apcorr, w)
    r = np.broadcast_to(np.asarray(radius_px, dtype=float), w.shape)
    order = np.argsort(size, axis=0)
    size, corr = np.take_along_axis(size, order, 0), np.take_along_axis(corr, order, 0)
    cols = np.arange(w.size)
    j = np.clip((size <= r[None]).sum(axis=0) - 1, 0, size.shape[0] - 2)
    lo, hi = size[j, cols], size[j + 1, cols]
    t = (r - lo) / np.where(hi != lo, hi - lo, np.inf)
    out = corr[j, cols] * (1 - t) + corr[j + 1, cols] * t
    return np.where(finite, out, np.nan)


def _crds_reference(meta: dict[str, Any]) -> tuple[Path | None, str]:
    """The apcorr reference the local CRDS cache selects for a product with header ``meta`` (cache-only)."""
    from jwstspec.crds import is_serverless

    url = os.environ.get("CRDS_SERVER_URL", "")
    if not os.environ.get("CRDS_PATH") or not is_serverless(url):
        return None, "no apcorr file; CRDS not in server-less (cache-only) mode"
    header = {"META.INSTRUMENT.NAME": meta.get("INSTRUME", ""), "META.EXPOSURE.TYPE": meta.get("EXP_TYPE", ""),
              "META.INSTRUMENT.DETECTOR": meta.get("DETECTOR", ""), "META.INSTRUMENT.CHANNEL": meta.get("CHANNEL", ""),
              "META.INSTRUMENT.BAND": meta.get("BAND", ""), "META.INSTRUMENT.GRATING": meta.get("GRATING", ""),
              "META.INSTRUMENT.FILTER": meta.get("FILTER", ""), "META.OBSERVATION.DATE": "2024-01-01",
              "META.OBSERVATION.TIME": "00:00:00"}
    try:
        import crds

        refs = crds.getreferences({k: v for k, v in header.items() if v}, reftypes=["apcorr"], observatory="jwst")
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - CRDS exits on a failed set-up
        return None, f"no apcorr reference in the CRDS cache ({' '.join(str(exc).split())[:80] or type(exc).__name__})"
    path = str(refs.get("apcorr", ""))
    if not path or path.upper().startswith("N/A") or not Path(path).is_file():
        return None, f"the CRDS cache has no apcorr reference ({path or 'none'})"
    return Path(path), ""


def find_reference(mode: str, apcorr_file: str | Path | None, meta: dict[str, Any], method: str) -> ApcorrChoice:
    """The reference to apply to one extracted product, or why none applies.

    ``mode`` ``none``: none.  ``auto``: for a point source (``SRCTYPE`` not
    ``EXTENDED``) of an IFU exposure extracted in a circle (``aperture`` or
    ``psf``), ``apcorr_file`` or the CRDS cache's reference.  A given file
    that cannot be read is an :class:`InputFileError`.
    """
    if mode == "none":
        return ApcorrChoice(None, "apcorr none")
    exp_type = str(meta.get("EXP_TYPE", "")).upper()
    if str(meta.get("SRCTYPE", "")).upper() == "EXTENDED":
        return ApcorrChoice(None, "extended source")
    if exp_type not in RADIAL_EXP_TYPES:
        return ApcorrChoice(None, f"no aperture correction for {exp_type or 'this product'} yet")
    if method not in ("aperture", "psf"):
        return ApcorrChoice(None, f"no aperture correction for method {method}")
    if apcorr_file:
        return ApcorrChoice(read_radial(apcorr_file))
    path, why = _crds_reference(meta)
    return ApcorrChoice(read_radial(path) if path is not None else None, why)
