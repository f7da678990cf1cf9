"""The synthetic NIRSpec IFU exposure through the real Detector1 (local CRDS cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jwstspec.stages.clean1f import clean_1f
from jwstspec.stages.pipelines import run_detector1
from jwstspec.synthetic import nirspec as syn


def test_detector1_then_1f_recovers_the_injected_rate(crds_cache: Path, tmp_path: Path) -> None:
    from stdatamodels.jwst import datamodels

    uncal = syn.make_nirspec_ifu_uncal(tmp_path / "jw01234003001_03101_00001_nrs1_uncal.fits", kind="science", nod=1, seed=5)
    rate = run_detector1(uncal, tmp_path / "stage1", log_file=tmp_path / "d1.log")
    assert rate.name == "jw01234003001_03101_00001_nrs1_rate.fits"
    assert "dq_init" in (tmp_path / "d1.log").read_text()  # the pipeline's log beside the products
    truth = syn.expected_rate("science")
    corr = clean_1f(rate, tmp_path / "stage1" / "x_ratecorr.fits", method="pipeline")
    with datamodels.open(str(rate)) as raw, datamodels.open(str(corr)) as m:
        assert m.meta.cal_step.jump == "COMPLETE" and m.meta.cal_step.ramp_fit == "COMPLETE"
        src = truth > syn.SKY_RATE + 1
        assert abs(np.median(np.asarray(m.data)[src] / truth[src]) - 1) < 0.02
        dark = ~syn.footprint()
        dark[:, :4] = dark[:, -4:] = False

        def column_rms(a: np.ndarray) -> float:
            return float(np.nanstd(np.nanmedian(np.where(dark, a, np.nan), axis=0)))

        assert column_rms(np.asarray(m.data)) < 0.5 * column_rms(np.asarray(raw.data))  # jwst clean_flicker_noise
