"""MIRI 1-D corrections on synthetic spectra with known truth: defringing and spectral leak."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec import corrections
from jwstspec.corrections import (
    LEAK_RANGE,
    apply_defringe,
    channel_segments,
    defringe_1d,
    line_mask,
    load_leak_table,
    mrs_channel,
    spectral_leak,
)
from jwstspec.errors import ConfigError, InputFileError
from jwstspec.spectrum import DQ_FLAGS, Spectrum
from jwstspec.synthetic.spectra import (
    fringe_amplitude,
    leak_pair,
    leak_table_rows,
    mrs_fringed_spectrum,
    mrs_line_forest,
    write_leak_table,
)


def test_segments_and_channels() -> None:
    fs = mrs_fringed_spectrum(("1A", "2A"), n_points=200, line=False)
    segs = channel_segments(fs.spectrum.wavelength)
    assert segs == fs.segments
    assert [mrs_channel(fs.spectrum.wavelength[s]) for s in segs] == [1, 2]
    assert [mrs_channel(np.linspace(*r, 10)) for r in ((11.55, 13.47), (15.41, 17.98), (17.7, 20.9))] == [3, 3, 4]


def test_defringe_two_channel_stage2_spectrum() -> None:
    fs = mrs_fringed_spectrum(("1A", "2A"), n_points=3000, amplitude=0.05)
    before = fs.spectrum.flux.copy()
    out, messages = defringe_1d(fs.spectrum)
    assert messages == []
    np.testing.assert_array_equal(fs.spectrum.flux, before)  # input untouched
    w = out.wavelength
    for seg in fs.segments:
        assert fringe_amplitude(w[seg], fs.spectrum.flux[seg] / fs.truth[seg]) > 0.045  # injected 5 %
        assert fringe_amplitude(w[seg], out.flux[seg] / fs.truth[seg]) < 0.01
        # continuum unchanged to 1 %: running mean of the ratio over one fringe period
        ratio = out.flux[seg] / fs.truth[seg]
        smooth = np.convolve(ratio, np.ones(101) / 101, mode="valid")
        assert np.max(np.abs(smooth - 1)) < 0.01
    seg = fs.segments[0]
    near = np.abs(w[seg] - fs.line) < 0.005
    line_in = (fs.truth[seg] - fs.continuum[seg])[near].sum()
    line_out = (out.flux[seg] - fs.continuum[seg])[near].sum()
    assert abs(line_out / line_in - 1) < 0.01, line_out / line_in
    assert not (out.dq & DQ_FLAGS["DEFRINGE_FAILED"]).any()
    assert out.meta["DEFRINGE"] is True and out.meta["DEFRSEGS"].startswith("1:")


@pytest.mark.slow  # jwst's 1-D fringe fit, refitted with lines masked (~25 s): not in make test-fast
def test_channel3_lines_keep_their_flux(caplog: pytest.LogCaptureFixture) -> None:
    """Channel 3A with five lines (emission, absorption, 1.5-4 steps wide): a single jwst fit
    misses these line fluxes by 13-64 % (rms 1.0 %); masked refits bring them within 3 %."""
    lf = mrs_line_forest("3A", seed=1)
    with caplog.at_level("INFO", logger="jwstspec.corrections"):
        out, messages = defringe_1d(lf.spectrum)
    assert messages == []
    measured, true = lf.line_fluxes(out.flux)
    np.testing.assert_allclose(measured / true, 1.0, atol=0.03)
    assert np.std(out.flux / lf.truth - 1) < 0.003  # the 0.2 % noise, no fringe or line residual left
    assert fringe_amplitude(out.wavelength, out.flux / lf.truth) < 0.003
    assert any("line points masked" in r.getMessage() for r in caplog.records)


def test_failed_refit_keeps_the_first_fit(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    fs = mrs_fringed_spectrum(("1A",), n_points=1500, line_strength=2.0)
    single, _ = defringe_1d(fs.spectrum, max_fits=1)
    real_fit, calls = corrections._fit_fringes, []

    def fit_once(*args: object) -> np.ndarray:
        calls.append(1)
        if len(calls) > 1:
            raise ValueError("LinAlgError: singular matrix")
        return real_fit(*args)

    monkeypatch.setattr(corrections, "_fit_fringes", fit_once)
    out, messages = defringe_1d(fs.spectrum)
    assert len(calls) == 2 and messages == []
    np.testing.assert_array_equal(out.flux, single.flux)
    assert not (out.dq & DQ_FLAGS["DEFRINGE_FAILED"]).any()
    assert any("refit" in r.getMessage() and "previous fit is kept" in r.getMessage() for r in caplog.records)


def test_line_mask_finds_lines_and_nothing_else() -> None:
    lf = mrs_line_forest("2B", noise=0.002, amplitude=0.0)
    mask = line_mask(lf.spectrum.flux)
    for c in lf.centres:
        assert mask[np.argmin(np.abs(lf.spectrum.wavelength - c))]
    assert mask.sum() < 0.05 * mask.size
    assert not line_mask(lf.continuum * (1 + np.random.default_rng(2).normal(0, 0.002, lf.continuum.size))).any()


def test_failing_segment_is_left_as_it_was_and_flagged(caplog: pytest.LogCaptureFixture) -> None:
    fs = mrs_fringed_spectrum(("1A", "2A"), n_points=1500, line=False)
    flux = fs.spectrum.flux.copy()
    bad = fs.segments[1]
    flux[bad] = -1.0  # no positive point: the fitter has nothing to fit
    spec = Spectrum(fs.spectrum.wavelength, flux, fs.spectrum.flux_error)
    out, messages = defringe_1d(spec)
    assert len(messages) == 1 and "channel 2" in messages[0] and "left uncorrected" in messages[0]
    assert any("channel 2" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(out.flux[bad], flux[bad])
    assert (out.dq[bad] & DQ_FLAGS["DEFRINGE_FAILED"]).all()
    good = fs.segments[0]
    assert not (out.dq[good] & DQ_FLAGS["DEFRINGE_FAILED"]).any()
    assert fringe_amplitude(out.wavelength[good], out.flux[good] / fs.truth[good]) < 0.01


def test_apply_defringe_header_says_whether_it_was_applied() -> None:
    fs = mrs_fringed_spectrum(("1A",), n_points=300, line=False)
    spec = Spectrum(fs.spectrum.wavelength, fs.spectrum.flux, fs.spectrum.flux_error, meta={"EXP_TYPE": "NRS_IFU"})
    for enabled in (None, False):  # not MRS by its header / switched off: untouched, DEFRINGE = F
        out, messages = apply_defringe(spec, enabled)
        assert messages == [] and out.meta["DEFRINGE"] is False
        np.testing.assert_array_equal(out.flux, spec.flux)
    assert "DEFRINGE" not in spec.meta  # input untouched
    dead = Spectrum(spec.wavelength, -np.abs(spec.flux), spec.flux_error, meta={"EXP_TYPE": "MIR_MRS"})
    out, messages = apply_defringe(dead)  # MRS by its header, but no segment can be fitted
    assert out.meta["DEFRINGE"] is False and out.meta["DEFRSEGS"] == "NONE" and len(messages) == 1


def test_spectral_leak_recovered_from_table_file(tmp_path: Path) -> None:
    ref = write_leak_table(tmp_path / "jwst_miri_mrsptcorr_test.fits")
    table = load_leak_table(ref)
    pair = leak_pair(noise=0.0)
    before = pair.ch3a.flux.copy()
    out = spectral_leak(pair.ch1b, pair.ch3a, table)
    np.testing.assert_array_equal(pair.ch3a.flux, before)
    w = out.wavelength
    assert pair.leak.max() / pair.truth_3a.max() > 0.1  # a leak worth correcting was injected
    fixed = (out.dq & DQ_FLAGS["LEAK_UNCORRECTED"]) == 0
    assert np.max(np.abs(out.flux[fixed] / pair.truth_3a[fixed] - 1)) < 0.005
    # the table stops at 13.2 um: the long end is kept as it was, and flagged
    long_end = w > table.wavelength[-1]
    assert long_end.any() and not fixed[long_end].any()
    np.testing.assert_array_equal(out.flux[long_end], pair.ch3a.flux[long_end])
    assert np.all((w[fixed] >= LEAK_RANGE[0]) & (w[fixed] <= LEAK_RANGE[1]))
    assert np.all(out.flux_error[fixed] >= pair.ch3a.flux_error[fixed])
    assert out.meta["LEAKCORR"] == ref.name


def test_spectral_leak_with_noise_within_half_percent(tmp_path: Path) -> None:
    table = load_leak_table(write_leak_table(tmp_path / "pt.fits"))
    pair = leak_pair(noise=1e-3, seed=5)
    out = spectral_leak(pair.ch1b, pair.ch3a, table)
    fixed = (out.dq & DQ_FLAGS["LEAK_UNCORRECTED"]) == 0
    rel = out.flux[fixed] / pair.truth_3a[fixed] - 1
    assert abs(np.median(rel)) < 0.005 and np.percentile(np.abs(rel), 95) < 0.005


def test_leak_table_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        load_leak_table(tmp_path / "missing.fits")
    junk = tmp_path / "junk.fits"
    junk.write_text("not a reference")
    with pytest.raises(InputFileError, match="junk.fits"):
        load_leak_table(junk)


def test_leak_table_from_crds_context(crds_cache: Path) -> None:
    """The synthetic cache registers an mrsptcorr reference (the toy model's 1B -> 3A leak) for MIR_MRS."""
    from jwstspec.synthetic.miri_mrs import leak_fraction

    table = load_leak_table(None)
    assert "mrsptcorr" in Path(table.source).name
    assert table.wavelength.size > 2
    np.testing.assert_allclose(table.frac_leak, leak_fraction(table.wavelength), rtol=1e-5, atol=1e-9)
    pair = leak_pair()
    out = spectral_leak(pair.ch1b, pair.ch3a, table)
    far = np.abs(pair.ch3a.wavelength - 12.2) > 1.2  # leak_fraction < 1e-7 there
    np.testing.assert_allclose(out.flux[far], pair.ch3a.flux[far])
    assert np.all(out.flux[~far] <= pair.ch3a.flux[~far]) and np.any(out.flux < pair.ch3a.flux)


def test_leak_table_rows_cover_part_of_3a() -> None:
    rows = leak_table_rows()
    assert rows["wavelength"][0] < LEAK_RANGE[0] < rows["wavelength"][-1] < LEAK_RANGE[1]


NO_REF_SCRIPT = """
import sys
from pathlib import Path
from jwstspec.synthetic.crds_cache import activate, write_crds_cache
crds = Path(sys.argv[1])
write_crds_cache(crds, [])
activate(crds)
from jwstspec.corrections import load_leak_table
from jwstspec.errors import ConfigError
try:
    load_leak_table(None)
except ConfigError as exc:
    print("CONFIGERROR", exc)
"""


def test_no_mrsptcorr_in_context_is_a_config_error(tmp_path: Path) -> None:
    """A context without mrsptcorr: one clear line naming the config field (own process: CRDS is per process)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    res = subprocess.run([sys.executable, "-c", NO_REF_SCRIPT, str(tmp_path / "crds")], capture_output=True,
                         text=True, env=env, timeout=120)
    assert "CONFIGERROR" in res.stdout, res.stdout + res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert "combine.leak_reference" in line and "mrsptcorr" in line
    assert ConfigError.exit_code == 2
