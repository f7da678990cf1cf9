"""NIRSpec 1/f (flicker) noise correction of rate and rateints files.

Three methods, chosen per run (``[stage1] readnoise_correct``):

* ``pipeline``: the ``jwst`` ``clean_flicker_noise`` step (successor of
  ``NSClean``, ``fit_method="median"``) with our sky mask as its
  ``user_mask``.  Its own ``mask_science_regions=True`` needs NIRSpec
  ``assign_wcs``, which cannot run without the optical-model references.
* ``constant``: per column (and integration), the median of the sky pixels
  left after iterative sigma clipping, subtracted from the whole column.
* ``moving_median``: the same clipping, then a running median of length
  ``window`` along each column of the surviving sky pixels (the research
  code's ``numbamisc.median_filter`` with a ``window x 1`` kernel, computed
  here by a sliding sorted window in numba: identical values, faster).
  Where a column's window holds no sky pixel, the stripe estimate is
  interpolated linearly from the nearest rows that have one; a column with
  no sky pixel at all is left uncorrected.  Finite data never becomes NaN.

The sky mask comes from the exposure itself (:func:`sky_mask`): with a WCS
from ``assign_wcs`` (real data), the IFU slice or slit footprints that the
WCS defines; always, the illuminated pixels found in the image; both
dilated by ``margin`` pixels; DQ-flagged pixels (including MSA failed-open
shutters flagged by ``msa_flagging``) and non-finite pixels excluded.  No
Stage 2 product is needed.  On full-frame IFU exposures the band lit
through the always-open fixed slits is excluded as well.  An IFU slice
footprint costs a full ``assign_wcs``: :func:`clean_1f` keeps it in
``.jwstspec-footprints/`` beside its output, so the other exposures of the
setting, in any process of the run, read it instead.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numba import njit

from jwstspec.errors import InputFileError, OptionError, StageError
from jwstspec.fileio import atomic_path

log = logging.getLogger(__name__)

Method = Literal["pipeline", "constant", "moving_median"]
METHODS = ("pipeline", "constant", "moving_median")
SLIT_EXP_TYPES = ("NRS_FIXEDSLIT", "NRS_MSASPEC", "NRS_BRIGHTOBJ")
#: Full-frame rows (0-based, DMS) lit through the always-open fixed slits during IFU exposures.
IFU_FIXED_SLIT_ROWS = (900, 1100)
#: Box (rows, columns) of the smoothing before the illuminated pixels are detected: long along the dispersion.
SMOOTH_BOX = (1, 31)
#: CleanFlickerNoiseStep parameters of the ``pipeline`` method (the rest are jwst's defaults).  Our sky
#: mask already excludes the illuminated pixels; jwst's default background fit (a median level, then a
#: 2-sigma clip of the lower half of the background pixels) rejects whole columns where the stripes are
#: strong: on the synthetic IFU rate it left 0.50x the injected stripe RMS, against 0.04x without it.
PIPELINE_STEP_OPTIONS: dict[str, Any] = {"background_method": None}


# ----------------------------------------------------------------------------- sky mask
def _dark_level(values: np.ndarray, nsigma: float, iterations: int = 20) -> tuple[float, float]:
    """Centre and sigma of the dark (unilluminated) pixel population of ``values`` (1-D, finite).

    Grown from the bottom: start with the darkest 20 %, then repeatedly keep
    every value below ``centre + nsigma * sigma`` of the kept ones, both
    from their lower tail (sigma = 15.87th minus 2.275th percentile, centre
    = 15.87th percentile + sigma, so faint light entering at the top barely
    moves them), until the kept set stops growing.  The growth stops at the
    gap between dark and illuminated pixels; on a scene without light it
    converges to the whole noise distribution.  Illuminated pixels less than
    ~4 sigma (of the smoothed image) above the dark level are not separated:
    with the 31-pixel smoothing, light fainter than ~0.8x the per-pixel
    noise (then use a WCS or a user mask).
    """
    if values.size > 200_000:  # a fixed subsample: the same answer every time, fast on full frames
        values = np.random.default_rng(0).choice(values, 200_000, replace=False)
    kept = values[values <= np.percentile(values, 20)]
    centre, sigma = float(np.median(kept)), 0.0
    for _ in range(iterations):
        low, mid = np.percentile(kept, [2.275, 15.87])  # the lower tail: least touched by faint light
        sigma = float(mid - low)
        centre = float(mid) + sigma
        if not sigma > 0:
            sigma = float(np.std(kept)) or float(np.std(values)) or 1.0
        grown = values[values <= centre + nsigma * sigma]
        if grown.size == kept.size:
            break
        kept = grown
    return centre, sigma


def _lit_from_image(image: np.ndarray, nsigma: float) -> np.ndarray:
    """Illuminated pixels of a 2-D image, found from the image alone.

    The image is flattened by each column's 20th percentile (a first guess
    of the stripes, which would otherwise hide faint slices), smoothed along
    the dispersion (x) over 9 pixels, and thresholded at ``nsigma`` sigma
    above the dark pixel population (:func:`_dark_level`).
    """
    from scipy.ndimage import uniform_filter

    img = np.where(np.isfinite(image), image, np.nan)
    if not np.isfinite(img).any():
        return np.zeros(img.shape, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        pct = np.percentile if np.isfinite(img).all() else np.nanpercentile  # the NaN-aware one is slow
        flat = img - np.nan_to_num(pct(img, 20, axis=0, keepdims=True))
    finite = np.isfinite(flat)
    smooth = uniform_filter(np.where(finite, flat, 0.0), size=SMOOTH_BOX)
    weight = uniform_filter(finite.astype(float), size=SMOOTH_BOX)
    smooth = np.where(weight > 0, smooth / np.where(weight > 0, weight, 1.0), 0.0)  # NaN-aware mean
    centre, sigma = _dark_level(smooth[finite], nsigma)
    return smooth > centre + nsigma * sigma


def _with_wcs(model: Any) -> Any | None:
    """``model`` with an ``assign_wcs`` WCS (and, for IFU/MOS, failed-open MSA shutters flagged), or None.

    A rate file straight from ``calwebb_detector1`` has no WCS: ``assign_wcs``
    (and ``msaflagopen``) run here on a copy, through jwst's own
    ``clean_flicker_noise.post_process_rate``, with the run's CRDS
    references.  Where they cannot run (no references for this mode in the
    cache, e.g. offline), a warning is logged and the caller uses the image alone.
    """
    if getattr(model.meta, "wcs", None) is not None:
        return model
    exp_type = str(model.meta.exposure.type or "")
    if exp_type not in ("NRS_IFU", "NRS_MSASPEC", *SLIT_EXP_TYPES):
        return None
    from jwst.clean_flicker_noise import clean_flicker_noise as cfn

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cfn.post_process_rate(model.copy(), assign_wcs=True,
                                         msaflagopen=exp_type in ("NRS_IFU", "NRS_MSASPEC"))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - CRDS exits on a fatal look-up error; fall back, said in the log
        first = (str(exc).splitlines() or [""])[0][:160]
        log.warning("sky mask: assign_wcs/msaflagopen could not run for %s (%s: %s); the mask comes from the "
                    "image and DQ alone", exp_type, type(exc).__name__, first)
        return None


#: IFU slice footprints already computed in this process, by :func:`_ifu_footprint_key`
_IFU_FOOTPRINTS: dict[tuple[Any, ...], np.ndarray] = {}


def _ifu_footprint_key(model: Any, shape: tuple[int, int]) -> tuple[Any, ...] | None:
    """What an IFU exposure's slice footprint depends on (None: not an IFU rate file without a WCS).

    ``assign_wcs`` and ``msaflagopen`` place the slices and the failed-open
    shutters on the detector from the setting, the detector, the subarray,
    the grating wheel tilt and the references (chosen by the CRDS set-up
    and the observation date and time); the pointing only moves the sky.
    Exposures that agree on all of them have the same footprint, so a
    dither, its imprint and its background pay for one ``assign_wcs``.
    """
    import os

    if getattr(model.meta, "wcs", None) is not None or str(model.meta.exposure.type or "") != "NRS_IFU":
        return None
    md = model.meta
    ins = getattr(md, "instrument", None)
    if not (getattr(ins, "detector", None) and getattr(ins, "grating", None) and getattr(ins, "filter", None)):
        return None  # too little to tell two settings apart: never shared
    sa = md.subarray
    return (tuple(shape), md.instrument.detector, md.instrument.grating, md.instrument.filter,
            md.instrument.gwa_xtilt, md.instrument.gwa_ytilt, md.instrument.gwa_tilt,
            sa.name, sa.xstart, sa.ystart, sa.xsize, sa.ysize, md.observation.date, md.observation.time,
            os.environ.get("CRDS_PATH"), os.environ.get("CRDS_CONTEXT"), os.environ.get("CRDS_SERVER_URL"))


#: directory, beside the 1/f-corrected files, of the IFU footprints shared by the processes of a run
FOOTPRINT_DIR = ".jwstspec-footprints"


def _lit_from_wcs(model: Any, shape: tuple[int, int], cache_dir: Path | None = None) -> np.ndarray | None:
    """Slice/slit footprint from the ``assign_wcs`` WCS (None when there is none or it fails).

    An IFU footprint is computed once per process for every exposure that
    shares its :func:`_ifu_footprint_key`; with ``cache_dir``, once for
    every process that uses that directory (:func:`_footprint_file`).
    """
    key = _ifu_footprint_key(model, shape)
    if key is not None and key in _IFU_FOOTPRINTS:
        return _IFU_FOOTPRINTS[key].copy()
    if key is not None and cache_dir is not None:
        lit = _footprint_file(key, shape, Path(cache_dir), lambda: _lit_from_wcs_uncached(model, shape))
    else:
        lit = _lit_from_wcs_uncached(model, shape)
    if key is not None and lit is not None:
        _IFU_FOOTPRINTS.clear()  # keep one (a 2048 x 2048 mask): a run goes through one setting at a time
        _IFU_FOOTPRINTS[key] = lit.copy()
    return lit


def _footprint_file(key: tuple[Any, ...], shape: tuple[int, int], directory: Path,
                    compute: Any) -> np.ndarray | None:
    """The footprint of ``key`` from ``directory``, computed by ``compute()`` and stored there if missing.

    The processes of a run (the flow's workers) correct the exposures of one
    observation side by side: under an exclusive lock per key the first
    computes and writes the footprint (bit-packed, atomically), the others
    wait for it and read it.  An unreadable or mis-shaped file is computed
    again; nothing is left when ``compute`` gives None (no WCS: the lock
    goes, and the directory if it holds nothing else).
    """
    import contextlib
    import fcntl
    import hashlib

    name = hashlib.sha256(repr(key).encode()).hexdigest()[:20]
    directory.mkdir(parents=True, exist_ok=True)
    path, lock_path = directory / f"ifu-{name}.npy", directory / f"ifu-{name}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            bits = np.load(path)
            if bits.dtype == np.uint8 and bits.size == (shape[0] * shape[1] + 7) // 8:
                return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)
        except (OSError, ValueError):
            pass  # not there yet (or unreadable): computed below
        lit = compute()
        if lit is None:
            with contextlib.suppress(OSError):
                lock_path.unlink()
                directory.rmdir()
            return None
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.packbits(np.asarray(lit, bool).ravel()))
        return lit


def _lit_from_wcs_uncached(model: Any, shape: tuple[int, int]) -> np.ndarray | None:
    model = _with_wcs(model)
    if model is None:
        return None
    exp_type = str(model.meta.exposure.type or "")
    from jwst.clean_flicker_noise import clean_flicker_noise as cfn

    dq = getattr(model, "dq", None)
    usable = np.ones(np.shape(dq) if dq is not None and np.ndim(dq) == 3 else shape, bool)  # jwst's shape for cubes
    try:
        if exp_type == "NRS_IFU":
            usable = cfn.mask_ifu_slices(model, usable)
        elif exp_type in SLIT_EXP_TYPES:
            usable = cfn.mask_slits(model, usable)
        else:
            return None
    except Exception as exc:  # noqa: BLE001 - a WCS that cannot be evaluated: use the image alone
        log.warning("sky mask: the WCS footprint of %s could not be evaluated (%s); using the image alone",
                    exp_type, exc)
        return None
    usable = np.asarray(usable, bool)
    lit = ~(usable.all(axis=0) if usable.ndim == 3 else usable)
    if dq is not None and np.size(dq):  # failed-open MSA shutters flagged by msaflagopen let light in
        from stdatamodels.jwst.datamodels import dqflags

        open_ = (np.asarray(dq) & dqflags.pixel["MSA_FAILED_OPEN"]) > 0
        lit |= open_.any(axis=0) if open_.ndim == 3 else open_
    return lit


def sky_mask(source: Any, margin: int = 2, *, dq: np.ndarray | None = None, nsigma: float = 3.0,
             use_wcs: bool = True, footprint_dir: Path | None = None) -> np.ndarray:
    """True where a pixel sees no source or slice light (usable for the stripe estimate).

    Parameters
    ----------
    source : ndarray, datamodel, str or Path
        A rate image (2-D) or rateints cube (3-D, then the mask of the median
        image), a rate datamodel, or the path of a rate file.
    margin : int
        Dilation, in pixels, of the illuminated region.
    dq : ndarray, optional
        Data-quality array; any flagged pixel is excluded (taken from the
        model when ``source`` is a model or path).
    nsigma : float
        Detection threshold of illuminated pixels (robust sigma of the dark pixels).
    use_wcs : bool
        With a model that carries an ``assign_wcs`` WCS (NRS_IFU, fixed slit,
        MOS, BOTS), also exclude the footprint the WCS defines.
    footprint_dir : Path, optional
        Where IFU slice footprints are kept for other processes (an IFU
        footprint needs a full ``assign_wcs``: exposures sharing setting,
        detector, subarray, tilt, date and CRDS set-up share it); default:
        this process only.

    Returns
    -------
    ndarray of bool
        Detector-shaped (2-D) mask.

    Notes
    -----
    For a full-frame NRS_IFU model, the rows lit by the always-open fixed
    slits (:data:`IFU_FIXED_SLIT_ROWS`) are excluded too, as the research
    code did.
    """
    from scipy.ndimage import binary_dilation

    if isinstance(source, (str, Path)):
        from stdatamodels.jwst import datamodels

        with datamodels.open(str(source)) as model:
            return sky_mask(model, margin, dq=dq, nsigma=nsigma, use_wcs=use_wcs, footprint_dir=footprint_dir)
    model = None
    if isinstance(source, np.ndarray):
        data = source
    else:
        model = source
        data = np.asarray(model.data)
        if dq is None and getattr(model, "dq", None) is not None:
            dq = np.asarray(model.dq)
    if data.ndim not in (2, 3):
        raise ValueError(f"sky_mask needs a 2-D image or 3-D cube, not {data.ndim}-D")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        image = np.nanmedian(data, axis=0) if data.ndim == 3 else data
    lit = _lit_from_image(image, nsigma)
    if model is not None and use_wcs:
        wcs_lit = _lit_from_wcs(model, image.shape, footprint_dir)
        if wcs_lit is not None:
            lit |= wcs_lit
    if model is not None and str(model.meta.exposure.type) == "NRS_IFU" and image.shape == (2048, 2048):
        lit[IFU_FIXED_SLIT_ROWS[0]:IFU_FIXED_SLIT_ROWS[1], :] = True  # sky through the fixed slits
    if margin > 0:
        lit = binary_dilation(lit, iterations=int(margin))
    usable = ~lit & np.isfinite(image)
    if dq is not None and dq.size:
        dq2 = dq if dq.ndim == 2 else np.bitwise_or.reduce(dq, axis=0)
        usable &= dq2 == 0
    return usable


# ----------------------------------------------------------------------------- stripe models
def _as_cube(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nint, ny, nx) float64 data and its usable mask (non-finite pixels never usable)."""
    if data.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D rate image or a 3-D rateints cube, got {data.ndim}-D")
    cube = np.asarray(data, dtype=np.float64)
    cube = cube[None] if cube.ndim == 2 else cube
    if mask.shape not in (cube.shape[-2:], cube.shape, data.shape):
        raise ValueError(f"mask shape {mask.shape} does not match the data {data.shape}")
    usable = np.broadcast_to(np.asarray(mask, bool), cube.shape) & np.isfinite(cube)
    return cube, usable


def clipped_sky(data: np.ndarray, mask: np.ndarray, clip_sigma: float | None = 3.0,
                maxiters: int | None = None) -> np.ndarray:
    """Usable pixels that survive per-column sigma clipping (per integration).

    ``astropy.stats.sigma_clip`` along the columns (median centre, standard
    deviation), iterated until nothing changes when ``maxiters`` is None,
    as the research code did.  Returns a bool array of the cube's shape.
    """
    cube, usable = _as_cube(data, mask)
    if clip_sigma is None:
        return usable
    from astropy.stats import sigma_clip

    values = np.ma.masked_array(cube, mask=~usable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clipped = sigma_clip(values, sigma=clip_sigma, axis=-2, maxiters=maxiters)
    return ~np.ma.getmaskarray(clipped)


@njit(cache=True, inline="always")
def _lower_bound(buf: np.ndarray, cnt: int, v: float) -> int:  # pragma: no cover - numba
    """First index of the sorted ``buf[:cnt]`` whose value is not below ``v``."""
    lo, hi = 0, cnt
    while lo < hi:
        mid = (lo + hi) >> 1
        if buf[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, inline="always")
def _insert(buf: np.ndarray, cnt: int, v: float) -> None:  # pragma: no cover - numba
    """Insert ``v`` into the sorted ``buf[:cnt]`` (room for one more value is there)."""
    j = _lower_bound(buf, cnt, v)
    for t in range(cnt, j, -1):
        buf[t] = buf[t - 1]
    buf[j] = v


@njit(cache=True, nogil=True)
def _running_median_rows(data: np.ndarray, usable: np.ndarray, half: int, fill: bool) -> np.ndarray:  # pragma: no cover - numba
    """Running median (window ``2*half+1``, truncated at the ends) along each row of the usable values.

    ``data`` and ``usable`` are (ncolumns, nrows), C-contiguous: one detector
    column per row.  A sorted buffer holds the window's usable values; each
    step replaces the value leaving the window by the one entering it (a
    binary search and a shift of the values between the two positions).
    With an even count the median is the mean of the two middle values (as
    ``np.median``).  Where the window holds no usable value the result is
    NaN, or with ``fill`` the linear interpolation between the nearest rows
    that have one (constant beyond the last); a row with no usable value at
    all is 0.
    """
    ncol, n = data.shape
    out = np.empty((ncol, n), np.float64)
    buf = np.empty(2 * half + 2, np.float64)
    for c in range(ncol):
        x = data[c]
        m = usable[c]
        cnt = 0
        for k in range(min(half, n)):
            if m[k]:
                _insert(buf, cnt, x[k])
                cnt += 1
        for i in range(n):
            add = i + half
            rem = i - half - 1
            do_add = add < n and m[add]
            do_rem = rem >= 0 and m[rem]
            if do_add and do_rem:  # replace the leaving value by the entering one, keeping the order
                v = x[add]
                j = _lower_bound(buf, cnt, x[rem])
                if v > buf[j]:
                    while j + 1 < cnt and buf[j + 1] < v:
                        buf[j] = buf[j + 1]
                        j += 1
                else:
                    while j > 0 and buf[j - 1] > v:
                        buf[j] = buf[j - 1]
                        j -= 1
                buf[j] = v
            elif do_add:
                _insert(buf, cnt, x[add])
                cnt += 1
            elif do_rem:
                j = _lower_bound(buf, cnt, x[rem])
                for t in range(j, cnt - 1):
                    buf[t] = buf[t + 1]
                cnt -= 1
            if cnt == 0:
                out[c, i] = np.nan
            elif cnt % 2 == 1:
                out[c, i] = buf[cnt // 2]
            else:
                out[c, i] = (buf[cnt // 2 - 1] + buf[cnt // 2]) / 2.0
        if fill:
            row = out[c]
            last = -1
            for i in range(n):
                if not np.isnan(row[i]):
                    if last == -1:
                        for t in range(i):
                            row[t] = row[i]
                    elif i - last > 1:
                        for t in range(last + 1, i):
                            row[t] = row[last] + (row[i] - row[last]) * (t - last) / (i - last)
                    last = i
            if last == -1:
                for t in range(n):
                    row[t] = 0.0
            else:
                for t in range(last + 1, n):
                    row[t] = row[last]
    return out


def running_median_columns(image: np.ndarray, usable: np.ndarray, window: int = 201, *, fill: bool = True) -> np.ndarray:
    """Masked running median of length ``window`` along each column of a 2-D image.

    Same values as ``numbamisc.median_filter(image, np.ones((window, 1)), ~usable)``
    (an even ``window`` is rounded up to the next odd length), except that
    with ``fill`` the rows whose window holds no usable pixel are
    interpolated instead of NaN.
    """
    if window < 1:
        raise ValueError("window must be at least 1")
    t_data = np.ascontiguousarray(np.where(usable, image, 0.0).T, dtype=np.float64)
    t_mask = np.ascontiguousarray(usable.T, dtype=np.bool_)
    return _running_median_rows(t_data, t_mask, int(window) // 2, fill).T


def destripe_constant(data: np.ndarray, mask: np.ndarray, clip_sigma: float | None = 3.0, *,
                      maxiters: int | None = None) -> np.ndarray:
    """Subtract one clipped median per column (per integration) of the usable pixels.

    Parameters
    ----------
    data : ndarray
        Rate image (ny, nx) or rateints cube (nint, ny, nx); not modified.
    mask : ndarray of bool
        True = usable for the stripe estimate; (ny, nx) or the cube's shape.
    clip_sigma : float or None
        Sigma-clipping threshold along each column (None: no clipping).

    Returns
    -------
    ndarray
        Corrected float64 array of ``data``'s shape; columns without any
        usable pixel are left unchanged.
    """
    cube, _ = _as_cube(data, mask)
    keep = clipped_sky(data, mask, clip_sigma, maxiters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nanmedian(np.where(keep, cube, np.nan), axis=-2)  # (nint, nx)
    out = cube - np.nan_to_num(level, nan=0.0)[:, None, :]
    return out[0] if data.ndim == 2 else out


def destripe_moving_median(data: np.ndarray, mask: np.ndarray, window: int = 201, clip_sigma: float | None = 3.0, *,
                           maxiters: int | None = None) -> np.ndarray:
    """Subtract a running median (length ``window``) along each column of the clipped usable pixels.

    One stripe model per integration for a rateints cube.  Rows whose window
    holds no usable pixel get the stripe estimate interpolated from the
    nearest rows that have one; columns with no usable pixel are unchanged.
    Finite data stays finite.  Same arguments as :func:`destripe_constant`.
    """
    cube, _ = _as_cube(data, mask)
    keep = clipped_sky(data, mask, clip_sigma, maxiters)
    out = np.empty_like(cube)
    for i in range(cube.shape[0]):  # one stripe model per integration
        out[i] = cube[i] - running_median_columns(cube[i], keep[i], window, fill=True)
    return out[0] if data.ndim == 2 else out


# ----------------------------------------------------------------------------- files
def _read_user_mask(mask_path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """Non-zero pixels of a FITS image (SCI or the first image HDU) = excluded; returns usable."""
    from astropy.io import fits

    mask_path = Path(mask_path)
    if not mask_path.is_file():
        raise OptionError("--mask", "file not found", mask_path)
    try:
        with fits.open(mask_path) as hdul:
            hdus = [h for h in hdul if h.name == "SCI"] + [h for h in hdul if h.name != "SCI"]
            image = next((np.asarray(h.data) for h in hdus if h.data is not None and np.ndim(h.data) >= 2), None)
    except OSError as exc:
        raise OptionError("--mask", f"not a readable FITS image ({exc})", mask_path) from None
    if image is None:
        raise OptionError("--mask", "holds no image", mask_path)
    if image.shape != tuple(shape):
        raise OptionError("--mask", f"shape {image.shape} differs from the detector {tuple(shape)}", mask_path)
    return ~(np.nan_to_num(image, nan=1.0) != 0)


def clean_1f(rate_path: Path, output_path: Path, *, method: Method, mask_path: Path | None = None, window: int = 201,
             clip_sigma: float = 3.0, margin: int = 2, step_options: dict[str, Any] | None = None,
             footprint_dir: Path | None = None) -> Path:
    """Correct one rate/rateints file for 1/f noise; write ``output_path`` atomically.

    Parameters
    ----------
    rate_path : Path
        NIRSpec ``_rate`` or ``_rateints`` file (SCI, ERR, DQ); never modified.
    output_path : Path
        Output file (the project's convention: ``_rate`` -> ``_ratecorr``).
    method : {"pipeline", "constant", "moving_median"}
        See the module docstring.
    mask_path : Path, optional
        FITS image of the detector shape whose non-zero pixels are excluded
        from the stripe estimate, in place of :func:`sky_mask`.
    window : int
        Running-median length along the columns (``moving_median``).
    clip_sigma : float
        Sigma clipping of the column statistics (``constant``, ``moving_median``).
    margin : int
        Dilation of the illuminated region in the automatic mask.
    step_options : dict, optional
        ``pipeline`` method: CleanFlickerNoiseStep parameters, over
        :data:`PIPELINE_STEP_OPTIONS` (``user_mask`` is always ours).
    footprint_dir : Path, optional
        Where NIRSpec IFU slice footprints are shared with other processes
        and observations (:func:`sky_mask`); default ``FOOTPRINT_DIR``
        beside ``output_path``.

    Returns
    -------
    Path
        ``output_path``: the input's extensions and metadata with the
        corrected SCI, ``cal_step.clean_flicker_noise = COMPLETE`` and a
        HISTORY line.

    Raises
    ------
    OptionError
        Unknown method, window < 1, clip_sigma <= 0, bad mask file.
    InputFileError
        Missing or unreadable rate file, or no 2-D/3-D SCI.
    StageError
        The ``jwst`` step did not run on the file.
    """
    from stdatamodels.jwst import datamodels

    rate_path, output_path = Path(rate_path), Path(output_path)
    if method not in METHODS:
        raise OptionError("--method", f"{method!r} is not one of {', '.join(METHODS)}", rate_path)
    if window < 1:
        raise OptionError("--window", "must be at least 1", rate_path)
    if not clip_sigma > 0:
        raise OptionError("--clip-sigma", "must be positive", rate_path)
    if not rate_path.is_file():
        raise InputFileError(rate_path, "file not found")
    if output_path.resolve() == rate_path.resolve():
        raise OptionError("--output", "must differ from the input (inputs are never modified)", rate_path)
    try:
        model = datamodels.open(str(rate_path))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise InputFileError(rate_path, f"not a readable rate file ({type(exc).__name__})") from None
    with model:
        data = getattr(model, "data", None)
        if data is None or np.ndim(data) not in (2, 3) or not np.size(data):
            raise InputFileError(rate_path, "no 2-D or 3-D SCI extension (not a rate/rateints file)")
        data = np.asarray(data)
        if mask_path is not None:
            usable = _read_user_mask(Path(mask_path), data.shape[-2:]) & np.all(np.isfinite(data.reshape(-1, *data.shape[-2:])), axis=0)
        else:
            usable = sky_mask(model, margin, footprint_dir=footprint_dir or output_path.parent / FOOTPRINT_DIR)
        finite_before = np.isfinite(data)
        output_path.parent.mkdir(parents=True, exist_ok=True)
        if method == "pipeline":
            result = _pipeline(model, usable, output_path, rate_path, {**PIPELINE_STEP_OPTIONS, **(step_options or {})})
        else:
            if method == "constant":
                corrected = destripe_constant(data, usable, clip_sigma)
            else:
                corrected = destripe_moving_median(data, usable, window, clip_sigma)
            result = model.copy()
            result.data = np.where(finite_before, corrected, data).astype(data.dtype)
        result.meta.cal_step.clean_flicker_noise = "COMPLETE"
        details = f"window={window} " if method == "moving_median" else ""
        result.add_history_entry(f"jwstspec clean_1f: 1/f stripes removed with method={method} {details}"
                                 f"clip_sigma={clip_sigma} from {int(usable.sum())} sky pixels "
                                 f"({'user mask ' + Path(mask_path).name if mask_path else f'mask from the exposure, margin={margin}'})")
        with atomic_path(output_path) as tmp:
            result.save(tmp)
        if result is not model:
            result.close()
    return output_path


def _pipeline(model: Any, usable: np.ndarray, output_path: Path, rate_path: Path, options: dict[str, Any]) -> Any:
    """The jwst clean_flicker_noise step with ``usable`` as its user mask (True = background)."""
    from jwst.clean_flicker_noise import CleanFlickerNoiseStep
    from stdatamodels.jwst.datamodels import ImageModel

    from jwstspec.fileio import writer_lock

    # the writer lock keeps another run's clean-up of stale temporaries away from this directory
    with writer_lock(output_path.parent), tempfile.TemporaryDirectory(dir=output_path.parent, prefix=".tmp-mask-") as tmp:
        mask_file = Path(tmp) / "sky_mask.fits"
        ImageModel(data=usable.astype(np.float32)).save(mask_file)
        try:
            result = CleanFlickerNoiseStep.call(model.copy(), **{**options, "skip": False, "user_mask": str(mask_file)},
                                                configure_log=False)
        except Exception as exc:  # noqa: BLE001 - report the step's reason on one line
            raise StageError(f"{rate_path}: jwst clean_flicker_noise failed: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if result.meta.cal_step.clean_flicker_noise != "COMPLETE":
        raise StageError(f"{rate_path}: jwst clean_flicker_noise was {result.meta.cal_step.clean_flicker_noise} on this file")
    return result
