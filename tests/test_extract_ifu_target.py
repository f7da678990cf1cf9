"""IFU centring (issue 14 item 4): the centroid when the source is detected, the target position when it is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jwstspec.extract import extract_file
from jwstspec.extract.centering import detection_snr
from jwstspec.synthetic.cubes import make_cube, write_s3d

RA, DEC = 80.0, -69.5  # the cube's reference pixel (0-based centre 12, 12 of a 25x25 field)


def _write(tmp_path: Path, name: str, cube, target: bool = True) -> Path:
    from stdatamodels.jwst.datamodels import IFUCubeModel

    path = write_s3d(cube, tmp_path / f"{name}_s3d.fits", ra=RA, dec=DEC)
    if target:
        with IFUCubeModel(str(path)) as m:
            m.meta.target.ra, m.meta.target.dec = RA + 0.0, DEC + 0.0
            m.save(path)
    return path


def test_detection_snr_bright_and_faint() -> None:
    bright, faint = make_cube(nwave=200, seed=1, snr=20.0), make_cube(nwave=200, seed=1, snr=0.3)
    for cube, lo, hi in ((bright, 20, np.inf), (faint, -np.inf, 5)):
        valid = np.isfinite(cube.data)
        snr = detection_snr(cube.data, cube.err, valid, cube.x_center, cube.y_center, 3.0, nbin=10)
        assert lo < np.median(snr) < hi, np.median(snr)


def test_faint_cube_is_centred_on_the_target(tmp_path: Path) -> None:
    cube = make_cube(nwave=300, seed=3, snr=0.3)
    spec = extract_file(_write(tmp_path, "faint", cube), tmp_path / "f.fits", radius="3px").spectrum
    assert spec.meta["CENTMODE"] == "target" and spec.meta["CENTSNR"] < 5
    assert np.allclose(spec.x_center, 12.0, atol=0.05) and np.allclose(spec.y_center, 12.0, atol=0.05)
    # without a target position the centroid stands, whatever it found in the noise
    blind = extract_file(_write(tmp_path, "blind", cube, target=False), tmp_path / "b.fits", radius="3px",
                         background=False).spectrum
    assert blind.meta["CENTMODE"] == "centroid"


def test_bright_cube_keeps_the_centroid(tmp_path: Path) -> None:
    cube = make_cube(nwave=300, seed=4, snr=50.0)
    spec = extract_file(_write(tmp_path, "bright", cube), tmp_path / "x.fits", radius="3px").spectrum
    assert spec.meta["CENTMODE"] == "centroid" and spec.meta["CENTSNR"] > 5
    assert np.max(np.abs(spec.x_center - cube.x_center)) < 0.1
