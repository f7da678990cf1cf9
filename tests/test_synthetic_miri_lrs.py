"""The toy MIRI LRS instrument (fixed slit and slitless) against jwst offline.

The oracle is jwst itself: its own LRS WCS (``jwst.assign_wcs.miri.lrs``)
built from our references.  The real pipelines on these exposures run once,
through the flow, in ``test_flow_miri_lrs.py`` and ``test_flow_miri_lrs_tso.py``.
"""

from __future__ import annotations

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


# The real Detector1 -> Spec2 -> Spec3/Tso3 chain on these exposures (jwst's own x1d against the truth, per
# micron; the slitless depth) is checked in tests/test_flow_miri_lrs.py and tests/test_flow_miri_lrs_tso.py,
# which run it once through the flow.
