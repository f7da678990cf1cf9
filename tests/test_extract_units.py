"""Units from the product (issue 14 item 1): MJy/sr and MJy slits give the same Jy; other units are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from jwstspec.errors import InputFileError
from jwstspec.extract import extract_file
from jwstspec.extract.units import flux_unit, normalise_unit

NW, NC = 300, 25
PIX_SR = (0.1 / 206264.806) ** 2


def _truth_jy(w: np.ndarray) -> np.ndarray:
    return 2e-6 * (1 + 0.3 * np.sin(w))  # a few uJy, like a faint galaxy


def _slit_model(unit: str | None, err_unit: str | None = "same", seed: int = 3, name: str = "S200A1"):
    """A SlitModel holding a point source whose pixel values are in ``unit`` (MJy or MJy/sr)."""
    from stdatamodels.jwst.datamodels import SlitModel

    rng = np.random.default_rng(seed)
    w = np.linspace(1.0, 5.0, NW)
    edges = np.arange(NC + 1) - 0.5
    prof = 0.5 * np.diff(erf((edges[None] - 12.0) / (np.sqrt(2) * 1.0)), axis=1)  # (NW, NC)
    jy = (prof * _truth_jy(w)[:, None]).T  # Jy per pixel, (NC, NW)
    scale = 1e-6 if unit == "MJy" else 1e-6 / PIX_SR  # Jy per pixel -> pixel value
    noise = np.full(jy.shape, 0.002 * _truth_jy(w).max() * scale, np.float32)
    data = (jy * scale + rng.normal(size=jy.shape) * noise).astype(np.float32)
    m = SlitModel()
    m.data, m.err, m.dq = data, noise, np.zeros(data.shape, np.uint32)
    m.wavelength = np.broadcast_to(w[None], data.shape).astype(np.float32).copy()
    m.name = name
    if unit is not None:
        m.meta.bunit_data = unit
    if err_unit is not None:
        m.meta.bunit_err = unit if err_unit == "same" else err_unit
    m.meta.photometry.pixelarea_steradians = PIX_SR
    m.meta.wcsinfo.dispersion_direction = 1
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    return m, w, jy


def test_normalise_and_factors(tmp_path: Path) -> None:
    assert normalise_unit("MJy / sr") == "MJy/sr" and normalise_unit(" mjy ") == "MJy" and normalise_unit("") is None
    assert flux_unit("MJy/sr", PIX_SR, tmp_path).to_jy == pytest.approx(1e6 * PIX_SR)
    assert flux_unit("MJy", None, tmp_path).to_jy == 1e6  # no solid angle needed
    u = flux_unit("MJy", PIX_SR, tmp_path, "slit 12", err_unit="MJy")
    assert u.header() == {"BUNITSCI": "MJy", "BUNITERR": "MJy"}


@pytest.mark.parametrize(("unit", "err", "match"), [
    ("DN/s", None, r"f\.fits: slit S1: flux unit 'DN/s' cannot be converted"),
    (None, None, r"f\.fits: slit S1: no flux unit \(BUNIT missing\)"),
    ("MJy", "MJy/sr", r"f\.fits: slit S1: ERR unit 'MJy/sr' differs from the data unit 'MJy'"),
])
def test_refused_units_name_file_slit_and_unit(tmp_path: Path, unit, err, match) -> None:
    with pytest.raises(InputFileError, match=match) as info:
        flux_unit(unit, PIX_SR, tmp_path / "f.fits", "slit S1", err_unit=err)
    assert "\n" not in str(info.value)
    with pytest.raises(InputFileError, match="PIXAR_SR"):
        flux_unit("MJy/sr", None, tmp_path / "f.fits", "slit S1")


def test_point_source_in_mjy_and_mjy_per_sr_give_the_same_jy(tmp_path: Path) -> None:
    """The same source written in MJy (jwst photom, point source) and MJy/sr (extended): same Jy out, = truth."""
    fluxes = {}
    for unit in ("MJy", "MJy/sr"):
        m, _, jy = _slit_model(unit)
        path = tmp_path / f"{unit.replace('/', '_')}_s2d.fits"
        m.save(path)
        res = extract_file(path, tmp_path / f"{unit.replace('/', '_')}_x1d.fits", method="aperture", radius="4px",
                           background=False, covariance="none")
        spec = res.spectrum
        assert spec.meta["BUNITSCI"] == unit and spec.meta["BUNITERR"] == unit
        truth = jy[8:17].sum(axis=0)  # rows 8..16 = 12 +- 4.5: the 4px aperture about row 12
        assert abs(np.median(spec.flux / truth) - 1) < 0.005, unit
        fluxes[unit] = spec.flux
    assert np.median(fluxes["MJy"] / fluxes["MJy/sr"]) == pytest.approx(1.0, abs=1e-3)


def test_dn_per_s_slit_is_refused_with_one_line(tmp_path: Path) -> None:
    m, _, _ = _slit_model("DN/s")
    path = tmp_path / "dn_s2d.fits"
    m.save(path)
    with pytest.raises(InputFileError, match=r"dn_s2d\.fits: slit S200A1: flux unit 'DN/s'"):
        extract_file(path, tmp_path / "x.fits")
    assert not (tmp_path / "x.fits").exists()
