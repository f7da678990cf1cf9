"""Reading ``s3d`` cubes and ``s2d`` slit images into plain arrays (MJy/sr, um)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.errors import InputFileError, require_file
from jwstspec.extract.units import FluxUnit, flux_unit

__all__ = ["Cube", "Slit", "read_cube", "read_slits"]


@dataclasses.dataclass
class Cube:
    """Plain arrays of an s3d cube (``flux``/``err`` in the product's unit, shape (nw, ny, nx), as stored: usually float32).

    ``unit``: the product's ``BUNIT`` and its factor to Jy per voxel (:mod:`.units`).
    """

    path: Path
    flux: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    wavelength: np.ndarray  # (nw,) um, from the WCS
    pixel_sr: float
    pixel_arcsec: float
    meta: dict[str, Any]
    world_to_pixel: Callable[[float, float, float], tuple[float, float]] | None = None
    unit: FluxUnit | None = None
    #: Target position (``TARG_RA``, ``TARG_DEC``, degrees), the fallback centre when the source is not detected.
    target_radec: tuple[float, float] | None = None


@dataclasses.dataclass
class Slit:
    """One slit of an s2d product, dispersion along the last axis: arrays (ncross, nwave).

    ``unit``: the slit's ``BUNIT`` (MJy for point-source NIRSpec slits,
    MJy/sr otherwise) and its factor to Jy per pixel (:mod:`.units`).
    """

    path: Path
    name: str
    flux: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    wavelength: np.ndarray  # (nwave,) um
    pixel_sr: float
    meta: dict[str, Any]
    unit: FluxUnit | None = None
    #: Trace row per column from the product's source position (``SRCXPOS``/``SRCYPOS`` through the WCS), or None.
    source_trace: np.ndarray | None = None
    #: Rows per column where the other nod positions put the source (negative traces after nod subtraction).
    nod_traces: list[np.ndarray] = dataclasses.field(default_factory=list)
    #: The headers say the image is nod-subtracted (background subtracted, nodded pattern); None: cannot tell.
    nod_subtracted: bool | None = None


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


def read_cube(path: str | Path, *, fast: bool = True) -> Cube:
    """Read an ``s3d`` file; one-line :class:`InputFileError` when it is unusable.

    ``fast``: read with ``astropy.io.fits`` alone when the wavelength axis is
    linear (:mod:`.fastread`; the WCS is loaded only if a sky position is
    converted); False: always through ``stdatamodels``.
    """
    path = require_file(path)
    if fast:
        from jwstspec.extract.fastread import read_cube_fast

        quick = read_cube_fast(path)
        if quick is not None:
            return quick
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
        unit = flux_unit(model.meta.bunit_data, pixel_sr, path, err_unit=model.meta.bunit_err)
        if not cdelt:
            raise InputFileError(path, "missing CDELT1: cannot convert the radii to pixels")
        meta = {**_instrument_meta(model), "SRCTYPE": str(model.meta.target.source_type or "")}
        ra, dec = model.meta.target.ra, model.meta.target.dec
        target = (float(ra), float(dec)) if ra is not None and dec is not None else None

    def world_to_pixel(ra: float, dec: float, wave_um: float) -> tuple[float, float]:
        try:
            x, y, _ = wcs.invert(ra, dec, wave_um, with_bounding_box=False)
            return float(x), float(y)
        except Exception:  # noqa: BLE001 - gwcs's numerical inverse fails on multi-channel (tabular) cubes
            plane = float(np.nanargmin(np.abs(wave - wave_um))) if np.isfinite(wave).any() else 0.0
            return _invert_spatial(wcs, ra, dec, plane, ((nx - 1) / 2.0, (ny - 1) / 2.0))

    return Cube(path, data, err, dq, wave, float(pixel_sr or 0.0), abs(float(cdelt)) * 3600.0, meta, world_to_pixel, unit, target)


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


def read_slits(path: str | Path, slit_name: str | None = None,
               failures: list[tuple[str, str]] | None = None, *, fast: bool = True) -> list[Slit]:
    """Read an ``s2d`` file (``SlitModel`` or ``MultiSlitModel``) into one :class:`Slit` per slit.

    Arrays are transposed when the dispersion runs along y, so the
    dispersion is always the last axis.

    Parameters
    ----------
    path : str or Path
        The ``s2d`` file.
    slit_name : str, optional
        Read only this slit.
    failures : list, optional
        When given, a slit that cannot be read (no finite data, no
        wavelengths, a unit that is not MJy or MJy/sr, ...) is appended as
        ``(slit name, reason)`` and skipped instead of raising; the file
        itself being unreadable still raises, and the list returned may
        then be empty.
    fast : bool
        Read with ``astropy.io.fits`` alone when the WCS is not needed
        (:mod:`.fastread`); False: always through ``stdatamodels``.

    Returns
    -------
    list of Slit

    Raises
    ------
    InputFileError
        The file is not a slit product; a slit is unusable (without
        ``failures``); no slit named ``slit_name``; no slit could be read.
    """
    path = require_file(path)
    if fast:
        from jwstspec.extract.fastread import read_slits_fast

        quick = read_slits_fast(path, slit_name, failures)
        if quick is not None:
            return quick
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
        slits, seen = [], 0
        for i, s in enumerate(items):
            name = str(getattr(s, "name", None) or f"SLIT{i + 1}")
            if slit_name is not None and name != slit_name:
                continue
            seen += 1
            try:
                slits.append(_read_slit(path, model, s, name))
            except InputFileError as exc:
                if failures is None:
                    raise
                failures.append((name, exc.reason.removeprefix(f"slit {name}: ")))
    if slit_name is not None and not seen:
        raise InputFileError(path, f"no slit named {slit_name!r}")
    if not slits and failures is None:
        raise InputFileError(path, "no slit")
    return slits


def _read_slit(path: Path, model: Any, s: Any, name: str) -> Slit:
    """One slit of ``model`` (``s`` is the model itself for a SlitModel); InputFileError naming the slit."""
    import warnings

    where = f"slit {name}"
    data = np.asarray(s.data, dtype=float)
    if data.ndim != 2 or not np.isfinite(data).any():
        raise InputFileError(path, f"{where}: SCI is not a 2-D image with finite values")
    pixel_sr = getattr(s.meta.photometry, "pixelarea_steradians", None) or model.meta.photometry.pixelarea_steradians
    bunit = getattr(s.meta, "bunit_data", None) or model.meta.bunit_data
    bunit_err = getattr(s.meta, "bunit_err", None) or getattr(model.meta, "bunit_err", None)
    unit = flux_unit(bunit, pixel_sr, path, where, err_unit=bunit_err)
    err = _err_from(s, data.shape)
    dq = np.asarray(s.dq) if s.dq is not None and s.dq.shape == data.shape else np.zeros(data.shape, np.uint32)
    wave2d = getattr(s, "wavelength", None)
    if wave2d is None or wave2d.shape != data.shape or not np.isfinite(wave2d).any():
        raise InputFileError(path, f"{where}: no WAVELENGTH array")
    disp = getattr(s.meta.wcsinfo, "dispersion_direction", None) or getattr(model.meta.wcsinfo, "dispersion_direction", None) or 1
    if disp == 2:
        data, err, dq, wave2d = data.T, err.T, dq.T, np.asarray(wave2d).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        wave = np.nanmedian(np.asarray(wave2d, dtype=float), axis=0)
    meta = {**_instrument_meta(model), "SLITNAME": name, "SUBARRAY": getattr(model.meta.subarray, "name", None) or "",
            "SRCTYPE": str(getattr(s, "source_type", None) or model.meta.target.source_type or "")}
    trace, nods = _source_traces(model, s, wave, data.shape) if disp == 1 else (None, [])
    return Slit(path, name, data, err, dq, wave, float(pixel_sr or 0.0), meta, unit, trace, nods,
                _nod_subtracted(model))


def _nodded(model: Any) -> bool:
    dither = model.meta.dither
    kinds = " ".join(str(getattr(dither, k, None) or "") for k in ("nod_type", "primary_type"))
    kinds += " " + str(getattr(model.meta.dither, "pattern_type", None) or "")
    return "NOD" in kinds.upper() or "SHUTTER" in kinds.upper()


def _nod_subtracted(model: Any) -> bool | None:
    """True when the headers say a nodded exposure had its background subtracted (``S_BKDSUB``)."""
    try:
        done = str(model.meta.cal_step.bkg_subtract or "").upper() == "COMPLETE"
        return bool(done and _nodded(model))
    except AttributeError:
        return None


def _nod_offsets(model: Any, s: Any, ypos: float) -> list[float]:
    """Slit-frame y of the source in the other nod positions, from the headers.

    MOS: the other open shutters of the slitlet (``SHUTSTA``, e.g. ``1x1``:
    the source shutter ``x`` between two open ones; one shutter = 1 in the
    slit frame).  Fixed slit: the opposite position, ``-SRCYPOS`` (jwst's
    own nod-pair guess).
    """
    if not _nodded(model):
        return []
    state = str(getattr(s, "shutter_state", None) or "")
    if "x" in state:
        ix = state.index("x")
        return [ypos + (i - ix) for i, ch in enumerate(state) if ch == "1"]
    exp_type = str(model.meta.exposure.type or "")
    return [-ypos] if exp_type in ("NRS_FIXEDSLIT", "NRS_BRIGHTOBJ") and abs(ypos) > 1e-3 else []


def _source_traces(model: Any, s: Any, wave: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """Rows of the source (and of its other nod positions) per column, via the WCS ``slit_frame -> detector``.

    As jwst's ``extract_1d`` places a NIRSpec slit aperture: the source
    position in the slit (``source_xpos``, ``source_ypos``) projected
    onto the detector at every column's wavelength.  None when the product
    has no such position or WCS.
    """
    xpos, ypos = getattr(s, "source_xpos", None), getattr(s, "source_ypos", None)
    if xpos is None or ypos is None or not (np.isfinite(xpos) and np.isfinite(ypos)):
        return None, []
    try:
        wcs = s.meta.wcs
        if wcs is None or "slit_frame" not in wcs.available_frames:
            return None, []
        to_det = wcs.get_transform("slit_frame", "detector")
        scale = 1e-6 if "gwa" in wcs.available_frames else 1.0  # unresampled products: metres
        cols = np.flatnonzero(np.isfinite(wave))

        def rows(y: float) -> np.ndarray | None:
            x, r = to_det(np.full(len(cols), float(xpos)), np.full(len(cols), float(y)), wave[cols] * scale)
            x, r = np.asarray(x, float), np.asarray(r, float)
            ok = np.isfinite(x) & np.isfinite(r)
            if ok.sum() < 2:
                return None
            order = np.argsort(x[ok])
            return np.interp(np.arange(shape[1], dtype=float), x[ok][order], r[ok][order])

        trace = rows(float(ypos))
        nods = [t for t in (rows(y) for y in _nod_offsets(model, s, float(ypos))) if t is not None]
        return trace, nods
    except Exception:  # noqa: BLE001 - a WCS that cannot place the source: the trace comes from the data
        return None, []
