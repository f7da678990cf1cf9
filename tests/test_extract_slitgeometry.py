"""Slit geometry that fits (issue 14 items 2-4): background rows, nod-subtracted images, the trace from the header.

Synthetic slit images with known truth: the reference flux is the
noiseless image summed in the same aperture, so what is tested is the
background and the trace, not the aperture's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from jwstspec.extract import extract_file
from jwstspec.extract.slitgeometry import background_rows, binned_snr, near, negative_traces, refine_trace

NW = 400
PIX_SR = (0.1 / 206264.806) ** 2
JY = 5e-6  # source, Jy


def _gauss_rows(nc: int, centre: float, sigma: float = 0.9) -> np.ndarray:
    edges = np.arange(nc + 1) - 0.5
    return 0.5 * np.diff(erf((edges - centre) / (np.sqrt(2) * sigma)))


def _image(nc: int, components: list[tuple[float, float]], sky: float = 0.0) -> np.ndarray:
    """Noiseless (nc, NW) image in MJy: sum of amplitude x profile at each row centre, plus a flat sky."""
    w = np.linspace(1.0, 5.0, NW)
    spec = JY * (1 + 0.2 * np.sin(2 * w)) * 1e-6  # MJy
    img = np.full((nc, NW), sky * 1e-6 * JY)
    for centre, amp in components:
        img += amp * _gauss_rows(nc, centre)[:, None] * spec[None]
    return img


def _band(nc: int, yc: np.ndarray, r: float) -> np.ndarray:
    rows = np.arange(nc, dtype=float)
    return np.clip(np.minimum(rows[None] + 0.5, yc[:, None] + r) - np.maximum(rows[None] - 0.5, yc[:, None] - r), 0, 1)


def _save(tmp_path: Path, name: str, clean: np.ndarray, snr_peak: float, seed: int, *, wcs=None,
          source_ypos: float | None = None, header: dict | None = None) -> tuple[Path, np.ndarray]:
    """A SlitModel (MJy) of ``clean`` plus white noise such that the source's peak pixel has S/N ``snr_peak``."""
    from stdatamodels.jwst.datamodels import SlitModel

    rng = np.random.default_rng(seed)
    sigma = np.nanmax(clean) / snr_peak
    noise = np.full(clean.shape, sigma, np.float32)
    m = SlitModel()
    m.data = (clean + rng.normal(size=clean.shape) * sigma).astype(np.float32)
    m.err, m.dq = noise, np.zeros(clean.shape, np.uint32)
    m.wavelength = np.broadcast_to(np.linspace(1.0, 5.0, NW)[None], clean.shape).astype(np.float32).copy()
    m.name = "S1"
    m.meta.bunit_data = m.meta.bunit_err = "MJy"
    m.meta.photometry.pixelarea_steradians = PIX_SR
    m.meta.wcsinfo.dispersion_direction = 1
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    m.meta.exposure.type = "NRS_FIXEDSLIT"
    if wcs is not None:
        m.meta.wcs = wcs
        m.source_xpos, m.source_ypos = 0.0, source_ypos
    for key, value in (header or {}).items():
        obj = m.meta
        *parents, leaf = key.split(".")
        for part in parents:
            obj = getattr(obj, part)
        setattr(obj, leaf, value)
    path = tmp_path / f"{name}_s2d.fits"
    m.save(path)
    return path, clean


def slit_wcs(y0: float, rows_per_unit: float, wave0: float = 1.0, dwave: float = 4.0 / (NW - 1)):
    """A gwcs ``detector -> slit_frame``: y_slit = (row - y0) / rows_per_unit, wavelength linear in column."""
    import astropy.units as u
    from astropy.modeling import models as am
    from gwcs import WCS
    from gwcs import coordinate_frames as cf

    det = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    spatial = cf.Frame2D(name="slit_spatial", axes_order=(0, 1), unit=("", ""), axes_names=("x_slit", "y_slit"))
    spectral = cf.SpectralFrame(name="spectral", axes_order=(2,), unit=(u.micron,), axes_names=("wavelength",))
    slit = cf.CompositeFrame([spatial, spectral], name="slit_frame")
    fwd = am.Mapping((0, 1, 0)) | am.Const1D(0.0) & (am.Shift(-y0) | am.Scale(1 / rows_per_unit)) & (am.Scale(dwave) | am.Shift(wave0))
    inv = am.Mapping((2, 1)) | (am.Shift(-wave0) | am.Scale(1 / dwave)) & (am.Scale(rows_per_unit) | am.Shift(y0))
    fwd.inverse = inv
    return WCS([(det, fwd), (slit, None)])


# ------------------------------------------------------------------ unit tests of the module
def test_background_rows_default_explicit_and_none() -> None:
    nc, nw = 15, 5
    yc = np.full(nw, 7.0)
    valid = np.ones((nw, nc), bool)
    b = background_rows(yc, nc, 3.0, valid)
    assert b.mode == "rows" and b.mask[0].nonzero()[0].tolist() == [0, 1, 13, 14]
    valid[:, :2] = False  # rows without data are never background
    assert background_rows(yc, nc, 3.0, valid).mask[0].nonzero()[0].tolist() == [13, 14]
    assert background_rows(yc, nc, 3.0, valid, distances=(5.0, 6.0)).mode == "annulus"
    excl = near(nc, [yc + 6.5], 3.0)
    b = background_rows(yc, nc, 3.0, valid, exclude=excl)
    assert b.mode == "none" and b.mask is None and "nod" in b.note
    assert background_rows(yc, nc, 3.0, valid, background=False).mode == "off"


def test_negative_traces_and_significance() -> None:
    nc = 25
    clean = _image(nc, [(12.0, 1.0), (7.0, -0.5), (17.0, -0.5)]).T  # (NW, nc)
    rng = np.random.default_rng(1)
    sigma = clean.max() / 5
    flux = clean + rng.normal(size=clean.shape) * sigma
    err, valid, yc = np.full(clean.shape, sigma), np.ones(clean.shape, bool), np.full(NW, 12.0)
    found = negative_traces(flux, err, valid, yc, 3.0)
    assert sorted(np.round(found).astype(int).tolist()) == [-5, 5]
    assert negative_traces(np.abs(flux - clean) * 0 + clean.clip(0), err, valid, yc, 3.0) == []
    snr, _, offset = binned_snr(flux, err, valid, yc + 0.4, 3.0, 10)
    assert np.all(snr > 5) and abs(np.median(offset) + 0.4) < 0.2
    moved, refined, _ = refine_trace(flux, err, valid, yc + 0.4, 3.0, 10)
    assert refined and np.allclose(moved, 12.0, atol=0.15)
    faint = clean / 40 + rng.normal(size=clean.shape) * sigma  # S/N 0.1 per pixel at the peak
    same, refined, med = refine_trace(faint, err, valid, yc + 0.4, 3.0, 10)
    assert not refined and med < 5 and np.array_equal(same, yc + 0.4)


# ------------------------------------------------------------------ extraction on synthetic products
@pytest.mark.parametrize(("name", "nc", "components"), [
    ("nod2", 31, [(12.0, 1.0), (20.0, -1.0)]),  # 2-point nod: A - B
    ("nod3", 25, [(12.3, 1.0), (6.9, -0.5), (17.7, -0.5)]),  # 3-shutter MOS nod: A - (B + C) / 2
])
def test_nod_subtracted_images_within_one_percent_with_defaults(tmp_path: Path, name: str, nc: int, components) -> None:
    path, clean = _save(tmp_path, name, _image(nc, components), snr_peak=60, seed=len(name) + nc)
    spec = extract_file(path, tmp_path / f"{name}_x1d.fits", nod_subtracted=True).spectrum
    assert spec.meta["NODSUB"] is True and spec.meta["NNODTRC"] >= len(components) - 1
    assert abs(np.median(spec.y_center) - components[0][0]) < 0.1
    truth = np.einsum("ik,ki->k", clean, _band(nc, spec.y_center, 3.0)) * 1e6  # Jy in the same aperture
    assert abs(np.median(spec.flux / truth) - 1) < 0.01, np.median(spec.flux / truth)


def test_negative_traces_never_in_the_background(tmp_path: Path) -> None:
    """A 2-point nod with a residual sky: the background comes from clean rows only, so the flux stays right."""
    nc = 31
    path, clean = _save(tmp_path, "nodsky", _image(nc, [(10.0, 1.0), (19.0, -1.0)], sky=0.05), snr_peak=60, seed=4)
    spec = extract_file(path, tmp_path / "x.fits", nod_subtracted=True).spectrum
    sky = _image(nc, [], sky=0.05)
    truth = np.einsum("ik,ki->k", clean - sky, _band(nc, spec.y_center, 3.0)) * 1e6
    assert spec.meta["BKGMODE"] == "rows"
    assert abs(np.median(spec.flux / truth) - 1) < 0.01
    # the same image taken as not nod-subtracted puts the negative trace in the background: biased high
    naive = extract_file(path, tmp_path / "n.fits", nod_subtracted=False).spectrum
    assert np.median(naive.flux / truth) > 1.005


def test_mos_slitlet_of_15_rows_with_defaults(tmp_path: Path) -> None:
    """A 3-shutter slitlet 15 rows tall, source off-centre under a bright sky: extracted with the defaults."""
    nc = 15
    path, clean = _save(tmp_path, "mos15", _image(nc, [(5.6, 1.0)], sky=2.0), snr_peak=80, seed=7)
    spec = extract_file(path, tmp_path / "m.fits").spectrum
    sky = _image(nc, [], sky=2.0)
    truth = np.einsum("ik,ki->k", clean - sky, _band(nc, spec.y_center, 3.0)) * 1e6
    assert spec.meta["BKGMODE"] == "rows" and spec.meta["CENTMODE"] == "centroid"
    assert abs(np.median(spec.flux / truth) - 1) < 0.01
    # an explicit geometry that does not fit still gets the one-line error
    from jwstspec.errors import OptionError

    with pytest.raises(OptionError, match="--bkg-annulus.*leaves the 15-pixel slit"):
        extract_file(path, tmp_path / "e.fits", bkg_annulus=("10px", "12px"))


def test_no_clean_rows_left_extracts_without_background(tmp_path: Path, caplog) -> None:
    nc = 11
    path, clean = _save(tmp_path, "tiny", _image(nc, [(5.0, 1.0)]), snr_peak=60, seed=8)
    with caplog.at_level("INFO"):
        spec = extract_file(path, tmp_path / "t.fits").spectrum
    assert spec.meta["BKGMODE"] == "none" and "without background" in caplog.text
    truth = np.einsum("ik,ki->k", clean, _band(nc, spec.y_center, 3.0)) * 1e6
    assert abs(np.median(spec.flux / truth) - 1) < 0.01


def test_faint_source_trace_from_the_header(tmp_path: Path) -> None:
    """S/N 2 per pixel, a brighter neighbour elsewhere in the slit: the trace is where the header puts the source."""
    nc, y0, rpu = 25, 12.0, 5.0
    ypos = -0.54  # slit-frame units: row 12 - 2.7 = 9.3
    row = y0 + rpu * ypos
    clean = _image(nc, [(row, 1.0), (19.0, 4.0)])  # the neighbour is 4x brighter
    path, clean = _save(tmp_path, "faint", clean, snr_peak=2.0 * 4, seed=9, wcs=slit_wcs(y0, rpu), source_ypos=ypos)
    # snr_peak is set on the brightest pixel (the neighbour): the source's own peak pixel has S/N 2
    spec = extract_file(path, tmp_path / "f.fits", background=False).spectrum
    assert spec.meta["CENTMODE"] in ("header", "header+centroid")
    assert abs(np.median(spec.y_center) - row) < 0.3
    only = _image(nc, [(row, 1.0)])
    truth = np.einsum("ik,ki->k", only, _band(nc, spec.y_center, 3.0)) * 1e6
    assert abs(np.median(spec.flux / truth) - 1) < 0.1
    # without the header position the centroid goes to the brighter neighbour
    from stdatamodels.jwst.datamodels import SlitModel

    with SlitModel(str(path)) as m:
        m.source_ypos = None
        m.meta.wcs = None
        m.save(tmp_path / "nohdr_s2d.fits")
    blind = extract_file(tmp_path / "nohdr_s2d.fits", tmp_path / "b.fits", background=False).spectrum
    assert blind.meta["CENTMODE"] == "centroid" and abs(np.median(blind.y_center) - 19.0) < 0.5
