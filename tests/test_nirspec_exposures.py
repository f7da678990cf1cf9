"""Synthetic NIRSpec fixed-slit exposures through the real Spec2 (jwstspec.synthetic.nirspec_exposures).

A point source and an extended source of known spectrum are placed in
S200A1 (G395H, NRS1, SUBS200A1 subarray) with the synthetic model's own
WCS; the real ``calwebb_spec2`` (through ``jwstspec.stages.pipelines``,
references from the session's CRDS cache) must give them back in jwst's
units: MJy per pixel in the point-source s2d, MJy/sr for the extended
source, and the injected spectrum in the pipeline's own x1d.
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


#: Spec2 steps the extended-source IFU test does not need: the cube (the IFU flow test checks the s3d's
#: MJy/sr and flux), the x1d, and the unity flat (it cannot change a value); photom and pathloss run
_IFU_UNITS_SKIP = ("flat_field", "cube_build", "extract_1d")


@pytest.mark.slow
def test_ifu_extended_source_spec2_cal_is_in_mjy_per_sr(crds_cache, tmp_path):
    """IFU (G395H, NRS1) through the real Spec2 to photom: every slice pixel holds the injected surface brightness."""
    from stdatamodels.jwst import datamodels as dm

    from jwstspec.stages.pipelines import run_spec2

    exp = nx.ifu_exposure(tmp_path / "jw01234006001_01101_00001_nrs1_rate.fits", source_type="EXTENDED")
    products = run_spec2(exp.path, tmp_path / "stage2", steps={s: {"skip": True} for s in _IFU_UNITS_SKIP},
                         log_file=tmp_path / "spec2.log")
    cal = [p for p in products if p.name.endswith("_cal.fits")]
    assert len(cal) == 1 and not [p for p in products if p.name.endswith(("_s3d.fits", "_x1d.fits"))]
    pix = nx.ifu_pixel_map("G395H", "NRS1")
    with dm.open(cal[0]) as model:
        assert model.meta.bunit_data == "MJy/sr" and model.meta.cal_step.photom == "COMPLETE"
        sb = model.data[pix["y"], pix["x"]].astype(float)
    ok = np.isfinite(sb)
    assert ok.mean() > 0.95  # every slice pixel the map places (2.87-4.03 micron on NRS1)
    ratio = sb[ok] / exp.truth(pix["lam"][ok].astype(float))
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    assert np.percentile(np.abs(ratio - 1), 90) < 0.02  # pixel by pixel, not only on average
    # the writer placed the signal with its cached pixel map (no assign_wcs of its own): the map is
    # jwst's own WCS, as attached to the cal file by this Spec2 run, for a dithered pointing too
    pick = np.random.default_rng(1).choice(len(pix["x"]), 2000, replace=False)
    sub = {k: v[pick] for k, v in pix.items()}
    with dm.open(cal[0]) as model:
        ra, dec, lam = model.meta.wcs(sub["x"].astype(float), sub["y"].astype(float))
        mra, mdec = nx.ifu_sky(model, sub)
    np.testing.assert_allclose(lam, sub["lam"], rtol=1e-6)
    np.testing.assert_allclose((mra - ra) * np.cos(np.deg2rad(dec)) * 3600, 0, atol=1e-3)  # arcsec
    np.testing.assert_allclose((mdec - dec) * 3600, 0, atol=1e-3)
    moved, _ = nx.ifu_rate(source_type="POINT", pointing_offset_arcsec=(0.3, -0.2))
    assert moved.meta.dither.x_offset == 0.3 and moved.meta.wcsinfo.dec_ref == pytest.approx(nx.TARGET_DEC - 0.2 / 3600)
    mra, mdec = nx.ifu_sky(moved, sub)
    # the pointing moved by (0.3, -0.2) arcsec: every pixel sees the sky that far away
    assert np.median((mra - ra) * np.cos(np.deg2rad(dec)) * 3600) == pytest.approx(0.3, abs=1e-3)
    assert np.median((mdec - dec) * 3600) == pytest.approx(-0.2, abs=1e-3)


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
