"""Synthetic NIRSpec fixed-slit exposures through the real Spec2 (jwstspec.synthetic.nirspec_exposures).

A point source and an extended source of known spectrum are placed in
S200A1 (G395H, NRS1, SUBS200A1 subarray) with the synthetic model's own
WCS; the real ``calwebb_spec2`` (through ``jwstspec.stages.pipelines``,
references from the session's CRDS cache) must give them back in jwst's
units: MJy per pixel in the point-source s2d, MJy/sr for the extended
source, and the injected spectrum in the pipeline's own x1d.

The IFU writer (cached pixel map = jwst's WCS, MJy/sr per pixel) is checked
on the real Spec2 products of the IFU flow (``test_flow_nirspec_ifu.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from jwstspec.synthetic import nirspec_exposures as nx
from jwstspec.synthetic import nirspec_model as nm


def test_point_source_rate_sums_to_the_truth_over_each_column():
    """The injected column sums, times the photom sensitivity, are the injected spectrum."""
    lam = np.repeat(np.linspace(3.0, 5.0, 50), 20)
    x = np.repeat(np.arange(50), 20)
    y_slit = np.tile(np.linspace(-0.5, 0.5, 20), 50)
    pix = {"x": x, "y": np.zeros_like(x), "lam": lam, "y_slit": y_slit}
    rate = nx.slit_rate(pix, "G395H", "POINT", nx.point_source_jy, 3.3, position_arcsec=0.2)
    col = np.bincount(x, weights=rate * nm.sensitivity("G395H", lam)) * 1e6  # Jy
    np.testing.assert_allclose(col, nx.point_source_jy(lam[::20]), rtol=1e-6)
    ext = nx.slit_rate(pix, "G395H", "EXTENDED", nx.extended_mjysr, 3.3)
    sb = ext * nm.sensitivity("G395H", lam) / (nm.PIXEL_AREA_ARCSEC2 * nm.ARCSEC2_TO_SR)
    np.testing.assert_allclose(sb, nx.extended_mjysr(lam), rtol=1e-6)


def test_unknown_subarray_is_a_clear_error():
    with pytest.raises(ValueError, match="SUBFOO"):
        nx.rate_model(subarray="SUBFOO")


def _spec2(crds_cache, tmp_path_factory, source_type):
    from jwstspec.stages.pipelines import run_spec2

    d = tmp_path_factory.mktemp(f"fs-{source_type.lower()}")
    exp = nx.fixed_slit_exposure(d / "jw01234005001_01101_00001_nrs1_rate.fits", source_type=source_type,
                                 position_arcsec=0.3 if source_type == "POINT" else 0.0)
    # the x1d is not read (the point source's x1d is the shared fixture's, checked below)
    products = run_spec2(exp.path, d / "stage2", steps={"extract_1d": {"skip": True}}, log_file=d / "spec2.log")
    return exp, {p.name.rsplit("_", 1)[-1]: p for p in products}


@pytest.fixture(scope="module")
def point_spec2(nirspec_fs_point_spec2):
    return nirspec_fs_point_spec2  # (conftest: shared with the apcorr oracle test)


@pytest.fixture(scope="module")
def extended_spec2(crds_cache, tmp_path_factory):
    return _spec2(crds_cache, tmp_path_factory, "EXTENDED")


def _slit(products, suffix):
    from stdatamodels.jwst import datamodels as dm

    model = dm.open(products[suffix])
    slits = [s for s in model.slits if s.name == "S200A1"] if hasattr(model, "slits") else [model]
    assert len(slits) == 1
    return slits[0]


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
def test_point_source_spec2_gives_mjy_and_the_injected_flux(point_spec2):
    exp, products = point_spec2
    assert {"cal.fits", "s2d.fits", "x1d.fits"} <= set(products)
    s2d = _slit(products, "s2d.fits")
    assert s2d.meta.bunit_data == "MJy"
    assert s2d.source_type == "POINT"
    from stdatamodels.jwst import datamodels as dm

    with dm.open(products["x1d.fits"]) as x1d:
        spec = next(s for s in x1d.spec if s.name == "S200A1").spec_table
        w, f = np.asarray(spec["WAVELENGTH"]), np.asarray(spec["FLUX"])
    ok = np.isfinite(f) & (f != 0)
    assert ok.sum() > 1000
    ratio = f[ok] / exp.truth(w[ok])
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    # the line at 3.60 micron comes out where it was injected (to a tenth of a resolution element)
    near = ok & (np.abs(w - 3.60) < 0.02)
    excess = f[near] - 1e-3 * (w[near] / 4.0) ** 0.5  # minus the injected continuum
    centre = np.sum(w[near] * excess) / np.sum(excess)
    resolution_element = 2 * np.median(np.diff(w[ok]))  # the slit is 2 pixels wide
    assert abs(centre - 3.60) < 0.1 * resolution_element


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
def test_extended_source_spec2_gives_mjy_per_sr(extended_spec2):
    exp, products = extended_spec2
    s2d = _slit(products, "s2d.fits")
    assert s2d.meta.bunit_data == "MJy/sr"
    assert s2d.source_type == "EXTENDED"
    mid = s2d.data.shape[0] // 2
    inner = s2d.data[mid - 10:mid + 10]  # the slit's central 2 arcsec
    lam = s2d.wavelength[mid - 10:mid + 10]
    ok = np.isfinite(inner) & np.isfinite(lam) & (lam > 0)
    ratio = inner[ok] / exp.truth(lam[ok])
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)


def test_uncal_ramps_carry_the_rate_and_leave_reference_columns_dark(tmp_path):
    """write_uncal: the ramps' slope is the rate (gain 1), nothing in the reference columns (Detector1's refpix)."""
    from stdatamodels.jwst.datamodels import Level1bModel

    from jwstspec.synthetic import nirspec as nrs

    m = nx.rate_model(subarray="SUBS200A1", ngroups=5)
    m.data[:] = 200.0
    path = nx.write_uncal(m, tmp_path / "jw01234005001_03101_00001_nrs1_uncal.fits", ngroups=5, seed=3)
    with Level1bModel(path) as u:
        ramps = u.data.astype(float)
        assert ramps.shape == (1, 5, 64, 2048) and u.meta.exposure.ngroups == 5
        assert u.meta.instrument.fixed_slit == "S200A1" and u.meta.subarray.name == "SUBS200A1"
    slope = (ramps[0, -1] - ramps[0, 0]) / (4 * nx.GROUP_TIME)
    inner = slope[:, nrs.REF_COLUMNS:-nrs.REF_COLUMNS]
    assert np.median(inner) == pytest.approx(200.0, rel=0.01)
    assert np.abs(np.median(slope[:, :nrs.REF_COLUMNS])) < 1.0 and np.abs(np.median(slope[:, -nrs.REF_COLUMNS:])) < 1.0
