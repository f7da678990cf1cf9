"""Aperture correction of point-source spectra from the CRDS ``apcorr`` reference, as jwst's ``extract_1d`` applies it.

Every extraction method returns the flux inside its aperture; a point
source's total flux is that times the reference's correction at the
aperture's size and the wavelength.  IFU cubes (NIRSpec ``NRS_IFU``, MIRI
``MIR_MRS``) use the radial tables (``NrsIfuApcorrModel``,
``MirMrsApcorrModel``: ``radius`` and ``apcorr`` planes per radius over a
wavelength grid), interpolated as jwst's ``ApCorrRadial`` does: each radius
plane linearly in wavelength (extrapolated), then linearly in radius at the
extraction radius in pixels (extrapolated), the reference's arcsec converted
with the cube's spaxel size.

Slits use the FITS tables (``APCORR`` extension), one row chosen per
product as jwst's ``ApCorrBase`` does (NIRSpec fixed slit / BOTS: filter,
grating and slit; MOS: filter and grating; MIRI LRS: subarray), with the
aperture's full height in pixels as the size (jwst's ``npixels``):

* NIRSpec ``NrsFsApcorrModel`` / ``NrsMosApcorrModel`` (jwst's
  ``ApCorrPhase``): ``apcorr[size, wavelength, pixphase]`` is taken at pixel
  phase 0.5 (jwst never passes another), then bilinear in wavelength and
  size, the size clamped to the table (FITPACK's ``bispev``); outside the
  table's wavelengths the correction is 1, as jwst's
  ``tabulate_correction`` leaves it.  This is the only layout jwst's
  ``ApCorrPhase`` can apply; another is refused with the shapes named.
* MIRI ``MirLrsApcorrModel`` (jwst's ``ApCorr``): ``apcorr[wavelength,
  size]`` over the first ``nelem_wl`` / ``nelem_size`` entries, bilinear,
  clamped at the table's edges in both.

Sizes in arcsec are converted with the product's pixel scale along the slit.

The reference is the ``apcorr_file`` option or, with none, the one the
local CRDS cache selects for the product, asked only when CRDS is in
server-less (cache-only) mode so that extraction never waits on a network.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.errors import InputFileError, require_file

__all__ = ["PHASE_EXP_TYPES", "RADIAL_EXP_TYPES", "SIZE_EXP_TYPES", "ApcorrChoice", "RadialApcorr", "SlitApcorr",
           "find_reference", "radial_correction", "read_radial", "read_slit_table", "slit_correction"]

#: Exposure types whose apcorr reference is a radial (IFU) table.
RADIAL_EXP_TYPES = ("NRS_IFU", "MIR_MRS")
#: NIRSpec slit modes: pixel-phase tables (jwst's ``ApCorrPhase``); fixed slit and BOTS also match the slit name.
PHASE_EXP_TYPES = ("NRS_FIXEDSLIT", "NRS_BRIGHTOBJ", "NRS_MSASPEC")
#: MIRI LRS: a size x wavelength table per subarray (jwst's ``ApCorr``).
SIZE_EXP_TYPES = ("MIR_LRS-FIXEDSLIT", "MIR_LRS-SLITLESS")
#: The pixel phase jwst's ``extract_1d`` uses (``ApCorrPhase``'s default; it never passes another).
PIXEL_PHASE = 0.5


@dataclasses.dataclass(frozen=True)
class RadialApcorr:
    """A radial aperture-correction table: ``apcorr[i, j]`` for radius ``radius[i, j]`` at ``wavelength[j]``."""

    wavelength: np.ndarray  #: (nwl,) micron
    radius: np.ndarray  #: (nrad, nwl) in ``radius_units``
    apcorr: np.ndarray  #: (nrad, nwl) multiplicative correction
    radius_units: str
    name: str  #: file name (header ``APCORREF``)


@dataclasses.dataclass(frozen=True)
class SlitApcorr:
    """The row of a slit apcorr table that matches one product: ``apcorr[i, j]`` for aperture size ``size[i, j]`` at ``wavelength[j]``.

    ``kind`` ``phase`` (NIRSpec, already taken at :data:`PIXEL_PHASE`):
    1 outside the table's wavelengths; ``size`` (MIRI LRS): clamped there.
    """

    wavelength: np.ndarray  #: (nwl,) micron
    size: np.ndarray  #: (nsize, nwl) full aperture height in ``size_units``
    apcorr: np.ndarray  #: (nsize, nwl) multiplicative correction
    size_units: str
    name: str  #: file name (header ``APCORREF``)
    kind: str  #: "phase" or "size"


@dataclasses.dataclass(frozen=True)
class ApcorrChoice:
    """Which reference applies to one product, or why none does (``reference`` None, ``note`` says why)."""

    reference: RadialApcorr | SlitApcorr | None
    note: str = ""


def read_radial(path: str | Path) -> RadialApcorr:
    """Read the ``apcorr_table`` of an IFU apcorr reference (ASDF, as CRDS ships them).

    Read once per process for each file version (path, modification time):
    a run extracts many cubes with one reference.

    Raises
    ------
    InputFileError
        Missing file, not ASDF, or no usable ``apcorr_table`` (the message names the field).
    """
    p = require_file(path)
    return _read_radial_cached(str(p), p.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _read_radial_cached(path: str, mtime_ns: int) -> RadialApcorr:
    import asdf

    p = Path(path)
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
    for a in (wave, radius, apcorr):
        a.setflags(write=False)  # shared by every caller of the cache
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


#: Header keyword of the product and table column each slit mode matches (jwst's ``ApCorrBase.match_pars``).
_MATCH = {"NRS_FIXEDSLIT": (("FILTER", "filter"), ("GRATING", "grating"), ("SLITNAME", "slit")),
          "NRS_BRIGHTOBJ": (("FILTER", "filter"), ("GRATING", "grating"), ("SLITNAME", "slit")),
          "NRS_MSASPEC": (("FILTER", "filter"), ("GRATING", "grating")),
          "MIR_LRS-FIXEDSLIT": (("SUBARRAY", "subarray"),), "MIR_LRS-SLITLESS": (("SUBARRAY", "subarray"),)}


def read_slit_table(path: str | Path, meta: dict[str, Any]) -> SlitApcorr:
    """The row of a slit apcorr reference (FITS ``APCORR`` table) that matches the product ``meta``.

    Parameters
    ----------
    path : str or Path
        ``NrsFsApcorrModel`` / ``NrsMosApcorrModel`` / ``MirLrsApcorrModel`` FITS file.
    meta : dict
        The product's ``EXP_TYPE``, ``FILTER``, ``GRATING``, ``SLITNAME``, ``SUBARRAY``.

    Returns
    -------
    SlitApcorr

    Raises
    ------
    InputFileError
        Not a FITS apcorr table, no single matching row, or columns whose
        shapes are not the layout jwst applies (the message names the field).
    """
    p = require_file(path)
    mtime = p.stat().st_mtime_ns
    exp_type = str(meta.get("EXP_TYPE", "")).upper()
    keys = tuple(str(meta.get(k, "") or "").strip().upper() for k, _ in _MATCH.get(exp_type, ()))
    return _read_slit_table_cached(str(p), mtime, exp_type, keys)


@functools.lru_cache(maxsize=32)
def _read_slit_table_cached(path: str, mtime_ns: int, exp_type: str, keys: tuple[str, ...]) -> SlitApcorr:
    from astropy.io import fits

    p = Path(path)
    match = _MATCH.get(exp_type)
    if match is None:
        raise InputFileError(p, f"no slit aperture correction for EXP_TYPE {exp_type or '(none)'}")
    try:
        with fits.open(p, memmap=False) as hdul:
            hdu = hdul["APCORR"] if "APCORR" in hdul else next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)), None)
            if hdu is None:
                raise InputFileError(p, "apcorr reference has no APCORR table")
            unit = str(hdu.header.get("SIZEUNIT") or hdul[0].header.get("SIZEUNIT") or "pixels")
            table = hdu.data
            names = {n.lower() for n in table.columns.names}
            rows = np.ones(len(table), bool)
            for (keyword, column), value in zip(match, keys):
                if column not in names:
                    raise InputFileError(p, f"APCORR table has no {column} column")
                rows &= np.char.upper(np.char.strip(np.asarray(table[column]).astype(str))) == value
            if rows.sum() != 1:
                wanted = ", ".join(f"{c}={v}" for (_, c), v in zip(match, keys))
                raise InputFileError(p, f"{int(rows.sum())} APCORR rows match {wanted} (jwst needs exactly one)")
            row = table[int(np.flatnonzero(rows)[0])]
            cols = {c: np.asarray(row[c], dtype=float) for c in ("wavelength", "size", "apcorr") if c in names}
            if len(cols) < 3:
                raise InputFileError(p, f"APCORR table lacks {', '.join(sorted({'wavelength', 'size', 'apcorr'} - set(cols)))}")
            nwl = int(row["nelem_wl"]) if "nelem_wl" in names and int(row["nelem_wl"]) > 0 else cols["wavelength"].size
            nsize = int(row["nelem_size"]) if "nelem_size" in names and int(row["nelem_size"]) > 0 else None
            pixphase = np.asarray(row["pixphase"], dtype=float).ravel() if "pixphase" in names else None
    except InputFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything astropy raises on a file that is not an apcorr table
        raise InputFileError(p, f"cannot be read as an apcorr reference ({type(exc).__name__}: {exc})") from None
    wave = cols["wavelength"].ravel()[:nwl]
    if exp_type in PHASE_EXP_TYPES:
        size, apcorr = cols["size"], cols["apcorr"]
        nsize = nsize or size.shape[0]
        if pixphase is None or apcorr.ndim != 3 or size.ndim != 2 or apcorr.shape[:2] != size.shape \
                or apcorr.shape[2] != pixphase.size or size.shape[1] < nwl:
            raise InputFileError(p, f"APCORR apcorr {apcorr.shape} is not (size, wavelength, pixphase) for size {size.shape}, "
                                    f"pixphase ({0 if pixphase is None else pixphase.size},): the layout jwst's ApCorrPhase applies")
        if not pixphase.min() <= PIXEL_PHASE <= pixphase.max():
            raise InputFileError(p, f"APCORR pixphase {pixphase.min():g}-{pixphase.max():g} does not cover {PIXEL_PHASE}")
        order = np.argsort(pixphase)
        at_phase = _interp_rows(pixphase[order], apcorr[..., order], np.array([PIXEL_PHASE]))[..., 0]
        size, corr, kind = size[:nsize, :nwl], at_phase[:nsize, :nwl], "phase"
    else:
        size1, apcorr = cols["size"].ravel(), cols["apcorr"]
        nsize = nsize or size1.size
        if apcorr.ndim != 2 or apcorr.shape[0] < nwl or apcorr.shape[1] < nsize:
            raise InputFileError(p, f"APCORR apcorr {apcorr.shape} is not (wavelength, size) for {nwl} wavelengths x {nsize} sizes")
        size = np.broadcast_to(size1[:nsize, None], (nsize, nwl)).copy()
        corr, kind = apcorr[:nwl, :nsize].T.copy(), "size"
    if wave.size < 2 or size.shape[0] < 2 or not np.all(np.isfinite(wave)):
        raise InputFileError(p, f"APCORR row has {wave.size} wavelengths and {size.shape[0]} sizes (2 of each needed)")
    for a in (wave, size, corr):
        a.setflags(write=False)  # shared by every caller of the cache
    return SlitApcorr(wave, size, corr, unit, p.name, kind)


def slit_correction(ref: SlitApcorr, wavelength: np.ndarray, size_px: float | np.ndarray,
                    pixel_arcsec: float) -> np.ndarray:
    """The multiplicative aperture correction at each wavelength for a slit aperture ``size_px`` rows high.

    Parameters
    ----------
    ref : SlitApcorr
        The matching table row (:func:`read_slit_table`).
    wavelength : ndarray (nw,)
        Wavelengths of the spectrum (micron).
    size_px : float or ndarray (nw,)
        Full height of the extraction aperture in pixels (jwst's ``npixels``).
    pixel_arcsec : float
        Pixel scale along the slit, to convert a table in arcsec to pixels.

    Returns
    -------
    ndarray (nw,)
        Correction factors: bilinear in wavelength and size, the size
        clamped to the table; outside the table's wavelengths 1 for NIRSpec
        (``phase``), the edge value for MIRI LRS (``size``); NaN where the
        wavelength is not finite.
    """
    wave = np.asarray(wavelength, dtype=float)
    finite = np.isfinite(wave)
    lo, hi = float(ref.wavelength.min()), float(ref.wavelength.max())
    w = np.clip(np.where(finite, wave, lo), lo, hi)
    scale = pixel_arcsec if ref.size_units.lower().startswith("arcsec") else 1.0
    sizes = _interp_rows(ref.wavelength, ref.size / scale, w)  # (nsize, nw) in px
    corr = _interp_rows(ref.wavelength, ref.apcorr, w)
    order = np.argsort(sizes, axis=0)
    sizes, corr = np.take_along_axis(sizes, order, 0), np.take_along_axis(corr, order, 0)
    s = np.clip(np.broadcast_to(np.asarray(size_px, dtype=float), w.shape), sizes[0], sizes[-1])
    cols = np.arange(w.size)
    j = np.clip((sizes <= s[None]).sum(axis=0) - 1, 0, sizes.shape[0] - 2)
    a, b = sizes[j, cols], sizes[j + 1, cols]
    t = (s - a) / np.where(b != a, b - a, np.inf)
    out = corr[j, cols] * (1 - t) + corr[j + 1, cols] * t
    if ref.kind == "phase":
        out = np.where((wave >= lo) & (wave <= hi), out, 1.0)
    return np.where(finite, out, np.nan)


def _crds_reference(meta: dict[str, Any]) -> tuple[Path | None, str]:
    """The apcorr reference the local CRDS cache selects for a product with header ``meta`` (cache-only).

    Asked once per process for each selection (instrument, mode, optical
    set-up) and CRDS set-up (``CRDS_PATH``, server, ``CRDS_CONTEXT``): a
    CRDS look-up costs ~2 s, and a run extracts many products of one mode.
    """
    from jwstspec.crds import is_serverless

    url = os.environ.get("CRDS_SERVER_URL", "")
    if not os.environ.get("CRDS_PATH") or not is_serverless(url):
        return None, "no apcorr file; CRDS not in server-less (cache-only) mode"
    header = {"META.INSTRUMENT.NAME": meta.get("INSTRUME", ""), "META.EXPOSURE.TYPE": meta.get("EXP_TYPE", ""),
              "META.INSTRUMENT.DETECTOR": meta.get("DETECTOR", ""), "META.INSTRUMENT.CHANNEL": meta.get("CHANNEL", ""),
              "META.INSTRUMENT.BAND": meta.get("BAND", ""), "META.INSTRUMENT.GRATING": meta.get("GRATING", ""),
              "META.INSTRUMENT.FILTER": meta.get("FILTER", ""), "META.SUBARRAY.NAME": meta.get("SUBARRAY", ""),
              "META.OBSERVATION.DATE": "2024-01-01", "META.OBSERVATION.TIME": "00:00:00"}
    selection = tuple(sorted((k, str(v)) for k, v in header.items() if v))
    setup = tuple(os.environ.get(k, "") for k in ("CRDS_PATH", "CRDS_SERVER_URL", "CRDS_CONTEXT", "CRDS_OBSERVATORY"))
    path, why = _crds_lookup(setup, selection)
    if path is not None and not Path(path).is_file():  # removed since it was looked up: ask again
        _crds_lookup.cache_clear()
        path, why = _crds_lookup(setup, selection)
    return (Path(path) if path is not None else None), why


@functools.lru_cache(maxsize=64)
def _crds_lookup(setup: tuple[str, ...], selection: tuple[tuple[str, str], ...]) -> tuple[str | None, str]:
    """``crds.getreferences`` for ``selection`` under the CRDS ``setup`` (the cache key; see :func:`_crds_reference`)."""
    try:
        import crds

        refs = crds.getreferences(dict(selection), reftypes=["apcorr"], observatory="jwst")
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - CRDS exits on a failed set-up
        return None, f"no apcorr reference in the CRDS cache ({' '.join(str(exc).split())[:80] or type(exc).__name__})"
    path = str(refs.get("apcorr", ""))
    if not path or path.upper().startswith("N/A") or not Path(path).is_file():
        return None, f"the CRDS cache has no apcorr reference ({path or 'none'})"
    return path, ""


def find_reference(mode: str, apcorr_file: str | Path | None, meta: dict[str, Any], method: str) -> ApcorrChoice:
    """The reference to apply to one extracted product, or why none applies.

    ``mode`` ``none``: none.  ``auto``: for a point source (``SRCTYPE`` not
    ``EXTENDED``) of an IFU cube (:data:`RADIAL_EXP_TYPES`) or a slit
    (:data:`PHASE_EXP_TYPES`, :data:`SIZE_EXP_TYPES`) extracted with
    ``aperture`` or ``psf``, ``apcorr_file`` or the CRDS cache's reference.
    A given file that cannot be read (or has no row for the product) is an
    :class:`InputFileError`; so is the CRDS cache's IFU reference.  A slit
    table from the CRDS cache that does not fit the product gives no
    correction and says why (jwst then applies none either).
    """
    if mode == "none":
        return ApcorrChoice(None, "apcorr none")
    exp_type = str(meta.get("EXP_TYPE", "")).upper()
    if str(meta.get("SRCTYPE", "")).upper() == "EXTENDED":
        return ApcorrChoice(None, "extended source")
    radial = exp_type in RADIAL_EXP_TYPES
    if not radial and exp_type not in PHASE_EXP_TYPES + SIZE_EXP_TYPES:
        return ApcorrChoice(None, f"no aperture correction for {exp_type or 'this product'} yet")
    if method not in ("aperture", "psf"):
        return ApcorrChoice(None, f"no aperture correction for method {method}")
    if apcorr_file:
        return ApcorrChoice(read_radial(apcorr_file) if radial else read_slit_table(apcorr_file, meta))
    path, why = _crds_reference(meta)
    if path is None:
        return ApcorrChoice(None, why)
    if radial:
        return ApcorrChoice(read_radial(path))
    try:
        return ApcorrChoice(read_slit_table(path, meta))
    except InputFileError as exc:
        return ApcorrChoice(None, f"{path.name}: {exc.reason}")
