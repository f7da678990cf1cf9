"""Reading s2d slit images and s3d cubes with ``astropy.io.fits`` alone, when no WCS is needed.

Opening a product through ``stdatamodels`` loads its schemas and the
ASDF tree with the gwcs, which costs seconds per process and is most of
``jwstspec extract``'s time on a small product.  The arrays and the few
header keywords the extraction needs are plain FITS, so this module reads
them directly, and says ``None`` (the caller then uses
:mod:`.reading`) whenever the WCS is needed:

* slits: when a slit has a source position (``SRCXPOS``/``SRCYPOS``; the
  trace then comes from the WCS) or no ``WAVELENGTH`` array;
* cubes: when the wavelength axis is not linear (``CTYPE3`` other than
  ``WAVE``, e.g. the tabular ``WAVE-TAB`` of multi-channel cubes); the
  sky-to-pixel transform (``center_radec``, the target fallback) is
  loaded on first use only.

The results equal :func:`.reading.read_slits` / :func:`.reading.read_cube`
(``tests/test_extract_fastread.py`` compares them).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.errors import InputFileError
from jwstspec.extract.units import flux_unit

__all__ = ["read_cube_fast", "read_slits_fast"]

_SLIT_MODELS = ("SlitModel", "MultiSlitModel", "ImageModel")


def _instrument_meta(h0: Any) -> dict[str, Any]:
    return {"INSTRUME": h0.get("INSTRUME", "") or "", "EXP_TYPE": h0.get("EXP_TYPE", "") or "",
            "DETECTOR": h0.get("DETECTOR", "") or "",
            "CHANNEL": h0.get("CHANNEL", "") or "", "BAND": h0.get("BAND", "") or "",
            "GRATING": h0.get("GRATING", "") or "", "FILTER": h0.get("FILTER", "") or ""}


def _ext(hdul: Any, name: str, ver: int) -> Any:
    try:
        return hdul[name, ver]
    except KeyError:
        return None


def _err(hdul: Any, ver: int, shape: tuple[int, ...]) -> np.ndarray:
    """ERR, or the square root of the sum of the VAR_* arrays, or NaN (as :func:`.reading._err_from`)."""
    hdu = _ext(hdul, "ERR", ver)
    if hdu is not None and hdu.data is not None and hdu.data.shape == shape:
        err = np.asarray(hdu.data)
        if np.isfinite(err).any() and np.nanmax(err) > 0:
            return err
    var, found = np.zeros(shape), False
    for name in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"):
        v = _ext(hdul, name, ver)
        if v is not None and v.data is not None and v.data.shape == shape:
            var, found = var + np.asarray(v.data, dtype=float), True
    return np.sqrt(var) if found else np.full(shape, np.nan)


def _nodded(h0: Any) -> bool:
    kinds = " ".join(str(h0.get(k, "") or "") for k in ("NOD_TYPE", "PRIDTYPE", "PATTTYPE")).upper()
    return "NOD" in kinds or "SHUTTER" in kinds


def read_slits_fast(path: Path, slit_name: str | None = None,
                    failures: list[tuple[str, str]] | None = None) -> list | None:
    """:func:`.reading.read_slits` with astropy only, or None when the product needs its WCS (or is not plain).

    Parameters and errors as :func:`.reading.read_slits`.
    """
    from astropy.io import fits

    from jwstspec.extract.reading import Slit

    try:
        hdul = fits.open(path, memmap=False)
    except Exception:  # noqa: BLE001 - not FITS: the datamodels reader gives the one-line error
        return None
    with hdul:
        h0 = hdul[0].header
        if h0.get("DATAMODL") not in _SLIT_MODELS:
            return None
        scis = [h for h in hdul[1:] if h.name == "SCI"]
        if not scis:
            return None
        if h0.get("DATAMODL") == "ImageModel" and _ext(hdul, "WAVELENGTH", scis[0].ver or 1) is None:
            return None  # not a slit image: the datamodels reader says so
        nodsub = str(h0.get("S_BKDSUB", "") or "").upper() == "COMPLETE" and _nodded(h0)
        slits, seen, failed = [], 0, []
        for i, sci in enumerate(scis):
            hs, ver = sci.header, sci.ver or 1
            if _finite(hs.get("SRCYPOS")) and _finite(hs.get("SRCXPOS")) and "ASDF" in hdul:
                return None  # the trace comes from the source position through the WCS
            name = str(hs.get("SLTNAME") or h0.get("SLTNAME") or f"SLIT{i + 1}")
            if slit_name is not None and name != slit_name:
                continue
            seen += 1
            try:
                slits.append(_one_slit(path, hdul, h0, sci, ver, name, nodsub, Slit))
            except InputFileError as exc:
                if failures is None:
                    raise
                failed.append((name, exc.reason.removeprefix(f"slit {name}: ")))
    if failures is not None:
        failures.extend(failed)
    if slit_name is not None and not seen:
        raise InputFileError(path, f"no slit named {slit_name!r}")
    if not slits and failures is None:
        raise InputFileError(path, "no slit")
    return slits


def _finite(value: Any) -> bool:
    try:
        return value is not None and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _one_slit(path: Path, hdul: Any, h0: Any, sci: Any, ver: int, name: str, nodsub: bool, slit_cls: type) -> Any:
    where = f"slit {name}"
    hs = sci.header
    data = np.asarray(sci.data, dtype=float) if sci.data is not None else np.zeros((0,))
    if data.ndim != 2 or not np.isfinite(data).any():
        raise InputFileError(path, f"{where}: SCI is not a 2-D image with finite values")
    pixel_sr = hs.get("PIXAR_SR") or h0.get("PIXAR_SR")
    err_hdu = _ext(hdul, "ERR", ver)
    unit = flux_unit(hs.get("BUNIT") or h0.get("BUNIT"), pixel_sr, path, where,
                     err_unit=err_hdu.header.get("BUNIT") if err_hdu is not None else None)
    err = _err(hdul, ver, data.shape)
    dq_hdu = _ext(hdul, "DQ", ver)
    dq = np.asarray(dq_hdu.data) if dq_hdu is not None and dq_hdu.data is not None and dq_hdu.data.shape == data.shape \
        else np.zeros(data.shape, np.uint32)
    wave_hdu = _ext(hdul, "WAVELENGTH", ver)
    wave2d = None if wave_hdu is None or wave_hdu.data is None else np.asarray(wave_hdu.data)
    if wave2d is None or wave2d.shape != data.shape or not np.isfinite(wave2d).any():
        raise InputFileError(path, f"{where}: no WAVELENGTH array")
    disp = hs.get("DISPAXIS") or h0.get("DISPAXIS") or 1
    if disp == 2:
        data, err, dq, wave2d = data.T, err.T, dq.T, wave2d.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        wave = np.nanmedian(np.asarray(wave2d, dtype=float), axis=0)
    meta = {**_instrument_meta(h0), "SLITNAME": name, "SUBARRAY": h0.get("SUBARRAY", "") or "",
            "SRCTYPE": str(hs.get("SRCTYPE") or h0.get("SRCTYPE") or "")}
    return slit_cls(path, name, data, err, dq.astype(np.uint32, copy=False), wave, float(pixel_sr or 0.0), meta, unit,
                    None, [], nodsub)


def read_cube_fast(path: Path) -> Any:
    """:func:`.reading.read_cube` with astropy only, or None when the wavelength axis needs the WCS."""
    from astropy.io import fits

    from jwstspec.extract.reading import Cube

    try:
        hdul = fits.open(path, memmap=False)
    except Exception:  # noqa: BLE001
        return None
    with hdul:
        h0 = hdul[0].header
        if h0.get("DATAMODL") != "IFUCubeModel" or "SCI" not in hdul:
            return None
        hs = hdul["SCI"].header
        if str(hs.get("CTYPE3", "")).strip() != "WAVE" or not hs.get("CDELT3") or str(hs.get("CUNIT3", "um")) not in ("um", "micron"):
            return None
        data = np.asarray(hdul["SCI"].data)
        if data.ndim != 3 or data.size == 0:
            raise InputFileError(path, f"SCI is not a 3-D cube (shape {data.shape})")
        if not np.isfinite(data).any():
            raise InputFileError(path, "SCI holds no finite value")
        err = _err(hdul, 1, data.shape)
        dq_hdu = _ext(hdul, "DQ", 1)
        dq = np.asarray(dq_hdu.data).astype(np.uint32, copy=False) if dq_hdu is not None and dq_hdu.data is not None \
            and dq_hdu.data.shape == data.shape else np.zeros(data.shape, np.uint32)
        nw = data.shape[0]
        wave = float(hs["CRVAL3"]) + (np.arange(nw) + 1.0 - float(hs.get("CRPIX3", 1.0))) * float(hs["CDELT3"])
        pixel_sr = hs.get("PIXAR_SR") or h0.get("PIXAR_SR")
        err_unit = hdul["ERR"].header.get("BUNIT") if "ERR" in hdul else None
        unit = flux_unit(hs.get("BUNIT") or h0.get("BUNIT"), pixel_sr, path, err_unit=err_unit)
        cdelt = hs.get("CDELT1")
        if not cdelt:
            raise InputFileError(path, "missing CDELT1: cannot convert the radii to pixels")
        ra, dec = h0.get("TARG_RA"), h0.get("TARG_DEC")
        target = (float(ra), float(dec)) if _finite(ra) and _finite(dec) else None
        meta = {**_instrument_meta(h0), "SRCTYPE": str(hs.get("SRCTYPE") or h0.get("SRCTYPE") or "")}
    lazy: dict[str, Any] = {}

    def world_to_pixel(ra: float, dec: float, wave_um: float) -> tuple[float, float]:
        if "f" not in lazy:  # the gwcs only now (stdatamodels, seconds)
            from jwstspec.extract.reading import read_cube

            lazy["f"] = read_cube(path, fast=False).world_to_pixel
        return lazy["f"](ra, dec, wave_um)

    return Cube(path, data, err, dq, wave, float(pixel_sr or 0.0), abs(float(cdelt)) * 3600.0, meta, world_to_pixel,
                unit, target)
