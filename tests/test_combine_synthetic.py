"""Issue-6 acceptance figures of dither cleaning + combination on jwstspec.synthetic.spectra data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from jwstspec import combine
from jwstspec.combine import combine_dithers, combine_files, error_scale
from jwstspec.errors import InputFileError
from jwstspec.spectrum import DQ_FLAGS, Spectrum, read_spectrum
from jwstspec.synthetic.spectra import dither_spectra


@pytest.mark.parametrize(("n_dithers", "seed"), [(3, 11), (4, 12), (8, 13)])
def test_acceptance_figures(n_dithers: int, seed: int) -> None:
    # lines bright enough that their measured flux is not noise-limited (0.3 % noise on a 2 % test)
    ds = dither_spectra(n_dithers, 3000, artefacts=30, seed=seed, line_jy=2e-2)
    res = combine_dithers(ds.spectra, window_half=10, clip_sigma=5.0)
    caught = sum((f & h).sum() for f, h in zip(res.flags, ds.injected)) / sum(h.sum() for h in ds.injected)
    false = sum((f & ~h).sum() for f, h in zip(res.flags, ds.injected)) / sum((~h).sum() for h in ds.injected)
    assert caught >= 0.95 and false <= 0.005, (caught, false)
    c = res.combined
    pull = (c.flux - ds.truth) / c.flux_error
    robust = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.9 < robust < 1.1, robust
    step = ds.spectra[0].wavelength[1] - ds.spectra[0].wavelength[0]
    for line in ds.lines:
        sel = np.abs(c.wavelength - line) < 8 * step
        ratio = (c.flux[sel] - ds.continuum[sel]).sum() / (ds.truth[sel] - ds.continuum[sel]).sum()
        assert abs(ratio - 1) < 0.02, (line, ratio)
    assert c.ncombined.max() == n_dithers
    assert np.all((c.dq & DQ_FLAGS["DITHER_CLIPPED"] > 0) == (c.ncombined < n_dithers))


def test_two_dithers_artefacts_caught_lines_kept() -> None:
    ds = dither_spectra(2, 3000, artefacts=30, seed=21)
    res = combine_dithers(ds.spectra)
    caught = sum((f & h).sum() for f, h in zip(res.flags, ds.injected)) / sum(h.sum() for h in ds.injected)
    false = sum((f & ~h).sum() for f, h in zip(res.flags, ds.injected)) / sum((~h).sum() for h in ds.injected)
    assert caught >= 0.95 and false <= 0.005, (caught, false)
    for line in ds.lines:
        i = int(np.argmin(np.abs(res.combined.wavelength - line)))
        assert not any(f[i] for f in res.flags)  # a line present in both dithers is never flagged


def test_mask_ranges_flag_every_dither(tmp_path: Path) -> None:
    ds = dither_spectra(3, 500, artefacts=0, seed=4)
    res = combine_dithers(ds.spectra, mask_ranges=[(5.4, 5.45)])
    w = res.combined.wavelength
    inside = (w >= 5.4) & (w <= 5.45)
    assert all(f[inside].all() for f in res.flags)
    assert np.isnan(res.combined.flux[inside]).all() and (res.combined.ncombined[inside] == 0).all()
    assert (res.combined.dq[inside] & DQ_FLAGS["USER_MASKED"]).all()
    assert not (res.combined.dq[~inside] & DQ_FLAGS["USER_MASKED"]).any()
    assert np.isfinite(res.combined.flux[~inside]).all()


def test_bad_inputs_one_line_no_partial_output(tmp_path: Path) -> None:
    ds = dither_spectra(2, 300, artefacts=0)
    a = ds.spectra[0].write_fits(tmp_path / "a_x1d.fits")
    far = Spectrum(ds.spectra[1].wavelength + 10.0, ds.spectra[1].flux, ds.spectra[1].flux_error)
    b = far.write_fits(tmp_path / "far_x1d.fits")
    out = tmp_path / "out_x1d.fits"
    with pytest.raises(InputFileError, match="far_x1d.fits.*overlaps") as info:
        combine_files([a, b], out, plot=tmp_path / "out.png")
    assert "\n" not in str(info.value)
    assert not out.exists() and not out.with_suffix(".ecsv").exists() and not (tmp_path / "out.png").exists()
    t = ds.spectra[1].to_table()
    t["FLUX"].unit = "m"
    bad_unit = tmp_path / "unit_x1d.ecsv"
    t.write(bad_unit, format="ascii.ecsv")
    with pytest.raises(InputFileError, match="unit_x1d.ecsv.*FLUX"):
        combine_files([a, bad_unit], out)
    assert not out.exists()
    # one dither: identity with a note, and the file says NCOMBINED = 1
    res = combine_files([a], out)
    assert any("one dither" in n for n in res.notes)
    back = read_spectrum(out)
    np.testing.assert_allclose(back.flux, ds.spectra[0].flux)
    assert (back.ncombined == 1).all()
    assert isinstance(Table.read(out, hdu="EXTRACT1D"), Table)


def _rates(res: combine.CombineResult, injected: list[np.ndarray]) -> tuple[float, float]:
    caught = sum((f & h).sum() for f, h in zip(res.flags, injected)) / sum(h.sum() for h in injected)
    false = sum((f & ~h).sum() for f, h in zip(res.flags, injected)) / sum((~h).sum() for h in injected)
    return caught, false


@pytest.mark.parametrize("error_factor", [1.0, 0.25, 0.5, 2.0])
def test_error_scale_measures_how_far_errors_fall_short(error_factor: float) -> None:
    ds = dither_spectra(4, 3000, artefacts=30, seed=21, error_factor=error_factor, line_jy=2e-2)
    flux = np.array([s.flux for s in ds.spectra])
    err = np.array([s.flux_error for s in ds.spectra])
    expected = max(1.0, 1.0 / error_factor)  # errors too large are left as they are
    assert error_scale(flux, err) == pytest.approx(expected, rel=0.05)
    assert error_scale(flux[:1], err[:1]) == 1.0  # one dither: nothing to compare
    assert error_scale(flux[:2, :40], err[:2, :40]) == 1.0  # 40 pairs of points: too few to measure


@pytest.mark.parametrize("n_dithers", [2, 4])
def test_underestimated_errors_do_not_clip_clean_points(n_dithers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """ERR 4x below the noise (as Stage 2 cubes give): clipping uses the measured scatter."""
    ds = dither_spectra(n_dithers, 3000, artefacts=20, seed=22, error_factor=0.25, artefact_sigma=(40.0, 200.0))
    res = combine_dithers(ds.spectra, window_half=10, clip_sigma=5.0)
    caught, false = _rates(res, ds.injected)
    assert caught >= 0.95 and false <= 0.005, (caught, false)
    assert res.combined.meta["ERRSCALE"] == pytest.approx(4.0, rel=0.05)
    assert any("scatter" in note and "ERRSCALE" in note for note in res.notes)
    # the same data taking ERR at its word clips a large share of the clean points
    monkeypatch.setattr(combine, "error_scale", lambda flux, err: 1.0)
    naive = combine_dithers(ds.spectra, window_half=10, clip_sigma=5.0)
    assert _rates(naive, ds.injected)[1] > 0.05
    assert naive.combined.meta["ERRSCALE"] == 1.0 and not any("ERRSCALE" in note for note in naive.notes)


@pytest.mark.parametrize("rescale", [False, True])
def test_rescaled_errors_match_the_scatter(rescale: bool, tmp_path: Path) -> None:
    """ERR 3x below the noise: with rescale_errors the combined errors describe the real scatter."""
    ds = dither_spectra(4, 3000, artefacts=10, seed=23, error_factor=1 / 3)
    paths = []
    for i, s in enumerate(ds.spectra):
        paths.append(tmp_path / f"d{i}.fits")
        s.write_fits(paths[-1])
    out = tmp_path / "combined.fits"
    res = combine_files(paths, out, rescale_errors=rescale)
    c = read_spectrum(out)
    pull = (c.flux - ds.truth) / c.flux_error
    robust = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert robust == pytest.approx(1.0 if rescale else 3.0, rel=0.1)
    assert c.meta["ERRSCALE"] == pytest.approx(3.0, rel=0.05) and bool(c.meta["ERRRESCL"]) is rescale
    assert any(("multiplied by it" if rescale else "propagated") in note for note in res.notes)


def test_cli_rescale_errors_option(tmp_path: Path) -> None:
    from jwstspec.cli import main

    ds = dither_spectra(3, 600, artefacts=0, seed=24, error_factor=0.5)
    paths = [tmp_path / f"d{i}.fits" for i in range(3)]
    for p, s in zip(paths, ds.spectra):
        s.write_fits(p)
    assert main(["combine", *map(str, paths), "--no-plot", "--output", str(tmp_path / "plain.fits")]) == 0
    assert main(["combine", *map(str, paths), "--no-plot", "--rescale-errors", "--output", str(tmp_path / "r.fits")]) == 0
    plain, rescaled = read_spectrum(tmp_path / "plain.fits"), read_spectrum(tmp_path / "r.fits")
    np.testing.assert_allclose(rescaled.flux_error, plain.flux_error * rescaled.meta["ERRSCALE"], rtol=1e-3)  # header: 3 decimals
    assert rescaled.meta["ERRSCALE"] == pytest.approx(2.0, rel=0.1)
