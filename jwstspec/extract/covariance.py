"""Spatial noise correlation of drizzled IFU cubes and the error inflation it causes in weighted sums.

``cube_build`` resamples detector pixels onto the cube grid, so the noise of
neighbouring voxels is correlated (MIRI MRS Stage 2 cubes: rho ~0.55 one
spaxel apart, ~0.3 diagonal, ~0.1 two spaxels apart).  The ERR of each voxel
is right, but a sum that adds voxel variances in quadrature underestimates
its error.  This module

* estimates the correlation ``rho(dy, dx)`` for lags up to ``max_lag`` from
  the cube itself (:func:`estimate_correlation`): ERR-normalised residuals
  of sky voxels, per-slice level and a running per-spaxel level removed,
  outliers clipped, shifted products averaged over all slices;
* computes the variance inflation factor of a weighted sum
  ``S = sum_i a_i x_i`` (:func:`inflation`):
  ``F**2 = sum_ij a_i a_j e_i e_j rho(i - j) / sum_i a_i**2 e_i**2``
  per slice.

In the extraction (:func:`jwstspec.extract.extract_file`, ``covariance="auto"``,
s3d cubes only) the factor multiplies each error term with its own weights:
the aperture / box / annulus sum (``a`` = the region's fractional-pixel
weights), the background median (``a`` = 1 on the valid annulus pixels; its
variance is scaled by the background area squared as before) and the
``psf`` amplitude (``a`` = the least-squares weights of the fit,
:func:`jwstspec.extract.psf.amplitude_weights`; the empirical-profile noise
term is left as it is).  Ignored: the covariance between source region and
background annulus (zero when they are more than ``max_lag`` spaxels apart)
and the correlation between slices (it does not change a per-slice error;
``rho_wave`` is reported only).  Slit images (s2d, one spatial column) get the
correlation along the slit: lags across the column cannot occur and are left out.

Plain numpy (no scipy: its import would cost a small extraction more than it computes); no Prefect.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

__all__ = ["Correlation", "correlate_planes", "estimate_correlation", "inflation", "running_mean", "sky_residuals", "white"]


@dataclasses.dataclass
class Correlation:
    """Spatial noise correlation kernel of a cube.

    Attributes
    ----------
    rho : ndarray (2L+1, 2L+1)
        ``rho[L + dy, L + dx]`` is the correlation between voxels ``dy`` rows
        and ``dx`` columns apart in the same slice; the centre is 1.
    n_pairs : ndarray of int (2L+1, 2L+1)
        Number of sky voxel pairs behind each entry.
    rho_wave : float
        Correlation of the same spaxel in adjacent slices (information only:
        it does not change a per-slice error).  NaN when not measured.
    n_slices : int
        Slices used for the estimate.
    reason : str
        Empty when the estimate is used; otherwise why the kernel is white
        (no correction).
    """

    rho: np.ndarray
    n_pairs: np.ndarray
    rho_wave: float = float("nan")
    n_slices: int = 0
    reason: str = ""

    @property
    def max_lag(self) -> int:
        """Largest lag (in pixels) the correlation kernel holds."""
        return self.rho.shape[0] // 2

    @property
    def ok(self) -> bool:
        """True when the kernel was measured (``reason`` empty)."""
        return not self.reason

    @property
    def rho_x(self) -> float:
        """Correlation at lag (dy, dx) = (0, 1)."""
        return float(self.rho[self.max_lag, self.max_lag + 1]) if self.max_lag else 0.0

    @property
    def rho_y(self) -> float:
        """Correlation at lag (dy, dx) = (1, 0)."""
        return float(self.rho[self.max_lag + 1, self.max_lag]) if self.max_lag else 0.0


def white(max_lag: int = 2, reason: str = "voxels assumed independent") -> Correlation:
    """The kernel of independent voxels (no correction), with the reason why."""
    rho = np.zeros((2 * max_lag + 1, 2 * max_lag + 1))
    rho[max_lag, max_lag] = 1.0
    return Correlation(rho, np.zeros(rho.shape, dtype=np.int64), reason=reason)


def _row_median(a: np.ndarray) -> np.ndarray:
    """``nanmedian(a, axis=1)`` in one sort (NaNs sort last); 0 for an all-NaN row."""
    srt = np.sort(a, axis=1)
    n = np.isfinite(a).sum(axis=1)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(srt, np.maximum(n // 2, 0)[:, None], axis=1)[:, 0]
    return np.where(n > 0, 0.5 * (lo + hi), 0.0)


def sky_residuals(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, sky: np.ndarray, *, window: int = 10,
                  clip: float = 5.0) -> np.ndarray:
    """ERR-normalised noise residuals of the sky voxels; NaN elsewhere.

    Parameters
    ----------
    flux, err : ndarray (nw, ny, nx)
        Surface brightness and its per-voxel 1-sigma error.
    valid : ndarray of bool (nw, ny, nx)
        Usable voxels.
    sky : ndarray of bool (ny, nx) or (nw, ny, nx)
        Voxels away from the source.
    window : int
        Half-width, in slices, of the running per-spaxel mean that is
        removed (slowly varying sky or PSF-wing structure).  The running mean
        has the same spatial correlation as the noise, so removing it scales
        every lag's covariance alike and leaves ``rho`` unchanged.
    clip : float
        Residuals beyond ``clip`` robust sigma (MAD) are dropped, once before
        the running mean (a spike would offset its neighbours in wavelength)
        and once after.

    Returns
    -------
    ndarray (nw, ny, nx)
        ``(flux - slice median - running spaxel mean) / err``, divided by its
        robust scale, clipped, then the mean of each slice's clean residuals
        removed; NaN where not a clean sky voxel.
    """
    e = np.asarray(err, dtype=float)
    use = np.broadcast_to(sky, flux.shape) & valid & np.isfinite(e) & (e > 0) & np.isfinite(flux)
    r = np.where(use, np.asarray(flux, dtype=float), np.nan)
    e = np.where(use, e, np.inf)

    def clipped(z: np.ndarray) -> np.ndarray | None:
        """``z`` in units of its robust sigma, beyond ``clip`` set to NaN; None when it has no scale."""
        med = np.nanmedian(z)
        scale = 1.4826 * np.nanmedian(np.abs(z - med))
        if not (np.isfinite(scale) and scale > 0):
            return None
        z = (z - med) / scale
        z[np.abs(z) > clip] = np.nan
        return z

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r -= _row_median(r.reshape(r.shape[0], -1))[:, None, None]
        # outliers go before the running mean: a spike would otherwise offset its spaxel's neighbours in wavelength
        z = clipped(r / e)
        if z is None:
            return np.full(flux.shape, np.nan)
        r = np.where(np.isfinite(z), r, np.nan)
        if window > 0 and r.shape[0] > 1:
            size = min(2 * int(window) + 1, r.shape[0])
            fin = np.isfinite(r)
            num = running_mean(np.where(fin, r, 0.0), size)
            den = running_mean(fin.astype(float), size)
            r -= np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        z = clipped(r / e)
        if z is None:
            return np.full(flux.shape, np.nan)
        # the clean residuals of every slice average to zero: the bias this leaves, the variance of that mean,
        # is known from rho itself and removed by estimate_correlation
        z -= np.nan_to_num(np.nanmean(z.reshape(z.shape[0], -1), axis=1))[:, None, None]
    return z


def _lag_products(z: np.ndarray, fin: np.ndarray, dy: int, dx: int, dk: int = 0) -> tuple[float, float, float, int]:
    """Sums of a*b, a*a, b*b over the pairs where both voxels are clean (``z`` is 0 elsewhere) for one lag."""
    nk, ny, nx = z.shape

    def span(n: int, d: int) -> tuple[slice, slice]:
        return (slice(0, n - d), slice(d, n)) if d >= 0 else (slice(-d, n), slice(0, n + d))

    (k1, k2), (y1, y2), (x1, x2) = span(nk, dk), span(ny, dy), span(nx, dx)
    fa, fb = fin[k1, y1, x1], fin[k2, y2, x2]
    n = int(np.count_nonzero(fa & fb))
    if n == 0:
        return 0.0, 0.0, 0.0, 0
    a, b = z[k1, y1, x1], z[k2, y2, x2]
    sab = float(np.einsum("kij,kij->", a, b))
    saa = float(np.einsum("kij,kij->", a * a, fb))
    sbb = float(np.einsum("kij,kij->", b * b, fa))
    return sab, saa, sbb, n


def estimate_correlation(flux: np.ndarray, err: np.ndarray, valid: np.ndarray, sky: np.ndarray, *, max_lag: int = 2,
                         window: int = 10, clip: float = 5.0, min_pairs: int = 2000,
                         max_slices: int | None = 1000) -> Correlation:
    """Estimate the spatial noise correlation ``rho(dy, dx)``, ``|dy|, |dx| <= max_lag``, from sky voxels.

    Parameters
    ----------
    flux, err : ndarray (nw, ny, nx)
        Surface brightness and per-voxel error (float32 views are fine).
    valid : ndarray of bool (nw, ny, nx)
        Usable voxels (DQ and finite).
    sky : ndarray of bool (ny, nx) or (nw, ny, nx)
        Voxels away from the source: the background annulus, or the pixels
        beyond a few PSF widths of the centre.
    max_lag : int
        Largest lag in spaxels along x and y.
    window, clip : int, float
        See :func:`sky_residuals`.
    min_pairs : int
        Fewest sky pairs any lag may have; with fewer the result is the white
        kernel (no correction) and ``reason`` says why.
    max_slices : int, optional
        Use at most this many slices, evenly spaced (speed on long cubes).

    Returns
    -------
    Correlation
        ``rho[max_lag + dy, max_lag + dx]`` = sum(z_i z_j) / sqrt(sum z_i^2
        sum z_j^2) over the pairs where both voxels are clean sky, averaged
        over all slices; symmetric (``rho(d) = rho(-d)``), centre 1, entries
        clipped to [-1, 1].
    """
    nw = flux.shape[0]
    idx = np.arange(nw)
    if max_slices is not None and nw > max_slices:  # blocks of 10 adjacent slices, evenly spaced
        starts = np.unique(np.linspace(0, nw - 10, max(int(max_slices) // 10, 1)).round().astype(int))
        idx = np.unique((starts[:, None] + np.arange(10)[None]).ravel())
    sky3 = np.broadcast_to(sky, flux.shape)
    if not sky3.any():
        return white(max_lag, "no sky pixels")
    # only the bounding box of the sky pixels (over all slices)
    union = sky3.any(axis=0)
    rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    box = (idx, slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    z = sky_residuals(flux[box], err[box], valid[box], sky3[box], window=window, clip=clip)
    fin = np.isfinite(z)
    z = np.where(fin, z, 0.0)
    size = 2 * max_lag + 1
    rho = np.zeros((size, size))
    npairs = np.zeros((size, size), dtype=np.int64)
    rho[max_lag, max_lag] = 1.0
    npairs[max_lag, max_lag] = int(fin.sum())
    possible = np.ones((size, size), dtype=bool)  # lags that fit in the sky box (a slit image is one column wide)
    for dy in range(0, max_lag + 1):
        for dx in range(-max_lag, max_lag + 1):
            if dy == 0 and dx <= 0:
                continue
            if dy >= z.shape[1] or abs(dx) >= z.shape[2]:  # no pair can exist: the sum's weights have none either
                for sy, sx in ((dy, dx), (-dy, -dx)):
                    possible[max_lag + sy, max_lag + sx] = False
                continue
            sab, saa, sbb, n = _lag_products(z, fin, dy, dx)
            value = sab / np.sqrt(saa * sbb) if n and saa > 0 and sbb > 0 else np.nan
            for sy, sx in ((dy, dx), (-dy, -dx)):
                rho[max_lag + sy, max_lag + sx] = value
                npairs[max_lag + sy, max_lag + sx] = n
    rho_wave = np.nan
    nxt = np.flatnonzero(np.diff(idx) == 1)  # pairs of adjacent slices
    if len(nxt):
        a, b = z[nxt], z[nxt + 1]
        fa, fb = fin[nxt], fin[nxt + 1]
        saa, sbb = float(np.einsum("kij,kij->", a * a, fb)), float(np.einsum("kij,kij->", b * b, fa))
        if np.count_nonzero(fa & fb) >= min_pairs and saa > 0 and sbb > 0:
            measured_w = float(np.einsum("kij,kij->", a, b)) / np.sqrt(saa * sbb)
            # the running mean over n_run slices removed from every spaxel lowers the adjacent-slice
            # covariance by about (1 + 2 rho_w) / n_run
            n_run = min(2 * int(window) + 1, len(idx)) if window > 0 else 0
            rho_wave = measured_w
            for _ in range(3 if n_run else 0):
                s = (1 + 2 * rho_wave) / n_run
                rho_wave = measured_w * (1 - s) + s
    if not possible.any() or possible.sum() == 1:
        return white(max_lag, "sky region too small for any lag")
    counted = np.where(possible, npairs, np.iinfo(np.int64).max)
    fewest = int(counted.min())
    if fewest < min_pairs or not np.all(np.isfinite(rho)):
        dy, dx = (int(v) - max_lag for v in np.unravel_index(np.argmin(counted), npairs.shape))
        return white(max_lag, f"too few sky pixels: {fewest} pairs at lag ({dy}, {dx}) (need {min_pairs})")
    # removing each slice's mean of N sky residuals lowers every covariance by the variance of that mean,
    # beta = sum_ij rho(i - j) / N**2 (in units of the voxel variance): rho' = (rho - beta) / (1 - beta).
    # beta depends on rho; a few fixed-point steps from the measured rho' settle it.
    sample = fin[:: max(len(idx) // 200, 1)]
    n_sky = sample.sum(axis=(1, 2))
    measured = rho.copy()
    for _ in range(3):
        beta = float(np.mean(inflation(sample, rho)[n_sky > 0] ** 2 / n_sky[n_sky > 0])) if (n_sky > 0).any() else 0.0
        rho = measured * (1.0 - beta) + beta
        rho[max_lag, max_lag] = 1.0
    return Correlation(np.clip(rho, -1.0, 1.0), npairs, float(rho_wave), len(idx), "")


def inflation(u: np.ndarray, rho: np.ndarray | Correlation, max_slices: int | None = None) -> np.ndarray:
    """Error inflation factor ``F`` of a weighted sum in every slice.

    Parameters
    ----------
    u : ndarray (nw, ny, nx) or (ny, nx)
        ``a * e``: the sum's weight of each voxel (fractional pixels
        included) times its 1-sigma error; 0 (or NaN) for voxels not in the
        sum.  Any per-slice normalisation of ``a`` cancels.
    rho : ndarray (2L+1, 2L+1) or Correlation
        Correlation kernel, ``rho[L + dy, L + dx]``, symmetric; its centre
        is taken as 1.
    max_slices : int, optional
        Compute ``F`` on at most this many evenly spaced slices and
        interpolate between them (for slowly varying weights, e.g. a
        background annulus over thousands of slices).

    Returns
    -------
    ndarray (nw,) (or shape (1,) for a 2-D ``u``)
        ``F = sqrt(sum_ij u_i u_j rho(i - j) / sum_i u_i**2)``, at least 1;
        1 for a slice with no weight.
    """
    kernel = np.array(rho.rho if isinstance(rho, Correlation) else rho, dtype=float)
    c = kernel.shape[0] // 2
    kernel[c, c] = 1.0
    u = np.asarray(u)
    if u.ndim == 2:
        u = u[None]
    nw = u.shape[0]
    if max_slices is not None and nw > max_slices:
        idx = np.unique(np.linspace(0, nw - 1, int(max_slices)).round().astype(int))
        return np.interp(np.arange(nw), idx, inflation(u[idx], kernel))
    u = np.nan_to_num(u.astype(float), nan=0.0, posinf=0.0, neginf=0.0)
    off = kernel.copy()
    off[c, c] = 0.0
    if not off.any():  # white kernel: nothing to compute
        return np.ones(u.shape[0])
    # the kernel is symmetric, so correlate (sum_k K[k] u[i + k]) gives sum_j rho(i - j) u_j
    cu = correlate_planes(u, kernel)
    num = np.einsum("kij,kij->k", u, cu)
    den = np.einsum("kij,kij->k", u, u)
    with np.errstate(invalid="ignore", divide="ignore"):
        f2 = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    return np.sqrt(np.maximum(np.nan_to_num(f2, nan=1.0), 1.0))


def running_mean(x: np.ndarray, size: int) -> np.ndarray:
    """Mean of ``size`` consecutive entries along axis 0, edges repeated.

    ``scipy.ndimage.uniform_filter1d(x, size, axis=0, mode="nearest")``
    (window ``[i - size // 2, i - size // 2 + size - 1]``), in numpy: importing
    ``scipy.ndimage`` costs a process more than the extraction of a small product.
    """
    x = np.asarray(x, dtype=float)
    lo = size // 2
    padded = np.concatenate([np.repeat(x[:1], lo, axis=0), x, np.repeat(x[-1:], size - 1 - lo, axis=0)])
    cs = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(padded, axis=0)])
    return (cs[size:] - cs[:-size]) / size


def correlate_planes(u: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``sum_k kernel[k] u[:, i + k]`` over each (ny, nx) plane of ``u``, zero outside.

    ``scipy.ndimage.correlate(u, kernel[None], mode="constant")`` for an
    kernel of odd sides, as a sum of shifted planes (the kernels here are 5x5).
    """
    nw, ny, nx = u.shape
    cy, cx = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(u, ((0, 0), (cy, cy), (cx, cx)))
    out = np.zeros(u.shape)
    for a, b in zip(*np.nonzero(kernel)):
        out += kernel[a, b] * padded[:, a:a + ny, b:b + nx]
    return out
