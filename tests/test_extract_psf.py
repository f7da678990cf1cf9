"""PSF-fit errors on cubes made here, independently of ``jwstspec.synthetic``: white noise, known flux.

The cube is a circular Gaussian PSF of fixed width at a fixed position, a
flat spectrum and white Gaussian noise whose sigma is the ERR the file
reports, so the scatter of the extracted flux around the true in-aperture
flux, over its reported error, must be 1.  A sharp PSF (0.6 px, MIRI-like
undersampling) and a broad one (2.2 px) in the same 4 px aperture bracket
the cases where a fixed profile-noise allowance was wrong either way
(scatter/error 1.28 and 0.91 with the fixed ``4 / N`` term; 0.93 and 0.97
with the profile's noise propagated from the fit's own weights, seed 11).
The sharp case's remaining 7 % is most likely the median's covariance between voxels
correlated through the per-slice normalisation (``arcsin(rho)``, not
``pi/2 rho``), which the propagation does not model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.extract import extract_file
from jwstspec.extract.outliers import local_profile, median_variance_factor

N = 25
XC, YC = 12.3, 11.8
PIX_SR = (0.1 / 206264.806) ** 2


def _white_noise_cube(path: Path, nw: int, sigma_px: float, seed: int) -> tuple[Path, float]:
    """Write the cube with astropy alone (the s3d layout's SCI/ERR/DQ and WCS cards); its path and the true
    flux (MJy/sr x px) inside a 4 px circle."""
    from astropy.io import fits
    from photutils.aperture import CircularAperture

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:N, 0:N]
    psf = np.exp(-0.5 * ((x - XC) ** 2 + (y - YC) ** 2) / sigma_px**2) / (2 * np.pi * sigma_px**2)
    scene = 1e-3 * psf * 1e-6 / PIX_SR  # 1 mJy point source in MJy/sr
    noise = scene.max() / 30.0
    data = scene[None] + rng.normal(size=(nw, N, N)) * noise
    primary = fits.PrimaryHDU(header=fits.Header({"DATAMODL": "IFUCubeModel", "TELESCOP": "JWST", "INSTRUME": "NIRSPEC",
                                                  "EXP_TYPE": "NRS_IFU", "SRCTYPE": "POINT"}))
    wcs = {"BUNIT": "MJy/sr", "PIXAR_SR": PIX_SR, "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CTYPE3": "WAVE",
           "CUNIT3": "um", "CRPIX3": 1.0, "CRVAL3": 5.0, "CDELT3": 1.0 / nw, "CDELT1": -0.1 / 3600, "CDELT2": 0.1 / 3600}
    hdus = [primary, fits.ImageHDU(data.astype(np.float32), fits.Header(wcs), name="SCI"),
            fits.ImageHDU(np.full(data.shape, noise, np.float32), fits.Header({"BUNIT": "MJy/sr"}), name="ERR"),
            fits.ImageHDU(np.zeros(data.shape, np.uint32), name="DQ")]
    fits.HDUList(hdus).writeto(path)
    inside = CircularAperture((XC, YC), 4.0).to_mask(method="exact").to_image((N, N))
    return path, float((scene * inside).sum())


@pytest.mark.parametrize(("nw", "sigma_px"), [(400, 0.6), (400, 2.2)])
def test_psf_scatter_matches_error_on_white_noise(tmp_path: Path, nw: int, sigma_px: float) -> None:
    path, truth_mjysr = _white_noise_cube(tmp_path / "white_s3d.fits", nw, sigma_px, seed=11)
    spec = extract_file(path, tmp_path / "x1d.fits", method="psf", radius="4px", center=(XC, YC),
                        covariance="none").spectrum
    truth = truth_mjysr * 1e6 * PIX_SR  # Jy
    ok = np.isfinite(spec.flux)
    assert ok.mean() > 0.99
    assert abs(np.median(spec.flux[ok]) / truth - 1) < 0.003
    pull = (spec.flux[ok] - truth) / spec.flux_error[ok]
    assert 0.9 <= np.std(pull) <= 1.1, np.std(pull)


def test_median_variance_factor_against_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    for n in (3, 11, 21, 61):
        samples = rng.normal(size=(40000, n))
        measured = n * np.median(samples, axis=1).var()
        assert abs(median_variance_factor(n) / measured - 1) < 0.03, (n, measured)


def test_profile_noise_of_one_slice_matches_simulation() -> None:
    """The profile's noise and its covariance with the slice's own noise, against repeated noise draws."""
    rng = np.random.default_rng(5)
    nw, window, k = 63, 3, 30  # blocks of 7 slices; slice 30 lies between two block centres
    y, x = np.mgrid[0:9, 0:9]
    psf = np.exp(-0.5 * ((x - 4) ** 2 + (y - 4) ** 2) / 1.2**2)
    weights = (np.hypot(x - 4, y - 4) <= 3).astype(float)
    psf /= (psf * weights).sum()
    valid = np.ones((nw, 9, 9), bool)
    sigma = 0.01
    draws, own = [], []
    for _ in range(400):
        n = rng.normal(size=(nw, 9, 9)) * sigma
        prof, noise = local_profile(psf[None] + n, valid, weights, window, noise=True)
        draws.append(prof[k, 4, 4] - psf[4, 4])
        own.append(n[k, 4, 4])
    draws, own = np.array(draws), np.array(own)
    # the centre voxel's profile noise: gain x sigma**2, less the normalisation's share (psf * sum(W m))
    _, noise = local_profile(np.broadcast_to(psf, (nw, 9, 9)).copy(), valid, weights, window, noise=True)
    p0 = psf[4, 4]
    predicted = noise.gain[k] * sigma**2 * ((1 - p0) ** 2 + p0**2 * (weights.sum() - 1))
    assert abs(draws.var() / predicted - 1) < 0.2, (draws.var(), predicted)
    cov = np.mean(draws * own)
    assert abs(cov / (noise.self_weight[k] * sigma**2 * (1 - p0)) - 1) < 0.35, cov
