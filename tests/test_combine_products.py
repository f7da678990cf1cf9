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
    assert back.meta["DEFRINGE"].startswith("1:")
    np.testing.assert_allclose(read_spectrum(out.with_suffix(".ecsv")).flux, back.flux)
    # both plots are listed and drawn from the defringed spectrum (written before the FITS file)
    png_combined = Path(rec.png_combined)
    assert png_combined.name == "target_ch1-short_combined_x1d_combined.png"
    assert png_combined.stat().st_size > 1000
    assert png_combined.stat().st_mtime_ns <= out.stat().st_mtime_ns


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
