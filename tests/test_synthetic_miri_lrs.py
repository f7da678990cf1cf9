"""The toy MIRI LRS instrument (fixed slit and slitless), run through the real jwst pipelines offline.

The oracle is jwst itself: its own LRS WCS (``jwst.assign_wcs.miri.lrs``)
built from our references, and its Detector1 and Spec2 pipelines called as
on real data (every reference from the session's local CRDS cache).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import OptionError
from jwstspec.synthetic import miri_lrs_model as lm


def _model(mode: str, nod: int = 1):
    from stdatamodels.jwst.datamodels import Level1bModel

    m = Level1bModel()
    lm._set_exposure_meta(m, mode=mode, program="01234", observation="003", exposure=1, ngroups=5, nints=2, nod=nod)
    return m


def _wcs(crds_cache: Path, mode: str, nod: int = 1):
    import gwcs
    from jwst.assign_wcs import miri
    from stdatamodels.jwst.datamodels import ImageModel

    m = _model(mode, nod)
    with ImageModel(data=np.zeros((m.meta.subarray.ysize, m.meta.subarray.xsize), np.float32)) as im:
        im.update(m)
        im.meta.subarray = m.meta.subarray
        return gwcs.WCS(miri.lrs(im, lm._ref_paths(crds_cache)))


@pytest.mark.slow  # evaluates the gwcs of jwst's shipped product (~10 s of imports): not in make test-fast
def test_wavelength_table_is_jwsts_shipped_solution() -> None:
    """The specwcs rows carry the shipped product's wavelengths: falling with the row, 3.7-14.4 um."""
    dy, wave = lm.wavetable_rows()
    assert np.all(np.diff(wave) > 0) and np.all(np.diff(dy) < 0)  # jwst's table order: wavelength up, row down
    assert 3.6 < wave.min() < 4.0 and 14.2 < wave.max() < 14.5
    assert np.isclose(lm.wavelength_of_row(0.0), 8.41, atol=0.01)  # the shipped file's reference row


@pytest.mark.slow  # jwst's LRS WCS on the session's CRDS cache: not in make test-fast
@pytest.mark.parametrize("mode", [lm.SLIT, lm.SLITLESS])
def test_jwst_lrs_wcs_on_our_references(crds_cache: Path, mode: str) -> None:
    """jwst's own LRS WCS puts the table's wavelengths on the rows and the pointing's target on the reference column."""
    w = _wcs(crds_cache, mode)
    slitless = mode == lm.SLITLESS
    ystart = lm.SLITLESS_SUBARRAY[1] - 1 if slitless else 0
    y_ref = (lm.Y_REF_SLITLESS if slitless else lm.Y_REF) - 1 - ystart
    x_ref = (lm.X_REF_SLITLESS if slitless else lm.X_REF) - 1
    rows = y_ref + np.array([-250.0, -100.0, 0.0, 60.0])
    ra, dec, lam = w(np.full(rows.shape, x_ref), rows)
    np.testing.assert_allclose(lam, lm.wavelength_of_row(rows - y_ref), rtol=2e-3)
    assert np.all(np.diff(lam) < 0)  # long to short wavelength
    # the target sits on the reference column (slitless) or NOD_OFFSET arcsec along the slit (slit, nod 1)
    x, _y = w.backward_transform(lm.SOURCE_RA, lm.SOURCE_DEC, 8.0)
    expected = x_ref if slitless else x_ref + lm.NOD_OFFSET / lm.PIXEL_SCALE
    assert abs(float(x) - expected) < 0.02


@pytest.mark.slow  # the scene is placed with jwst's LRS WCS: not in make test-fast
def test_scene_flux_bookkeeping(crds_cache: Path) -> None:
    """Undoing photom (photmjsr x relresponse x PIXAR_SR) and the slit loss, each row sums to F_nu."""
    m = _model(lm.SLIT, nod=2)
    src = lm.scene_rate(m, crds_cache, sky=False)
    y = np.arange(lm.NY)
    wave = lm.wavelength_of_row(y - (lm.Y_REF - 1))
    good = np.isfinite(wave) & (wave > 5) & (wave < 14)
    flux = src.sum(axis=1) * lm.PHOTMJSR["FULL"] * lm.relresponse(np.nan_to_num(wave, nan=8)) * lm.PIXAR_SR * 1e6
    truth = lm.source_spectrum_jy(wave) * lm.slit_throughput(wave)
    np.testing.assert_allclose(flux[good], truth[good], rtol=1e-4)  # the slit edge cuts ~1e-6 of the PSF
    sky = lm.scene_rate(m, crds_cache) - src
    in_slit = np.abs(np.arange(lm.NX) - (lm.X_REF - 1)) <= lm.SLIT_HALF_LENGTH
    assert np.all(sky[:, ~in_slit] == 0) and np.all(sky[good][:, in_slit] > 0)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    """Nod positions other than 1/2, too many groups and a transit outside the series are one-line errors."""
    crds_cache = tmp_path / "crds"  # refused before any reference is read
    with pytest.raises(OptionError, match="nod"):
        lm.make_lrs_slit_uncal(tmp_path / "a_uncal.fits", crds_cache, nod=3)
    with pytest.raises(OptionError, match="ngroups"):
        lm.make_lrs_slit_uncal(tmp_path / "a_uncal.fits", crds_cache, nod=1, ngroups=9)
    with pytest.raises(OptionError, match="transit"):
        lm.make_lrs_slitless_uncal(tmp_path / "b_uncal.fits", crds_cache, nints=6, transit=(4, 8))


# ------------------------------------------------------------------ real Detector1 -> Spec2
NINTS, TRANSIT = 12, (4, 8)


@pytest.fixture(scope="module")
def spec2_products(crds_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Slit (two nods, each the other's background) and slitless series through the real Detector1 and Spec2."""
    from jwst.pipeline import Detector1Pipeline, Spec2Pipeline

    raw, s1, s2 = (tmp_path_factory.mktemp(n) for n in ("lrs_raw", "lrs_s1", "lrs_s2"))
    nods = [lm.make_lrs_slit_uncal(raw / f"{lm.exposure_name('01234', '003', n)}_uncal.fits", crds_cache, nod=n)
            for n in (1, 2)]
    tso = raw / f"{lm.exposure_name('01234', '004', 1)}_uncal.fits"
    truth = lm.make_lrs_slitless_uncal(tso, crds_cache, nints=NINTS, transit=TRANSIT)
    for p in [*nods, tso]:
        Detector1Pipeline.call(str(p), output_dir=str(s1), save_results=True)
    rates = [s1 / p.name.replace("_uncal", "_rate") for p in nods]
    asn = {"asn_type": "spec2", "asn_id": "o003", "program": "01234", "asn_pool": "none", "asn_rule": "Asn_Lv2Spec",
           "products": [{"name": rates[0].name.replace("_rate.fits", ""), "members": [
               {"expname": str(rates[0]), "exptype": "science"}, {"expname": str(rates[1]), "exptype": "background"}]}]}
    asn_path = s1 / "nod_asn.json"
    asn_path.write_text(json.dumps(asn))
    Spec2Pipeline.call(str(asn_path), output_dir=str(s2), save_results=True)
    Spec2Pipeline.call(str(s1 / tso.name.replace("_uncal", "_rateints")), output_dir=str(s2), save_results=True)
    stem = rates[0].name.replace("_rate.fits", "")
    return {"x1d": s2 / f"{stem}_x1d.fits", "s2d": s2 / f"{stem}_s2d.fits",
            "x1dints": s2 / tso.name.replace("_uncal", "_x1dints"), "truth": truth}


@pytest.mark.slow
def test_slit_nod_spec2_gives_the_injected_flux(spec2_products: dict[str, object]) -> None:
    """The nod-subtracted, pathloss-corrected x1d equals the injected F_nu within 2 % (median and per micron)."""
    from astropy.io import fits

    d = fits.getdata(spec2_products["x1d"], "EXTRACT1D")
    w, f = np.asarray(d["WAVELENGTH"]), np.asarray(d["FLUX"])
    assert np.all(np.diff(w[np.isfinite(w)]) < 0)  # the slit image runs from long to short wavelength
    # jwst centres its 15-column box on the source; the PSF fraction outside it is < 0.1 % here
    truth = lm.source_spectrum_jy(w) * lm.aperture_fraction(0.0, lm.SLIT_EXTRACT_HALF_WIDTH, w)
    ok = np.isfinite(f) & (w > 5.0) & (w < 14.0)
    ratio = f[ok] / truth[ok]
    assert abs(np.median(ratio) - 1) < 0.02
    for lo in range(5, 14):
        sel = (w[ok] >= lo) & (w[ok] < lo + 1)
        assert abs(np.median(ratio[sel]) - 1) < 0.02, lo
    with fits.open(spec2_products["s2d"]) as h:
        assert h[0].header["S_BKDSUB"] == "COMPLETE" and h[0].header["S_PTHLOS"] == "COMPLETE"


@pytest.mark.slow
def test_slitless_spec2_gives_the_injected_flux_and_transit(spec2_products: dict[str, object]) -> None:
    """x1dints: out of transit the injected F_nu within 2 %; the white-light dip within 5 % of the injected depth."""
    from astropy.io import fits

    truth = spec2_products["truth"]
    d = fits.getdata(spec2_products["x1dints"], "EXTRACT1D")
    w, f = np.asarray(d["WAVELENGTH"], float), np.asarray(d["FLUX"], float)
    assert f.shape[0] == NINTS
    ok = np.isfinite(w[0]) & (w[0] > 5.0) & (w[0] < 14.0) & np.all(np.isfinite(f), axis=0)
    # jwst's slitless box: columns 30-41 around the trace at 35.5
    model = lm.source_spectrum_jy(w[0], scale=20.0) * lm.aperture_fraction(0.0, 6.0, w[0])
    out = ~np.asarray(truth.in_transit)
    assert abs(np.median(f[out][:, ok] / model[ok]) - 1) < 0.02
    white = f[:, ok].sum(axis=1)
    depth = 1 - white[~out].mean() / white[out].mean()
    injected = np.sum(model[ok] * truth.depth(w[0][ok])) / np.sum(model[ok])
    assert abs(depth / injected - 1) < 0.05, (depth, injected)
