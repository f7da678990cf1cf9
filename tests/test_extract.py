"""Extraction (first version: exact circular aperture) on synthetic cubes with known truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import InputFileError, OptionError
from jwstspec.extract import extract_file, read_cube
from jwstspec.spectrum import DQ_FLAGS, read_spectrum
from jwstspec.synthetic.cubes import make_cube, write_s3d


@pytest.fixture(scope="module")
def cube_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    # 1000 slices: the robust scatter of the pulls is then known to ~3 % (400 slices gave 0.86 by chance)
    cube = make_cube(nwave=1000, ny=25, nx=25, seed=11)
    path = write_s3d(cube, tmp_path_factory.mktemp("cube") / "syn_s3d.fits")
    return path, cube


def _aperture_truth(cube, radius_px: float) -> np.ndarray:
    return cube.truth_jy * (1 - np.exp(-(radius_px**2) / (2 * cube.psf_sigma_px**2)))


def test_aperture_recovers_truth_with_honest_errors(cube_file, tmp_path: Path) -> None:
    path, cube = cube_file
    res = extract_file(path, tmp_path / "x1d.fits", method="aperture", radius="4px", bkg_annulus=("8px", "11px"),
                       apcorr="none")
    spec = read_spectrum(res.path)
    assert len(spec) == cube.data.shape[0] == res.n_slices  # every slice, first and last included
    truth = _aperture_truth(cube, 4.0)
    good = np.isfinite(spec.flux)
    assert good.all()
    assert abs(np.median(spec.flux / truth) - 1) < 0.003
    pull = (spec.flux - truth) / spec.flux_error
    robust = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.9 < robust < 1.1, robust
    # the reading goes through the WCS: wavelengths equal the generator's
    np.testing.assert_allclose(spec.wavelength, cube.wavelength, rtol=1e-6)
    # sub-pixel centroid of every slice (it follows the drift), not an integer pixel
    assert np.max(np.abs(spec.x_center - cube.x_center)) < 0.05
    assert np.max(np.abs(spec.y_center - cube.y_center)) < 0.05


def test_nan_voxels_in_aperture_are_replaced_not_dropped(cube_file, tmp_path: Path) -> None:
    path, cube = cube_file
    from stdatamodels.jwst.datamodels import IFUCubeModel

    m = IFUCubeModel(str(path))
    yc, xc = int(round(np.median(cube.y_center))), int(round(np.median(cube.x_center)))
    m.data[100:110, yc, xc] = np.nan  # the brightest spaxel lost in 10 slices
    m.data[200, yc - 1 : yc + 2, xc - 1 : xc + 2] = np.nan
    holed = tmp_path / "holed_s3d.fits"
    m.save(holed)
    spec = extract_file(holed, tmp_path / "h.fits", radius="4px", bkg_annulus=("8px", "11px"),
                        apcorr="none").spectrum
    truth = _aperture_truth(cube, 4.0)
    assert np.all(np.abs(spec.flux[100:110] / truth[100:110] - 1) < 0.02)
    assert abs(spec.flux[200] / truth[200] - 1) < 0.03
    assert np.all(spec.dq[100:110] & DQ_FLAGS["OUTLIER_REPLACED"])
    assert spec.replaced_frac[200] > 0


def test_fixed_centre_and_offsets(cube_file, tmp_path: Path) -> None:
    path, cube = cube_file
    spec = extract_file(path, tmp_path / "f.fits", radius="4px", center=(12.0, 12.0), bkg_annulus=("8px", "11px")).spectrum
    assert np.all(spec.x_center == 12.0) and spec.meta["CENTMODE"] == "fixed"
    off = extract_file(path, tmp_path / "o.fits", radius="4px", center_offset=(1.0, 0.0), bkg_annulus=("8px", "11px")).spectrum
    assert np.max(np.abs(off.x_center - cube.x_center - 1.0)) < 0.05


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"radius": "bogus"}, "--radius"),
        ({"bkg_annulus": ("12px", "10px")}, "--bkg-annulus"),
        ({"bkg_annulus": ("10px", "30px")}, "--bkg-annulus"),
        ({"center": (40.0, 3.0)}, "--center"),
        ({"method": "optimal"}, "--method"),
    ],
)
def test_bad_options_name_the_option_and_write_nothing(cube_file, tmp_path: Path, kwargs: dict, option: str) -> None:
    path, _ = cube_file
    out = tmp_path / "bad.fits"
    with pytest.raises(OptionError) as info:
        extract_file(path, out, **kwargs)
    assert option in str(info.value)
    assert not out.exists()


def test_unusable_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        read_cube(tmp_path / "none_s3d.fits")
    junk = tmp_path / "junk_s3d.fits"
    junk.write_bytes(b"nonsense" * 100)
    with pytest.raises(InputFileError, match="junk_s3d.fits"):
        read_cube(junk)
    cube = make_cube(nwave=20, ny=9, nx=9, seed=1)
    cube.data[:] = np.nan
    allnan = write_s3d(cube, tmp_path / "nan_s3d.fits")
    with pytest.raises(InputFileError, match="no finite value"):
        read_cube(allnan)


CLI_BAD = [
    (["--center", "40", "3"], "--center", "outside"),
    (["--center-radec", "10.0", "-60.0"], "--center-radec", "outside"),
    (["--radius", "20px"], "--radius", "leaves"),
    (["--bkg-annulus", "10px", "30px"], "--bkg-annulus", "leaves"),
    (["--bkg-annulus", "12px", "10px"], "--bkg-annulus", "inner"),
    (["--method", "annulus", "--annulus-radii", "4px", "2px"], "--annulus-radii", "inner"),
    (["--method", "annulus"], "--annulus-radii", "needs"),
    (["--window", "5000"], "--window", "wider"),
    (["--radius", "3parsec"], "--radius", ""),
    (["--clip-sigma", "0"], "--clip-sigma", "positive"),
]


@pytest.mark.parametrize(("args", "option", "reason"), CLI_BAD, ids=[r[1] + "-" + r[2] for r in CLI_BAD])
def test_cli_bad_options(cube_file, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                         option: str, reason: str) -> None:
    """``jwstspec extract``: exit code 2, one line naming the file and the option, no output file."""
    from jwstspec.cli import main

    path, _ = cube_file
    out = tmp_path / "bad_x1d.fits"
    assert main(["extract", str(path), *args, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and option in err and reason in err and path.name in err, err
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["junk", "allnan", "image"])
def test_cli_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    from astropy.io import fits

    from jwstspec.cli import main

    src = tmp_path / f"{kind}_s3d.fits"
    if kind == "junk":
        src.write_bytes(b"nonsense" * 100)
    elif kind == "allnan":
        cube = make_cube(nwave=20, ny=9, nx=9, seed=1)
        cube.data[:] = np.nan
        write_s3d(cube, src)
    else:  # a 2-D image that is neither a cube nor an s2d
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((9, 9), np.float32), name="SCI")]).writeto(src)
    out = tmp_path / "out" / "x1d.fits"
    assert main(["extract", str(src), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and src.name in err, err
    assert not out.exists()
