"""Synthetic NIRSpec bright-object time series (BOTS) through the real Detector1 and Spec2.

``jwstspec.synthetic.nirspec_exposures.bots_uncal`` writes ``NRS_BRIGHTOBJ``
ramps (S1600A1, G395H/F290LP, NRS1, SUB2048) whose point source is placed
with the synthetic NIRSpec model's own WCS and dims by a known depth in the
integrations of a box transit.  jwst is the oracle: its ``assign_wcs`` opens
S1600A1 (and only it) in SUB2048.  The real Detector1 -> Spec2 -> Tso3 on
such ramps (``_calints`` in MJy, the point-source photom convention of fixed
slits; the injected spectrum and transit back) is
``tests/test_flow_nirspec_slits.py``, through the flow.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from jwstspec.synthetic import nirspec_exposures as nx
from jwstspec.synthetic import nirspec_model as nm

NINTS, TRANSIT, DEPTH = 8, (3, 5), 0.02
#: bright enough that photon noise (gain 1) stays ~0.02 % of the white light per integration
SCALE = 1.0e6


def truth_jy(wavelength_um: np.ndarray) -> np.ndarray:
    return SCALE * nx.point_source_jy(wavelength_um)


@pytest.fixture(scope="module")
def bots(crds_cache, tmp_path_factory):
    d = tmp_path_factory.mktemp("bots")
    t0 = time.perf_counter()
    exp = nx.bots_uncal(d / "jw01234007001_04101_00001_nrs1_uncal.fits", truth=truth_jy, nints=NINTS,
                        transit=TRANSIT, depth=DEPTH, observation="007", seed=5)
    print(f"bots: uncal written in {time.perf_counter() - t0:.1f} s")
    return d, exp


def test_the_model_describes_sub2048_with_jwsts_corner():
    # jwst's own BOTS test data (jwst/extract_2d/tests/test_nirspec.py): SUBSTRT1/2 = 1/946, 2048 x 32
    assert nm.SUBARRAYS["SUB2048"] == (1, 946, 2048, 32)


def test_bots_rejects_a_transit_outside_the_integrations(tmp_path):
    with pytest.raises(ValueError, match="transit"):
        nx.bots_uncal(tmp_path / "x_uncal.fits", nints=4, transit=(2, 5))
    with pytest.raises(ValueError, match="depth"):
        nx.bots_uncal(tmp_path / "x_uncal.fits", depth=1.5)


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_jwst_opens_only_s1600a1_inside_sub2048(crds_cache, detector):
    """jwst's assign_wcs on the BOTS rate: one slit, S1600A1, whose bounding box lies inside the 32 rows.

    G395H: the spectrum continues onto NRS2 (the longer wavelengths), in the same subarray rows."""
    from jwst.assign_wcs import nirspec

    m = nx.rate_model("NRS_BRIGHTOBJ", detector=detector, subarray="SUB2048", fixed_slit="S1600A1")
    placed = nx.assign_wcs(m)
    slits = nirspec.get_open_slits(placed)
    assert [s.name for s in slits] == ["S1600A1"]
    (x0, x1), (y0, y1) = nirspec.nrs_wcs_set_input(placed, "S1600A1").bounding_box
    assert 0 <= y0 and y1 <= 31 and x1 - x0 > 2000
    lam = nx.slit_pixels(placed, "S1600A1")["lam"]
    if detector == "NRS2":
        assert lam.min() > 4.0 and lam.max() == pytest.approx(5.27, abs=0.02)  # G395H's long end
    else:
        assert lam.min() == pytest.approx(2.87, abs=0.02) and lam.max() < 4.1
    # the pointing reference is the slit: jwst's extract_2d puts the target at its centre
    assert nx.source_position_in_slit(placed, "S1600A1", 0.0, 0.0) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
def test_uncal_is_a_time_series_with_the_dip_in_its_ramps(bots):
    from stdatamodels.jwst.datamodels import Level1bModel

    from jwstspec.exposures import is_time_series, read_exposure

    _, exp = bots
    info = read_exposure(exp.path)
    assert info.exp_type == "NRS_BRIGHTOBJ" and is_time_series(info)
    with Level1bModel(exp.path) as u:
        assert u.data.shape == (NINTS, 5, 32, 2048)
        assert u.meta.subarray.name == "SUB2048" and u.meta.instrument.fixed_slit == "S1600A1"
        assert len(u.int_times) == NINTS and np.all(np.diff(u.int_times["int_mid_BJD_TDB"]) > 0)
        signal = (u.data[:, -1].astype(float) - u.data[:, 0]).sum(axis=(1, 2))
    relative = signal / np.median(signal[~exp.in_transit])
    np.testing.assert_allclose(relative, exp.scale(), atol=0.002)
    assert list(exp.in_transit) == [TRANSIT[0] <= i <= TRANSIT[1] for i in range(NINTS)]
