"""jwst's 2-D ``residual_fringe`` step, run offline by the real Spec2 with the synthetic references.

The synthetic ``fringefreq`` reference (:func:`jwstspec.synthetic.miri_mrs.fringefreq_model`) and the
toy ``regions`` reference come from the local CRDS cache; the step is switched on by the Stage 2
settings of the configuration (:func:`jwstspec.stages.pipelines.spec2_steps`), as in a run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.synthetic import miri_mrs as mm

#: Columns per channel that keep the source: the step fits every column with signal
#: (about 1 s each), so the test keeps a few of the source's brightest.
N_COLUMNS = 2


def test_fringefreq_reference_has_a_row_per_regions_slice(tmp_path: Path) -> None:
    """Every slice of the toy regions map has its fringe frequencies (the step fails on a missing row)."""
    ff = mm.fringefreq_model()
    labels = set(np.unique(mm.slice_map())) - {0}
    for table in (ff.rfc_freq_short_table, ff.rfc_freq_medium_table, ff.rfc_freq_long_table):
        assert labels <= {int(s) for s in table["slice"]}
        # the detector fringe of jwst's 1-D defaults in every slice; the dichroic fringe in channels 3-4 only
        assert np.all(table["ffreq"][:, 0] == 2.9)
        assert np.all((table["ffreq"][:, 1] > 0) == (table["slice"] >= 300))
    path = tmp_path / "ff.fits"
    ff.save(path)
    from stdatamodels.jwst.datamodels import FringeFreqModel

    with FringeFreqModel(str(path)) as back:  # the step reads these names
        assert set(back.max_amp_table.dtype.names) == {"wavelength", "amplitude"}
        assert back.rfc_freq_short_table["min_snr"].shape[1] == 2


def _fringed_rate(path: Path, crds: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A background-subtracted-like rate with a 5 % fringe, signal kept in a few columns per channel.

    Returns the rate file, the truth (surface brightness without fringe, MJy/sr) and the kept columns.
    """
    from stdatamodels.jwst.datamodels import IFUImageModel

    mm.make_mrs_rate(path, fringe=0.05, background=False, crds_path=crds)
    with IFUImageModel(str(path)) as m:
        truth = mm.scene_rate(m, mm._wcs_ref_paths(crds), source=True, background=False) * mm.PHOTOM_SENS
        level = truth.sum(axis=0)
        keep = []
        for ch in mm.CHANNELS:
            cols = np.arange(ch.x0, ch.strip(ch.nslices)[1] + 1)
            keep += list(cols[np.argsort(level[cols])[-N_COLUMNS:]])
        keep = np.array(sorted(keep))
        data = np.zeros_like(m.data)
        rng = np.random.default_rng(3)
        sigma = 0.002 * m.data[:, keep].mean(axis=0)  # S/N ~500 per pixel: the fringe, not the noise, is measured
        data[:, keep] = m.data[:, keep] + rng.normal(0.0, 1.0, (m.data.shape[0], keep.size)) * sigma
        err = np.full_like(m.data, 1.0)
        err[:, keep] = sigma
        m.data, m.err = data, err
        m.var_rnoise = err**2
        m.save(path)
    return path, truth, keep


def _fringe_rms(ratio: np.ndarray, wave: np.ndarray) -> float:
    """Rms of the MRS-period sinusoid fitted to ``ratio - 1`` (with a quadratic baseline in wavenumber)."""
    from jwstspec.synthetic.spectra import FRINGE_PERIOD_CM

    s = 1e4 / wave
    s0 = s - s.mean()
    a = np.vstack([np.sin(2 * np.pi * s / FRINGE_PERIOD_CM), np.cos(2 * np.pi * s / FRINGE_PERIOD_CM),
                   np.ones_like(s), s0, s0**2]).T
    coef = np.linalg.lstsq(a, ratio - 1, rcond=None)[0]
    return float(np.hypot(*coef[:2]) / np.sqrt(2))


@pytest.mark.slow
def test_spec2_runs_residual_fringe_offline_and_removes_an_injected_fringe(crds_cache: Path, tmp_path: Path) -> None:
    """MIRI MRS Stage 2 settings run the real step with the cache's references: a 5 % fringe -> < 0.5 % rms."""
    from stdatamodels.jwst import datamodels

    from jwstspec.stages.pipelines import merge_steps, run_spec2, spec2_steps

    rate, truth, keep = _fringed_rate(tmp_path / "jw01234001001_03101_00001_mirifushort_rate.fits", crds_cache)
    steps = merge_steps(spec2_steps("ifu", "sky", "miri"),  # the MRS default: residual_fringe on
                        {"cube_build": {"skip": True}, "extract_1d": {"skip": True}})
    products = run_spec2(rate, tmp_path / "stage2", steps=steps, log_file=tmp_path / "spec2.log")
    cal = next(p for p in products if p.name.endswith("_cal.fits"))
    log = (tmp_path / "spec2.log").read_text()
    assert "jwst_miri_fringefreq_synth_mrs.fits" in log and "jwst_miri_regions_synth" in log
    with datamodels.open(cal) as m:
        assert m.meta.cal_step.residual_fringe == "COMPLETE"
        _, _, wave = m.meta.wcs(*np.mgrid[: m.data.shape[0], : m.data.shape[1]][::-1])
        fringed = truth * (1 + 0.05 * np.sin(2 * np.pi * (1e4 / wave) / 2.9))
        for c in keep:
            rows = np.isfinite(m.data[:, c]) & (truth[:, c] > 0.2 * truth[:, c].max()) & np.isfinite(wave[:, c])
            assert rows.sum() > 500, c
            before = _fringe_rms(fringed[rows, c] / truth[rows, c], wave[rows, c])
            after = _fringe_rms(m.data[rows, c] / truth[rows, c], wave[rows, c])
            assert before > 0.03, (c, before)  # the injected 5 % amplitude (3.5 % rms)
            assert after < 0.005, (c, before, after)
            # the continuum is kept: the column's flux within 1 %
            assert m.data[rows, c].sum() / truth[rows, c].sum() == pytest.approx(1.0, abs=0.01)
