"""The detector rule (issue 13): which detector a NIRSpec setting puts data on is jwst's decision.

jwst is the oracle: for each exposure, :func:`no_data_reason` must say
"no data" exactly when jwst's own ``AssignWcsStep`` (or, for a setting the
synthetic model has no optics for, jwst's IFU function itself) raises
``NoDataOnDetectorError``, with jwst's message.
"""

from __future__ import annotations

import time

import pytest

from jwstspec.stages.detector_rule import no_data_reason
from jwstspec.stages.pipelines import frozen_heap
from jwstspec.synthetic import nirspec_exposures as nx


def _rate(tmp_path, exp_type, grating, detector, **kw):
    model = nx.rate_model(exp_type, grating=grating, detector=detector, **kw)
    path = tmp_path / f"jw01234006001_01101_00001_{detector.lower()}_rate.fits"
    model.save(path)
    return path, model


def _jwst_says_no_data(model) -> str:
    from jwst.assign_wcs import AssignWcsStep
    from jwst.assign_wcs.util import NoDataOnDetectorError

    try:
        with frozen_heap():
            AssignWcsStep.call(model)
    except NoDataOnDetectorError as exc:
        return str(exc.args[-1])
    return ""


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
@pytest.mark.parametrize("grating, detector", [("G140M", "NRS2")])
def test_ifu_agrees_with_jwsts_assign_wcs(crds_cache, tmp_path, grating, detector):
    """No data: jwst's rule.  Data on the detector (G395H on NRS2, jwst's full IFU ``assign_wcs`` as the
    oracle) is checked in ``test_nirspec_model.py::test_ifu_slices_land_inside_the_wavelengthrange``,
    on the ``assign_wcs`` that test runs anyway."""
    path, model = _rate(tmp_path, "NRS_IFU", grating, detector)
    t0 = time.perf_counter()
    reason = no_data_reason(path)
    print(f"detector rule {grating} {detector}: {time.perf_counter() - t0:.1f} s, {reason!r}")
    expected = _jwst_says_no_data(model)
    assert reason == expected
    assert bool(reason) == (detector == "NRS2" and grating.endswith("M"))  # jwst: M gratings miss NRS2 in the IFU
    if reason:
        assert reason == "No IFU slices fall on detector NRS2"


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
def test_g140h_f070lp_on_nrs2_follows_jwsts_ifu_function(crds_cache, tmp_path):
    """A setting the model has no optics for: jwst's header rule decides before any reference is read."""
    from jwst.assign_wcs import nirspec
    from jwst.assign_wcs.util import NoDataOnDetectorError

    path, model = _rate(tmp_path, "NRS_IFU", "G395H", "NRS2")
    model.meta.instrument.grating, model.meta.instrument.filter = "G140H", "F070LP"
    model.save(path)
    with pytest.raises(NoDataOnDetectorError) as jwst_error:
        nirspec.ifu(model, {"ifufore": "x", "ifuslicer": "x", "ifupost": "x"})
    assert no_data_reason(path) == jwst_error.value.args[-1]
    model.meta.detector = "NRS1"
    model.meta.instrument.detector = "NRS1"
    model.save(path)
    assert no_data_reason(path) == ""  # on NRS1 the rule finds data (the missing optics are Spec2's business)


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
def test_bright_object_on_nrs1_has_data(crds_cache, tmp_path):
    path, model = _rate(tmp_path, "NRS_BRIGHTOBJ", "G395H", "NRS1", subarray="SUB2048", fixed_slit="S1600A1")
    assert no_data_reason(path) == "" == _jwst_says_no_data(model)


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
@pytest.mark.parametrize("exp_type, subarray, slit", [("NRS_BRIGHTOBJ", "SUB2048", "S1600A1"),
                                                     ("NRS_FIXEDSLIT", "FULL", "S200A1")])
def test_g140m_puts_no_slit_on_nrs2_by_jwsts_slit_validation(crds_cache, tmp_path, monkeypatch, exp_type, subarray,
                                                             slit):
    """A geometric no-data case: the slit is open, but jwst's ``validate_open_slits`` finds that it does not
    project onto NRS2 inside the setting's wavelength range; the rule gives jwst's own message, and '' on NRS1."""
    from jwst.assign_wcs import AssignWcsStep, nirspec
    from jwst.assign_wcs.util import NoDataOnDetectorError

    validated = []
    original = nirspec.validate_open_slits

    def spy(model, open_slits, reference_files):
        before = [s.name for s in open_slits]
        kept = original(model, open_slits, reference_files)
        validated.append((before, [s.name for s in kept]))
        return kept

    monkeypatch.setattr(nirspec, "validate_open_slits", spy)
    path, model = _rate(tmp_path, exp_type, "G140M", "NRS2", subarray=subarray, fixed_slit=slit)
    with pytest.raises(NoDataOnDetectorError) as jwst_error, frozen_heap():
        AssignWcsStep.call(model)
    (opened, kept), = validated  # jwst's slit validation removed every open slit
    assert slit in opened and kept == []
    assert jwst_error.value.args[-1] == "No open slits fall on detector NRS2."
    assert no_data_reason(path) == jwst_error.value.args[-1]
    nrs1, _ = _rate(tmp_path, exp_type, "G140M", "NRS1", subarray=subarray, fixed_slit=slit)
    assert no_data_reason(nrs1) == ""


def test_other_instruments_are_not_checked(tmp_path):
    from stdatamodels.jwst.datamodels import ImageModel

    m = ImageModel((8, 8))
    m.meta.instrument.name, m.meta.exposure.type = "MIRI", "MIR_MRS"
    m.save(tmp_path / "m_rate.fits")
    assert no_data_reason(tmp_path / "m_rate.fits") == ""
