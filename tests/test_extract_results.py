"""The typed results of the extraction core and of one cube's extraction agree with what is written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from jwstspec.config import ExtractionOptions
from jwstspec.extract.aperture import annulus_mask, circle_weights
from jwstspec.extract.api import CleanedRegion, SliceExtraction, SourceExtraction, _core, _extract_cube
from jwstspec.extract.reading import read_cube
from jwstspec.synthetic.cubes import make_cube, write_s3d


def test_core_result_is_per_slice(tmp_path: Path) -> None:
    cube = make_cube(nwave=50, ny=21, nx=21, seed=8)
    nw = cube.data.shape[0]
    flux, err = cube.data.astype(float), cube.err.astype(float)
    valid = np.isfinite(flux)
    cx, cy = cube.x_center, cube.y_center  # the injected track
    weights = circle_weights((21, 21), cx, cy, 3.0)
    out = _core(flux, err, valid, weights, annulus_mask((21, 21), cx, cy, 6.0, 9.0), ExtractionOptions(method="aperture", window=5))
    assert isinstance(out, SliceExtraction)
    for field in ("value", "error", "background", "area", "replaced_frac", "n_replaced", "nodata", "errcov", "errcov_bkg"):
        assert getattr(out, field).shape == (nw,), field
    ys, xs = out.box
    assert out.replaced.shape == out.model.shape == (nw, ys.stop - ys.start, xs.stop - xs.start)
    np.testing.assert_array_equal(out.n_replaced, out.replaced.sum(axis=(1, 2)))
    # the injected source: aperture sum of a Gaussian of known width (tolerance: noise, background, drift)
    to_jy = 1e6 * cube.pixel_sr
    enclosed = 1 - np.exp(-(3.0**2) / (2 * cube.psf_sigma_px**2))
    ratio = np.median(out.value * to_jy / (cube.truth_jy * enclosed))
    assert abs(ratio - 1) < 0.02, ratio


def test_cube_extraction_result_matches_the_written_spectrum(tmp_path: Path) -> None:
    path = write_s3d(make_cube(nwave=60, ny=21, nx=21, seed=9), tmp_path / "r_s3d.fits")
    cube = read_cube(path)
    res = _extract_cube(cube, ExtractionOptions(method="aperture", radius="3px", bkg_annulus=("6px", "9px")))
    assert isinstance(res, SourceExtraction) and isinstance(res.cleaned, CleanedRegion)
    assert len(res.spectrum) == cube.flux.shape[0]
    assert res.n_replaced == int(res.cleaned.replaced.sum())
    ys, xs = res.cleaned.box
    assert 0 <= ys.start < ys.stop <= cube.flux.shape[1] and 0 <= xs.start < xs.stop <= cube.flux.shape[2]
    assert res.cleaned.values.shape == res.cleaned.replaced.shape
    assert {f.name for f in dataclasses.fields(res)} == {"spectrum", "n_replaced", "cleaned"}
