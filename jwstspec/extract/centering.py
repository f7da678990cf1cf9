"""Source centre per slice: 2-D Gaussian centroids (photutils' ``centroid_2dg``, in numpy) on wavelength-binned images, robustly smoothed."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

_log = logging.getLogger(__name__)

__all__ = ["binned_images", "centroid", "centroid_track", "detection_snr", "gaussian_centroid", "smooth_track", "target_fallback"]


def binned_images(flux: np.ndarray, valid: np.ndarray, nbin: int) -> tuple[np.ndarray, np.ndarray]:
    """Median images of ``nbin`` consecutive blocks of slices and the mean slice index of each block."""
    nw = flux.shape[0]
    nbin = int(max(1, min(nbin, nw)))
    edges = np.linspace(0, nw, nbin + 1).astype(int)
    size = int(np.max(np.diff(edges)))
    # pad to equal-size blocks with NaN so one reshaped nanmedian does all blocks (no loop over slices)
    pad = np.full((nbin * size,) + flux.shape[1:], np.nan)
    idx = np.concatenate([np.arange(a, b) for a, b in zip(edges[:-1], edges[1:])])
    pos = np.concatenate([np.arange(b - a) + i * size for i, (a, b) in enumerate(zip(edges[:-1], edges[1:]))])
    pad[pos] = np.where(valid[idx], flux[idx], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        images = np.nanmedian(pad.reshape((nbin, size) + flux.shape[1:]), axis=1)
    centres = 0.5 * (edges[:-1] + edges[1:] - 1)
    return images, centres


def centroid(image: np.ndarray, half: int = 4) -> tuple[float, float]:
    """Sub-pixel centroid of the brightest source in ``image`` (2-D Gaussian fit, centre-of-mass fallback).

    The fit is photutils' ``centroid_2dg`` (a rotated 2-D Gaussian without
    a constant, started from the moments of the cut-out less its minimum,
    least squares on the cut-out), done here in numpy
    (:func:`gaussian_centroid`): importing photutils and astropy.modeling
    cost a ``jwstspec extract`` process more than its whole extraction.
    """
    finite = np.isfinite(image)
    if not finite.any():
        return np.nan, np.nan
    img = np.where(finite, image - np.nanmedian(image), 0.0)
    y0, x0 = np.unravel_index(np.argmax(np.where(finite, img, -np.inf)), img.shape)
    ys = slice(max(y0 - half, 0), y0 + half + 1)
    xs = slice(max(x0 - half, 0), x0 + half + 1)
    cut = img[ys, xs]
    try:
        cx, cy = gaussian_centroid(cut)
        if not (0 <= cx < cut.shape[1] and 0 <= cy < cut.shape[0]):
            raise ValueError("centroid outside the cutout")
    except ValueError:
        w = np.clip(cut, 0, None)
        yy, xx = np.indices(cut.shape)
        total = w.sum()
        cx, cy = (float((xx * w).sum() / total), float((yy * w).sum() / total)) if total > 0 else (np.nan, np.nan)
    return float(cx + xs.start), float(cy + ys.start)


def _gaussian(p: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The value of astropy's ``Gaussian2D`` (amplitude, x_mean, y_mean, x_stddev, y_stddev, theta) at (x, y)."""
    amp, xm, ym, sx, sy, theta = p
    cost2, sint2, sin2t = np.cos(theta) ** 2, np.sin(theta) ** 2, np.sin(2 * theta)
    a = 0.5 * (cost2 / sx**2 + sint2 / sy**2)
    b = 0.5 * (sin2t / sx**2 - sin2t / sy**2)
    c = 0.5 * (sint2 / sx**2 + cost2 / sy**2)
    dx, dy = x - xm, y - ym
    return amp * np.exp(-(a * dx**2 + b * dx * dy + c * dy**2))


def _moments(data: np.ndarray) -> np.ndarray:
    """Start values of the fit from the moments of ``data`` (photutils' ``_gaussian2d_moments``)."""
    y, x = np.indices(data.shape)
    total = data.sum()
    xm, ym = (x * data).sum() / total, (y * data).sum() / total
    dx, dy = x - xm, y - ym
    m20, m02, m11 = (dx**2 * data).sum() / total, (dy**2 * data).sum() / total, (dx * dy * data).sum() / total
    ev = np.clip(np.linalg.eigvalsh(np.array([[m02, m11], [m11, m20]]))[::-1], 0, None)
    aniso = np.hypot(m20 - m02, 2.0 * m11)
    theta = 0.0 if aniso < 1e-6 * (m20 + m02) else 0.5 * np.arctan2(2.0 * m11, m20 - m02)
    return np.array([data.max(), xm, ym, np.sqrt(ev[0]), np.sqrt(ev[1]), theta])


def gaussian_centroid(data: np.ndarray, max_iter: int = 200) -> tuple[float, float]:
    """Centre (x, y) of a 2-D Gaussian fitted to ``data`` by least squares, as photutils' ``centroid_2dg``.

    Levenberg-Marquardt on the six parameters of astropy's ``Gaussian2D``
    (forward-difference Jacobian), from the moments of ``data`` less its
    minimum; the same minimum photutils' trust-region fit finds (tested
    against it to 1e-4 px).

    Raises
    ------
    ValueError
        Fewer than 6 pixels, constant data, or a fit that does not converge
        to finite widths.
    """
    data = np.asarray(data, dtype=float)
    if data.size < 6:
        raise ValueError("a 2-D Gaussian needs at least 6 pixels")
    shifted = data - data.min()
    if not shifted.any():
        raise ValueError("constant data")
    y, x = np.indices(data.shape)
    p = _moments(shifted)
    if not np.all(np.isfinite(p)) or p[3] <= 0 or p[4] <= 0:
        raise ValueError("degenerate moments")
    r = (_gaussian(p, x, y) - data).ravel()
    cost, lam = float(r @ r), 1e-3
    for _ in range(max_iter):
        h = 1e-7 * np.maximum(np.abs(p), 1e-3)
        jac = np.stack([((_gaussian(p + h[i] * np.eye(6)[i], x, y) - data).ravel() - r) / h[i] for i in range(6)], axis=1)
        jtj, g = jac.T @ jac, jac.T @ r
        step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), -g)
        trial = p + step
        rt = (_gaussian(trial, x, y) - data).ravel()
        new = float(rt @ rt)
        if np.isfinite(new) and new <= cost:
            p, r, done = trial, rt, cost - new <= 1e-15 * max(cost, 1e-300) or np.all(np.abs(step[1:3]) < 1e-10)
            cost, lam = new, max(lam / 10.0, 1e-12)
            if done:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break
    if not (np.all(np.isfinite(p)) and p[3] != 0 and p[4] != 0):
        raise ValueError("the fit did not converge")
    return float(p[1]), float(p[2])


def smooth_track(k: np.ndarray, values: np.ndarray, nw: int, degree: int = 2, clip: float = 3.0) -> np.ndarray:
    """Robust polynomial fit of ``values`` at slice positions ``k``, evaluated at every slice.

    Iterative fit rejecting points beyond ``clip`` robust sigma (MAD).
    """
    ok = np.isfinite(values)
    if ok.sum() == 0:
        return np.full(nw, np.nan)
    deg = int(min(degree, max(ok.sum() - 2, 0)))
    scale = max(nw - 1, 1)
    for _ in range(5):
        coef = np.polyfit(k[ok] / scale, values[ok], deg)
        res = values - np.polyval(coef, k / scale)
        mad = 1.4826 * np.median(np.abs(res[ok])) if ok.sum() else 0.0
        new = np.isfinite(values) & (np.abs(res) <= max(clip * mad, 1e-3))
        if new.sum() <= deg or np.array_equal(new, ok):
            break
        ok = new
    return np.polyval(coef, np.arange(nw) / scale)


def centroid_track(flux: np.ndarray, valid: np.ndarray, nbin: int = 30, half: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Centre (x, y) of the source in every slice.

    The cube is collapsed into ``nbin`` wavelength bins (median), each bin
    centroided (:func:`centroid`), and the centroids smoothed over wavelength
    by a robust quadratic fit (outlying bins rejected).
    """
    nw, ny, nx = flux.shape
    # locate the source on a quick median of ~100 slices, then work on a cut-out around it
    step = max(nw // 100, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        quick = np.nanmedian(np.where(valid[::step], flux[::step], np.nan), axis=0)
    finite = np.isfinite(quick)
    if not finite.any():
        return np.full(nw, np.nan), np.full(nw, np.nan)
    y0, x0 = np.unravel_index(np.argmax(np.where(finite, quick - np.nanmedian(quick), -np.inf)), quick.shape)
    m = 3 * half
    ys, xs = slice(max(y0 - m, 0), min(y0 + m + 1, ny)), slice(max(x0 - m, 0), min(x0 + m + 1, nx))
    images, kc = binned_images(flux[:, ys, xs], valid[:, ys, xs], min(nbin, max(nw // 20, 1)))
    xy = np.array([centroid(img, half) for img in images])  # loop over bins, not slices
    return smooth_track(kc, xy[:, 0] + xs.start, nw), smooth_track(kc, xy[:, 1] + ys.start, nw)


def detection_snr(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, cx: np.ndarray, cy: np.ndarray,
                  radius: float, nbin: int = 30, margin: float = 3.0) -> np.ndarray:
    """Significance of the source at the track (``cx``, ``cy``) in wavelength-binned images of a cube.

    Each of ``nbin`` blocks of slices is collapsed by a median; the pixels
    within ``radius`` of the track (at the block's middle slice), less the
    median of a ring ``radius + margin`` to ``radius + 2 margin`` out, are
    summed and divided by their noise (the block's median ERR, times
    1.2533 / sqrt(slices) for a median of Gaussian values).

    Returns
    -------
    ndarray
        ``(nbin,)`` signal-to-noise ratio per block (0 where undefined).
    """
    nw, ny, nx = flux.shape
    images, kc = binned_images(flux, valid, min(nbin, nw))
    edges = np.linspace(0, nw, len(kc) + 1).astype(int)
    yy, xx = np.mgrid[0:ny, 0:nx]
    snr = np.zeros(len(kc))
    for b, img in enumerate(images):  # loop over blocks, not slices
        k = int(round(kc[b]))
        d = np.hypot(xx - cx[k], yy - cy[k])
        inner, ring = (d <= radius) & np.isfinite(img), (d > radius + margin) & (d <= radius + 2 * margin) & np.isfinite(img)
        a, z = edges[b], edges[b + 1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sigma = 1.2533 * float(np.nanmedian(np.where(valid[a:z], err[a:z], np.nan))) / np.sqrt(max(z - a, 1))
        if not inner.any() or not np.isfinite(sigma) or sigma <= 0:
            continue
        sky = float(np.median(img[ring])) if ring.sum() >= 3 else 0.0
        snr[b] = float(np.sum(img[inner] - sky)) / (sigma * np.sqrt(inner.sum()))
    return snr


#: A centroid track counts as a detection when the median block significance reaches this.
MIN_DETECTION_SNR = 5.0


def target_fallback(cube: Any, valid: np.ndarray, cx: np.ndarray, cy: np.ndarray, r: float,
                    mode: str) -> tuple[np.ndarray, np.ndarray, str, float | None]:
    """The centroid track, or the target position through the WCS when the centroid is not a detection.

    ``cube``: a :class:`.reading.Cube` (flux, err, wavelength, path,
    ``target_radec``, ``world_to_pixel``).  Returns (cx, cy, mode, median
    block S/N or None); ``mode`` becomes ``"target"`` when it falls back.

    The source must be detected at >= ``MIN_DETECTION_SNR`` sigma (median
    of wavelength-binned images, :func:`.centering.detection_snr`) for the
    centroid to stand; otherwise, when the cube has a target position
    inside the field, the centre is the target's (``CENTMODE`` ``target``).
    """
    nw, ny, nx = cube.flux.shape
    snr = None
    if np.all(np.isfinite(cx)) and np.all(np.isfinite(cy)):
        half = int(np.ceil(r + 8))
        mx, my = int(round(float(np.median(cx)))), int(round(float(np.median(cy))))
        ys, xs = slice(max(my - half, 0), min(my + half + 1, ny)), slice(max(mx - half, 0), min(mx + half + 1, nx))
        snr = float(np.median(detection_snr(cube.flux[:, ys, xs], cube.err[:, ys, xs], valid[:, ys, xs],
                                            cx - xs.start, cy - ys.start, r)))
        if snr >= MIN_DETECTION_SNR:
            return cx, cy, mode, snr
    if cube.target_radec is None or cube.world_to_pixel is None:
        return cx, cy, mode, snr
    wmid = float(np.nanmedian(cube.wavelength))
    tx, ty = cube.world_to_pixel(cube.target_radec[0], cube.target_radec[1], wmid)
    if not (np.isfinite(tx) and np.isfinite(ty) and 0 <= tx < nx and 0 <= ty < ny):
        return cx, cy, mode, snr
    _log.info("%s: source not detected (S/N %s < %g): centred on the target position", cube.path.name,
              "n/a" if snr is None else f"{snr:.1f}", MIN_DETECTION_SNR)
    return np.full(nw, tx), np.full(nw, ty), "target", snr
