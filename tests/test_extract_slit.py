"""Slit (s2d) extraction: aperture and psf along the cross-dispersion axis, one spectrum per slit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from jwstspec.extract import extract_file, read_slits
from jwstspec.spectrum import DQ_FLAGS
from jwstspec.synthetic.cubes import source_spectrum

NW, NC = 800, 31
PIX = 0.1 / 206264.806  # rad


def _slit(seed: int, n_cosmic: int = 30, nw: int = NW):
    rng = np.random.default_rng(seed)
    w = np.linspace(2.9, 5.2, nw)
    t = np.linspace(0, 1, nw)
    yc, sig = 15.25 + 0.5 * t, 0.9 + 0.3 * t
    edges = np.arange(NC + 1) - 0.5
    prof = 0.5 * np.diff(erf((edges[None] - yc[:, None]) / (np.sqrt(2) * sig[:, None])), axis=1)  # (NW, NC)
    truth = source_spectrum(w)
    source = (prof * truth[:, None] * 1e-6 / PIX**2).T  # MJy/sr, (NC, NW)
    noise = np.broadcast_to(source.max(axis=0) / 200, source.shape).astype(np.float32).copy()
    data = (source + 30.0 + rng.normal(size=source.shape) * noise).astype(np.float32)
    k = rng.choice(np.arange(1, nw - 1), n_cosmic, replace=False)
    row = np.clip(np.rint(yc[k] + rng.uniform(-3, 3, n_cosmic)).astype(int), 0, NC - 1)
    data[row, k] += rng.uniform(20, 200, n_cosmic).astype(np.float32) * noise[row, k]
    dq = np.zeros(data.shape, np.uint32)
    data[:, 0] = np.nan  # a dead first column
    dq[:, 0] = 1
    return data, noise, dq, w, source * 1e6 * PIX**2, yc, k


def _fill(s, data, noise, dq, w, name):
    s.data, s.err, s.dq = data, noise, dq
    s.wavelength = np.broadcast_to(w[None], data.shape).astype(np.float32).copy()
    s.name = name
    s.meta.bunit_data = "MJy/sr"
    s.meta.photometry.pixelarea_steradians = PIX**2
    s.meta.wcsinfo.dispersion_direction = 1


@pytest.fixture(scope="module")
def multislit(tmp_path_factory: pytest.TempPathFactory):
    from stdatamodels.jwst.datamodels import MultiSlitModel

    m = MultiSlitModel()
    m.meta.instrument.name = "NIRSPEC"
    m.meta.instrument.detector = "NRS1"
    truths = []
    for i, name in enumerate(("S200A1", "S200A2")):
        data, noise, dq, w, src_jy, yc, k = _slit(10 + i)
        m.slits.append(m.slits.item())
        _fill(m.slits[i], data, noise, dq, w, name)
        truths.append((src_jy, yc, k))
    path = tmp_path_factory.mktemp("s2d") / "multi_s2d.fits"
    m.save(path)
    return path, truths


def _band(yc: np.ndarray, r: float) -> np.ndarray:
    rows = np.arange(NC, dtype=float)
    return np.clip(np.minimum(rows[None] + 0.5, yc[:, None] + r) - np.maximum(rows[None] - 0.5, yc[:, None] - r), 0, 1)


@pytest.mark.parametrize("method", ["aperture", "psf"])
def test_slit_methods_against_truth(multislit, tmp_path: Path, method: str) -> None:
    path, truths = multislit
    res = extract_file(path, tmp_path / "x1d.fits", method=method, radius="4px", bkg_annulus=("8px", "12px"))
    assert len(res.paths) == 2 and all(p.exists() for p in res.paths)
    for spec, (src_jy, yc, k) in zip(res.spectra, truths):
        assert np.isnan(spec.flux[0]) and spec.dq[0] & DQ_FLAGS["NO_DATA"]
        assert np.all(np.isfinite(spec.flux[1:]))
        assert np.max(np.abs(spec.y_center[1:] - yc[1:])) < 0.05
        truth = np.einsum("ik,ki->k", src_jy, _band(spec.y_center, 4.0))
        ok = slice(1, None)
        assert abs(np.median(spec.flux[ok] / truth[ok]) - 1) <= 0.003
        pull = (spec.flux[ok] - truth[ok]) / spec.flux_error[ok]
        robust = 1.4826 * np.median(np.abs(pull - np.median(pull)))
        assert 0.9 <= robust <= 1.1, robust
        assert np.mean(np.abs(spec.flux[k] - truth[k]) / spec.flux_error[k] > 5) <= 0.02


def test_read_one_named_slit_and_bad_method(multislit, tmp_path: Path) -> None:
    from jwstspec.errors import InputFileError, OptionError

    path, _ = multislit
    assert [s.name for s in read_slits(path, "S200A2")] == ["S200A2"]
    res = extract_file(path, tmp_path / "one.fits", radius="4px", bkg_annulus=("8px", "12px"), slit_name="S200A2")
    assert res.paths == [tmp_path / "one.fits"] and res.spectrum.meta["SLITNAME"] == "S200A2"
    with pytest.raises(InputFileError, match="NOPE"):
        read_slits(path, "NOPE")
    with pytest.raises(OptionError, match="--method"):
        extract_file(path, tmp_path / "b.fits", method="box")
    assert not (tmp_path / "b.fits").exists()


def test_miri_lrs_style_image_model_s2d(tmp_path: Path) -> None:
    """MIRI LRS fixed-slit s2d files are ImageModels with a WAVELENGTH array; dispersion along y."""
    from stdatamodels.jwst.datamodels import ImageModel

    data, noise, dq, w, src_jy, yc, _ = _slit(21, n_cosmic=0)
    m = ImageModel(data.T.copy())  # (nwave, ncross): dispersion along y as in MIRI LRS
    m.err, m.dq = noise.T.copy(), dq.T.copy()
    m.wavelength = np.broadcast_to(w[:, None], m.data.shape).astype(np.float32).copy()
    m.meta.instrument.name = "MIRI"
    m.meta.instrument.detector = "MIRIMAGE"
    m.meta.bunit_data = "MJy/sr"
    m.meta.photometry.pixelarea_steradians = PIX**2
    m.meta.wcsinfo.dispersion_direction = 2
    path = tmp_path / "lrs_s2d.fits"
    m.save(path)
    res = extract_file(path, tmp_path / "lrs_x1d.fits", method="aperture", radius="4px", bkg_annulus=("8px", "12px"))
    spec = res.spectrum
    truth = np.einsum("ik,ki->k", src_jy, _band(spec.y_center, 4.0))
    assert abs(np.nanmedian(spec.flux[1:] / truth[1:]) - 1) <= 0.003
    np.testing.assert_allclose(spec.wavelength, w, rtol=1e-6)


@pytest.mark.parametrize(("nw", "annulus"), [(NW, ("7px", "13px")), (NW, ("7px", "10px")), (2400, ("7px", "10px"))])
def test_noise_correlated_along_the_slit(tmp_path: Path, nw: int, annulus: tuple[str, str]) -> None:
    """Resampled s2d: noise correlated along the slit (kernel 0.5, 1, 0.5 -> rho 2/3 at one row, 1/6 at two).

    With ``covariance`` auto the correlation is measured on the background rows and the pulls are ~1;
    with ``none`` (independent pixels) the errors are too small.  Few background rows (2 row pairs two
    apart per wavelength) are enough for a slit (``SLIT_MIN_PAIRS``; 1600 pairs over 800 wavelengths, which
    a cube's 2000 refused), over all its wavelengths (2400: a cube's estimate is thinned to 1000 of them).
    """
    from scipy.ndimage import convolve1d
    from stdatamodels.jwst.datamodels import SlitModel

    _, noise, dq, w, src_jy, _, _ = _slit(31, n_cosmic=0, nw=nw)
    kernel = np.array([0.5, 1.0, 0.5]) / np.sqrt(1.5)  # unit variance per pixel after the convolution
    correlated = convolve1d(np.random.default_rng(5).normal(size=noise.shape), kernel, axis=0, mode="wrap") * noise
    m = SlitModel()
    _fill(m, (src_jy / (1e6 * PIX**2) + 30.0 + correlated).astype(np.float32), noise, dq, w, "S200A1")
    m.data[:, 0] = np.nan  # the dead first column of _slit
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    path = tmp_path / "corr_s2d.fits"
    m.save(path)
    pulls = {}
    for mode in ("auto", "none"):
        res = extract_file(path, tmp_path / f"{mode}.fits", method="aperture", radius="4px",
                           bkg_annulus=annulus, covariance=mode)
        spec = res.spectrum
        truth = np.einsum("ik,ki->k", src_jy, _band(spec.y_center, 4.0))
        pull = ((spec.flux - truth) / spec.flux_error)[1:]
        pulls[mode] = 1.4826 * np.median(np.abs(pull - np.median(pull)))
        if mode == "auto":
            assert spec.meta["COVRHOY"] == pytest.approx(2 / 3, abs=0.05)
            assert spec.meta["ERRCOV"] > 1.3
    assert 0.9 <= pulls["auto"] <= 1.1, pulls
    assert pulls["none"] > 1.3, pulls
