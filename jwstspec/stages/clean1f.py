"""NIRSpec 1/f (flicker) noise correction of rate and rateints files.

Three methods, chosen per run (``[stage1] readnoise_correct``):

* ``pipeline``: the ``jwst`` ``clean_flicker_noise`` step (successor of
  ``NSClean``) with our sky mask as its ``user_mask``;
* ``constant``: one sigma-clipped median per column (and integration) of
  the masked image, subtracted from the whole column;
* ``moving_median``: a running median of length ``window`` along each
  column of the masked image (``numbamisc.median_filter``); where a
  column's window holds no sky pixel, the stripe estimate is interpolated
  from the nearest rows that have one, so finite data never becomes NaN.

The sky mask comes from the exposure itself (:func:`sky_mask`): pixels
that are not illuminated by the slices/trace, found from the image, plus
good DQ, with the illuminated region dilated by ``margin`` pixels.  No
Stage 2 product is needed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from stdatamodels.util import create_history_entry

from jwstspec.errors import InputFileError, OptionError
from jwstspec.fileio import atomic_path


Method = Literal["pipeline", "constant", "moving_median"]


def sky_mask(data: np.ndarray, dq: np.ndarray | None = None, margin: int = 2, nsigma: float = 3.0) -> np.ndarray:
    """True where a pixel sees no source or slice light (usable for the stripe estimate).

    Illuminated pixels are those of an image smoothed along the dispersion (after removing
    each column's 20th percentile, a first guess of the stripe) above the
    dark level (10th percentile) by ``nsigma`` robust sigma of the darkest 20 % of the pixels;
    they are dilated by ``margin``.  DQ-flagged pixels are excluded.
    Works on 2-D images; for a 3-D rateints cube the mask of the median image.
    """
    from scipy.ndimage import binary_dilation, uniform_filter

    image = np.nanmedian(data, axis=0) if data.ndim == 3 else data
    img = np.where(np.isfinite(image), image, np.nan)
    # the stripes themselves would hide faint slices: take out each column's low level first
    flat = img - np.nanpercentile(img, 20, axis=0, keepdims=True)
    smooth = uniform_filter(np.nan_to_num(flat, nan=0.0), size=(1, 9))  # along the dispersion only: sharp slice edges
    dark = np.nanpercentile(smooth, 10)
    low = smooth[smooth <= np.nanpercentile(smooth, 20)]
    sigma = float(1.4826 * np.median(np.abs(low - np.median(low)))) if low.size else 1.0
    sigma = sigma or 1.0
    lit = smooth > dark + nsigma * sigma
    if margin > 0:
        lit = binary_dilation(lit, iterations=margin)
    usable = ~lit & np.isfinite(img)
    if dq is not None:
        dq2 = dq if dq.ndim == 2 else np.bitwise_or.reduce(dq, axis=0)
        usable &= dq2 == 0
    return usable


def _column_fill(estimate: np.ndarray) -> np.ndarray:
    """Fill NaN rows of each column by linear interpolation from the rows that have a value."""
    out = estimate.copy()
    ny = out.shape[-2]
    rows = np.arange(ny)
    flat = out.reshape(-1, ny, out.shape[-1])
    for plane in flat:  # integrations (a handful), not slices
        bad = ~np.isfinite(plane)
        if not bad.any():
            continue
        cols = np.where(bad.any(axis=0) & ~bad.all(axis=0))[0]
        for c in cols:  # only columns with gaps
            good = ~bad[:, c]
            plane[:, c] = np.interp(rows, rows[good], plane[good, c])
        plane[:, bad.all(axis=0)] = 0.0  # a column with no sky pixel at all: no correction
    return flat.reshape(out.shape)


def destripe_constant(data: np.ndarray, mask: np.ndarray, clip_sigma: float = 3.0) -> np.ndarray:
    """Subtract one clipped median per column (per integration); ``mask`` True = usable."""
    from astropy.stats import sigma_clip

    cube = data[None] if data.ndim == 2 else data
    usable = np.broadcast_to(mask, cube.shape)
    values = np.ma.masked_array(cube, mask=~usable | ~np.isfinite(cube))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clipped = sigma_clip(values, sigma=clip_sigma, axis=-2, maxiters=5)
        level = np.ma.median(clipped, axis=-2).filled(0.0)  # (nint, nx)
    out = cube - level[:, None, :]
    return out[0] if data.ndim == 2 else out


def destripe_moving_median(data: np.ndarray, mask: np.ndarray, window: int = 201) -> np.ndarray:
    """Subtract a running median (length ``window``) along each column of the usable pixels."""
    from numbamisc import median_filter

    cube = data[None] if data.ndim == 2 else data
    kernel = np.ones((window, 1), dtype=bool)
    out = np.empty_like(cube, dtype=float)
    for i, plane in enumerate(cube):  # one stripe model per integration
        masked = ~mask | ~np.isfinite(plane)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = median_filter(np.nan_to_num(plane.astype(float), nan=0.0), kernel, masked)
        est = np.where(np.isfinite(est), est, np.nan)
        est = _column_fill(est[None])[0]
        out[i] = plane - est
    return out[0] if data.ndim == 2 else out


def clean_1f(rate_path: Path, output_path: Path, *, method: Method, mask_path: Path | None = None, window: int = 201,
             clip_sigma: float = 3.0, margin: int = 2) -> Path:
    """Correct one rate/rateints file for 1/f noise; write ``output_path`` atomically.

    The output keeps the input's extensions and metadata with the corrected
    SCI and a HISTORY line; the input is never modified.
    """
    from stdatamodels.jwst import datamodels

    rate_path, output_path = Path(rate_path), Path(output_path)
    if method not in ("pipeline", "constant", "moving_median"):
        raise OptionError("--method", f"{method!r} is not one of pipeline, constant, moving_median", rate_path)
    if window < 3:
        raise OptionError("--window", "must be at least 3", rate_path)
    if not rate_path.is_file():
        raise InputFileError(rate_path, "file not found")
    try:
        model = datamodels.open(str(rate_path))
    except Exception as exc:
        raise InputFileError(rate_path, f"not a readable rate file ({type(exc).__name__})") from None
    with model:
        if getattr(model, "data", None) is None or model.data.ndim not in (2, 3):
            raise InputFileError(rate_path, "no 2-D or 3-D SCI extension")
        if mask_path is not None:
            with datamodels.open(str(mask_path)) as mm:
                excluded = np.asarray(mm.data) != 0
            if excluded.shape != model.data.shape[-2:]:
                raise OptionError("--mask", f"shape {excluded.shape} differs from the detector {model.data.shape[-2:]}", mask_path)
            usable = ~excluded
        else:
            usable = sky_mask(np.asarray(model.data), np.asarray(model.dq), margin=margin)
        finite_before = np.isfinite(model.data)
        if method == "pipeline":
            result = _pipeline(model, usable, output_path)
        else:
            data = np.asarray(model.data, dtype=float)
            corrected = destripe_constant(data, usable, clip_sigma) if method == "constant" else destripe_moving_median(data, usable, window)
            corrected = np.where(finite_before, corrected, model.data)
            result = model.copy()
            result.data = corrected.astype(np.float32)
        result.meta.cal_step.clean_flicker_noise = "COMPLETE"
        result.history.append(create_history_entry(f"jwstspec clean_1f: method={method} window={window} clip_sigma={clip_sigma} "
                              f"usable pixels={int(usable.sum())}"))
        with atomic_path(output_path) as tmp:
            result.save(tmp)
    return output_path


def _pipeline(model, usable: np.ndarray, output_path: Path):  # noqa: ANN001, ANN202 - datamodels
    """The jwst clean_flicker_noise step with ``usable`` as its user mask (True = background)."""
    import tempfile

    from jwst.clean_flicker_noise import CleanFlickerNoiseStep
    from stdatamodels.jwst.datamodels import ImageModel

    with tempfile.TemporaryDirectory(dir=output_path.parent, prefix=".tmp-mask-") as tmp:
        mask_file = Path(tmp) / "sky_mask.fits"
        ImageModel(data=usable.astype(np.float32)).save(mask_file)
        return CleanFlickerNoiseStep.call(model, user_mask=str(mask_file), configure_log=False)
