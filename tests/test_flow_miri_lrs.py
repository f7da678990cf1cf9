"""MIRI LRS through the flow for real (issue 15 item 4, issue 16): the demo's ``miri-lrs`` and ``miri-lrs-tso``.

One ``run_demo`` runs both observations one after the other (one
generation, one embedded API, the tasks in this process: the ``serial``
runner).

* Slit: a point source of known spectrum in the LRS slit (P750L, FULL,
  2-point nod; uncal ramps placed with jwst's own LRS WCS on the toy
  references of :mod:`jwstspec.synthetic.miri_lrs_model`) goes through
  Detector1 -> nod subtraction -> the real ``calwebb_spec2`` (pathloss,
  photom, resample_spec) -> ``calwebb_spec3`` -> jwstspec extraction per
  nod -> combine.  The slit images run from long to short wavelength; the
  final spectrum must give the injected flux back within 2 % (median and
  in every micron).
* Slitless time series: a transit (box, depth 1 % at 5 um rising to 2 % at
  12 um) written as uncal ramps on the real ``SLITLESSPRISM`` subarray goes
  through Detector1 -> ``calwebb_spec2`` (rateints) -> ``calwebb_tso3`` ->
  the light curves; the white-light depth must be the injected one within
  5 % and the out-of-transit spectrum the injected flux within 2 %.

The jwst steps no test here reads are switched off in these runs only
(:data:`OVERRIDES`): Detector1's ``jump`` (the synthetic ramps hold no
cosmic rays), Spec2's ``extract_1d`` (jwstspec extracts from the ``s2d``;
Tso3 extracts the time series) and the slit's Stage 3
``outlier_detection`` (two clean nods).  The slit's Stage 3 ``x1d`` (a
box on the resampled nods) is still checked against the truth.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jwstspec.spectrum import read_spectrum

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


#: jwst steps whose products no test of this module reads, switched off in its runs only
OVERRIDES: dict[str, dict[str, Any]] = {
    "miri-lrs": {"stage1": {"steps": {"jump": {"skip": True}}}, "stage2": {"steps": {"extract_1d": {"skip": True}}},
                 "stage3": {"steps": {"outlier_detection": {"skip": True}}}},
    "miri-lrs-tso": {"stage1": {"steps": {"jump": {"skip": True}}}, "stage2": {"steps": {"extract_1d": {"skip": True}}}},
}


@pytest.fixture(scope="module")
def lrs_run(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo

    root = tmp_path_factory.mktemp("demo-lrs")
    return run_demo(root, crds_path=crds_cache, branches=("miri-lrs", "miri-lrs-tso"), task_runner="serial",
                    overrides=OVERRIDES)


@pytest.fixture(scope="module")
def tso_run(lrs_run: dict[str, Any]) -> dict[str, Any]:
    return lrs_run


def _obs(run: dict[str, Any]) -> Path:
    cfg = run["demo"].configs["miri-lrs"]
    return cfg.data_dir / cfg.program / f"Obs{cfg.observation}"


def test_every_stage_ran_for_real(lrs_run: dict[str, Any]) -> None:
    summary = lrs_run["summaries"]["miri-lrs"]
    assert summary["status"] == "completed"
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states[("stage1", "ran")] == 3  # two Detector1 + the nod subtraction
    assert states[("stage2", "ran")] == 2 and states[("stage3", "ran")] == 1 and states[("extract", "ran")] == 2
    assert not [t for t in summary["tasks"] if t["state"] == "failed"]
    print(f"miri-lrs e2e: {lrs_run['seconds']}")


def test_spec2_is_jwsts_pathloss_corrected_lrs_slit(lrs_run: dict[str, Any]) -> None:
    from astropy.io import fits

    s2d = sorted((_obs(lrs_run) / "stage2").glob("*_s2d.fits"))
    assert len(s2d) == 2
    with fits.open(s2d[0]) as h:
        assert h[0].header["EXP_TYPE"] == "MIR_LRS-FIXEDSLIT" and h[0].header["S_PTHLOS"] == "COMPLETE"
        assert h["SCI"].header["BUNIT"] == "MJy/sr"
    # jwst's own Stage 3 x1d (a 15-column box on the source, aperture-corrected with the cache's LRS apcorr)
    # against the whole injected source: the calibration chain itself
    from jwstspec.synthetic import miri_lrs_model as lm

    (x1d,) = sorted((_obs(lrs_run) / "stage3").glob("*_x1d.fits"))
    d = fits.getdata(x1d, "EXTRACT1D")
    w, f = np.asarray(d["WAVELENGTH"], float), np.asarray(d["FLUX"], float)
    ok = np.isfinite(f) & (w > 5) & (w < 14)
    truth = lm.source_spectrum_jy(w)
    ratio = f[ok] / truth[ok]
    assert abs(np.median(ratio) - 1) < 0.02
    for lo in range(5, 14):  # the calibration (photom response, pathloss) holds across the band, not only on average
        sel = (w[ok] >= lo) & (w[ok] < lo + 1)
        assert abs(np.median(ratio[sel]) - 1) < 0.02, lo


def test_nod_spectra_run_long_to_short_and_the_combined_one_is_sorted(lrs_run: dict[str, Any]) -> None:
    spectra = sorted((_obs(lrs_run) / "extract").glob("*_x1d.fits"))
    assert len(spectra) == 2
    for p in spectra:
        w = read_spectrum(p).wavelength
        assert np.all(np.diff(w[np.isfinite(w)]) < 0), p.name  # as jwst's LRS s2d
    products = lrs_run["summaries"]["miri-lrs"]["products"]
    combined = read_spectrum(products["p750l"]["fits"])
    assert np.all(np.diff(combined.wavelength) > 0)
    assert combined.meta["APCORR"] is True and combined.meta["APCORREF"] == "jwst_miri_apcorr_synth_lrs.fits"
    assert combined.wavelength.min() < 5.0 and combined.wavelength.max() > 14.0


def test_final_spectrum_recovers_the_injected_source(lrs_run: dict[str, Any]) -> None:
    from jwstspec.synthetic.demo import lrs_truth_jy

    products = lrs_run["summaries"]["miri-lrs"]["products"]
    for key in ("p750l", "stitched"):
        spec = read_spectrum(products[key]["fits"])
        ok = np.isfinite(spec.flux) & (spec.dq == 0) & (spec.wavelength > 5) & (spec.wavelength < 14)
        ratio = spec.flux[ok] / lrs_truth_jy(spec)[ok]
        print(f"miri-lrs e2e: {key} median flux/truth {np.median(ratio):.4f}")
        assert abs(np.median(ratio) - 1) < 0.02
        for lo in range(5, 14):
            sel = (spec.wavelength[ok] >= lo) & (spec.wavelength[ok] < lo + 1)
            assert abs(np.median(ratio[sel]) - 1) < 0.02, (key, lo)
    path, records = lrs_run["truth"]["miri-lrs"]
    assert json.loads(Path(path).read_text()) == records
    assert all(abs(r["median_ratio"] - 1) < 0.02 for r in records.values())


# ------------------------------------------------------------------ slitless time series
def test_every_stage_ran_from_the_ramps(tso_run: dict[str, Any]) -> None:
    summary = tso_run["summaries"]["miri-lrs-tso"]
    assert summary["status"] == "completed"
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states[("stage1", "ran")] == 1 and states[("stage2", "ran")] == 1 and states[("stage3", "ran")] == 1
    assert not [t for t in summary["tasks"] if t["state"] == "failed"]
    print(f"miri-lrs-tso e2e: {tso_run['seconds']}")


def test_white_light_depth_and_flux_against_the_injected(tso_run: dict[str, Any]) -> None:
    from astropy.table import Table

    from jwstspec.synthetic.demo import LRS_TSO_NINTS

    products = tso_run["summaries"]["miri-lrs-tso"]["products"]
    (key,) = [k for k in products if k.startswith("timeseries ")]
    record = products[key]
    transit = tso_run["demo"].truth["miri-lrs-tso"]
    wl = Table.read(record["whitelight"], format="ascii.ecsv")
    assert len(wl) == LRS_TSO_NINTS and wl.colnames[0] == "BJD_TDB"
    assert np.allclose(wl["BJD_TDB"], transit.times())  # INT_TIMES of the uncal went through Detector1-Tso3
    path, records = tso_run["truth"]["miri-lrs-tso"]
    assert json.loads(Path(path).read_text()) == records
    (r,) = records.values()
    print(f"miri-lrs-tso e2e: depth {r['depth']:.5f} injected {r['depth_injected']:.5f} ratio {r['depth_ratio']:.4f}, "
          f"out-of-transit flux/truth {r['median_ratio']:.4f}")
    assert abs(r["depth_ratio"] - 1) < 0.05
    assert abs(r["median_ratio"] - 1) < 0.02
    # the injected depth law, weighted by the product's own spectrum, lies between the two anchor depths
    assert 0.010 < r["depth_injected"] < 0.020
