"""Dither cleaning and combination on synthetic spectra with known truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.combine import combine_dithers, combine_files, stitch, stitch_files
from jwstspec.errors import InputFileError
from jwstspec.spectrum import Spectrum, read_spectrum

W = np.linspace(5.0, 6.0, 3000)
LINES = (5.2, 5.5, 5.8)


def truth() -> np.ndarray:
    t = 1e-2 * (W / 5.0) ** 1.5
    for c in LINES:
        t = t + 4e-3 * np.exp(-0.5 * ((W - c) / 4e-4) ** 2)  # unresolved: sigma ~ 1 point
    return t


def dithers(n: int = 4, seed: int = 0, artefacts: int = 30) -> tuple[list[Spectrum], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    t = truth()
    err = np.full(W.size, 1e-4)
    spectra, injected = [], []
    for i in range(n):
        f = t + rng.normal(0, 1e-4, W.size)
        hit = np.zeros(W.size, bool)
        idx = rng.choice(W.size, artefacts, replace=False)
        f[idx] += rng.choice([-1, 1], artefacts) * rng.uniform(20, 200, artefacts) * 1e-4
        hit[idx] = True
        spectra.append(Spectrum(W, f, err))
        injected.append(hit)
    return spectra, injected


def test_cleaning_removes_single_dither_artefacts_and_keeps_lines() -> None:
    spectra, injected = dithers()
    res = combine_dithers(spectra, window_half=10, clip_sigma=5.0)
    caught = sum((f & h).sum() for f, h in zip(res.flags, injected)) / sum(h.sum() for h in injected)
    false = sum((f & ~h).sum() for f, h in zip(res.flags, injected)) / sum((~h).sum() for h in injected)
    assert caught >= 0.95, caught
    assert false <= 0.005, false
    c = res.combined
    pull = (c.flux - truth()) / c.flux_error
    robust = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.9 < robust < 1.1, robust
    cont = 1e-2 * (W / 5.0) ** 1.5
    for line in LINES:
        sel = np.abs(W - line) < 3e-3
        ratio = (c.flux[sel] - cont[sel]).sum() / (truth()[sel] - cont[sel]).sum()
        assert abs(ratio - 1) < 0.02, (line, ratio)
    assert c.ncombined.max() == 4


def test_one_dither_is_identity_with_a_note() -> None:
    spectra, _ = dithers(n=1, artefacts=0)
    res = combine_dithers(spectra)
    np.testing.assert_allclose(res.combined.flux, spectra[0].flux)
    assert any("one dither" in n for n in res.notes)


def test_different_grids_are_interpolated() -> None:
    spectra, _ = dithers(n=2, artefacts=0)
    shifted = Spectrum(W + 1e-5, np.interp(W + 1e-5, W, spectra[1].flux), spectra[1].flux_error)
    res = combine_dithers([spectra[0], shifted])
    assert np.allclose(res.combined.wavelength, W)


def test_stitch_sorted_with_overlap_recorded() -> None:
    a = Spectrum(np.linspace(5, 6, 100), np.ones(100), np.full(100, 0.1))
    b = Spectrum(np.linspace(5.9, 7, 100), 1.1 * np.ones(100), np.full(100, 0.1))
    s = stitch({"a": a, "b": b}, scale=True)
    assert np.all(np.diff(s.wavelength) > 0)
    assert "scaled" in s.meta["SCALING"]
    assert np.allclose(s.flux, 1.0)
    assert s.meta["OVERLAPS"] == "a/b 5.9000-6.0000 um: a kept"


def test_files_roundtrip_and_bad_input(tmp_path: Path) -> None:
    spectra, _ = dithers(n=3, artefacts=5)
    paths = [s.write_fits(tmp_path / f"d{i}_x1d.fits") for i, s in enumerate(spectra)]
    out = tmp_path / "comb_x1d.fits"
    result = combine_files(paths, out, plot=tmp_path / "comb.png")
    back = read_spectrum(out)
    assert back.ncombined.max() == 3 and (tmp_path / "comb.png").stat().st_size > 1000
    # the per-dither spectra and their flags are kept in the DITHERS table
    from astropy.io import fits
    from specutils import Spectrum as SU

    with fits.open(out) as hdul:
        d = hdul["DITHERS"].data
        assert list(d["SRCFILE"]) == [p.name for p in paths]
        np.testing.assert_array_equal(d["FLAGGED"], np.array(result.flags))
        assert d["FLAGGED"].sum() >= 5  # the injected artefacts are there
        np.testing.assert_allclose(d["FLUX"][1], spectra[1].flux)
        assert (d["FLAGGED"].sum(axis=0) == 3 - back.ncombined).all()
    assert SU.read(out).flux.size == W.size  # specutils still reads the file
    assert out.with_suffix(".ecsv").exists()
    nan = Spectrum(W, np.full(W.size, np.nan), np.ones(W.size)).write_fits(tmp_path / "nan_x1d.fits")
    bad_out = tmp_path / "bad_x1d.fits"
    with pytest.raises(InputFileError, match="all NaN"):
        combine_files([paths[0], nan], bad_out)
    assert not bad_out.exists()
    st = tmp_path / "st_x1d.fits"
    stitch_files(paths[:1], st)
    assert read_spectrum(st).flux.size == W.size


def test_stitched_header_says_whether_every_band_was_defringed() -> None:
    def band(lo: float, defringed: bool | None) -> Spectrum:
        w = np.linspace(lo, lo + 1.0, 100)
        return Spectrum(w, np.ones_like(w), np.full_like(w, 0.01), meta={} if defringed is None else {"DEFRINGE": defringed})

    assert stitch({"a": band(5.0, True), "b": band(5.8, True)}).meta["DEFRINGE"] is True
    assert stitch({"a": band(5.0, True), "b": band(5.8, False)}).meta["DEFRINGE"] is False
    assert stitch({"a": band(5.0, True), "b": band(5.8, None)}).meta["DEFRINGE"] is False  # b says nothing: not all
    assert "DEFRINGE" not in stitch({"a": band(5.0, None), "b": band(5.8, None)}).meta
