"""Slit aperture correction (jwstspec.extract.apcorr) against jwst's own ``ApCorrPhase`` / ``ApCorr``, and end to end.

The tables are written with stdatamodels' reference models
(:func:`jwstspec.synthetic.apcorr_refs.write_slit_apcorr`) and read by jwst's
classes and ours; the correction per wavelength must agree, including
wavelengths and sizes outside the table (jwst's edge behaviour) and a
table whose pixel phase matters (jwst uses phase 0.5).  The end-to-end
oracle runs the real ``calwebb_spec2`` on the synthetic NIRSpec model
(a fixed-slit point source, ``photom`` leaving MJy) and extracts its
s2d with jwst's ``Extract1dStep`` and ``jwstspec extract``: the same
aperture and apcorr reference give the same flux, with the correction
on and off, and with it on the injected total flux.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import InputFileError
from jwstspec.extract import apcorr as ap
from jwstspec.extract.apcorr import find_reference, read_slit_table, slit_correction
from jwstspec.stages.pipelines import frozen_heap
from jwstspec.synthetic.apcorr_refs import gaussian_slit_apcorr, write_slit_apcorr

GRID = np.linspace(2.8, 5.3, 15)
SIGMA_PX = 1.0 + 0.6 * (GRID - GRID[0]) / (GRID[-1] - GRID[0])
ROWS = [{"filter": "F290LP", "grating": "G395H", "slit": "S200A1"},
        {"filter": "F290LP", "grating": "G395H", "slit": "S200A2"},
        {"filter": "F170LP", "grating": "G235H", "slit": "S200A1"}]


def _jwst_model(exp_type: str, **ins: str):
    from stdatamodels.jwst.datamodels import JwstDataModel

    dm = JwstDataModel()
    dm.meta.instrument.name = "MIRI" if exp_type.startswith("MIR") else "NIRSPEC"
    dm.meta.exposure.type = exp_type
    for key, value in ins.items():
        if key == "subarray":
            dm.meta.subarray.name = value
        else:
            setattr(dm.meta.instrument, key, value)
    return dm


def _spec_table(wave: np.ndarray, npixels: np.ndarray) -> np.ndarray:
    table = np.zeros(wave.size, dtype=[("wavelength", "f8"), ("npixels", "f8"), ("flux", "f8"), ("flux_error", "f8"),
                                       ("surf_bright", "f8"), ("sb_error", "f8"), ("flux_var_poisson", "f8"),
                                       ("flux_var_rnoise", "f8"), ("flux_var_flat", "f8"), ("sb_var_poisson", "f8"),
                                       ("sb_var_rnoise", "f8"), ("sb_var_flat", "f8")])
    table["wavelength"], table["npixels"], table["flux"] = wave, npixels, 1.0
    return table


# wavelengths beyond both ends of the table, sizes below the first (2 px) and beyond the last (12 px)
WAVE = np.linspace(2.6, 5.5, 40)
SIZE = np.linspace(1.0, 14.0, 40)[::-1]


@pytest.mark.parametrize("exp_type", ["NRS_FIXEDSLIT", "NRS_MSASPEC"])
def test_phase_correction_matches_jwst_apcorr_phase(tmp_path: Path, exp_type: str) -> None:
    """jwst's ApCorrPhase on the same table (phase-dependent, three rows): the same factor per wavelength."""
    from jwst.extract_1d.apply_apcorr import ApCorrPhase
    from stdatamodels.jwst.datamodels import NrsFsApcorrModel, NrsMosApcorrModel

    fs = exp_type == "NRS_FIXEDSLIT"
    rows = ROWS if fs else [{k: v for k, v in r.items() if k != "slit"} for r in ROWS[1:]]
    path = write_slit_apcorr(tmp_path / "apcorr.fits", GRID, SIGMA_PX, size_units="pixels", exp_type=exp_type,
                             rows=rows, phase_slope=0.4)
    dm = _jwst_model(exp_type, filter="F290LP", grating="G395H")
    with (NrsFsApcorrModel if fs else NrsMosApcorrModel)(str(path)) as ref:
        kwargs = {"slit": "S200A2"} if fs else {}
        theirs_ap = ApCorrPhase(dm, ref.apcorr_table, ref.sizeunit, **kwargs)
        table = _spec_table(WAVE, SIZE)
        theirs_ap.tabulate_correction(table)
        theirs = theirs_ap.tabulated_correction
    meta = {"EXP_TYPE": exp_type, "FILTER": "f290lp", "GRATING": "G395H", "SLITNAME": "S200A2"}
    ours = slit_correction(read_slit_table(path, meta), WAVE, SIZE, 0.1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    outside = (WAVE < GRID[0]) | (WAVE > GRID[-1])
    assert outside.any() and np.all(ours[outside] == 1.0)  # jwst leaves it uncorrected there
    inside = ~outside & (SIZE > 3) & (SIZE < 11)
    sigma = np.interp(WAVE, GRID, SIGMA_PX)
    assert np.all(ours[inside] > 1.0)  # and it is the Gaussian's correction (linear in size: coarse)
    np.testing.assert_allclose(ours[inside], gaussian_slit_apcorr(SIZE, sigma)[inside], rtol=0.03)


def test_size_correction_matches_jwst_apcorr(tmp_path: Path) -> None:
    """MIRI LRS: jwst's ApCorr (bilinear spline, clamped at the table's edges) on the same table."""
    from jwst.extract_1d.apply_apcorr import ApCorr
    from stdatamodels.jwst.datamodels import MirLrsApcorrModel

    path = write_slit_apcorr(tmp_path / "lrs.fits", GRID + 2.0, SIGMA_PX, size_units="pixels",
                             exp_type="MIR_LRS-FIXEDSLIT", rows=[{"subarray": "SLITLESSPRISM"}, {"subarray": "FULL"}])
    dm = _jwst_model("MIR_LRS-FIXEDSLIT", subarray="FULL")
    with MirLrsApcorrModel(str(path)) as ref:
        theirs_ap = ApCorr(dm, ref.apcorr_table, ref.sizeunit)
        table = _spec_table(WAVE + 2.0, SIZE)
        theirs_ap.apply(table)
        theirs = table["flux"]
    ours = slit_correction(read_slit_table(path, {"EXP_TYPE": "MIR_LRS-FIXEDSLIT", "SUBARRAY": "full"}),
                           WAVE + 2.0, SIZE, 0.11)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert ours[-1] > 1.2  # beyond the table (5.5 um, 1 px): clamped to its edge, not left uncorrected


def test_arcsec_sizes_use_the_pixel_scale(tmp_path: Path) -> None:
    px = write_slit_apcorr(tmp_path / "px.fits", GRID, SIGMA_PX, size_units="pixels")
    arcsec = write_slit_apcorr(tmp_path / "as.fits", GRID, SIGMA_PX * 0.1, sizes=np.linspace(2.0, 12.0, 11) * 0.1)
    meta = {"EXP_TYPE": "NRS_FIXEDSLIT", "FILTER": "F290LP", "GRATING": "G395H", "SLITNAME": "S200A1"}
    np.testing.assert_allclose(slit_correction(read_slit_table(arcsec, meta), WAVE, SIZE, 0.1),
                               slit_correction(read_slit_table(px, meta), WAVE, SIZE, 1.0), rtol=1e-5)


def test_unusable_tables_are_one_line_errors(tmp_path: Path) -> None:
    path = write_slit_apcorr(tmp_path / "apcorr.fits", GRID, SIGMA_PX, rows=ROWS)
    meta = {"EXP_TYPE": "NRS_FIXEDSLIT", "FILTER": "F290LP", "GRATING": "G140H", "SLITNAME": "S200A1"}
    with pytest.raises(InputFileError, match=r"apcorr.fits: 0 APCORR rows match filter=F290LP, grating=G140H, slit=S200A1"):
        read_slit_table(path, meta)
    # jwst's own test file holds apcorr as (pixphase, size, wavelength), which its ApCorrPhase cannot apply
    from jwst.extract_1d import tests as jwst_tests

    dummy = Path(jwst_tests.__file__).parent / "data" / "jwst_nirspec_apcorr_fs_dummy.fits"
    with pytest.raises(InputFileError, match=r"jwst_nirspec_apcorr_fs_dummy.fits: APCORR apcorr \(3, 3, 2048\) is not"):
        read_slit_table(dummy, {"EXP_TYPE": "NRS_FIXEDSLIT", "FILTER": "CLEAR", "GRATING": "PRISM", "SLITNAME": "S200A1"})
    bad = tmp_path / "bad.fits"
    bad.write_text("not fits")
    with pytest.raises(InputFileError, match="bad.fits"):
        read_slit_table(bad, meta)


def test_find_reference_for_slits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_slit_apcorr(tmp_path / "apcorr.fits", GRID, SIGMA_PX)
    fs = {"EXP_TYPE": "NRS_FIXEDSLIT", "SRCTYPE": "POINT", "FILTER": "F290LP", "GRATING": "G395H", "SLITNAME": "S200A1"}
    assert find_reference("auto", path, fs, "aperture").reference.kind == "phase"
    assert find_reference("auto", path, fs, "psf").reference.name == "apcorr.fits"
    assert find_reference("none", path, fs, "psf").reference is None
    assert find_reference("auto", path, {**fs, "SRCTYPE": "EXTENDED"}, "psf").note == "extended source"
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    assert "server-less" in find_reference("auto", None, fs, "psf").note


def test_crds_lookup_once_per_selection_and_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CRDS look-up (~2 s) is asked once per mode and CRDS set-up, not once per product."""
    import crds

    ref = write_slit_apcorr(tmp_path / "apcorr.fits", GRID, SIGMA_PX)
    calls: list[dict] = []

    def getreferences(header, reftypes, observatory):
        calls.append(dict(header))
        return {"apcorr": str(ref)}

    monkeypatch.setattr(crds, "getreferences", getreferences)
    monkeypatch.setenv("CRDS_PATH", str(tmp_path / "crds"))
    monkeypatch.setenv("CRDS_SERVER_URL", "https://jwst-serverless-mode.stsci.edu")
    monkeypatch.setenv("CRDS_CONTEXT", "jwst_0001.pmap")
    ap._crds_lookup.cache_clear()
    fs = {"EXP_TYPE": "NRS_FIXEDSLIT", "INSTRUME": "NIRSPEC", "FILTER": "F290LP", "GRATING": "G395H", "SLITNAME": "S200A1"}
    for _ in range(3):
        assert find_reference("auto", None, fs, "aperture").reference.name == "apcorr.fits"
    assert len(calls) == 1
    find_reference("auto", None, {**fs, "GRATING": "G235H"}, "aperture")  # another set-up: asked (no such row: a note)
    assert len(calls) == 2
    monkeypatch.setenv("CRDS_CONTEXT", "jwst_0002.pmap")  # another context: asked again
    find_reference("auto", None, fs, "aperture")
    assert len(calls) == 3
    assert "0 APCORR rows" in find_reference("auto", None, {**fs, "GRATING": "G235H"}, "psf").note
    ap._crds_lookup.cache_clear()


# ----------------------------------------------------------------------------- jwst's Extract1dStep as the oracle
ROW_LO, ROW_HI = 14, 17  # a 4-row aperture on the trace (centre 15.5): ~10 % of the light outside it


def _jwst_flux(s2d: Path, apcorr: Path, on: bool, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    from jwst.extract_1d import Extract1dStep

    ref = tmp_path / "extract1d.json"
    ref.write_text(json.dumps({
        "reftype": "EXTRACT1D", "instrument": "NIRSPEC", "telescope": "JWST",
        "apertures": [{"id": "ANY", "region_type": "target", "disp_axis": 1, "ystart": ROW_LO, "ystop": ROW_HI,
                       "use_source_posn": False, "bkg_order": 0}]}))
    with frozen_heap():
        x1d = Extract1dStep.call(str(s2d), override_extract1d=str(ref), override_apcorr=str(apcorr),
                                 override_psf="N/A", apply_apcorr=on, subtract_background=False)
    table = x1d.spec[0].spec_table
    return np.asarray(table["WAVELENGTH"], float), np.asarray(table["FLUX"], float)


@pytest.mark.slow  # the real calwebb_spec2 (shared fixture) and jwst's Extract1dStep twice
def test_fixed_slit_fluxes_agree_with_jwst_with_and_without_apcorr(nirspec_fs_point_spec2, tmp_path: Path) -> None:
    from jwstspec.cli import main
    from jwstspec.spectrum import read_spectrum

    exp, products = nirspec_fs_point_spec2
    s2d = products["s2d.fits"]
    grid = np.linspace(2.8, 5.3, 26)
    # the source's profile along the slit: sigma 0.12 arcsec convolved with the 0.1 arcsec pixels
    apcorr = write_slit_apcorr(tmp_path / "fs_apcorr.fits", grid, np.full(grid.size, np.hypot(0.12, 0.1 / np.sqrt(12))))
    theirs = {on: _jwst_flux(s2d, apcorr, on, tmp_path) for on in (True, False)}
    correction = theirs[True][1] / theirs[False][1]
    assert 1.05 < np.nanmedian(correction) < 1.2  # jwst applied a real correction
    for method in ("aperture", "psf"):
        total = {}
        for on in (True, False):
            out = tmp_path / f"{method}_{on}_x1d.fits"
            argv = ["extract", str(s2d), "--output", str(out), "--method", method, "--radius", "2px",
                    "--center", "0", str((ROW_LO + ROW_HI) / 2), "--no-background", "--covariance", "none",
                    "--apcorr", "auto" if on else "none", "--apcorr-file", str(apcorr)]
            assert main(argv) == 0
            spec = read_spectrum(out)
            assert spec.meta["APCORR"] is on
            wave, flux = theirs[on]
            ok = np.isfinite(flux) & (flux != 0) & np.isfinite(spec.flux)
            assert ok.mean() > 0.9 and np.allclose(spec.wavelength[ok], wave[ok], atol=1e-6)
            ratio = np.median(spec.flux[ok] / flux[ok])
            print(f"FIGURE {method} apcorr={on} median ours/jwst {ratio:.4f}")
            assert abs(ratio - 1) < 0.01, (method, on, ratio)
            total[on] = np.median(spec.flux[ok] / exp.truth(spec.wavelength[ok]))
            if on:  # the correction in its column
                assert spec.meta["APCORREF"] == "fs_apcorr.fits"
                np.testing.assert_allclose(spec.apcorr[ok], correction[ok], rtol=2e-3)
        # in-aperture flux ~9 % low; corrected, the injected total to the Gaussian table's model of the
        # resampled profile (the s2d's profile is not exactly the rate's Gaussian convolved with a pixel)
        print(f"FIGURE {method} total/truth off {total[False]:.4f} on {total[True]:.4f}")
        assert total[False] < 0.93 and abs(total[True] - 1) < 0.03, (method, total)
