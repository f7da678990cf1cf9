"""Aperture correction (jwstspec.extract.apcorr) against jwst's own ``ApCorrRadial`` and through ``extract_file``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import InputFileError
from jwstspec.extract import extract_file
from jwstspec.extract.apcorr import find_reference, radial_correction, read_radial
from jwstspec.synthetic.apcorr_refs import gaussian_apcorr, write_ifu_apcorr
from jwstspec.synthetic.cubes import make_cube, write_s3d

GRID = np.linspace(2.8, 5.3, 12)
SIGMA_ARCSEC = 0.1 * (0.8 + 0.25 * (GRID - GRID[0]) / (GRID[-1] - GRID[0]))


@pytest.fixture(scope="module")
def small_cube(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cube = make_cube(nwave=60, ny=21, nx=21, wave_range=(2.6, 5.5), seed=3)  # wider than the table: extrapolated
    return write_s3d(cube, tmp_path_factory.mktemp("apcorr") / "small_s3d.fits")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ifu_apcorr(tmp_path_factory.mktemp("ref") / "nrs_apcorr.asdf", GRID, SIGMA_ARCSEC)


def test_radial_correction_matches_jwst_apcorr_radial(small_cube: Path, reference: Path) -> None:
    """jwst's ApCorrRadial on the same cube and reference: the same factor per wavelength (radii inside and outside the table)."""
    from jwst.extract_1d.apply_apcorr import ApCorrRadial
    from stdatamodels.jwst.datamodels import IFUCubeModel, NrsIfuApcorrModel

    with IFUCubeModel(str(small_cube)) as cube, NrsIfuApcorrModel(str(reference)) as ref:
        nw = cube.data.shape[0]
        _, _, wave = cube.meta.wcs(np.full(nw, 10.0), np.full(nw, 10.0), np.arange(nw, dtype=float))
        radius = np.linspace(0.6, 11.0, nw)  # px: below the table's first radius (1 px) to beyond its last (10 px)
        ap = ApCorrRadial(cube, ref, location=(80.0, -69.5, float(np.median(wave))))
        ap.match_wavelengths(np.asarray(wave))
        for i in range(nw):
            ap.find_apcorr_func(i, radius[i])
        theirs = np.array(ap.apcorr_correction, dtype=float).ravel()
    ours = radial_correction(read_radial(reference), np.asarray(wave), radius, 0.1)
    np.testing.assert_allclose(ours, theirs, rtol=2e-3)
    inside = (radius > 3.0) & (radius < 9.5) & (np.asarray(wave) > GRID[0]) & (np.asarray(wave) < GRID[-1])
    sigma_px = np.interp(wave, GRID, SIGMA_ARCSEC) / 0.1  # and close to the Gaussian it tabulates (linear in radius: coarse at small radii)
    np.testing.assert_allclose(ours[inside], gaussian_apcorr(radius, sigma_px)[inside], rtol=0.02)


def test_find_reference_cases(reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ifu = {"EXP_TYPE": "NRS_IFU", "SRCTYPE": "POINT", "INSTRUME": "NIRSPEC"}
    assert find_reference("auto", reference, ifu, "aperture").reference.name == "nrs_apcorr.asdf"
    assert find_reference("none", reference, ifu, "psf").reference is None
    assert "extended" in find_reference("auto", reference, {**ifu, "SRCTYPE": "EXTENDED"}, "psf").note
    assert "NRS_BRIGHTOBJ" not in find_reference("auto", None, {**ifu, "EXP_TYPE": "NRS_BRIGHTOBJ"}, "psf").note
    assert "NIS_SOSS" in find_reference("auto", reference, {**ifu, "EXP_TYPE": "NIS_SOSS"}, "psf").note
    with pytest.raises(InputFileError, match="nrs_apcorr.asdf"):  # a slit takes a FITS table, not the IFU ASDF
        find_reference("auto", reference, {**ifu, "EXP_TYPE": "NRS_FIXEDSLIT"}, "psf")
    assert "box" in find_reference("auto", reference, ifu, "box").note
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)  # no file, CRDS not cache-only: none, at once
    assert "server-less" in find_reference("auto", None, ifu, "psf").note
    bad = tmp_path / "bad.asdf"
    bad.write_text("not asdf")
    with pytest.raises(InputFileError, match="bad.asdf"):
        find_reference("auto", bad, ifu, "psf")


def test_extract_file_applies_the_correction(small_cube: Path, reference: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRDS_SERVER_URL", raising=False)
    common = {"method": "aperture", "radius": "3px", "covariance": "none"}
    plain = extract_file(small_cube, tmp_path / "none_x1d.fits", apcorr="none", **common).spectrum
    auto = extract_file(small_cube, tmp_path / "auto_x1d.fits", apcorr="auto", **common).spectrum
    corrected = extract_file(small_cube, tmp_path / "ref_x1d.fits", apcorr_file=reference, **common).spectrum
    assert plain.meta["APCORR"] is False and auto.meta["APCORR"] is False and "server-less" in auto.meta["APCNOTE"]
    np.testing.assert_array_equal(plain.flux, auto.flux)
    assert corrected.meta["APCORR"] is True and corrected.meta["APCORREF"] == "nrs_apcorr.asdf"
    expected = radial_correction(read_radial(reference), plain.wavelength, 3.0, 0.1)
    np.testing.assert_allclose(corrected.flux, plain.flux * expected, rtol=1e-6)
    np.testing.assert_allclose(corrected.flux_error, plain.flux_error * expected, rtol=1e-6)
    np.testing.assert_allclose(corrected.background, plain.background)  # the sky is not a point source
    np.testing.assert_allclose(corrected.apcorr, expected)


CRDS_SCRIPT = textwrap.dedent(
    """
    import json, shutil, subprocess, sys
    from pathlib import Path
    from jwstspec.synthetic.crds_cache import RefEntry, activate, reference_dir, write_crds_cache
    crds, ref, cube, out = (Path(a) for a in sys.argv[1:5])
    activate(crds)
    shutil.copy(ref, reference_dir(crds, "NIRSPEC") / ref.name)
    write_crds_cache(crds, [RefEntry("NIRSPEC", "apcorr", ref.name, {"META.EXPOSURE.TYPE": "NRS_IFU"})])
    from jwstspec.extract import extract_file
    spec = extract_file(cube, out, method="aperture", radius="3px", covariance="none").spectrum
    print("RESULT" + json.dumps({k: spec.meta.get(k) for k in ("APCORR", "APCOREF", "APCORREF", "APCNOTE")}))
    """
)


@pytest.mark.slow  # writes a CRDS cache (collects every jwst step's reference types) in a fresh process
def test_auto_finds_the_reference_in_the_crds_cache(small_cube: Path, reference: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    proc = subprocess.run([sys.executable, "-c", CRDS_SCRIPT, str(tmp_path / "crds"), str(reference), str(small_cube),
                           str(tmp_path / "x1d.fits")], check=False, capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[0][len("RESULT"):])
    assert out["APCORR"] is True and out["APCORREF"] == "nrs_apcorr.asdf", out


def test_reference_read_once_per_file_version(reference: Path, tmp_path: Path) -> None:
    """Many cubes, one reference: read once; a rewritten file is read again."""
    import os
    import shutil

    copy = tmp_path / "copy.asdf"
    shutil.copy(reference, copy)
    first = read_radial(copy)
    assert read_radial(copy) is first
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 10**9))
    again = read_radial(copy)
    assert again is not first and np.array_equal(again.apcorr, first.apcorr)
    with pytest.raises(ValueError):  # shared arrays cannot be changed by one caller
        first.apcorr[0, 0] = 2.0
