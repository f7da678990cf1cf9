"""Extraction regions in numpy (jwstspec.extract.aperture, centering) against photutils, the library they replace.

photutils' apertures and ``centroid_2dg`` are the oracle: the exact
circle/annulus pixel areas, the pixel-centre annulus and the 2-D Gaussian
centroid must be what photutils computes (importing photutils cost a
``jwstspec extract`` process more than its extraction, issue 14 item 7).
"""

from __future__ import annotations

import numpy as np
import pytest

from jwstspec.extract.aperture import annulus_weights, circle_weights, disc_overlap
from jwstspec.extract.centering import centroid, gaussian_centroid


def _cases(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        shape = (int(rng.integers(5, 40)), int(rng.integers(5, 40)))
        cx, cy = rng.uniform(-3, shape[1] + 3), rng.uniform(-3, shape[0] + 3)
        if i % 5 == 0:  # integer centres and radii: pixel centres exactly on the circle
            cx, cy = float(int(cx)), float(int(cy))
        r = float(rng.integers(1, 10)) if i % 7 == 0 else rng.uniform(0.2, 15)
        yield shape, cx, cy, r, r + (2.0 if i % 3 == 0 else rng.uniform(0.5, 5))


def _image(mask, shape):
    img = mask.to_image(shape)
    return np.zeros(shape) if img is None else img


def test_exact_circle_and_annulus_areas_are_photutils() -> None:
    from photutils.aperture import CircularAnnulus, CircularAperture

    for shape, cx, cy, r, rout in _cases(150):
        np.testing.assert_allclose(disc_overlap(shape, cx, cy, r),
                                   _image(CircularAperture((cx, cy), r).to_mask(method="exact"), shape), atol=1e-10)
        for method in ("exact", "center"):  # (annulus_weights quantises the centre to 0.01 px: give it such a centre)
            qx, qy = round(cx, 2), round(cy, 2)
            ours = annulus_weights(shape, np.array([qx]), np.array([qy]), r, rout, method=method)
            theirs = _image(CircularAnnulus((qx, qy), r, rout).to_mask(method=method), shape)
            np.testing.assert_allclose(ours, theirs, atol=1e-10, err_msg=f"{method} {shape} {qx} {qy} {r} {rout}")


def test_circle_weights_per_slice_sum_to_the_area() -> None:
    cx, cy = np.linspace(10.0, 12.5, 7), np.full(7, 11.3)
    w = circle_weights((25, 25), cx, cy, 3.2)
    assert w.shape == (7, 25, 25)
    np.testing.assert_allclose(w.sum(axis=(1, 2)), np.pi * 3.2**2, rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_gaussian_centroid_is_photutils_centroid_2dg(seed: int) -> None:
    from photutils.centroids import centroid_2dg

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:9, 0:9]
    x0, y0 = rng.uniform(3, 5, 2)
    sx, sy, theta = rng.uniform(0.7, 2.0), rng.uniform(0.7, 2.0), rng.uniform(0, np.pi)
    dx, dy = x - x0, y - y0
    u, v = dx * np.cos(theta) + dy * np.sin(theta), -dx * np.sin(theta) + dy * np.cos(theta)
    img = np.exp(-0.5 * (u**2 / sx**2 + v**2 / sy**2)) + rng.normal(size=x.shape) * (0.002 + 0.03 * seed / 5)
    np.testing.assert_allclose(gaussian_centroid(img), centroid_2dg(img), atol=1e-4)


def test_centroid_falls_back_to_the_centre_of_mass() -> None:
    img = np.zeros((9, 9))
    img[4, 6] = 1.0  # one pixel: no Gaussian can be fitted (the fit leaves the cut-out or does not converge)
    cx, cy = centroid(img)
    assert (cx, cy) == pytest.approx((6.0, 4.0), abs=1e-6)
    assert np.isnan(centroid(np.full((9, 9), np.nan))[0])
