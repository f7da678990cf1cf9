"""``extract_file``: one cube or slit image in, EXTRACT1D spectrum (or one per slit) out."""

from __future__ import annotations

import dataclasses
import time
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.config import parse_length as _parse_length
from jwstspec.errors import InputFileError, OptionError, require_file
from jwstspec.extract.aperture import annulus_mask, annulus_weights, box_weights, circle_weights, weighted_sum
from jwstspec.extract.centering import binned_images, centroid_track, smooth_track
from jwstspec.extract.covariance import Correlation, estimate_correlation, inflation, white
from jwstspec.extract.outliers import flag_outliers, local_profile
from jwstspec.extract.psf import amplitude_weights, psf_fit
from jwstspec.extract.reading import Cube, Slit, read_cube, read_slits
from jwstspec.spectrum import DQ_FLAGS, Spectrum

__all__ = ["COVARIANCE_MODES", "METHODS", "ExtractResult", "extract_file", "parse_length"]

METHODS = ("aperture", "box", "annulus", "psf")
SLIT_METHODS = ("aperture", "psf")
COVARIANCE_MODES = ("auto", "none")
#: Pixels beyond the extraction region (plus the centre's drift) that count as sky when there is no annulus.
SKY_MARGIN = 3.0


def parse_length(value: Any) -> tuple[float, str]:
    """``0.3`` -> (0.3, "arcsec"); ``"3px"`` -> (3.0, "px"); garbage -> OptionError."""
    try:
        return _parse_length(value)
    except ValueError as exc:
        raise OptionError("length", str(exc)) from None


@dataclasses.dataclass
class ExtractResult:
    """What one extraction produced (``paths``: one file per slit for MultiSlit products)."""

    path: Path
    paths: list[Path]
    n_slices: int
    n_replaced: int
    seconds: float
    spectrum: Spectrum
    spectra: list[Spectrum] = dataclasses.field(default_factory=list)


def _to_pixels(value: Any, pixel_arcsec: float, option: str, path: Path) -> float:
    try:
        number, unit = _parse_length(value)
    except ValueError as exc:
        raise OptionError(option, str(exc), path) from None
    return number if unit == "px" else number / pixel_arcsec


def _pair(value: Any, pixel_arcsec: float, option: str, path: Path) -> tuple[float, float]:
    if value is None or len(value) != 2:
        raise OptionError(option, "needs two radii RIN ROUT", path)
    rin, rout = (_to_pixels(v, pixel_arcsec, option, path) for v in value)
    if not rin < rout:
        raise OptionError(option, f"inner radius {rin:g} px must be below outer radius {rout:g} px", path)
    return rin, rout


def _background(flux: np.ndarray, valid: np.ndarray, mask: np.ndarray, clip: float) -> tuple[np.ndarray, np.ndarray]:
    """Sigma-clipped (MAD) median of the background pixels of every slice and the variance of that estimate."""
    union = mask if mask.ndim == 2 else mask.any(axis=0)
    inside = mask[union] if mask.ndim == 2 else mask[:, union]  # only the pixels some slice uses
    pix = np.where(inside & valid[:, union], flux[:, union], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(5):
            med = np.nanmedian(pix, axis=1)
            sd = 1.4826 * np.nanmedian(np.abs(pix - med[:, None]), axis=1)
            keep = ~(np.abs(pix - med[:, None]) > clip * sd[:, None])
            if keep.all():
                break
            pix = np.where(keep, pix, np.nan)
        bkg = np.nanmedian(pix, axis=1)
        n = np.isfinite(pix).sum(axis=1)
        std = np.nanstd(pix, axis=1)
    var = np.where(n > 0, (np.pi / 2) * std**2 / np.maximum(n, 1), 0.0)
    return np.where(np.isfinite(bkg), bkg, 0.0), np.where(np.isfinite(var), var, 0.0)


def _core(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, weights: np.ndarray, bkg_mask: np.ndarray | None,
          method: str, window: int, clip_sigma: float, bkg_clip_sigma: float,
          fit_background: bool = False, rho: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Background, profile, outliers and the chosen method on (nw, ny, nx) arrays; all slices at once.

    ``rho``: spatial noise correlation kernel (:mod:`.covariance`); the
    source and background variances are inflated by their own factors
    (``errcov``, ``errcov_bkg`` in the result), None for independent voxels.
    """
    nw = flux.shape[0]
    if bkg_mask is None and fit_background:
        # no background region: the pixels of the crop outside the extraction region give the level the
        # empirical profile is built on; the fit below then adds a constant to it
        bkg_mask = weights == 0
    if bkg_mask is not None:
        bkg, bkg_var = _background(flux, valid, bkg_mask, bkg_clip_sigma)
    else:
        bkg, bkg_var = np.zeros(nw), np.zeros(nw)
    errcov_bkg = np.ones(nw)
    if rho is not None and bkg_mask is not None:
        # the background is a median of the annulus pixels: weights equal over the valid pixels
        errcov_bkg = inflation(np.where(np.broadcast_to(bkg_mask, flux.shape) & valid, err, 0.0), rho, max_slices=300)
        bkg_var = bkg_var * errcov_bkg**2
    # everything below works on the bounding box of the extraction region (over all slices)
    used = weights > 0 if weights.ndim == 2 else (weights > 0).any(axis=0)
    rows, cols = np.flatnonzero(used.any(axis=1)), np.flatnonzero(used.any(axis=0))
    ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    flux, err, valid, weights = flux[:, ys, xs], err[:, ys, xs], valid[:, ys, xs], weights[..., ys, xs]
    sub = flux - bkg[:, None, None]  # float64 from here on (the inputs may be float32 views)
    errf = np.where(np.isfinite(err) & (err > 0), err.astype(float), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        typical = np.nanmedian(np.where(valid, errf, np.nan).reshape(nw, -1), axis=1)
    errf = np.where(np.isfinite(errf), errf, np.nan_to_num(typical, nan=np.inf)[:, None, None])
    profile = local_profile(sub, valid, weights, window)
    region = weights > 0
    outlier, amp = flag_outliers(sub, valid, errf, profile, region, clip_sigma)
    good = valid & ~outlier
    region3 = np.broadcast_to(region, flux.shape)
    replaced = ~good & region3
    n_region = region3.sum(axis=(1, 2))
    n_rep = replaced.sum(axis=(1, 2))
    area = weights.sum(axis=(-2, -1)) * np.ones(nw)
    errcov = np.ones(nw)
    if method == "psf":
        if rho is not None:  # the same factor with the least-squares weights of the amplitude
            errcov = inflation(amplitude_weights(errf, good, profile, region, fit_background), rho)
        # with fit_background a constant is fitted with the PSF on top of the subtracted estimate; it absorbs
        # that estimate's error, so the estimate's variance is not added again
        value, value_err, back = psf_fit(sub, errf, good, profile, region, None if fit_background else bkg_var,
                                         fit_background=fit_background, profile_slices=max(2 * window + 1, 3),
                                         inflation=errcov**2 if rho is not None else None)
        bkg = bkg + np.nan_to_num(back)
    else:
        filled = np.where(good, sub, amp[:, None, None] * profile)
        value = weighted_sum(np.nan_to_num(filled), weights)
        if rho is not None:  # correlated voxels: the aperture's weights (fractional pixels) times ERR
            errcov = inflation(np.where(region3, errf, 0.0) * weights, rho)
        var = weighted_sum(np.where(region3, errf, 0.0) ** 2, weights, 2) * errcov**2 + area**2 * bkg_var
        value_err = np.sqrt(var)
    frac = n_rep / np.maximum(n_region, 1)
    nodata = (frac >= 0.5) | ~np.isfinite(value) | ~np.isfinite(amp) | ((good & region3).sum(axis=(1, 2)) == 0)
    return {"value": value, "error": value_err, "bkg": bkg * area, "area": area, "frac": frac, "n_rep": n_rep,
            "nodata": nodata, "box": (ys, xs), "replaced": replaced, "errcov": errcov, "errcov_bkg": errcov_bkg,
            "model": amp[:, None, None] * profile + bkg[:, None, None]}


def _spectrum(out: dict[str, np.ndarray], wave: np.ndarray, to_jy: float, x: np.ndarray, y: np.ndarray,
              meta: dict[str, Any]) -> Spectrum:
    nodata = out["nodata"]
    dq = np.where(nodata, DQ_FLAGS["NO_DATA"], 0) | np.where((out["n_rep"] > 0) & ~nodata, DQ_FLAGS["OUTLIER_REPLACED"], 0)
    return Spectrum(
        wave, np.where(nodata, np.nan, out["value"] * to_jy), np.where(nodata, np.nan, out["error"] * to_jy),
        background=out["bkg"] * to_jy, dq=dq, npixels=out["area"], x_center=x, y_center=y,
        replaced_frac=out["frac"], meta=meta,
    )


def _covariance_meta(mode: str, corr: Correlation, out: dict[str, np.ndarray]) -> dict[str, Any]:
    """``COVMODE``, ``ERRCOV`` (median error factor), ``ERRCOVBK``, ``COVRHOX/Y/L`` and ``COVNOTE`` (why none).

    Slit images: ``COVRHOY`` is the correlation along the slit (``COVRHOX`` 0: one column).
    """
    use = ~out["nodata"]

    def med(values: np.ndarray) -> float:
        v = values[use] if use.any() else values
        return round(float(np.median(v)), 4) if len(v) else 1.0

    meta: dict[str, Any] = {"COVMODE": mode, "ERRCOV": med(out["errcov"]), "ERRCOVBK": med(out["errcov_bkg"])}
    if corr.ok:
        meta.update(COVRHOX=round(corr.rho_x, 4), COVRHOY=round(corr.rho_y, 4))
        if np.isfinite(corr.rho_wave):
            meta["COVRHOL"] = round(float(corr.rho_wave), 4)
    else:
        meta["COVNOTE"] = corr.reason[:60]
    return meta


def _versions() -> dict[str, str]:
    return {"JWSTVER": version("jwst"), "PHUTVER": version("photutils"), "JSPECVER": version("jwstspec")}


def _is_slit_file(path: Path) -> bool:
    from astropy.io import fits

    try:
        model = str(fits.getheader(path).get("DATAMODL", ""))
    except Exception:
        return False
    return model in ("SlitModel", "MultiSlitModel", "ImageModel")  # ImageModel: MIRI LRS fixed-slit s2d


def extract_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    method: str = "aperture",
    radius: Any = "3px",
    annulus_radii: Any = None,
    bkg_annulus: Any = ("10px", "12px"),
    background: bool = True,
    window: int = 10,
    clip_sigma: float = 5.0,
    bkg_clip_sigma: float = 5.0,
    center: tuple[float, float] | None = None,
    center_radec: tuple[float, float] | None = None,
    center_offset: tuple[float, float] | None = None,
    slit_name: str | None = None,
    save_cleaned: bool = False,
    fit_background: bool = False,
    covariance: str = "auto",
) -> ExtractResult:
    """Extract the 1-D spectrum of a point source from an s3d cube or s2d slit image.

    Parameters
    ----------
    input_path : str or Path
        ``s3d`` (IFUCubeModel) or ``s2d`` (SlitModel / MultiSlitModel) file.
    output_path : str or Path
        EXTRACT1D FITS file; for several slits one file per slit
        (``<stem>_<slit><suffix>``); for a multi-channel MIRI MRS cube
        (Stage 2) one file per channel (``<stem without _x1d>_ch1-medium_x1d.fits``,
        see :mod:`jwstspec.extract.channels`).
    method : {"aperture", "box", "annulus", "psf"}
        Extraction method (slits: aperture or psf).
    radius : float or str
        Aperture radius / box half-side / PSF normalisation radius; arcsec, or ``"3px"``.
    annulus_radii : pair, optional
        Inner and outer radius of the ``annulus`` extraction region.
    bkg_annulus : pair
        Background annulus (IFU) or the distances of the side regions from the trace (slit).
    background : bool
        Subtract the sigma-clipped background.
    window : int
        Half-width, in slices, of the empirical-profile window.
    clip_sigma, bkg_clip_sigma : float
        Outlier threshold against the scaled profile; background clipping.
    center, center_radec, center_offset : pair, optional
        Fixed centre in pixels (x, y; slits: ``(y, _)`` or y in the first element),
        in RA/Dec degrees, or an offset from the centroid track.
    slit_name : str, optional
        Extract only this slit of a MultiSlit product.
    fit_background : bool
        ``psf`` only: fit a constant background with the PSF amplitude in
        each slice (on top of the annulus/side-region estimate when
        ``background``), instead of relying on the subtracted estimate alone.
    save_cleaned : bool
        Cubes: also write the cube with its replaced voxels filled
        (:func:`write_cleaned_cube`, :func:`cleaned_cube_path`).  Slit
        images: not available (an :class:`OptionError`).
    covariance : {"auto", "none"}
        Cubes: ``auto`` estimates the spatial noise correlation of the
        drizzled cube from its sky voxels (background annulus, or the field
        beyond the extraction region) and inflates the source and background
        variances by it (:mod:`jwstspec.extract.covariance`; all methods, psf
        with its least-squares weights); ``none`` treats voxels as
        independent, as jwst does.  The median factor is written as
        ``ERRCOV`` (``COVRHOX``/``COVRHOY``: correlation one spaxel apart in
        x/y, ``COVRHOL``: adjacent slices).  Slit images: the correlation
        along the slit, from the background rows (or the rows beyond the
        trace), in ``COVRHOY``.
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise OptionError("--method", f"{method!r} is not one of {', '.join(METHODS)}")
    if clip_sigma is None or not clip_sigma > 0:
        raise OptionError("--clip-sigma", "must be positive", input_path)
    if int(window) < 1:
        raise OptionError("--window", "must be at least 1", input_path)
    if fit_background and method != "psf":
        raise OptionError("--fit-background", f"fits a background with the PSF: method psf only, not {method!r}", input_path)
    if covariance not in COVARIANCE_MODES:
        raise OptionError("--covariance", f"{covariance!r} is not one of {', '.join(COVARIANCE_MODES)}", input_path)
    path = require_file(input_path)
    if _is_slit_file(path):
        if center_radec is not None:
            raise OptionError("--center-radec", "not available for slit images (use --center with the row)", path)
        if method not in SLIT_METHODS:
            raise OptionError("--method", f"{method!r} is not available for slit images (use aperture or psf)", path)
        if save_cleaned:
            raise OptionError("save_cleaned", "a cleaned product is written for s3d cubes only, not for slit images", path)
        return _extract_slits(path, Path(output_path), t0, method=method, radius=radius, bkg_annulus=bkg_annulus,
                              background=background, window=int(window), clip_sigma=clip_sigma,
                              bkg_clip_sigma=bkg_clip_sigma, center=center, center_offset=center_offset,
                              slit_name=slit_name, fit_background=fit_background, covariance=covariance)
    from jwstspec.extract.channels import extract_channels  # multi-channel MRS cubes: one spectrum per channel

    def one(part: Cube) -> tuple[Spectrum, int, Any]:
        return _extract_cube(part, method=method, radius=radius, annulus_radii=annulus_radii,
                             bkg_annulus=bkg_annulus, background=background, window=int(window),
                             clip_sigma=clip_sigma, bkg_clip_sigma=bkg_clip_sigma, center=center,
                             center_radec=center_radec, center_offset=center_offset,
                             fit_background=fit_background, covariance=covariance)

    return extract_channels(read_cube(path), Path(output_path), t0, one, save_cleaned=save_cleaned)


def _extract_cube(cube: Cube, *, method: str, radius: Any, annulus_radii: Any, bkg_annulus: Any, background: bool,
                  window: int, clip_sigma: float, bkg_clip_sigma: float, center: Any, center_radec: Any,
                  center_offset: Any, fit_background: bool = False,
                  covariance: str = "auto") -> tuple[Spectrum, int, tuple[tuple[slice, slice], np.ndarray, np.ndarray]]:
    nw, ny, nx = cube.flux.shape
    p = cube.path
    r = _to_pixels(radius, cube.pixel_arcsec, "--radius", p)
    rin, rout = _pair(bkg_annulus, cube.pixel_arcsec, "--bkg-annulus", p) if background else (0.0, 0.0)
    if method == "annulus":
        if annulus_radii is None:
            raise OptionError("--annulus-radii", "method annulus needs --annulus-radii RIN ROUT", p)
        ain, aout = _pair(annulus_radii, cube.pixel_arcsec, "--annulus-radii", p)
    if 2 * window + 1 > nw:
        raise OptionError("--window", f"window of {2 * window + 1} slices is wider than the cube ({nw} slices)", p)
    valid = ~(cube.dq & 1).astype(bool) & np.isfinite(cube.flux)
    if not (np.isfinite(cube.err) & valid).any():
        raise InputFileError(p, "no usable ERR (or VAR_*) array")
    # ---- centre of every slice
    if center_radec is not None:
        wmid = float(np.nanmedian(cube.wavelength))
        cx0, cy0 = cube.world_to_pixel(float(center_radec[0]), float(center_radec[1]), wmid)
        cx, cy, mode, option = np.full(nw, cx0), np.full(nw, cy0), "radec", "--center-radec"
    elif center is not None:
        cx, cy, mode, option = np.full(nw, float(center[0])), np.full(nw, float(center[1])), "fixed", "--center"
    else:
        cx, cy = centroid_track(cube.flux, valid)
        mode, option = "centroid", "--center"
        if center_offset is not None:
            cx, cy, mode, option = cx + center_offset[0], cy + center_offset[1], "offset", "--center-offset"
    if not (np.all(np.isfinite(cx)) and np.all((cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny))):
        raise OptionError(option, f"centre ({np.nanmedian(cx):.2f}, {np.nanmedian(cy):.2f}) is outside the {nx}x{ny} field", p)
    extent = {"aperture": r, "psf": r, "box": r + 0.5, "annulus": aout if method == "annulus" else r}[method]
    # the extraction region must stay inside the field in every slice
    if min(cx.min(), cy.min()) - extent < -0.5 or cx.max() + extent > nx - 0.5 or cy.max() + extent > ny - 0.5:
        raise OptionError("--annulus-radii" if method == "annulus" else "--radius",
                          f"region of radius {extent:g} px around ({np.median(cx):.1f}, {np.median(cy):.1f}) leaves the {nx}x{ny} field", p)
    if background:  # at least 90 % of the background annulus inside the field (at the median centre)
        inside = annulus_mask((ny, nx), np.median(cx), np.median(cy), rin, rout).sum()
        if inside < 0.9 * np.pi * (rout**2 - rin**2) - 2 * np.pi * rout * 0.5:
            raise OptionError("--bkg-annulus", f"background annulus {rin:g}-{rout:g} px around ({np.median(cx):.1f}, {np.median(cy):.1f}) leaves the {nx}x{ny} field", p)
    # ---- work on the part of the field the regions use (every slice): memory and time scale with it
    reach = max(extent, rout if background else 0.0) + 1.5
    y0, y1 = max(int(np.floor(cy.min() - reach)), 0), min(int(np.ceil(cy.max() + reach)) + 1, ny)
    x0, x1 = max(int(np.floor(cx.min() - reach)), 0), min(int(np.ceil(cx.max() + reach)) + 1, nx)
    flux, err = cube.flux[:, y0:y1, x0:x1], cube.err[:, y0:y1, x0:x1]  # views: _core promotes what it computes
    valid_field, valid = valid, valid[:, y0:y1, x0:x1]
    cxl, cyl, shape = cx - x0, cy - y0, (y1 - y0, x1 - x0)
    # ---- regions
    if method == "box":
        weights = box_weights(shape, cxl, cyl, r)
    elif method == "annulus":
        weights = annulus_weights(shape, cxl, cyl, ain, aout)
    else:
        weights = circle_weights(shape, cxl, cyl, r)
    bkg_mask = annulus_mask(shape, cxl, cyl, rin, rout) if background else None
    # ---- spatial noise correlation of the drizzled cube, from sky voxels
    if covariance == "none":
        corr = white(reason="covariance none: voxels independent")
    elif bkg_mask is not None:
        corr = estimate_correlation(flux, err, valid, bkg_mask)
    else:  # no annulus: the field beyond the extraction region, the centre's drift and a margin
        mx, my = float(np.median(cx)), float(np.median(cy))
        drift = float(max(np.max(np.abs(cx - mx)), np.max(np.abs(cy - my))))
        yy, xx = np.mgrid[0:ny, 0:nx]
        far = extent * (np.sqrt(2.0) if method == "box" else 1.0) + drift + SKY_MARGIN
        corr = estimate_correlation(cube.flux, cube.err, valid_field, np.hypot(xx - mx, yy - my) > far)
    out = _core(flux, err, valid, weights, bkg_mask, method, window, clip_sigma, bkg_clip_sigma, fit_background,
                rho=corr.rho if corr.ok else None)
    meta = {**cube.meta, "METHOD": method, "RADIUS": r, "PIXSCALE": cube.pixel_arcsec, "BKGIN": rin, "BKGOUT": rout,
            "ANNIN": ain if method == "annulus" else 0.0, "ANNOUT": aout if method == "annulus" else 0.0,
            "WINDOW": window, "CLIPSIG": clip_sigma, "FITBKG": fit_background, "CENTMODE": mode, "SRCFILE": p.name,
            **_covariance_meta(covariance, corr, out), **_versions()}
    ys, xs = out["box"]
    box = (slice(y0 + ys.start, y0 + ys.stop), slice(x0 + xs.start, x0 + xs.stop))
    cleaned = (box, out["replaced"], out["model"])
    return _spectrum(out, cube.wavelength, 1e6 * cube.pixel_sr, cx, cy, meta), int(out["n_rep"].sum()), cleaned


def cleaned_cube_path(output: Path) -> Path:
    """Where ``save_cleaned`` writes the cleaned cube: ``<output stem without _x1d>_cleaned_s3d.fits``."""
    return output.with_name(output.stem.removesuffix("_x1d") + "_cleaned_s3d.fits")


def write_cleaned_cube(source: Path, target: Path, box: tuple[slice, slice], replaced: np.ndarray,
                       values: np.ndarray, planes: slice | np.ndarray = slice(None)) -> Path:
    """A copy of the ``s3d`` cube with the replaced voxels of the extraction region set to the scaled profile.

    Replaced voxels (outliers and DQ-bad voxels inside the extraction
    region of a slice with a profile fit) get the value the extraction used
    for them (profile amplitude x empirical profile + background, in
    MJy/sr) and the ``OUTLIER`` DQ bit, with ``DO_NOT_USE`` cleared.  The
    source file is not modified; the copy is written atomically.
    ``planes``: the cube planes ``replaced`` and ``values`` belong to (one
    channel of a multi-channel cube).
    """
    from stdatamodels.jwst.datamodels import IFUCubeModel, dqflags

    from jwstspec.fileio import atomic_path

    fill = replaced & np.isfinite(values)
    with IFUCubeModel(str(source)) as dm:
        data, dq = np.array(dm.data), np.array(dm.dq)
        region = (planes, *box)
        data[region] = np.where(fill, values, data[region])
        keep = dq[region] & ~np.uint32(dqflags.pixel["DO_NOT_USE"])
        dq[region] = np.where(fill, keep | np.uint32(dqflags.pixel["OUTLIER"]), dq[region])
        dm.data, dm.dq = data, dq
        dm.meta.filename = target.name
        with atomic_path(target) as tmp:
            dm.save(str(tmp))
    return target


def _slit_track(flux: np.ndarray, valid: np.ndarray, half: int = 4) -> np.ndarray:
    """Trace centre (row) per column: centre of mass on wavelength-binned profiles, robustly smoothed."""
    nw = flux.shape[0]
    images, kc = binned_images(flux, valid, min(30, max(nw // 20, 1)))
    prof = images[:, :, 0]
    yc = np.full(len(kc), np.nan)
    rows = np.arange(prof.shape[1], dtype=float)
    for i, pr in enumerate(prof):  # loop over wavelength bins, not columns
        if not np.isfinite(pr).any():
            continue
        pr = np.where(np.isfinite(pr), pr - np.nanmedian(pr), 0.0)
        j = int(np.argmax(pr))
        sl = slice(max(j - half, 0), j + half + 1)
        w = np.clip(pr[sl], 0, None)
        if w.sum() > 0:
            yc[i] = float((rows[sl] * w).sum() / w.sum())
    return smooth_track(kc, yc, nw)


def _band(n: int, c: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Weights (nw, n) of the rows overlapping [c + lo, c + hi] (exact partial pixels)."""
    rows = np.arange(n, dtype=float)
    a, b = c[:, None] + lo, c[:, None] + hi
    return np.clip(np.minimum(rows[None] + 0.5, b) - np.maximum(rows[None] - 0.5, a), 0.0, 1.0)


def _extract_slits(path: Path, output: Path, t0: float, *, method: str, radius: Any, bkg_annulus: Any, background: bool,
                   window: int, clip_sigma: float, bkg_clip_sigma: float, center: Any, center_offset: Any,
                   slit_name: str | None, fit_background: bool = False, covariance: str = "auto") -> ExtractResult:
    if method not in SLIT_METHODS:
        raise OptionError("--method", f"{method!r} is not available for slit images (use aperture or psf)", path)
    slits = read_slits(path, slit_name)
    spectra, paths, n_total = [], [], 0
    for slit in slits:  # one extraction per slit
        spec, n_rep = _extract_slit(slit, method=method, radius=radius, bkg_annulus=bkg_annulus, background=background,
                                    window=window, clip_sigma=clip_sigma, bkg_clip_sigma=bkg_clip_sigma, center=center,
                                    center_offset=center_offset, fit_background=fit_background,
                                    covariance=covariance)
        spectra.append(spec)
        n_total += n_rep
    for slit, spec in zip(slits, spectra):  # write only once every slit extracted
        target = output if len(slits) == 1 else output.with_name(f"{output.stem}_{slit.name}{output.suffix}")
        paths.append(spec.write_fits(target))
    return ExtractResult(paths[0], paths, len(spectra[0]), n_total, time.perf_counter() - t0, spectra[0], spectra)


def _extract_slit(slit: Slit, *, method: str, radius: Any, bkg_annulus: Any, background: bool, window: int,
                  clip_sigma: float, bkg_clip_sigma: float, center: Any, center_offset: Any,
                  fit_background: bool = False, covariance: str = "auto") -> tuple[Spectrum, int]:
    ncross, nw = slit.flux.shape
    p = slit.path
    pixel_arcsec = float(np.degrees(np.sqrt(slit.pixel_sr)) * 3600.0)
    r = _to_pixels(radius, pixel_arcsec, "--radius", p)
    rin, rout = _pair(bkg_annulus, pixel_arcsec, "--bkg-annulus", p) if background else (0.0, 0.0)
    if 2 * window + 1 > nw:
        raise OptionError("--window", f"window of {2 * window + 1} columns is wider than the slit image ({nw})", p)
    flux = slit.flux.T[:, :, None]  # (nw, ncross, 1): the cube machinery with one spatial column
    err = slit.err.T[:, :, None]
    valid = ~(slit.dq.T[:, :, None] & 1).astype(bool) & np.isfinite(flux)
    if center is not None:
        yc, mode, option = np.full(nw, float(np.atleast_1d(center)[-1] if np.size(center) > 1 else center[0])), "fixed", "--center"
    else:
        yc, mode, option = _slit_track(flux, valid), "centroid", "--center"
        if center_offset is not None:
            yc, mode, option = yc + float(np.atleast_1d(center_offset)[-1]), "offset", "--center-offset"
    if not (np.all(np.isfinite(yc)) and np.all((yc >= 0) & (yc < ncross))):
        raise OptionError(option, f"trace centre {np.nanmedian(yc):.2f} is outside the {ncross}-pixel slit", p)
    for size, opt in ((r, "--radius"), (rout if background else 0.0, "--bkg-annulus")):
        if yc.min() - size < -0.5 or yc.max() + size > ncross - 0.5:
            raise OptionError(opt, f"region of half-width {size:g} px around row {np.median(yc):.1f} leaves the {ncross}-pixel slit", p)
    weights = _band(ncross, yc, -r, r)[:, :, None]
    bkg_mask = None
    if background:
        d = np.abs(np.arange(ncross)[None, :] - yc[:, None])
        bkg_mask = ((d >= rin) & (d <= rout))[:, :, None]
    # ---- noise correlation along the slit (resampled s2d), from the background rows or the rows beyond the trace
    if covariance == "none":
        corr = white(reason="covariance none: pixels independent")
    else:
        far = np.abs(np.arange(ncross)[None, :] - yc[:, None]) > r + float(np.ptp(yc)) + SKY_MARGIN
        corr = estimate_correlation(flux, err, valid, bkg_mask if bkg_mask is not None else far[:, :, None])
    out = _core(flux, err, valid, weights, bkg_mask, method, window, clip_sigma, bkg_clip_sigma, fit_background,
                rho=corr.rho if corr.ok else None)
    meta = {**slit.meta, "METHOD": method, "RADIUS": r, "PIXSCALE": pixel_arcsec, "BKGIN": rin, "BKGOUT": rout,
            "WINDOW": window, "CLIPSIG": clip_sigma, "FITBKG": fit_background, "CENTMODE": mode, "SRCFILE": p.name,
            **_covariance_meta(covariance, corr, out), **_versions()}
    return _spectrum(out, slit.wavelength, 1e6 * slit.pixel_sr, np.full(nw, np.nan), yc, meta), int(out["n_rep"].sum())
