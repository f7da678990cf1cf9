"""The flow's product functions (jwstspec.products) with the MIRI corrections switched on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jwstspec.products import combine_band, stitch_bands
from jwstspec.spectrum import DQ_FLAGS, Spectrum, read_spectrum
from jwstspec.synthetic.spectra import leak_pair, mrs_fringed_spectrum, write_leak_table


def test_combine_band_with_defringe(tmp_path: Path) -> None:
    fs = mrs_fringed_spectrum(("1A",), n_points=1500, line=False, noise=0.0)
    s = fs.spectrum
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):  # same fringe in every dither (it is instrumental), independent noise
        f = s.flux * (1 + rng.normal(0, 0.002, s.flux.size))
        paths.append(Spectrum(s.wavelength, f, np.abs(s.flux) * 0.002).write_fits(tmp_path / f"d{i}_x1d.fits"))
    out = tmp_path / "target_ch1-short_combined_x1d.fits"
    rec = combine_band(paths, out, defringe=True)
    assert rec.fits == str(out) and rec.ecsv and rec.png
    back = read_spectrum(out)
    resid = back.flux / fs.truth - 1
    assert np.std(resid) < 0.005 < np.std(s.flux / fs.truth - 1)
    assert back.meta["DEFRINGE"] is True and back.meta["DEFRSEGS"].startswith("1:")
    np.testing.assert_allclose(read_spectrum(out.with_suffix(".ecsv")).flux, back.flux)
    # both plots are listed and drawn from the defringed spectrum (written before the FITS file)
    png_combined = Path(rec.png_combined)
    assert png_combined.name == "target_ch1-short_combined_x1d_combined.png"
    assert png_combined.stat().st_size > 1000
    assert png_combined.stat().st_mtime_ns <= out.stat().st_mtime_ns


def _fringe_rms(wave: np.ndarray, ratio: np.ndarray, period_cm: float) -> float:
    """Rms of the sinusoid of the MRS fringe period fitted to ``ratio - 1`` (with a quadratic baseline)."""
    s = 1e4 / wave
    a = np.vstack([np.sin(2 * np.pi * s / period_cm), np.cos(2 * np.pi * s / period_cm), np.ones_like(s), s, s**2]).T
    coef = np.linalg.lstsq(a, ratio - 1, rcond=None)[0]
    return float(np.hypot(*coef[:2]) / np.sqrt(2))


def _dithers(tmp_path: Path, fs, meta: dict) -> list[Path]:
    s, rng, paths = fs.spectrum, np.random.default_rng(0), []
    for i in range(3):  # same fringe in every dither (it is instrumental), independent noise
        f = s.flux * (1 + rng.normal(0, 0.002, s.flux.size))
        paths.append(Spectrum(s.wavelength, f, np.abs(s.flux) * 0.002, meta=dict(meta)).write_fits(tmp_path / f"d{i}_x1d.fits"))
    return paths


def test_defringe_is_on_by_default_for_mrs_spectra(tmp_path: Path) -> None:
    """No option given: MRS spectra (known from their header) are defringed; 5 % fringe -> rms < 0.5 %."""
    from jwstspec.synthetic.spectra import FRINGE_PERIOD_CM

    fs = mrs_fringed_spectrum(("1A",), n_points=2000, line=False, noise=0.0, amplitude=0.05)
    meta = {"INSTRUME": "MIRI", "EXP_TYPE": "MIR_MRS", "CHANNEL": "1", "BAND": "SHORT"}  # as the extraction writes them
    out = tmp_path / "t_ch1-short_combined_x1d.fits"
    combine_band(_dithers(tmp_path, fs, meta), out, plot=False)
    back = read_spectrum(out)
    assert back.meta["DEFRINGE"] is True
    w = back.wavelength
    before = _fringe_rms(w, fs.spectrum.flux / fs.truth, FRINGE_PERIOD_CM)
    after = _fringe_rms(w, back.flux / fs.truth, FRINGE_PERIOD_CM)
    assert before > 0.03 and after < 0.005, (before, after)  # 5 % amplitude = 3.5 % rms
    assert np.std(back.flux / fs.truth - 1) < 0.005  # fringe + noise left
    smooth = np.convolve(back.flux / fs.truth, np.ones(101) / 101, mode="valid")  # continuum over ~3 fringe periods
    assert np.max(np.abs(smooth - 1)) < 0.01
    # switched off: the fringe stays, and the header says so
    off = tmp_path / "off" / "t_ch1-short_combined_x1d.fits"
    off.parent.mkdir()
    combine_band(_dithers(off.parent, fs, meta), off, plot=False, defringe=False)
    kept = read_spectrum(off)
    assert kept.meta["DEFRINGE"] is False
    assert _fringe_rms(w, kept.flux / fs.truth, FRINGE_PERIOD_CM) > 0.03


def test_defringe_default_leaves_other_modes_alone(tmp_path: Path) -> None:
    fs = mrs_fringed_spectrum(("1A",), n_points=500, line=False, noise=0.0)
    meta = {"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_IFU", "GRATING": "G395H"}
    out = tmp_path / "t_g395h_combined_x1d.fits"
    paths = _dithers(tmp_path, fs, meta)
    combine_band(paths, out, plot=False)
    back = read_spectrum(out)
    assert back.meta["DEFRINGE"] is False and "DEFRSEGS" not in back.meta
    mean_in = np.mean([read_spectrum(p).flux for p in paths], axis=0)
    np.testing.assert_allclose(back.flux, mean_in, rtol=0.01)  # averaged, nothing divided out


def test_leak_correction_never_overwrites_its_input(tmp_path: Path) -> None:
    """A 3A spectrum whose name lacks ``_combined_x1d`` still gets its own corrected file."""
    ref = write_leak_table(tmp_path / "mrsptcorr.fits")
    pair = leak_pair()
    p1 = pair.ch1b.write_fits(tmp_path / "t_ch1-medium.fits")
    p3 = pair.ch3a.write_fits(tmp_path / "t_ch3-short.fits")
    before = p3.read_bytes()
    rec = stitch_bands([p1, p3], tmp_path / "t_stitched_x1d.fits", spectral_leak=True, leak_reference=str(ref))
    assert Path(rec.leak_corrected).name == "t_ch3-short_leakcorr.fits" and rec.leakcorr
    assert p3.read_bytes() == before


def test_stitch_bands_with_spectral_leak(tmp_path: Path) -> None:
    ref = write_leak_table(tmp_path / "mrsptcorr.fits")
    pair = leak_pair()
    p1 = pair.ch1b.write_fits(tmp_path / "t_ch1-medium_combined_x1d.fits")
    p3 = pair.ch3a.write_fits(tmp_path / "t_ch3-short_combined_x1d.fits")
    before = p3.read_bytes()
    out = tmp_path / "t_stitched_x1d.fits"
    rec = stitch_bands([p1, p3], out, spectral_leak=True, leak_reference=str(ref))
    assert p3.read_bytes() == before  # the combined 3A file is never corrected in place
    corrected = read_spectrum(rec.leak_corrected)
    fixed = (corrected.dq & DQ_FLAGS["LEAK_UNCORRECTED"]) == 0
    assert np.max(np.abs(corrected.flux[fixed] / pair.truth_3a[fixed] - 1)) < 0.005
    st = read_spectrum(out)
    sel = (st.wavelength > 12.0) & (st.wavelength < 12.4)
    truth = np.interp(st.wavelength[sel], pair.ch3a.wavelength, pair.truth_3a)
    np.testing.assert_allclose(st.flux[sel], truth, rtol=0.005)
    # no 1B: skipped with a note, not an error
    rec2 = stitch_bands([p3], tmp_path / "t2_x1d.fits", spectral_leak=True, leak_reference=str(ref))
    assert any("skipped" in n and "1B" in n for n in rec2.notes)
    assert read_spectrum(tmp_path / "t2_x1d.fits").meta["LEAKCORR"] is False and not rec2.leakcorr


def test_group_by_slit(tmp_path: Path) -> None:
    from jwstspec.products import group_by_slit

    w = np.linspace(1, 2, 50)
    paths = []
    for i, slit in enumerate(["S200A1", "S200A2", "S200A1", ""]):
        meta = {"SLITNAME": slit} if slit else {}
        paths.append(Spectrum(w, np.ones(50), np.ones(50), meta=meta).write_fits(tmp_path / f"s{i}_x1d.fits"))
    groups = group_by_slit(paths)
    assert groups == {"S200A1": [paths[0], paths[2]], "S200A2": [paths[1]], "": [paths[3]]}


def test_mos_products_are_per_source_and_stitched_per_source_never_across() -> None:
    """Several slits (MOS: one slitlet per source): one product per band and slit, one stitched product per slit."""
    from jwstspec.products import combinations, stitch_groups

    p = Path
    groups = {"g395h-f290lp_nrs1": {"1": [p("a1"), p("b1"), p("c1")], "2": [p("a2"), p("b2"), p("c2")]},
              "g395h-f290lp_nrs2": {"1": [p("d1"), p("e1")]}}  # the faint source's slitlet missed NRS2
    products = combinations(groups)
    assert sorted(products) == ["g395h-f290lp_nrs1_1", "g395h-f290lp_nrs1_2", "g395h-f290lp_nrs2_1"]
    assert products["g395h-f290lp_nrs2_1"].slit == "1" and products["g395h-f290lp_nrs1_2"].spectra == (p("a2"), p("b2"), p("c2"))
    assert stitch_groups(products) == {"stitched_1": ["g395h-f290lp_nrs1_1", "g395h-f290lp_nrs2_1"],
                                       "stitched_2": ["g395h-f290lp_nrs1_2"]}


def test_single_slit_and_cube_products_keep_their_band_names() -> None:
    from jwstspec.products import combinations, stitch_groups

    fs = combinations({"g395h-f290lp_nrs1": {"S200A1": [Path("a")]}, "g395h-f290lp_nrs2": {"S200A1": [Path("b")]}})
    assert sorted(fs) == ["g395h-f290lp_nrs1", "g395h-f290lp_nrs2"]
    assert stitch_groups(fs) == {"stitched": ["g395h-f290lp_nrs1", "g395h-f290lp_nrs2"]}
    cubes = combinations({"ch1-short": {"": [Path("x")]}, "ch2-short": {"": [Path("y")]}})
    assert stitch_groups(cubes) == {"stitched": ["ch1-short", "ch2-short"]} and stitch_groups({}) == {}


def test_stitched_path_names_the_source_slit(tmp_path: Path) -> None:
    from jwstspec.config import validate_config
    from jwstspec.layout import Layout

    layout = Layout.from_config(validate_config({"program": "01234", "observation": "005", "instrument": "nirspec",
                                                 "mode": "slit", "data_dir": str(tmp_path)}))
    assert layout.stitched_path("005").name == "jw01234-o005_stitched_x1d.fits"
    assert layout.stitched_path("005", "2").name == "jw01234-o005_2_stitched_x1d.fits"
