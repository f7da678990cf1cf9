"""NIRSpec IFU through the flow for real (issue 13): the demo's ``nirspec-ifu`` observation.

A point source of known spectrum (G395H/F290LP, NRS1, full frame, 2
dithers; uncal ramps placed with the synthetic NIRSpec model's own WCS), a
leakcal/imprint exposure and a dedicated background go through Detector1
-> 1/f -> the real ``calwebb_spec2`` (background and imprint as members of
each exposure's association) -> ``calwebb_spec3`` -> jwstspec extraction
-> combine.  The final spectrum must give the injected flux back (median
within 2 %), the emission line at its injected wavelength (to a tenth of
a resolution element), and ``demo_truth.json`` must say so.
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


@pytest.fixture(scope="module")
def ifu_run(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    root = tmp_path_factory.mktemp("demo-ifu")
    with embedded_prefect():
        yield run_demo(root, crds_path=crds_cache, branches=("nirspec-ifu",), workers=2)


def _obs(run: dict[str, Any]) -> Path:
    cfg = run["demo"].configs["nirspec"]
    return cfg.data_dir / cfg.program / f"Obs{cfg.observation}"


def test_every_stage_ran_for_real_and_the_imprint_is_no_dither(ifu_run: dict[str, Any]) -> None:
    summary = ifu_run["summaries"]["nirspec"]
    assert summary["status"] == "completed"
    assert not [t for t in summary["tasks"] if t["state"] == "failed"]
    assert not any("synthetic" in n.lower() for n in summary["notes"])  # no stand-in cubes any more
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states[("stage2", "ran")] == 2 and states[("stage3", "ran")] == 1  # the 2 dithers, one Stage 3
    stage1 = Counter(t["task"] for t in summary["tasks"] if t["stage"] == "stage1")
    assert stage1["jw01234003001_03103_00001_nrs1"] >= 1  # Detector1 ran on the imprint exposure
    assert not [t for t in summary["tasks"] if t["stage"] == "stage2" and "03103" in t["task"]]


def test_spec2_subtracted_background_and_imprint(ifu_run: dict[str, Any]) -> None:
    from astropy.io import fits

    cal = sorted((_obs(ifu_run) / "stage2").glob("*_cal.fits"))
    assert [p.name for p in cal] == [f"jw01234003001_03101_0000{k}_nrs1_cal.fits" for k in (1, 2)]
    for path in cal:  # jwst's cal_step keywords (imprint, bkg_subtract, photom) and units
        with fits.open(path) as hdul:
            head = hdul[0].header
            assert (head["S_IMPRNT"], head["S_BKDSUB"], head["S_PHOTOM"]) == ("COMPLETE", "COMPLETE", "COMPLETE")
            assert hdul["SCI"].header["BUNIT"] == "MJy/sr"
    s3d = sorted((_obs(ifu_run) / "stage3").glob("*_s3d.fits"))
    assert len(s3d) == 1
    with fits.open(s3d[0]) as hdul:
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr"
        assert hdul["SCI"].data.ndim == 3 and np.isfinite(hdul["SCI"].data).any()


def test_final_spectrum_gives_the_injected_source_back(ifu_run: dict[str, Any]) -> None:
    from jwstspec.synthetic.demo import truth_of
    from jwstspec.synthetic.nirspec_exposures import LINES_UM

    summary = ifu_run["summaries"]["nirspec"]
    products = {k: v for k, v in summary["products"].items() if k != "stitched"}
    assert products
    truth = truth_of("nirspec")
    for record in products.values():
        spec = read_spectrum(record["fits"])
        assert spec.meta["APCORR"] is True  # the cache's G395H/F290LP apcorr: compared with the whole source
        assert spec.meta["APCORREF"] == "jwst_nirspec_apcorr_synth_ifu_g395h_f290lp.asdf"
        good = np.isfinite(spec.flux) & (spec.dq == 0)
        assert good.sum() > 500
        w, f = np.asarray(spec.wavelength[good], float), np.asarray(spec.flux[good], float)
        expected = truth(spec)[good]
        assert np.median(f / expected) == pytest.approx(1.0, abs=0.02)
        # the 3.60 micron line (NRS1): flux-weighted centre of the excess over the continuum
        centre, sigma = LINES_UM[0]
        near = np.abs(w - centre) < 4 * sigma
        side = ~near & (np.abs(w - centre) < 10 * sigma)
        lineless = np.interp(w[near], w[side], f[side])  # the continuum under the line
        excess = f[near] - lineless
        measured = np.sum(w[near] * excess) / np.sum(excess)
        resolution_element = 2 * np.median(np.diff(w))
        assert abs(measured - centre) < 0.1 * resolution_element, (measured, centre, resolution_element)


def test_demo_truth_file_says_within_2_percent(ifu_run: dict[str, Any]) -> None:
    path, records = ifu_run["truth"]["nirspec"]
    assert Path(path).is_file() and json.loads(Path(path).read_text()) == records
    finals = {k: v for k, v in records.items() if "stitched" not in k}
    assert finals
    for name, record in finals.items():
        assert abs(record["median_ratio"] - 1) < 0.02, (name, record)
