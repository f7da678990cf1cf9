"""The astropy-only reader (:mod:`jwstspec.extract.fastread`) gives what the stdatamodels reader gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.extract.fastread import read_cube_fast, read_slits_fast
from jwstspec.extract.reading import read_cube, read_slits
from jwstspec.synthetic.cubes import make_cube, write_s3d


def _same_slits(a, b) -> None:
    assert [s.name for s in a] == [s.name for s in b]
    for x, y in zip(a, b):
        for field in ("flux", "err", "dq", "wavelength"):
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=field)
        assert x.unit.unit == y.unit.unit and x.unit.err_unit == y.unit.err_unit
        assert x.unit.to_jy == pytest.approx(y.unit.to_jy, rel=1e-12)  # PIXAR_SR: FITS card vs ASDF value
        assert x.meta == y.meta and x.pixel_sr == pytest.approx(y.pixel_sr, rel=1e-12)
        assert x.nod_subtracted == y.nod_subtracted


def test_multislit_and_lrs_image_read_alike(tmp_path: Path) -> None:
    from stdatamodels.jwst.datamodels import ImageModel, MultiSlitModel

    from tests.test_extract_slit_failures import _fill

    m = MultiSlitModel()
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    for i, (name, empty, unit) in enumerate((("S1", False, "MJy"), ("S2", True, "MJy"), ("S3", False, "MJy/sr"))):
        m.slits.append(m.slits.item())
        _fill(m.slits[i], name, i, empty=empty, unit=unit)
    m.slits[0].dq[3, 5] = 1 | 2**30  # a high DQ bit survives the int32 storage
    path = tmp_path / "m_s2d.fits"
    m.save(path)
    fast_fail, slow_fail = [], []
    fast = read_slits_fast(path, None, fast_fail)
    assert fast is not None
    _same_slits(fast, read_slits(path, None, slow_fail, fast=False))
    assert fast_fail == slow_fail and [n for n, _ in fast_fail] == ["S2"]
    _same_slits(read_slits(path, "S3"), read_slits(path, "S3", fast=False))

    lrs = ImageModel(np.ones((50, 9), np.float32))
    lrs.err = np.full((50, 9), 0.1, np.float32)
    lrs.wavelength = np.broadcast_to(np.linspace(5, 12, 50)[:, None], (50, 9)).astype(np.float32).copy()
    lrs.meta.bunit_data = "MJy/sr"
    lrs.meta.photometry.pixelarea_steradians = 1e-12
    lrs.meta.wcsinfo.dispersion_direction = 2
    lrs.meta.instrument.name, lrs.meta.instrument.detector = "MIRI", "MIRIMAGE"
    lpath = tmp_path / "lrs_s2d.fits"
    lrs.save(lpath)
    _same_slits(read_slits_fast(lpath), read_slits(lpath, fast=False))


def test_slit_with_a_source_position_needs_the_wcs(tmp_path: Path) -> None:
    from tests.test_extract_slitgeometry import _image, _save, slit_wcs

    path, _ = _save(tmp_path, "pos", _image(25, [(9.3, 1.0)]), 10.0, 1, wcs=slit_wcs(12.0, 5.0), source_ypos=-0.54)
    assert read_slits_fast(path) is None
    assert read_slits(path)[0].source_trace is not None  # the datamodels reader then places the trace


def test_cube_reads_alike_and_converts_sky_positions_lazily(tmp_path: Path) -> None:
    cube = make_cube(nwave=120, seed=2)
    path = write_s3d(cube, tmp_path / "c_s3d.fits")
    fast, slow = read_cube_fast(path), read_cube(path, fast=False)
    assert fast is not None
    for field in ("flux", "err", "dq"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)
    np.testing.assert_allclose(fast.wavelength, slow.wavelength, rtol=1e-9)
    assert fast.unit.unit == slow.unit.unit and fast.unit.to_jy == pytest.approx(slow.unit.to_jy, rel=1e-12)
    assert fast.meta == slow.meta and fast.pixel_arcsec == pytest.approx(slow.pixel_arcsec)
    assert fast.world_to_pixel(80.0, -69.5, 4.0) == pytest.approx(slow.world_to_pixel(80.0, -69.5, 4.0), abs=1e-6)
