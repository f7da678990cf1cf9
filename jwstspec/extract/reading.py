"""Reading ``s3d`` cubes and ``s2d`` slit images into plain arrays (MJy/sr, um)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from jwstspec.errors import InputFileError, require_file

__all__ = ["Cube", "Slit", "read_cube", "read_slits"]


@dataclasses.dataclass
class Cube:
    """Plain arrays of an s3d cube (``flux``/``err`` in MJy/sr, shape (nw, ny, nx), as stored: usually float32)."""

    path: Path
    flux: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    wavelength: np.ndarray  # (nw,) um, from the WCS
    pixel_sr: float
    pixel_arcsec: float
    meta: dict[str, Any]
    world_to_pixel: Callable[[float, float, float], tuple[float, float]] | None = None


@dataclasses.dataclass
class Slit:
    """One slit of an s2d product, dispersion along the last axis: arrays (ncross, nwave)."""

    path: Path
    name: str
    flux: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    wavelength: np.ndarray  # (nwave,) um
    pixel_sr: float
    meta: dict[str, Any]


def _err_from(model: Any, shape: tuple[int, ...]) -> np.ndarray:
    """ERR, or the square root of the sum of the VAR_* arrays, or NaN."""
    err = getattr(model, "err", None)
    if err is not None and err.shape == shape and np.isfinite(err).any() and np.nanmax(err) > 0:
        return np.asarray(err)  # kept in the file's precision: the extraction works in float64 on a crop
    var = np.zeros(shape)
    found = False
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        v = getattr(model, name, None)
        if v is not None and v.shape == shape:
            var = var + np.asarray(v, dtype=float)
            found = True
    return np.sqrt(var) if found else np.full(shape, np.nan)


def _instrument_meta(model: Any) -> dict[str, Any]:
    ins = model.meta.instrument
    return {
        "INSTRUME": ins.name or "",
        "EXP_TYPE": getattr(model.meta.exposure, "type", None) or "",
        "DETECTOR": ins.detector or "",
        "CHANNEL": getattr(ins, "channel", None) or "",
        "BAND": getattr(ins, "band", None) or "",
        "GRATING": getattr(ins, "grating", None) or "",
        "FILTER": getattr(ins, "filter", None) or "",
    }


def read_cube(path: str | Path) -> Cube:
    """Read an ``s3d`` file; one-line :class:`InputFileError` when it is unusable."""
    path = require_file(path)
    from stdatamodels.jwst.datamodels import IFUCubeModel

    try:
        model = IFUCubeModel(str(path))
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:120]
        raise InputFileError(path, f"not an s3d IFU cube ({type(exc).__name__}: {first})") from None
    with model:
        data = np.asarray(model.data)  # float32 as stored; converted to float64 only on the extraction crop
        if data.ndim != 3 or data.size == 0:
            raise InputFileError(path, f"SCI is not a 3-D cube (shape {data.shape})")
        if not np.isfinite(data).any():
            raise InputFileError(path, "SCI holds no finite value")
        err = _err_from(model, data.shape)
        dq = np.asarray(model.dq) if model.dq is not None and model.dq.shape == data.shape else np.zeros(data.shape, np.uint32)
        nw, ny, nx = data.shape
        wcs = model.meta.wcs
        if wcs is None:
            raise InputFileError(path, "no WCS: cannot compute wavelengths")
        k = np.arange(nw, dtype=float)
        _, _, wave = wcs(np.full(nw, (nx - 1) / 2.0), np.full(nw, (ny - 1) / 2.0), k, with_bounding_box=False)
        wave = np.asarray(wave, dtype=float)
        pixel_sr = model.meta.photometry.pixelarea_steradians
        cdelt = model.meta.wcsinfo.cdelt1
        if not pixel_sr or not cdelt:
            raise InputFileError(path, "missing PIXAR_SR or CDELT1: cannot convert to Jy")
        unit = model.meta.bunit_data
        if unit not in ("MJy/sr", "MJy / sr"):
            raise InputFileError(path, f"flux unit {unit!r} is not MJy/sr")
        meta = _instrument_meta(model)

    def world_to_pixel(ra: float, dec: float, wave_um: float) -> tuple[float, float]:
        try:
            x, y, _ = wcs.invert(ra, dec, wave_um, with_bounding_box=False)
            return float(x), float(y)
        except Exception:  # noqa: BLE001 - gwcs's numerical inverse fails on multi-channel (tabular) cubes
            plane = float(np.nanargmin(np.abs(wave - wave_um))) if np.isfinite(wave).any() else 0.0
            return _invert_spatial(wcs, ra, dec, plane, ((nx - 1) / 2.0, (ny - 1) / 2.0))

    return Cube(path, data, err, dq, wave, float(pixel_sr), abs(float(cdelt)) * 3600.0, meta, world_to_pixel)


def _invert_spatial(wcs: Any, ra: float, dec: float, plane: float, start: tuple[float, float],
                    iterations: int = 8) -> tuple[float, float]:
    """Pixel (x, y) of (``ra``, ``dec``) in cube plane ``plane``, by Newton steps on the forward WCS.

    Used where gwcs's own numerical inverse fails (jwst multi-channel
    cubes, whose wavelength axis is tabular).  The Jacobian comes from
    one-pixel differences on the tangent plane; the spatial WCS of a cube
    is close to linear, so a few steps reach 1e-6 px.
    """
    def offset(x: float, y: float) -> np.ndarray:
        r, d, _ = wcs(x, y, plane, with_bounding_box=False)
        return np.array([((float(r) - ra + 180.0) % 360.0 - 180.0) * np.cos(np.deg2rad(dec)), float(d) - dec])

    p = np.array(start, dtype=float)
    for _ in range(iterations):
        f0 = offset(*p)
        jac = np.column_stack([offset(p[0] + 1.0, p[1]) - f0, offset(p[0], p[1] + 1.0) - f0])
        if not np.all(np.isfinite(jac)) or abs(np.linalg.det(jac)) == 0:
            return float("nan"), float("nan")
        step = np.linalg.solve(jac, -f0)
        p = p + step
        if np.hypot(*step) < 1e-6:
            break
    return float(p[0]), float(p[1])


def read_slits(path: str | Path, slit_name: str | None = None) -> list[Slit]:
    """Read an ``s2d`` file (``SlitModel`` or ``MultiSlitModel``) into one :class:`Slit` per slit.

    Arrays are transposed when the dispersion runs along y, so the
    dispersion is always the last axis.
    """
    path = require_file(path)
    from stdatamodels.jwst import datamodels

    try:
        model = datamodels.open(str(path))
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:120]
        raise InputFileError(path, f"not a JWST data model ({type(exc).__name__}: {first})") from None
    with model:
        if isinstance(model, datamodels.MultiSlitModel):
            items = list(model.slits)
        elif isinstance(model, datamodels.SlitModel) or type(model).__name__ == "ImageModel" and getattr(model, "wavelength", None) is not None:
            items = [model]
        else:
            raise InputFileError(path, f"not an s2d slit image ({type(model).__name__})")
        slits = []
        for i, s in enumerate(items):
            name = str(getattr(s, "name", None) or f"SLIT{i + 1}")
            if slit_name is not None and name != slit_name:
                continue
            data = np.asarray(s.data, dtype=float)
            if data.ndim != 2 or not np.isfinite(data).any():
                raise InputFileError(path, f"slit {name}: SCI is not a 2-D image with finite values")
            err = _err_from(s, data.shape)
            dq = np.asarray(s.dq) if s.dq is not None and s.dq.shape == data.shape else np.zeros(data.shape, np.uint32)
            wave2d = getattr(s, "wavelength", None)
            if wave2d is None or wave2d.shape != data.shape or not np.isfinite(wave2d).any():
                raise InputFileError(path, f"slit {name}: no WAVELENGTH array")
            disp = getattr(s.meta.wcsinfo, "dispersion_direction", None) or getattr(model.meta.wcsinfo, "dispersion_direction", None) or 1
            if disp == 2:
                data, err, dq, wave2d = data.T, err.T, dq.T, np.asarray(wave2d).T
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                wave = np.nanmedian(np.asarray(wave2d, dtype=float), axis=0)
            pixel_sr = getattr(s.meta.photometry, "pixelarea_steradians", None) or model.meta.photometry.pixelarea_steradians
            if not pixel_sr:
                raise InputFileError(path, f"slit {name}: missing PIXAR_SR: cannot convert to Jy")
            slits.append(Slit(path, name, data, err, dq, wave, float(pixel_sr), {**_instrument_meta(model), "SLITNAME": name}))
    if not slits:
        raise InputFileError(path, f"no slit named {slit_name!r}")
    return slits
