"""The synthetic NIRSpec exposures and references, and the real Detector1 + 1/f correction on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.stages.clean1f import clean_1f
from jwstspec.stages.pipelines import run_detector1
from jwstspec.synthetic import nirspec as syn


def test_references_written_not_registered(tmp_path: Path) -> None:
    from jwstspec.synthetic.crds_cache import reference_dir, registered_entries

    sub = syn.Subarray("SUB2048", 1, 1, 64, 32)
    entries = syn.write_nirspec_references(tmp_path, subarray=sub, ngroups=3)
    assert sorted(e.reftype for e in entries) == ["dark", "gain", "linearity", "mask", "readnoise", "saturation", "superbias"]
    assert all(e.match == {"META.INSTRUMENT.DETECTOR": "NRS1", "META.SUBARRAY.NAME": "SUB2048"} for e in entries)
    assert registered_entries(tmp_path) == []  # registering is the caller's (demo.write_references) job
    refdir = reference_dir(tmp_path, "NIRSPEC")
    dark = fits.getdata(refdir / next(e.filename for e in entries if e.reftype == "dark"), "SCI")
    assert dark.shape == (3, 32, 64)
    mask = fits.getdata(refdir / next(e.filename for e in entries if e.reftype == "mask"), "DQ")
    assert mask[:, :4].all() and mask[:, -4:].all() and not mask[:, 4:-4].any()


def test_uncal_metadata_and_reproducible(tmp_path: Path) -> None:
    a = syn.make_nirspec_ifu_uncal(tmp_path / "a_uncal.fits", kind="science", nod=2, observation="003")
    b = syn.make_nirspec_ifu_uncal(tmp_path / "b_uncal.fits", kind="science", nod=2, observation="003")
    c = syn.make_nirspec_ifu_uncal(tmp_path / "c_uncal.fits", kind="background", nod=1, observation="004")
    h = fits.getheader(a)
    assert (h["DETECTOR"], h["SUBARRAY"], h["SUBSIZE1"], h["SUBSIZE2"], h["PATT_NUM"], h["EXP_TYPE"]) == (
        "NRS1", "ALLSLITS", syn.NX, syn.NY, 2, "NRS_IFU")
    assert (h["GRATING"], h["FILTER"], h["PROGRAM"], h["OBSERVTN"]) == ("G395H", "F290LP", "01234", "003")
    assert fits.getheader(c)["BKGDTARG"] is True
    assert np.array_equal(fits.getdata(a, "SCI"), fits.getdata(b, "SCI"))  # same seed in every process
    assert fits.getdata(a, "SCI").shape == (syn.NINTS, syn.NGROUPS, syn.NY, syn.NX)


def test_nods_move_the_source() -> None:
    for mode in ("ifu", "fs"):
        rows = {n: float(np.argmax(syn.expected_rate("science", nod=n, mode=mode)[:, 1000])) for n in (1, 2, 3)}
        assert len(set(rows.values())) == 3
        assert all(syn.footprint(mode=mode)[int(r), 1000] for r in rows.values())


def _column_rms(a: np.ndarray, dark: np.ndarray) -> float:
    return float(np.nanstd(np.nanmedian(np.where(dark, a, np.nan), axis=0)[syn.REF_COLUMNS:-syn.REF_COLUMNS]))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pipeline", "moving_median"])
def test_detector1_then_1f_recovers_the_injected_rate(crds_cache: Path, tmp_path: Path, method: str) -> None:
    from stdatamodels.jwst import datamodels

    # jwst's median clean models stripes constant along a column; the moving median also follows a drift
    uncal = syn.make_nirspec_ifu_uncal(tmp_path / "jw01234003001_03101_00001_nrs1_uncal.fits", kind="science", nod=1, seed=5,
                                       stripe_drift=method == "moving_median")
    rate = run_detector1(uncal, tmp_path / "stage1", log_file=tmp_path / "d1.log")
    assert rate.name == "jw01234003001_03101_00001_nrs1_rate.fits"
    assert "dq_init" in (tmp_path / "d1.log").read_text()  # the pipeline's log beside the products
    truth = syn.expected_rate("science")
    corr = clean_1f(rate, tmp_path / "stage1" / "jw01234003001_03101_00001_nrs1_ratecorr.fits", method=method, window=51)
    with datamodels.open(str(rate)) as raw, datamodels.open(str(corr)) as m:
        assert m.meta.cal_step.jump == "COMPLETE" and m.meta.cal_step.ramp_fit == "COMPLETE"
        assert m.meta.cal_step.clean_flicker_noise == "COMPLETE"
        data = np.asarray(m.data, float)
        src = truth > syn.SKY_RATE + 1
        assert abs(np.median(data[src] / truth[src]) - 1) < 0.02
        dark = ~syn.footprint()
        # injected stripes (the rate of the ramps) vs what is left, against the noise of a column median
        injected = _column_rms(np.asarray(raw.data, float) - truth, dark)
        left = _column_rms(data - truth, dark)
        n_sky = np.median(dark.sum(axis=0))
        floor = 1.2533 * float(np.median(np.asarray(m.err)[dark])) / np.sqrt(n_sky)
        assert injected > 5 * floor
        assert left <= 0.2 * injected + 2 * floor


@pytest.mark.parametrize(("detector", "fastaxis", "slowaxis"), [("NRS1", 2, 1), ("NRS2", -2, -1)])
def test_readout_1f_is_one_pink_series_in_read_order(detector: str, fastaxis: int, slowaxis: int) -> None:
    """Full frame: the four outputs read the same series (jwst's own frame transform takes DMS back to the
    detector's), a detector row is a DMS column, so the columns' means carry the stripes; no power above KNEE."""
    from jwst.lib.reffile_utils import science_detector_frame_transform

    noise = syn.readout_1f(np.random.default_rng(1), 2, (2048, 2048), 0.4, fastaxis=fastaxis, slowaxis=slowaxis)
    assert noise.shape == (2, 2048, 2048)
    assert np.allclose(noise.std(axis=(1, 2)), 0.4, rtol=0.01)  # the series' rms (its row overheads not read)
    assert not np.allclose(noise[0], noise[1])  # a new series in every integration
    det = science_detector_frame_transform(noise[0], fastaxis, slowaxis)  # (slow rows, fast columns)
    strips = det.reshape(2048, 4, 512)
    assert np.allclose(strips, strips[:, :1])  # the outputs in parallel, common to all four
    # read order: one output's pixels row after row, ROW_OVERHEAD pixel times between rows; the series back
    series = np.full((2048, 512 + syn.ROW_OVERHEAD), np.nan)
    series[:, :512] = strips[:, 0]
    power = np.abs(np.fft.rfft(np.interp(np.arange(series.size), np.flatnonzero(np.isfinite(series.ravel())),
                                         series.ravel()[np.isfinite(series.ravel())]))) ** 2
    freq = np.fft.rfftfreq(series.size)
    assert power[freq > 2 * syn.KNEE].sum() < 1e-3 * power.sum()
    # in DMS: stripes along the columns (most of the variance in the columns' means), hardly any along the rows
    assert noise[0].mean(axis=0).var() > 0.6 * noise[0].var()
    assert noise[0].mean(axis=1).var() < 0.05 * noise[0].var()


def test_readout_1f_on_a_subarray_is_one_output() -> None:
    noise = syn.readout_1f(np.random.default_rng(2), 1, (32, 2048), 0.4)[0]  # SUB2048: 32 DMS rows
    assert np.isclose(noise.std(), 0.4, rtol=0.01)
    # 32 + ROW_OVERHEAD pixel times per column, under half a period at KNEE: each column nearly one offset
    assert (noise - noise.mean(axis=0)).std() < 0.2 * noise.std()
