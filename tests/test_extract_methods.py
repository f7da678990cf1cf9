"""Every extraction method against the truth of a synthetic cube with defects.

The cube (jwstspec.synthetic.cubes.make_cube) gets, in this test: an extra
very bright unresolved emission line (sigma = 1 slice, 10x the continuum),
single-voxel cosmic rays of 20-200 sigma not flagged in DQ (half of them
within 3 px of the source), NaN first/last slices and a detector gap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.extract import extract_file
from jwstspec.extract.aperture import annulus_weights, box_weights, circle_weights
from jwstspec.spectrum import DQ_FLAGS, read_spectrum
from jwstspec.synthetic.cubes import make_cube, write_s3d

NW, NY, NX = 1000, 25, 25
LINE_K, LINE_AMP = 500, 0.05  # slice of the injected bright line, its peak (Jy)
EDGE, GAP = 2, slice(240, 246)


def _psf(cube) -> np.ndarray:
    y, x = np.mgrid[0:NY, 0:NX]
    s = cube.psf_sigma_px[:, None, None]
    r2 = (x - cube.x_center[:, None, None]) ** 2 + (y - cube.y_center[:, None, None]) ** 2
    return np.exp(-0.5 * r2 / s**2) / (2 * np.pi * s**2)


@pytest.fixture(scope="module")
def defect_cube(tmp_path_factory: pytest.TempPathFactory):
    cube = make_cube(nwave=NW, ny=NY, nx=NX, seed=5)
    rng = np.random.default_rng(7)
    psf = _psf(cube)
    to_mjysr = 1e-6 / cube.pixel_sr
    line = LINE_AMP * np.exp(-0.5 * ((np.arange(NW) - LINE_K) / 1.0) ** 2)
    total = cube.truth_jy + line
    cube.data += (line[:, None, None] * psf * to_mjysr).astype(np.float32)
    source = total[:, None, None] * psf  # Jy per spaxel, noise free
    # cosmic rays: 20-200 sigma single voxels, half within 3 px of the source
    n = 60
    k = rng.choice(np.arange(EDGE, NW - EDGE), n, replace=False)
    near = np.arange(n) < n // 2
    ang, rad = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 3, n)
    yy = np.where(near, np.rint(cube.y_center[k] + rad * np.sin(ang)), rng.integers(2, NY - 2, n)).astype(int)
    xx = np.where(near, np.rint(cube.x_center[k] + rad * np.cos(ang)), rng.integers(2, NX - 2, n)).astype(int)
    cube.data[k, yy, xx] += (rng.uniform(20, 200, n) * cube.err[k, yy, xx]).astype(np.float32)
    dead = np.zeros(NW, bool)
    dead[:EDGE] = dead[-EDGE:] = True
    dead[GAP] = True
    cube.data[dead] = np.nan
    cube.dq[dead] = 1
    path = write_s3d(cube, tmp_path_factory.mktemp("defects") / "defects_s3d.fits")
    return path, cube, source, dead, np.unique(k[near]), np.unique(k)


def _truth(source: np.ndarray, spec, method: str) -> np.ndarray:
    if method == "box":
        w = box_weights((NY, NX), spec.x_center, spec.y_center, 3)
    elif method == "annulus":
        w = annulus_weights((NY, NX), spec.x_center, spec.y_center, 1.5, 4.0)
    else:
        w = circle_weights((NY, NX), spec.x_center, spec.y_center, 4.0)
    return np.einsum("kij,kij->k", source, np.broadcast_to(w, source.shape))


OPTIONS = {
    "aperture": {"radius": "4px"},
    "box": {"radius": "3px"},
    "annulus": {"radius": "4px", "annulus_radii": ("1.5px", "4px")},
    "psf": {"radius": "4px"},
}


@pytest.mark.parametrize("method", list(OPTIONS))
def test_method_against_truth(defect_cube, tmp_path: Path, method: str) -> None:
    path, cube, source, dead, cr_slices, cr_all = defect_cube
    res = extract_file(path, tmp_path / f"{method}.fits", method=method, bkg_annulus=("8px", "11px"), apcorr="none",
                       **OPTIONS[method])
    spec = read_spectrum(res.path)
    assert len(spec) == NW
    # every valid slice returned (first and last valid ones included); dead ones NaN + NO_DATA, never 0
    assert np.all(np.isfinite(spec.flux[~dead]))
    assert np.all(np.isnan(spec.flux[dead])) and np.all(spec.dq[dead] & DQ_FLAGS["NO_DATA"])
    truth = _truth(source, spec, method)
    ok = ~dead
    assert abs(np.median(spec.flux[ok] / truth[ok]) - 1) <= 0.003
    pull = (spec.flux[ok] - truth[ok]) / spec.flux_error[ok]
    robust = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.9 <= robust <= 1.1, robust
    # cosmic rays near the source: at most 2 % of those slices off by more than 5 sigma
    cr_pull = np.abs(spec.flux[cr_slices] - truth[cr_slices]) / spec.flux_error[cr_slices]
    assert np.mean(cr_pull > 5) <= 0.02, np.sort(cr_pull)[-5:]
    # the bright unresolved line comes through whole (integrated flux within 5 %)
    sel = slice(LINE_K - 5, LINE_K + 6)
    cont = np.interp(np.arange(NW)[sel], [LINE_K - 8, LINE_K + 8], [truth[LINE_K - 8], truth[LINE_K + 8]])
    measured = np.sum(spec.flux[sel] - cont)
    expected = np.sum(truth[sel] - cont)
    assert abs(measured / expected - 1) < 0.05, (measured, expected)
    hit = set(cr_all.tolist())
    for j in range(LINE_K - 2, LINE_K + 3):  # the line's own voxels are not flagged
        assert j in hit or not spec.dq[j] & DQ_FLAGS["OUTLIER_REPLACED"], j
    assert res.n_replaced > 0


def test_centroid_track_per_slice(defect_cube, tmp_path: Path) -> None:
    path, cube, _, dead, _, _ = defect_cube
    spec = extract_file(path, tmp_path / "c.fits", radius="4px", bkg_annulus=("8px", "11px")).spectrum
    assert spec.meta["CENTMODE"] == "centroid"
    assert np.max(np.abs(spec.x_center - cube.x_center)[~dead]) < 0.05
    assert np.max(np.abs(spec.y_center - cube.y_center)[~dead]) < 0.05
    assert np.ptp(spec.x_center) > 0.3  # the drift is followed, not one centre for all slices


def test_centre_from_radec(defect_cube, tmp_path: Path) -> None:
    from stdatamodels.jwst.datamodels import IFUCubeModel

    path, cube, _, _, _, _ = defect_cube
    x0, y0 = 11.3, 12.6
    with IFUCubeModel(str(path)) as m:
        ra, dec, _ = m.meta.wcs(x0, y0, NW / 2)
    spec = extract_file(path, tmp_path / "r.fits", radius="4px", center_radec=(float(ra), float(dec)),
                        bkg_annulus=("8px", "11px")).spectrum
    assert spec.meta["CENTMODE"] == "radec"
    assert abs(spec.x_center[0] - x0) < 1e-3 and abs(spec.y_center[0] - y0) < 1e-3


def test_no_background_and_window_checks(defect_cube, tmp_path: Path) -> None:
    from jwstspec.errors import OptionError

    path, _, _, dead, _, _ = defect_cube
    spec = extract_file(path, tmp_path / "nb.fits", radius="4px", background=False).spectrum
    assert spec.meta["BKGOUT"] == 0.0 and np.all(spec.background == 0.0)
    assert np.all(np.isfinite(spec.flux[~dead]))
    with pytest.raises(OptionError, match="--window"):
        extract_file(path, tmp_path / "w.fits", window=NW)
    with pytest.raises(OptionError, match="--annulus-radii"):
        extract_file(path, tmp_path / "a.fits", method="annulus", annulus_radii=("4px", "2px"))


def test_save_cleaned_cube(defect_cube, tmp_path: Path) -> None:
    """The cleaned cube: cosmic rays near the source replaced by the scaled profile and flagged; input untouched."""
    from stdatamodels.jwst.datamodels import IFUCubeModel, dqflags

    from jwstspec.layout import cleaned_cube_path

    path, cube, source, dead, cr_slices, _ = defect_cube
    before = path.read_bytes()
    out = tmp_path / "a_x1d.fits"
    extract_file(path, out, radius="4px", bkg_annulus=("8px", "11px"), save_cleaned=True)
    target = cleaned_cube_path(out)
    assert target.name == "a_cleaned_s3d.fits" and path.read_bytes() == before
    with IFUCubeModel(str(path)) as raw, IFUCubeModel(str(target)) as clean:
        changed = raw.data != clean.data
        flagged = (clean.dq & dqflags.pixel["OUTLIER"]) > 0
        assert np.array_equal(changed & np.isfinite(raw.data), flagged & np.isfinite(raw.data))
        k, y, x = np.nonzero(flagged & np.isfinite(raw.data))
        assert set(cr_slices.tolist()) <= set(k.tolist())  # every near-source hit replaced
        # replaced values are close to the noise-free source + background, far from the hit
        truth = source[k, y, x] * 1e-6 / cube.pixel_sr + cube.background_mjysr
        err = raw.err[k, y, x]
        assert np.median(np.abs(clean.data[k, y, x] - truth) / err) < 3
        assert np.median(np.abs(raw.data[k, y, x] - truth) / err) > 10


def test_psf_with_fitted_background(defect_cube, tmp_path: Path) -> None:
    """No annulus: the constant background is fitted with the PSF; truth and honest errors still hold."""
    path, cube, source, dead, _, _ = defect_cube
    spec = extract_file(path, tmp_path / "fb.fits", method="psf", radius="4px", background=False, apcorr="none",
                        fit_background=True).spectrum
    assert spec.meta["FITBKG"]
    truth = _truth(source, spec, "psf")
    ok = ~dead
    assert abs(np.median(spec.flux[ok] / truth[ok]) - 1) <= 0.003
    pull = (spec.flux[ok] - truth[ok]) / spec.flux_error[ok]
    robust = 1.4826 * np.median(np.abs(pull - np.median(pull)))
    assert 0.9 <= robust <= 1.1, robust
    # the fitted background is the injected one (MJy/sr x aperture area, in Jy), within its statistical error
    expected = cube.background_mjysr * 1e6 * cube.pixel_sr * spec.npixels[ok]
    diff = spec.background[ok] - expected
    stderr = 1.253 * 1.4826 * np.median(np.abs(diff - np.median(diff))) / np.sqrt(diff.size)
    assert abs(np.median(diff)) < 4 * stderr, (np.median(diff), stderr)
    assert stderr < 0.5 * np.median(expected)  # the check can tell the background from zero
