"""``extract_file``: one cube or slit image in, EXTRACT1D spectrum (or one per slit) out."""

from __future__ import annotations

import dataclasses
import logging
import time
import typing
import warnings
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.config import ExtractionOptions, parse_length
from jwstspec.errors import InputFileError, JwstspecError, OptionError, StageError, require_file
from jwstspec.extract.apcorr import SlitApcorr, find_reference, radial_correction, slit_correction
from jwstspec.extract.aperture import annulus_mask, annulus_weights, box_weights, circle_weights, weighted_sum
from jwstspec.extract.centering import binned_images, centroid_track, smooth_track, target_fallback
from jwstspec.extract.covariance import Correlation, estimate_correlation, inflation, white
from jwstspec.extract.outliers import flag_outliers, local_profile
from jwstspec.extract.psf import amplitude_weights, psf_fit
from jwstspec.extract.reading import Cube, Slit, read_cube, read_slits
from jwstspec.extract.slitgeometry import background_rows, near, negative_traces, refine_trace
from jwstspec.length import Length
from jwstspec.spectrum import DQ_FLAGS, Spectrum

__all__ = ["COVARIANCE_MODES", "ExtractResult", "METHODS", "SlitSkippedWarning", "extract_file", "parse_length"]

_log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = typing.get_args(ExtractionOptions.model_fields["method"].annotation)
SLIT_METHODS = ("aperture", "psf")
COVARIANCE_MODES: tuple[str, ...] = typing.get_args(ExtractionOptions.model_fields["covariance"].annotation)
#: Pixels beyond the extraction region (plus the centre's drift) that count as sky when there is no annulus.
SKY_MARGIN = 3.0
#: Default background annulus of cubes (slits: the rows outside the extraction region, :mod:`.slitgeometry`).
CUBE_BKG_ANNULUS = (Length.parse("10px"), Length.parse("12px"))
#: Fewest sky pixel pairs per lag for a slit's noise-correlation estimate (its rho to ~1/sqrt(300) = 0.06): a
#: slit has a few sky rows where a cube has a plane of sky (cubes: ``estimate_correlation``'s 2000)
SLIT_MIN_PAIRS = 300


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
    #: Slits of a multi-slit product that could not be extracted: (slit name, reason), for the run summary.
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)


class SlitSkippedWarning(UserWarning):
    """One slit of a multi-slit product could not be extracted (the others were)."""


def _pair(value: tuple[Length, Length], pixel_arcsec: float, option: str, path: Path) -> tuple[float, float]:
    rin, rout = (v.pixels(pixel_arcsec) for v in value)
    if not rin < rout:
        raise OptionError(option, f"inner radius {rin:g} px must be below outer radius {rout:g} px", path)
    return rin, rout


@dataclasses.dataclass
class CleanedRegion:
    """What ``save_cleaned`` writes into the copy of a cube: the replaced voxels of the extraction region."""

    box: tuple[slice, slice]  #: (y, x) slices of the bounding box of the extraction region in the cube
    replaced: np.ndarray  #: (nw, ny, nx) of the box: voxels replaced (outliers and DQ-bad voxels of the region)
    values: np.ndarray  #: (nw, ny, nx) of the box: the value used for them (scaled profile + background, MJy/sr)


@dataclasses.dataclass
class SourceExtraction:
    """One source extracted from one cube or slit (nothing written yet)."""

    spectrum: Spectrum
    n_replaced: int  #: voxels / pixels replaced by the scaled profile, all slices
    cleaned: CleanedRegion | None = None  #: cubes only


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


@dataclasses.dataclass
class SliceExtraction:
    """What the extraction core measured, slice by slice (arrays of length nw unless noted).

    Fluxes are in the input's units summed over pixels (e.g. MJy/sr x pixels);
    :func:`_spectrum` converts them to Jy.
    """

    value: np.ndarray  #: source flux (NaN where the fit failed)
    error: np.ndarray  #: its 1-sigma error (correlated noise included when measured)
    background: np.ndarray  #: background under the extraction region (level x area)
    area: np.ndarray  #: pixels of the extraction region (fractional pixels counted)
    replaced_frac: np.ndarray  #: fraction of the region's pixels replaced by the scaled profile
    n_replaced: np.ndarray  #: number of those pixels
    nodata: np.ndarray  #: no usable value (half the region replaced, or no fit)
    box: tuple[slice, slice]  #: (y, x) bounding box of the extraction region in the arrays given
    replaced: np.ndarray  #: (nw, ny, nx) of the box: pixels replaced (outliers, DQ-bad)
    model: np.ndarray  #: (nw, ny, nx) of the box: scaled profile + background, what replaced them
    errcov: np.ndarray  #: error factor of the source from the noise correlation (1: independent pixels)
    errcov_bkg: np.ndarray  #: the same for the background estimate


def _core(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, weights: np.ndarray, bkg_mask: np.ndarray | None,
          o: ExtractionOptions, rho: np.ndarray | None = None) -> SliceExtraction:
    """Background, profile, outliers and the chosen method on (nw, ny, nx) arrays; all slices at once.

    ``rho``: spatial noise correlation kernel (:mod:`.covariance`); the
    source and background variances are inflated by their own factors
    (``errcov``, ``errcov_bkg`` in the result), None for independent voxels.
    """
    nw = flux.shape[0]
    method, window, fit_background = o.method, o.window, o.fit_background
    if bkg_mask is None and fit_background:
        # no background region: the pixels of the crop outside the extraction region give the level the
        # empirical profile is built on; the fit below then adds a constant to it
        bkg_mask = weights == 0
    if bkg_mask is not None:
        bkg, bkg_var = _background(flux, valid, bkg_mask, o.bkg_clip_sigma)
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
    profile, profile_noise = local_profile(sub, valid, weights, window, noise=True)
    region = weights > 0
    outlier, amp = flag_outliers(sub, valid, errf, profile, region, o.clip_sigma)
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
                                         fit_background=fit_background, profile_noise=profile_noise, weights=weights,
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
    return SliceExtraction(value=value, error=value_err, background=bkg * area, area=area, replaced_frac=frac,
                           n_replaced=n_rep, nodata=nodata, box=(ys, xs), replaced=replaced,
                           model=amp[:, None, None] * profile + bkg[:, None, None], errcov=errcov, errcov_bkg=errcov_bkg)


def _spectrum(out: SliceExtraction, wave: np.ndarray, to_jy: float, x: np.ndarray, y: np.ndarray,
              meta: dict[str, Any], apcorr: np.ndarray | None = None) -> Spectrum:
    """The spectrum in Jy; ``apcorr``: aperture correction multiplying the source flux and its error (not the background)."""
    nodata = out.nodata
    if apcorr is not None:
        out = dataclasses.replace(out, value=out.value * apcorr, error=out.error * apcorr)
    dq = np.where(nodata, DQ_FLAGS["NO_DATA"], 0) | np.where((out.n_replaced > 0) & ~nodata, DQ_FLAGS["OUTLIER_REPLACED"], 0)
    return Spectrum(
        wave, np.where(nodata, np.nan, out.value * to_jy), np.where(nodata, np.nan, out.error * to_jy),
        background=out.background * to_jy, dq=dq, npixels=out.area, x_center=x, y_center=y,
        replaced_frac=out.replaced_frac, apcorr=apcorr, meta=meta,
    )


def _covariance_meta(mode: str, corr: Correlation, out: SliceExtraction) -> dict[str, Any]:
    """``COVMODE``, ``ERRCOV`` (median error factor), ``ERRCOVBK``, ``COVRHOX/Y/L`` and ``COVNOTE`` (why none).

    Slit images: ``COVRHOY`` is the correlation along the slit (``COVRHOX`` 0: one column).
    """
    use = ~out.nodata

    def med(values: np.ndarray) -> float:
        v = values[use] if use.any() else values
        return round(float(np.median(v)), 4) if len(v) else 1.0

    meta: dict[str, Any] = {"COVMODE": mode, "ERRCOV": med(out.errcov), "ERRCOVBK": med(out.errcov_bkg)}
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
    options: ExtractionOptions | Mapping[str, Any] | None = None,
    *,
    slit_name: str | None = None,
    **overrides: Any,
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
    options : ExtractionOptions or mapping, optional
        The ``[extract]`` section of a configuration (or its
        :meth:`~jwstspec.config.OptionSet.library_options` dump); errors
        name its keys (``[extract] radius``).  Default: the model's defaults.
    slit_name : str, optional
        Extract only this slit of a MultiSlit product.
    **overrides
        Any field of :class:`~jwstspec.config.ExtractionOptions`, replacing
        the value of ``options``; errors name them by their command-line
        flag (``--radius``).  Their meanings and defaults are the model's
        field descriptions (``jwstspec extract --help`` lists them).

    Returns
    -------
    ExtractResult
        The written file(s), their spectra, counts and the time taken.

    Raises
    ------
    OptionError
        An invalid option or one the product cannot take (a region leaving
        the field, a slit-image method, ...), named as the user wrote it.
    InputFileError
        A missing or unusable input file.

    Notes
    -----
    How the product shapes the options:

    * slit images take ``aperture`` or ``psf``; ``center`` is the trace row
      (the last of the pair), ``center_offset`` its last element;
      ``center_radec`` and ``save_cleaned`` are cubes only;
    * ``save_cleaned`` writes the cube with its replaced voxels filled
      (:func:`write_cleaned_cube`, :func:`jwstspec.layout.cleaned_cube_path`);
    * ``covariance = "auto"`` estimates the noise correlation of the
      resampled product from its sky pixels (background annulus or side
      rows, else the field beyond the extraction region) and inflates the
      source and background variances by it
      (:mod:`jwstspec.extract.covariance`); the median factor is written as
      ``ERRCOV`` (``COVRHOX``/``COVRHOY``: correlation one pixel apart in
      x/y, ``COVRHOL``: adjacent slices).  ``"none"`` treats pixels as
      independent, as jwst does.
    """
    t0 = time.perf_counter()
    o = ExtractionOptions.resolve(options, overrides, path=input_path)
    path = require_file(input_path)
    if _is_slit_file(path):
        if o.center_radec is not None:
            raise OptionError(o.option_name("center_radec"), "not available for slit images (use --center with the row)", path)
        if o.method not in SLIT_METHODS:
            raise OptionError(o.option_name("method"), f"{o.method!r} is not available for slit images (use aperture or psf)", path)
        if o.save_cleaned:
            raise OptionError(o.option_name("save_cleaned"), "a cleaned product is written for s3d cubes only, not for slit images", path)
        return _extract_slits(path, Path(output_path), t0, o, slit_name)  # (each failed slit: a warning)
    from jwstspec.extract.channels import extract_channels  # multi-channel MRS cubes: one spectrum per channel

    def one(part: Cube) -> tuple[Spectrum, int, Any]:
        x = _extract_cube(part, o)
        c = x.cleaned
        return x.spectrum, x.n_replaced, ((c.box, c.replaced, c.values) if c is not None else None)

    return extract_channels(read_cube(path), Path(output_path), t0, one, save_cleaned=o.save_cleaned)


def _extract_cube(cube: Cube, o: ExtractionOptions) -> SourceExtraction:
    """The spectrum of the point source in ``cube`` with the options ``o`` (nothing written)."""
    nw, ny, nx = cube.flux.shape
    p = cube.path
    method, window, background, name = o.method, o.window, o.background, o.option_name
    r = o.radius.pixels(cube.pixel_arcsec)
    snr = None
    bkg_annulus = CUBE_BKG_ANNULUS if o.bkg_annulus is None else o.bkg_annulus
    rin, rout = _pair(bkg_annulus, cube.pixel_arcsec, name("bkg_annulus"), p) if background else (0.0, 0.0)
    if method == "annulus":  # (the model requires annulus_radii with method annulus)
        ain, aout = _pair(o.annulus_radii, cube.pixel_arcsec, name("annulus_radii"), p)
    if 2 * window + 1 > nw:
        raise OptionError(name("window"), f"window of {2 * window + 1} slices is wider than the cube ({nw} slices)", p)
    valid = ~(cube.dq & 1).astype(bool) & np.isfinite(cube.flux)
    if not (np.isfinite(cube.err) & valid).any():
        raise InputFileError(p, "no usable ERR (or VAR_*) array")
    # ---- centre of every slice
    if o.center_radec is not None:
        wmid = float(np.nanmedian(cube.wavelength))
        cx0, cy0 = cube.world_to_pixel(float(o.center_radec[0]), float(o.center_radec[1]), wmid)
        cx, cy, mode, option = np.full(nw, cx0), np.full(nw, cy0), "radec", "center_radec"
    elif o.center is not None:
        cx, cy, mode, option = np.full(nw, float(o.center[0])), np.full(nw, float(o.center[1])), "fixed", "center"
    else:
        cx, cy = centroid_track(cube.flux, valid)
        mode, option = "centroid", "center"
        cx, cy, mode, snr = target_fallback(cube, valid, cx, cy, r, mode)
        if o.center_offset is not None:
            cx, cy, mode, option = cx + o.center_offset[0], cy + o.center_offset[1], "offset", "center_offset"
    if not (np.all(np.isfinite(cx)) and np.all((cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny))):
        raise OptionError(name(option), f"centre ({np.nanmedian(cx):.2f}, {np.nanmedian(cy):.2f}) is outside the {nx}x{ny} field", p)
    extent = {"aperture": r, "psf": r, "box": r + 0.5, "annulus": aout if method == "annulus" else r}[method]
    # the extraction region must stay inside the field in every slice
    if min(cx.min(), cy.min()) - extent < -0.5 or cx.max() + extent > nx - 0.5 or cy.max() + extent > ny - 0.5:
        raise OptionError(name("annulus_radii" if method == "annulus" else "radius"),
                          f"region of radius {extent:g} px around ({np.median(cx):.1f}, {np.median(cy):.1f}) leaves the {nx}x{ny} field", p)
    if background:  # at least 90 % of the background annulus inside the field (at the median centre)
        inside = annulus_mask((ny, nx), np.median(cx), np.median(cy), rin, rout).sum()
        if inside < 0.9 * np.pi * (rout**2 - rin**2) - 2 * np.pi * rout * 0.5:
            raise OptionError(name("bkg_annulus"), f"background annulus {rin:g}-{rout:g} px around ({np.median(cx):.1f}, {np.median(cy):.1f}) leaves the {nx}x{ny} field", p)
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
    if o.covariance == "none":
        corr = white(reason="covariance none: voxels independent")
    elif bkg_mask is not None:
        corr = estimate_correlation(flux, err, valid, bkg_mask)
    else:  # no annulus: the field beyond the extraction region, the centre's drift and a margin
        mx, my = float(np.median(cx)), float(np.median(cy))
        drift = float(max(np.max(np.abs(cx - mx)), np.max(np.abs(cy - my))))
        yy, xx = np.mgrid[0:ny, 0:nx]
        far = extent * (np.sqrt(2.0) if method == "box" else 1.0) + drift + SKY_MARGIN
        corr = estimate_correlation(cube.flux, cube.err, valid_field, np.hypot(xx - mx, yy - my) > far)
    out = _core(flux, err, valid, weights, bkg_mask, o, rho=corr.rho if corr.ok else None)
    meta = {**cube.meta, "METHOD": method, "RADIUS": r, "PIXSCALE": cube.pixel_arcsec, "BKGIN": rin, "BKGOUT": rout,
            "ANNIN": ain if method == "annulus" else 0.0, "ANNOUT": aout if method == "annulus" else 0.0,
            "WINDOW": window, "CLIPSIG": o.clip_sigma, "FITBKG": o.fit_background, "CENTMODE": mode, "SRCFILE": p.name,
            **cube.unit.header(), **_covariance_meta(o.covariance, corr, out), **_versions()}
    if snr is not None:
        meta["CENTSNR"] = round(snr, 2)
    correction, apc_meta = _aperture_correction(o, cube.meta, cube.wavelength, r, cube.pixel_arcsec, p)
    meta.update(apc_meta)
    ys, xs = out.box
    box = (slice(y0 + ys.start, y0 + ys.stop), slice(x0 + xs.start, x0 + xs.stop))
    return SourceExtraction(_spectrum(out, cube.wavelength, cube.unit.to_jy, cx, cy, meta, correction),
                            int(out.n_replaced.sum()), CleanedRegion(box, out.replaced, out.model))


def _aperture_correction(o: ExtractionOptions, meta: Mapping[str, Any], wavelength: np.ndarray, radius_px: float,
                         pixel_arcsec: float, path: Path) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The correction per wavelength (None: not applied) and the header: ``APCORR``, ``APCORREF`` or ``APCNOTE``.

    ``radius_px``: the circle's radius (cubes) or the slit aperture's
    half-height (slits: the table's size is the full height, ``2 * radius_px``).
    """
    choice = find_reference(o.apcorr, o.apcorr_file, dict(meta), o.method)
    ref = choice.reference
    note = choice.note
    if isinstance(ref, SlitApcorr) and ref.size_units.lower().startswith("arcsec") and not np.isfinite(pixel_arcsec):
        ref, note = None, f"{ref.name}: sizes in arcsec, product has no pixel scale (PIXAR_SR)"
    if ref is None:
        if o.apcorr == "auto":
            _log.info("%s: no aperture correction: %s", path.name, note)
        return None, {"APCORR": False, "APCNOTE": note[:60]}
    if isinstance(ref, SlitApcorr):
        correction = slit_correction(ref, wavelength, 2.0 * radius_px, pixel_arcsec)
    else:
        correction = radial_correction(ref, wavelength, radius_px, pixel_arcsec)
    return correction, {"APCORR": True, "APCORREF": ref.name[:60]}




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


def _extract_slits(path: Path, output: Path, t0: float, o: ExtractionOptions, slit_name: str | None) -> ExtractResult:
    """Every slit that can be extracted is; each failure is a warning and an entry of ``failed``.

    A product with one slit (or ``slit_name``) keeps the one-line error of
    that slit; with several, :class:`StageError` (exit 3) only when none extracted.
    """
    failed: list[tuple[str, str]] = []
    wanted = [slit_name] if slit_name is not None else o.slits
    if wanted is not None and len(wanted) == 1:
        slits = read_slits(path, wanted[0], failures=failed)  # (no such slit: one line naming it)
    else:
        slits = read_slits(path, None, failures=failed)
        wanted = wanted if wanted is not None else primary_slit(path, [s.name for s in slits] + [n for n, _ in failed])
        if wanted is not None:
            missing = sorted(set(wanted) - {s.name for s in slits} - {n for n, _ in failed})
            if missing:
                raise OptionError(o.option_name("slits"), f"no slit named {', '.join(missing)} in the product", path)
            slits = [s for s in slits if s.name in wanted]
            failed = [(n, r) for n, r in failed if n in wanted]
    several = len(slits) + len(failed) > 1
    if not several and failed:
        raise InputFileError(path, f"slit {failed[0][0]}: {failed[0][1]}")
    done: list[tuple[Slit, Spectrum]] = []
    n_total = 0
    for slit in slits:  # one extraction per slit; with several slits, one failing never sinks the others
        try:
            extraction = _extract_slit(slit, o)
        except JwstspecError as exc:
            if not several:
                raise
            failed.append((slit.name, getattr(exc, "reason", str(exc))))
            continue
        done.append((slit, extraction.spectrum))
        n_total += extraction.n_replaced
    for name, reason in failed:
        msg = f"{path.name}: slit {name} not extracted: {reason}"
        warnings.warn(msg, SlitSkippedWarning, stacklevel=3)
        _log.warning(msg)
    if not done:
        raise StageError(f"{path}: no slit extracted ({'; '.join(f'{n}: {r}' for n, r in failed)})")
    paths = []
    for slit, spec in done:  # write only once every slit was tried
        target = output if not several else output.with_name(f"{output.stem}_{slit.name}{output.suffix}")
        paths.append(spec.write_fits(target))
    spectra = [spec for _, spec in done]
    return ExtractResult(paths[0], paths, len(spectra[0]), n_total, time.perf_counter() - t0, spectra[0], spectra,
                         failed=failed)


def primary_slit(path: Path, names: list[str]) -> list[str] | None:
    """The default slits of a slit product: the primary slit (``FXD_SLIT``) of a fixed-slit exposure, else all (None).

    Only when the product holds that slit: a product without it (another
    slit extracted by the pipeline) keeps every slit.
    """
    from astropy.io import fits

    header = fits.getheader(path, 0)
    exp_type = str(header.get("EXP_TYPE", "")).upper()
    primary = str(header.get("FXD_SLIT", "") or "").strip()
    if exp_type in ("NRS_FIXEDSLIT", "NRS_BRIGHTOBJ") and primary in names:
        return [primary]
    return None


def _extract_slit(slit: Slit, o: ExtractionOptions) -> SourceExtraction:
    """The spectrum of the point source in one slit with the options ``o`` (nothing written).

    Trace: ``center`` / ``center_offset`` when given, else the product's
    source position (``SRCYPOS`` through the WCS) moved by the centroid
    only where the source is detected at >= 5 sigma, else the centroid
    (``CENTMODE``).  Background: explicit ``bkg_annulus`` distances, else
    the slit's rows outside the aperture plus a margin, off negative nod
    traces (``nod_subtracted``, detected from the headers when None);
    none left: no background (``BKGMODE`` none, a log line).
    """
    ncross, nw = slit.flux.shape
    p = slit.path
    method, window, background, center, name = o.method, o.window, o.background, o.center, o.option_name
    # pixel scale for radii in arcsec (PIXAR_SR; an MJy product may lack it: then only radii in px)
    pixel_arcsec = float(np.degrees(np.sqrt(slit.pixel_sr)) * 3600.0) if slit.pixel_sr > 0 else float("nan")
    lengths = [("radius", o.radius)] + ([("bkg_annulus", v) for v in o.bkg_annulus] if o.bkg_annulus else [])
    for field, length in lengths:
        if length.unit != "px" and not np.isfinite(pixel_arcsec):
            raise OptionError(name(field), "in arcsec but the product has no pixel scale (PIXAR_SR): give pixels, e.g. '3px'", p)
    r = o.radius.pixels(pixel_arcsec)
    explicit = background and o.bkg_annulus is not None
    rin, rout = _pair(o.bkg_annulus, pixel_arcsec, name("bkg_annulus"), p) if explicit else (0.0, 0.0)
    if 2 * window + 1 > nw:
        raise OptionError(name("window"), f"window of {2 * window + 1} columns is wider than the slit image ({nw})", p)
    flux = slit.flux.T[:, :, None]  # (nw, ncross, 1): the cube machinery with one spatial column
    err = slit.err.T[:, :, None]
    valid = ~(slit.dq.T[:, :, None] & 1).astype(bool) & np.isfinite(flux)
    nbin = min(30, max(nw // 20, 1))
    snr = float("nan")
    if center is not None:
        yc, mode, option = np.full(nw, float(np.atleast_1d(center)[-1] if np.size(center) > 1 else center[0])), "fixed", "center"
    else:
        header = slit.source_trace
        if header is not None and np.all(np.isfinite(header)) and np.all((header >= 0) & (header < ncross)):
            yc, refined, snr = refine_trace(flux[..., 0], err[..., 0], valid[..., 0], header, r, nbin)
            mode = "header+centroid" if refined else "header"
        else:
            yc, mode = _slit_track(flux, valid), "centroid"
        option = "center"
        if o.center_offset is not None:
            yc, mode, option = yc + float(np.atleast_1d(o.center_offset)[-1]), "offset", "center_offset"
    if not (np.all(np.isfinite(yc)) and np.all((yc >= 0) & (yc < ncross))):
        raise OptionError(name(option), f"trace centre {np.nanmedian(yc):.2f} is outside the {ncross}-pixel slit", p)
    for size, opt in ((r, "radius"), (rout, "bkg_annulus")):
        if yc.min() - size < -0.5 or yc.max() + size > ncross - 0.5:
            raise OptionError(name(opt), f"region of half-width {size:g} px around row {np.median(yc):.1f} leaves the {ncross}-pixel slit", p)
    weights = _band(ncross, yc, -r, r)[:, :, None]
    # ---- negative nod traces: from the headers' nod positions and as negative peaks of the data
    nodsub = slit.nod_subtracted if o.nod_subtracted is None else bool(o.nod_subtracted)
    negatives: list[np.ndarray] = []
    if nodsub:
        negatives = [t for t in slit.nod_traces if np.all(np.isfinite(t))]
        negatives += [yc + d for d in negative_traces(flux[..., 0], err[..., 0], valid[..., 0], yc, r)]
    exclude = near(ncross, negatives, r + SKY_MARGIN) if negatives else None
    bkg = background_rows(yc, ncross, r, valid[..., 0], background=background,
                          distances=(rin, rout) if explicit else None, exclude=exclude, margin=SKY_MARGIN)
    if bkg.mode == "none":
        _log.info("%s: slit %s: extracted without background: %s", p.name, slit.name, bkg.note)
    bkg_mask = None if bkg.mask is None else bkg.mask[:, :, None]
    # ---- noise correlation along the slit (resampled s2d), from the background rows or the rows beyond the trace
    if o.covariance == "none":
        corr = white(reason="covariance none: pixels independent")
    else:
        far = np.abs(np.arange(ncross)[None, :] - yc[:, None]) > r + float(np.ptp(yc)) + SKY_MARGIN
        if exclude is not None:
            far &= ~exclude
        # every wavelength: a slit is one column, so its few sky rows need them all for enough pairs (a cube's
        # slices are thinned for speed)
        corr = estimate_correlation(flux, err, valid, bkg_mask if bkg_mask is not None else far[:, :, None],
                                    max_slices=None, min_pairs=SLIT_MIN_PAIRS)
    out = _core(flux, err, valid, weights, bkg_mask, o, rho=corr.rho if corr.ok else None)
    meta = {**slit.meta, "METHOD": method, "RADIUS": r, "PIXSCALE": pixel_arcsec if np.isfinite(pixel_arcsec) else 0.0,
            "BKGIN": rin, "BKGOUT": rout, "BKGMODE": bkg.mode, "NODSUB": bool(nodsub), "NNODTRC": len(negatives),
            "WINDOW": window, "CLIPSIG": o.clip_sigma, "FITBKG": o.fit_background, "CENTMODE": mode, "SRCFILE": p.name,
            **slit.unit.header(), **_covariance_meta(o.covariance, corr, out), **_versions()}
    if np.isfinite(snr):
        meta["CENTSNR"] = round(snr, 2)
    if bkg.note:
        meta["BKGNOTE"] = bkg.note[:60]
    correction, apc_meta = _aperture_correction(o, slit.meta, slit.wavelength, r, pixel_arcsec, p)
    meta.update(apc_meta)
    return SourceExtraction(_spectrum(out, slit.wavelength, slit.unit.to_jy, np.full(nw, np.nan), yc, meta, correction),
                            int(out.n_replaced.sum()))
