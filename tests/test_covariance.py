"""Correlated noise of drizzled cubes: correlation estimate, error inflation and extraction pulls against known truth.

The noise is white noise smoothed with a known separable kernel (3x3 in
space, 3 taps in wavelength), so its correlation and the true variance of an
aperture sum, ``Var(S) = sum_ij a_i a_j Cov_ij``, are known exactly.  The
spatial kernel gives rho 0.62 one spaxel apart, 0.37 diagonal, 0.13 / 0.07 /
0.01 two apart; the wavelength taps 0.18 between adjacent slices: close to
what our MIRI MRS Stage 2 cubes show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from scipy import ndimage

from jwstspec.errors import OptionError
from jwstspec.extract import extract_file
from jwstspec.extract.aperture import circle_weights
from jwstspec.extract.covariance import estimate_correlation, inflation, white
from jwstspec.synthetic.cubes import SyntheticCube, make_cube, write_s3d

KERNEL = np.array([[0.15, 0.45, 0.15], [0.45, 1.0, 0.45], [0.15, 0.45, 0.15]])
KERNEL_WAVE = np.array([0.09, 1.0, 0.09])
SIGMA = 0.02  # MJy/sr per voxel
PIXEL_SR = (0.13 / 206264.806) ** 2


def _autocorr(k: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of a kernel: the correlation of white noise smoothed with it."""
    n = k.shape[0]
    ac = np.zeros((2 * n - 1,) * k.ndim)
    for idx in np.ndindex(ac.shape):
        lag = np.array(idx) - (n - 1)
        src = tuple(slice(max(0, -d), n - max(0, d)) for d in lag)
        dst = tuple(slice(max(0, d), n - max(0, -d)) for d in lag)
        ac[idx] = float((k[src] * k[dst]).sum())
    return ac / ac[(n - 1,) * k.ndim]


RHO_TRUE = _autocorr(KERNEL)  # 5x5, zero beyond lag 2
RHO_WAVE_TRUE = float(_autocorr(KERNEL_WAVE)[3])


def _noise(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    nw, ny, nx = shape
    k3 = KERNEL_WAVE[:, None, None] * KERNEL[None]
    n = ndimage.correlate(rng.normal(size=(nw + 2, ny + 2, nx + 2)), k3, mode="constant")[1:-1, 1:-1, 1:-1]
    return n * SIGMA / np.sqrt((k3**2).sum())


def _cube(nw: int = 1000, n: int = 25, seed: int = 3, correlated: bool = True) -> tuple[SyntheticCube, np.ndarray]:
    """A point source (Gaussian PSF) on zero background with correlated noise; returns the cube and the model."""
    rng = np.random.default_rng(seed)
    w = np.linspace(5.0, 6.0, nw)
    xc = yc = (n - 1) / 2 + 0.2
    sig = 1.2
    y, x = np.mgrid[0:n, 0:n]
    psf = np.exp(-0.5 * ((x - xc) ** 2 + (y - yc) ** 2) / sig**2) / (2 * np.pi * sig**2)
    truth_jy = np.full(nw, 2e-3)
    model = truth_jy[:, None, None] * psf[None] * 1e-6 / PIXEL_SR  # MJy/sr
    noise = _noise(rng, model.shape) if correlated else rng.normal(size=model.shape) * SIGMA
    data = (model + noise).astype(np.float32)
    err = np.full(model.shape, SIGMA, np.float32)
    cube = SyntheticCube(data, err, np.zeros(model.shape, np.uint32), w, truth_jy, np.full(nw, xc), np.full(nw, yc),
                         np.full(nw, sig), PIXEL_SR, 0.0)
    return cube, model


def _true_factor(a: np.ndarray, e: np.ndarray) -> float:
    """sqrt(a^T C a / sum a^2 e^2) with the full covariance matrix of the pixels (no convolution shortcut)."""
    ys, xs = np.nonzero(a)
    u = a[ys, xs] * e[ys, xs]
    dy, dx = ys[:, None] - ys[None], xs[:, None] - xs[None]
    inside = (np.abs(dy) <= 2) & (np.abs(dx) <= 2)
    rho = np.where(inside, RHO_TRUE[np.clip(dy + 2, 0, 4), np.clip(dx + 2, 0, 4)], 0.0)
    return float(np.sqrt(u @ rho @ u / (u @ u)))


def _annulus(n: int, c: float, rin: float, rout: float) -> np.ndarray:
    y, x = np.mgrid[0:n, 0:n]
    d = np.hypot(x - c, y - c)
    return (d >= rin) & (d <= rout)


def test_correlation_and_factor_match_truth() -> None:
    cube, _ = _cube(nw=1000, n=25)
    c = (25 - 1) / 2 + 0.2
    valid = np.ones(cube.data.shape, bool)
    corr = estimate_correlation(cube.data, cube.err, valid, _annulus(25, c, 8, 11))
    assert corr.ok, corr.reason
    assert abs(corr.rho_x - RHO_TRUE[2, 3]) < 0.05, (corr.rho_x, RHO_TRUE[2, 3])
    assert abs(corr.rho_y - RHO_TRUE[3, 2]) < 0.05, (corr.rho_y, RHO_TRUE[3, 2])
    assert np.max(np.abs(corr.rho - RHO_TRUE)) < 0.05, np.round(corr.rho - RHO_TRUE, 3)
    assert abs(corr.rho_wave - RHO_WAVE_TRUE) < 0.05, (corr.rho_wave, RHO_WAVE_TRUE)
    for radius in (2.0, 4.0):  # fractional pixel weights at the edge
        a = circle_weights((25, 25), np.array([c]), np.array([c]), radius)
        true = _true_factor(a, cube.err[0])
        est = inflation(a[None] * cube.err[:5], corr)
        assert np.allclose(est, est[0])
        assert abs(est[0] / true - 1) < 0.05, (radius, est[0], true)
        assert true > 1.8  # the correction is large: the test would see a missing one


def test_white_noise_gives_no_inflation() -> None:
    cube, _ = _cube(nw=1000, n=25, correlated=False)
    c = (25 - 1) / 2 + 0.2
    corr = estimate_correlation(cube.data, cube.err, np.ones(cube.data.shape, bool), _annulus(25, c, 8, 11))
    a = circle_weights((25, 25), np.array([c]), np.array([c]), 4.0)
    f = inflation(a[None] * cube.err[:1], corr)[0]
    assert abs(f - 1) < 0.03, (f, np.round(corr.rho, 3))
    assert abs(corr.rho_x) < 0.02 and abs(corr.rho_y) < 0.02


def test_too_few_sky_pixels_means_no_correction() -> None:
    cube, _ = _cube(nw=50, n=25)
    sky = np.zeros((25, 25), bool)
    sky[0, :4] = True
    corr = estimate_correlation(cube.data, cube.err, np.ones(cube.data.shape, bool), sky)
    assert not corr.ok and "too few sky pixels" in corr.reason
    assert inflation(np.ones((3, 5, 5)), corr.rho).tolist() == [1.0, 1.0, 1.0]
    assert not white().reason == ""


def test_nan_and_outliers_do_not_bias_the_estimate() -> None:
    cube, _ = _cube(nw=600, n=25, seed=5)
    rng = np.random.default_rng(0)
    data = cube.data.copy()
    hits = rng.random(data.shape) < 0.01
    data[hits] += 50 * SIGMA  # cosmic-ray-like spikes
    data[:, 0, :] = np.nan  # a NaN edge
    valid = np.isfinite(data)
    c = (25 - 1) / 2 + 0.2
    corr = estimate_correlation(data, cube.err, valid, _annulus(25, c, 7, 12))
    assert corr.ok
    assert abs(corr.rho_x - RHO_TRUE[2, 3]) < 0.05 and abs(corr.rho_y - RHO_TRUE[3, 2]) < 0.05


@pytest.fixture(scope="module")
def correlated_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticCube, np.ndarray]:
    cube, model = _cube(nw=1000, n=25, seed=11)
    path = write_s3d(cube, tmp_path_factory.mktemp("cov") / "corr_s3d.fits", instrument="MIRI", detector="MIRIFUSHORT")
    return path, cube, model


def _pull(spec, cube: SyntheticCube, model: np.ndarray, radius: float) -> np.ndarray:
    a = circle_weights(model.shape[1:], np.array([cube.x_center[0]]), np.array([cube.y_center[0]]), radius)
    truth = (model * a[None]).sum(axis=(1, 2)) * 1e6 * cube.pixel_sr
    pull = (spec.flux - truth) / spec.flux_error
    return 1.4826 * np.median(np.abs(pull - np.median(pull)))


@pytest.mark.parametrize("method", ["aperture", "box"])
def test_extraction_pulls_with_and_without_correction(correlated_file, tmp_path: Path, method: str) -> None:
    path, cube, model = correlated_file
    centre = (float(cube.x_center[0]), float(cube.y_center[0]))
    out = {}
    for mode in ("auto", "none"):
        res = extract_file(path, tmp_path / f"{mode}.fits", method=method, radius="3px", bkg_annulus=("7px", "11px"),
                           center=centre, covariance=mode, apcorr="none")
        out[mode] = res
    if method == "aperture":
        with_cov = _pull(out["auto"].spectrum, cube, model, 3.0)
        without = _pull(out["none"].spectrum, cube, model, 3.0)
        assert 0.9 < with_cov < 1.1, with_cov
        assert without > 1.4, without  # errors ~2x too small without the correction
    ratio = np.nanmedian(out["auto"].spectrum.flux_error / out["none"].spectrum.flux_error)
    header = fits.getheader(out["auto"].path, "EXTRACT1D")
    assert header["COVMODE"] == "auto"
    assert 1.7 < header["ERRCOV"] < 2.6 and abs(ratio / header["ERRCOV"] - 1) < 0.1, (header["ERRCOV"], ratio)
    assert abs(header["COVRHOX"] - RHO_TRUE[2, 3]) < 0.05 and abs(header["COVRHOY"] - RHO_TRUE[3, 2]) < 0.05
    none = fits.getheader(out["none"].path, "EXTRACT1D")
    assert none["ERRCOV"] == 1.0 and none["COVMODE"] == "none" and "COVRHOX" not in none


def test_psf_method_is_corrected_too(correlated_file, tmp_path: Path) -> None:
    path, cube, model = correlated_file
    centre = (float(cube.x_center[0]), float(cube.y_center[0]))
    spec = {m: extract_file(path, tmp_path / f"psf_{m}.fits", method="psf", radius="3px", bkg_annulus=("7px", "11px"),
                            center=centre, covariance=m, apcorr="none").spectrum for m in ("auto", "none")}
    robust = {m: _pull(s, cube, model, 3.0) for m, s in spec.items()}  # psf: the flux within the radius
    assert robust["none"] > 1.4, robust
    assert 0.9 < robust["auto"] < 1.1, robust
    assert spec["auto"].meta["ERRCOV"] > 1.5


def test_white_noise_cube_keeps_its_errors(tmp_path: Path) -> None:
    # our own synthetic cubes have white noise: the factor must stay ~1 (the existing pull tests rely on it)
    cube = make_cube(nwave=400, ny=25, nx=25, seed=4)
    path = write_s3d(cube, tmp_path / "white_s3d.fits")
    for method, kw in (("aperture", {"bkg_annulus": ("8px", "11px")}), ("psf", {"background": False})):
        res = extract_file(path, tmp_path / f"{method}.fits", method=method, radius="4px", **kw)
        assert abs(res.spectrum.meta["ERRCOV"] - 1) < 0.03, (method, res.spectrum.meta)
        assert "COVNOTE" not in res.spectrum.meta, res.spectrum.meta


def test_bad_mode_is_an_option_error(correlated_file, tmp_path: Path) -> None:
    path, _, _ = correlated_file
    with pytest.raises(OptionError, match="covariance"):
        extract_file(path, tmp_path / "x.fits", covariance="full")


def test_cli_and_config_pass_the_mode(correlated_file, tmp_path: Path) -> None:
    import argparse

    from jwstspec.commands import extract as command
    from jwstspec.config import ExtractionOptions

    path, _, _ = correlated_file
    out = tmp_path / "cli.fits"
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args([str(path), "--radius", "3px", "--bkg-annulus", "7px", "11px", "--covariance", "none",
                              "--output", str(out)])
    assert command.run(args) == 0
    assert fits.getheader(out, "EXTRACT1D")["COVMODE"] == "none"
    assert ExtractionOptions().covariance == "auto"
    with pytest.raises(ValueError):
        ExtractionOptions(covariance="full")


@pytest.mark.parametrize("size", [1, 4, 5, 21])
def test_running_mean_is_scipy_uniform_filter1d(size):
    """The numpy running mean equals scipy.ndimage's (mode nearest), odd and even windows."""
    from jwstspec.extract.covariance import running_mean

    x = np.random.default_rng(size).normal(size=(30, 3, 4))
    np.testing.assert_allclose(running_mean(x, size), ndimage.uniform_filter1d(x, size, axis=0, mode="nearest"),
                               rtol=1e-12, atol=1e-12)


def test_correlate_planes_is_scipy_correlate():
    from jwstspec.extract.covariance import correlate_planes

    rng = np.random.default_rng(1)
    u = rng.normal(size=(6, 9, 7))
    for kernel in (rng.normal(size=(5, 5)), rng.normal(size=(5, 1)), rng.normal(size=(3, 3))):
        np.testing.assert_allclose(correlate_planes(u, kernel), ndimage.correlate(u, kernel[None], mode="constant"),
                                   rtol=1e-12, atol=1e-12)
