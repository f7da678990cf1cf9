"""The synthetic NIRSpec instrument model (jwstspec.synthetic.nirspec_model).

Every reference must open with the stdatamodels class jwst opens it with
and survive a save/reopen; the real ``AssignWcsStep``, resolving its
references from the session's local CRDS cache, must put the slits of both
gratings on both detectors inside the range of the real
``wavelengthrange`` reference, at the wavelengths the model was built to
put them, and must follow jwst's own no-data rules.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from jwstspec.synthetic import nirspec_exposures as nx
from jwstspec.synthetic import nirspec_model as nm

CLASSES = {
    "fpa": "FPAModel", "camera": "CameraModel", "collimator": "CollimatorModel", "disperser": "DisperserModel",
    "fore": "FOREModel", "ote": "OTEModel", "msa": "MSAModel", "ifuslicer": "IFUSlicerModel",
    "ifufore": "IFUFOREModel", "ifupost": "IFUPostModel", "chromcorr": "ChromCorrModel",
    "wavelengthrange": "WavelengthrangeModel", "cubepar": "NirspecIFUCubeParsModel", "extract1d": "Extract1dIFUModel",
    "fflat": ("NirspecFlatModel", "NirspecQuadFlatModel"), "photom": ("NrsFsPhotomModel", "NrsMosPhotomModel"),
    "area": ("NirspecSlitAreaModel", "NirspecIfuAreaModel", "NirspecMosAreaModel"),
}


def _reference_files(crds_path):
    return [(rt, p) for rt, paths in nm.model_paths(crds_path).items() for p in paths]


def test_every_reftype_is_written_and_registered(crds_cache):
    from jwstspec.synthetic.crds_cache import registered_entries

    registered = {(e.reftype, e.filename) for e in registered_entries(crds_cache) if e.instrument == "NIRSPEC"}
    for reftype, path in _reference_files(crds_cache):
        assert path.is_file(), path
        assert (reftype, path.name) in registered
    wanted = {"fpa", "camera", "collimator", "disperser", "fore", "ifufore", "ifuslicer", "ifupost", "chromcorr", "msa",
              "ote", "wavelengthrange", "cubepar", "extract1d", "fflat", "photom", "area"}
    assert wanted <= set(nm.model_paths(crds_cache))


def test_written_once_per_cache(crds_cache):
    msa = nm.model_paths(crds_cache)["msa"][0]
    before = msa.stat().st_mtime_ns
    entries = nm.write_nirspec_model(crds_cache)
    assert msa.stat().st_mtime_ns == before
    assert len(entries) == len(_reference_files(crds_cache))


def test_wavelengthrange_is_the_real_crds_file():
    import hashlib

    digest = hashlib.sha256(nm.wavelengthrange_source().read_bytes()).hexdigest()
    assert digest == "71f7d99a003a4da942be72d071f7641002e84f4bb48648dcbadb72ab6585bc01"


def test_references_open_with_their_class_and_survive_save_reopen(crds_cache, tmp_path):
    from stdatamodels.jwst import datamodels as dm

    for reftype, path in _reference_files(crds_cache):
        if path.suffix == ".json":  # slit extract1d: jwst reads it as JSON
            ref = json.loads(path.read_text())
            assert {a["id"] for a in ref["apertures"]} == set(nm.FIXED_SLITS)
            continue
        names = CLASSES[reftype] if isinstance(CLASSES[reftype], tuple) else (CLASSES[reftype],)
        out = tmp_path / f"copy_{path.name}"
        with dm.open(path) as orig:
            assert type(orig).__name__ in names, (path.name, type(orig).__name__)
            cls = type(orig)
            orig.save(out)  # validates against the schema
            with cls(out) as again:
                assert again.meta.reftype.lower() == reftype
                assert again.meta.instrument.name == "NIRSPEC"
                if reftype == "msa":
                    np.testing.assert_array_equal(again.Q3.data["XC"], orig.Q3.data["XC"])
                    assert again.Q1.data.shape[0] >= 365 * 171
                if reftype == "disperser":
                    assert again.groovedensity == pytest.approx(orig.groovedensity)
                if reftype in ("camera", "collimator"):
                    x = np.array([0.01, -0.02])
                    np.testing.assert_allclose(again.model(x, x), orig.model(x, x))
                if reftype == "photom":
                    np.testing.assert_allclose(again.phot_table["relresponse"], orig.phot_table["relresponse"])


@pytest.mark.parametrize("grating", list(nm.SETTINGS))
def test_dispersion_solution_hits_its_targets(grating):
    s = nm.SETTINGS[grating]
    lam = nm.wavelength_at_column(grating, "NRS1", np.array([s.x_lo]))
    lam_hi = nm.wavelength_at_column(grating, s.hi_detector, np.array([s.x_hi]))
    assert lam[0] == pytest.approx(s.lam_lo, rel=1e-6)
    assert lam_hi[0] == pytest.approx(s.lam_hi, rel=1e-6)


def _wavelengthrange(grating):
    from stdatamodels.jwst.datamodels import WavelengthrangeModel

    s = nm.SETTINGS[grating]
    with WavelengthrangeModel(str(nm.wavelengthrange_source())) as wr:
        i = list(wr.waverange_selector).index(f"{s.filter}_{grating}")
        return np.array(wr.wavelengthrange[i]) * 1e6, wr.order[i]


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
@pytest.mark.parametrize("grating,detector", [("G395H", "NRS1"), ("G395H", "NRS2"), ("G140M", "NRS1")])
def test_fixed_slits_land_inside_the_wavelengthrange(crds_cache, grating, detector):
    lo_hi, order = _wavelengthrange(grating)
    a = nx.assign_wcs(nx.rate_model("NRS_FIXEDSLIT", grating=grating, detector=detector))
    assert a.meta.cal_step.assign_wcs == "COMPLETE"
    assert a.meta.wcsinfo.spectral_order == order
    slits = [s.name for s in a.meta.wcs.get_transform("gwa", "slit_frame").slits]
    assert slits == list(nm.FIXED_SLITS)
    for name in slits:
        pix = nx.slit_pixels(a, name)
        assert pix["x"].size > 1000
        # inside the range of the real reference, give or take the pixel the bounding box rounds to
        dlam = np.median(np.abs(np.diff(np.unique(np.round(pix["lam"], 6))))) * 20
        assert pix["lam"].min() >= lo_hi[0] - dlam and pix["lam"].max() <= lo_hi[1] + dlam
        # jwst's bounding box pads the range's projection by 10 px at each end: ~1 % of a range over ~2000 px
        assert np.mean((pix["lam"] >= lo_hi[0]) & (pix["lam"] <= lo_hi[1])) > 0.985
    # jwst's wavelength at the centre of S200A1 is the one the model was built to give
    pix = nx.slit_pixels(a, "S200A1")
    centre = np.abs(pix["y_slit"]) < 0.02
    expected = nm.wavelength_at_column(grating, detector, pix["x"][centre]) * 1e6
    np.testing.assert_allclose(pix["lam"][centre], expected, rtol=2e-4)


@pytest.mark.slow  # jwst's WCS construction, ~1 s each
@pytest.mark.parametrize("grating,detector", [("G395H", "NRS1"), ("G395H", "NRS2"), ("G140M", "NRS1"), ("G140M", "NRS2")])
def test_fixed_slits_reach_the_detectors_jwsts_associations_expect(crds_cache, tmp_path, grating, detector):
    """The A slits: jwst's slit validation on the model's geometry finds data on a detector exactly when
    jwst's association rules say an A slit of that setting can have data there (G395H: both; G140M: NRS1).

    The model's G140M disperses the reference's whole F100LP range (0.97-5.0 um) across NRS1 only."""
    from jwst.associations.lib.dms_base import nrsfss_valid_detector

    from jwstspec.stages.detector_rule import no_data_reason

    model = nx.rate_model("NRS_FIXEDSLIT", grating=grating, detector=detector)
    path = tmp_path / f"jw01234006001_01101_00001_{detector.lower()}_rate.fits"
    model.save(path)
    item = {"detector": detector.lower(), "grating": grating.lower(), "filter": nm.SETTINGS[grating].filter.lower(),
            "fxd_slit": "s200a1"}
    reason = no_data_reason(path)
    assert (reason == "") == nrsfss_valid_detector(item), reason
    if reason:
        assert reason == f"No open slits fall on detector {detector}."


def test_g140m_ifu_has_no_data_on_nrs2_by_jwsts_rule(crds_cache):
    from jwst.assign_wcs.util import NoDataOnDetectorError

    with pytest.raises(NoDataOnDetectorError):
        nx.assign_wcs(nx.rate_model("NRS_IFU", grating="G140M", detector="NRS2"))


@pytest.mark.slow  # G395H on NRS1: on the Spec2 products of the IFU flow (test_flow_nirspec_ifu.py)
@pytest.mark.parametrize("grating,detector", [("G395H", "NRS2"), ("G140M", "NRS1")])
def test_ifu_slices_land_inside_the_wavelengthrange(crds_cache, tmp_path, grating, detector):
    """All 30 slices on the detector, separate, within the real reference's range (slow: 30 bounding boxes).

    jwst's ``assign_wcs`` found data here, so the flow's detector rule must find data too
    (:func:`jwstspec.stages.detector_rule.no_data_reason`; the no-data cases are in ``test_detector_rule.py``).
    """
    from jwstspec.stages.detector_rule import no_data_reason

    lo_hi, _ = _wavelengthrange(grating)
    model = nx.rate_model("NRS_IFU", grating=grating, detector=detector)
    rate = tmp_path / f"jw01234006001_01101_00001_{detector.lower()}_rate.fits"
    if detector == "NRS2":
        model.save(rate)
    a = nx.assign_wcs(model)
    assert a.meta.cal_step.assign_wcs == "COMPLETE"
    if detector == "NRS2":  # the data-on-detector case of the rule (NRS1 always has data)
        assert no_data_reason(rate) == ""
    labels = np.unique(a.regions)
    assert list(labels[labels > 0]) == list(range(1, nm.NSLICE + 1))
    yy, xx = np.nonzero(a.regions > 0)
    sel = slice(None, None, 97)  # a sample of the slice pixels is enough
    _, _, lam = a.meta.wcs(xx[sel], yy[sel])
    good = np.isfinite(lam)
    assert good.mean() > 0.95
    assert np.mean((lam[good] >= lo_hi[0] - 0.01) & (lam[good] <= lo_hi[1] + 0.01)) > 0.99
    # rows of each slice trace do not overlap (the traces are separate virtual slits)
    rows = [set(np.unique(yy[a.regions[yy, xx] == k])) for k in range(1, nm.NSLICE + 1)]
    assert all(not (rows[k] & rows[k + 1]) for k in range(nm.NSLICE - 1))


def test_optics_only_for_the_subarrays_the_model_describes(crds_cache):
    """The demo's ALLSLITS Stage-1 exposures have their own footprint: they must get no WCS from this model."""
    from jwstspec.synthetic.crds_cache import registered_entries

    optics = [e for e in registered_entries(crds_cache) if e.instrument == "NIRSPEC" and e.reftype in nm._OPTICS]
    assert len(optics) == 15  # 7 shared + camera, disperser, fore, chromcorr per setting
    for e in optics:
        assert set(e.match["META.SUBARRAY.NAME"].split("|")) == set(nm.SUBARRAYS)
    model = nx.rate_model("NRS_IFU", grating="G395H", detector="NRS1")
    model.meta.subarray.name = "ALLSLITS"
    with pytest.raises((ValueError, RuntimeError), match="reference files"):  # no optics resolved
        nx.assign_wcs(model)
