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
