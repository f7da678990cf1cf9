"""jwst as the oracle for the units: the same hand-made s2d through jwst's ``Extract1dStep`` and ``jwstspec extract``.

A NIRSpec fixed-slit ``SlitModel`` holding a point source in MJy (what
jwst's ``photom`` leaves for point sources, ``SRCTYPE = POINT``) and the
same scene in MJy/sr (``EXTENDED``).  jwst extracts rows 9-15 (a JSON
``extract1d`` reference, no background, no aperture correction); jwstspec
the same rows (centre 12, half-width 3.5 px, no background).  The fluxes
agree to 1 % (median ratio), and the two units give the same Jy.
Offline as in ``docs/offline-jwst.md`` (serverless CRDS, every reference
overridden).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from jwstspec.extract import extract_file
from jwstspec.stages.pipelines import frozen_heap

NW, NC = 300, 25
PIX_SR = (0.1 / 206264.806) ** 2


@pytest.fixture(scope="module")
def offline_crds(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("crds")
    cfg = root / "config" / "jwst"
    cfg.mkdir(parents=True)
    (cfg / "server_config").write_text(
        "{'observatory': 'jwst', 'last_synced': '2025-01-01 00:00:00', 'latest_context': 'jwst_0000.pmap'}")
    mp = pytest.MonkeyPatch()
    mp.setenv("CRDS_PATH", str(root))
    mp.setenv("CRDS_SERVER_URL", "https://jwst-serverless-mode.stsci.edu")
    mp.setenv("STPIPE_DISABLE_CRDS_STEPPARS", "true")
    yield root
    mp.undo()


def _model(unit: str, seed: int = 2):
    from stdatamodels.jwst.datamodels import SlitModel

    rng = np.random.default_rng(seed)
    w = np.linspace(1.0, 5.0, NW)
    edges = np.arange(NC + 1) - 0.5
    prof = 0.5 * np.diff(erf((edges - 12.2) / (np.sqrt(2) * 1.1)))
    jy = prof[:, None] * (3e-6 * (1 + 0.4 * np.cos(w)))[None]  # Jy per pixel (NC, NW)
    scale = 1e-6 if unit == "MJy" else 1e-6 / PIX_SR
    sigma = 0.01 * jy.max() * scale
    m = SlitModel()
    m.data = (jy * scale + rng.normal(size=jy.shape) * sigma).astype(np.float32)
    m.err = np.full(jy.shape, sigma, np.float32)
    m.var_poisson = m.err**2
    m.var_rnoise = np.zeros_like(m.err)
    m.var_flat = np.zeros_like(m.err)
    m.dq = np.zeros(jy.shape, np.uint32)
    m.wavelength = np.broadcast_to(w[None], jy.shape).astype(np.float32).copy()
    m.name = "S200A1"
    m.meta.bunit_data = m.meta.bunit_err = unit
    m.meta.photometry.pixelarea_steradians = PIX_SR
    m.meta.wcsinfo.dispersion_direction = 1
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    m.meta.instrument.filter, m.meta.instrument.grating = "CLEAR", "PRISM"
    m.meta.exposure.type = "NRS_FIXEDSLIT"
    m.meta.observation.date, m.meta.observation.time = "2024-01-01", "00:00:00"
    m.meta.cal_step.photom = "COMPLETE"
    m.source_type = "POINT" if unit == "MJy" else "EXTENDED"
    from tests.test_extract_slitgeometry import slit_wcs  # a detector -> slit_frame gwcs (wavelength linear)

    m.meta.wcs = slit_wcs(12.0, 5.0, wave0=1.0, dwave=4.0 / (NW - 1))
    return m


def _jwst_flux(model, tmp_path: Path) -> np.ndarray:
    from jwst.extract_1d import Extract1dStep

    ref = tmp_path / "extract1d.json"
    ref.write_text(json.dumps({
        "reftype": "EXTRACT1D", "instrument": "NIRSPEC", "telescope": "JWST",
        "apertures": [{"id": "ANY", "region_type": "target", "disp_axis": 1, "ystart": 9, "ystop": 15,
                       "use_source_posn": False, "bkg_order": 0}]}))
    with frozen_heap():
        x1d = Extract1dStep.call(model, override_extract1d=str(ref), override_apcorr="N/A", override_psf="N/A",
                                 apply_apcorr=False, subtract_background=False)
    table = x1d.spec[0].spec_table
    return np.asarray(table["FLUX"], float)


@pytest.mark.slow  # runs jwst's Extract1dStep
@pytest.mark.parametrize("unit", ["MJy", "MJy/sr"])
def test_fluxes_agree_with_jwst_extract1d(offline_crds, tmp_path: Path, unit: str) -> None:
    model = _model(unit)
    path = tmp_path / "fs_s2d.fits"
    model.save(path)
    ours = extract_file(path, tmp_path / "x1d.fits", radius="3.5px", center=(12.0, 12.0), background=False,
                        covariance="none").spectrum
    theirs = _jwst_flux(model, tmp_path)
    ok = np.isfinite(theirs) & np.isfinite(ours.flux) & (theirs != 0)
    assert ok.mean() > 0.95
    ratio = np.median(ours.flux[ok] / theirs[ok])
    assert abs(ratio - 1) < 0.01, (unit, ratio)
    # and both are the injected Jy (same for MJy and MJy/sr)
    assert abs(np.median(ours.flux) / np.median(_model("MJy").data[9:16].sum(axis=0) * 1e6) - 1) < 0.01


# ----------------------------------------------------------------------------- IFU cube with aperture correction
CUBE_N, CUBE_NW, XC, YC = 21, 150, 10.3, 9.8


def _cube(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """A point-source s3d (Gaussian PSF widening with wavelength, fixed centre); path, wavelength, sigma (px), Jy."""
    from jwstspec.synthetic.cubes import SyntheticCube, write_s3d

    rng = np.random.default_rng(4)
    w = np.linspace(2.9, 5.2, CUBE_NW)
    sigma = 0.8 + 0.25 * (w - w[0]) / (w[-1] - w[0])
    jy = 1e-3 * (1 + 0.3 * np.cos(3 * w))
    y, x = np.mgrid[0:CUBE_N, 0:CUBE_N]
    s = sigma[:, None, None]
    psf = np.exp(-0.5 * ((x - XC) ** 2 + (y - YC) ** 2) / s**2) / (2 * np.pi * s**2)
    scene = jy[:, None, None] * psf * 1e-6 / PIX_SR  # MJy/sr
    noise = 2e-3 * scene.max(axis=(1, 2))
    data = scene + rng.normal(size=scene.shape) * noise[:, None, None]
    cube = SyntheticCube(data.astype(np.float32), np.broadcast_to(noise[:, None, None], data.shape).astype(np.float32),
                         np.zeros(data.shape, np.uint32), w, jy, np.full(CUBE_NW, XC), np.full(CUBE_NW, YC), sigma, PIX_SR, 0.0)
    return write_s3d(cube, tmp_path / "point_s3d.fits"), w, sigma, jy


def _ifu_extract1d_ref(path: Path, radius_arcsec: float) -> Path:
    from stdatamodels.jwst.datamodels import Extract1dIFUModel

    wl = np.linspace(0.5, 30.0, 20).astype(np.float32)
    m = Extract1dIFUModel()
    m.data.wavelength, m.data.wavelength_units = wl, "micron"
    m.data.radius, m.data.radius_units = np.full_like(wl, radius_arcsec), "arcsec"
    m.data.inner_bkg, m.data.inner_bkg_units = np.full_like(wl, 1.0), "arcsec"
    m.data.outer_bkg, m.data.outer_bkg_units = np.full_like(wl, 1.1), "arcsec"
    m.data.axis_ratio, m.data.axis_pa, m.data.axis_pa_units = np.ones_like(wl), np.zeros_like(wl), "degrees"
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "N/A"
    m.meta.reftype, m.meta.author, m.meta.pedigree = "extract1d", "jwstspec test", "DUMMY"
    m.meta.description, m.meta.useafter = "test extract1d", "2000-01-01T00:00:00"
    m.meta.region_type, m.meta.subtract_background, m.meta.method, m.meta.subpixels = "target", False, "exact", 10
    m.save(path, all_array_storage="inline")
    return path


@pytest.mark.slow  # runs jwst's Extract1dStep (twice)
def test_ifu_fluxes_agree_with_jwst_with_and_without_apcorr(offline_crds, tmp_path: Path) -> None:
    """The same s3d and apcorr reference through Extract1dStep and jwstspec: 1 % with apcorr on and off.

    The reference is the Gaussian PSF's (jwstspec.synthetic.apcorr_refs), so
    with the correction both give the injected total flux; the 2 px radius
    misses 7-20 % of it, so the test sees a correction being applied.
    """
    from jwst.extract_1d import Extract1dStep

    from jwstspec.spectrum import read_spectrum
    from jwstspec.synthetic.apcorr_refs import write_ifu_apcorr

    path, w, sigma, jy = _cube(tmp_path)
    grid = np.linspace(2.8, 5.3, 24)
    # the PSF sampled at pixel centres encloses about what the Gaussian convolved with the pixel does
    sigma_eff = np.sqrt(np.interp(grid, w, sigma, left=sigma[0] - 0.01, right=sigma[-1] + 0.01) ** 2 + 1 / 12)
    apcorr = write_ifu_apcorr(tmp_path / "apcorr.asdf", grid, 0.1 * sigma_eff)
    ref = _ifu_extract1d_ref(tmp_path / "extract1d.asdf", 0.2)
    theirs = {}
    for on in (True, False):
        with frozen_heap():
            x1d = Extract1dStep.call(str(path), override_extract1d=str(ref), override_apcorr=str(apcorr),
                                     override_psf="N/A", apply_apcorr=on, subtract_background=False,
                                     center_xy=[XC, YC])
        theirs[on] = np.asarray(x1d.spec[0].spec_table["FLUX"], float)
    correction = theirs[True] / theirs[False]
    assert 1.04 < np.nanmedian(correction[:20]) < np.nanmedian(correction[-20:]) - 0.1 < 1.2  # real, growing with λ
    for method in ("aperture", "psf"):
        for on in (True, False):
            res = extract_file(path, tmp_path / f"{method}{on}_x1d.fits", method=method, radius="2px", center=(XC, YC),
                               background=False, covariance="none", apcorr="auto" if on else "none",
                               apcorr_file=apcorr)
            spec = read_spectrum(res.path)
            assert spec.meta["APCORR"] is on
            ok = np.isfinite(theirs[on]) & np.isfinite(spec.flux) & (theirs[on] != 0)
            assert ok.mean() > 0.95
            ratio = np.median(spec.flux[ok] / theirs[on][ok])
            assert abs(ratio - 1) < 0.01, (method, on, ratio)
            if on:  # the total flux of the source (to the Gaussian model's 2 %), and the correction in its column
                assert abs(np.median(spec.flux / jy) - 1) < 0.02, (method, np.median(spec.flux / jy))
                assert spec.meta["APCORREF"] == "apcorr.asdf"
                assert np.allclose(spec.apcorr[ok], correction[ok], rtol=2e-3)
