"""MIRI LRS slit spectra run from long to short wavelength: extraction -> combination -> stitching keep every point.

LRS fixed-slit s2d products are ImageModels with the dispersion along y and
the wavelength decreasing with the row (as ``jwst``'s LRS WCS gives it).
Two nods of a known source are written that way, extracted, combined and
stitched; the result must be sorted and match the injected flux.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import erf

from jwstspec.combine import combine_files
from jwstspec.extract import extract_file
from jwstspec.products import stitch_bands
from jwstspec.spectrum import read_spectrum

NW, NC = 300, 41
PIX = 0.11 / 206264.806  # rad: MIRI imager pixel


def truth_jy(w: np.ndarray) -> np.ndarray:
    return 2e-3 * (w / 5.0) ** -1.0 * (1 + 0.3 * np.exp(-0.5 * ((w - 9.7) / 0.3) ** 2))


def lrs_s2d(path: Path, row_centre: float, seed: int) -> Path:
    from stdatamodels.jwst.datamodels import ImageModel

    rng = np.random.default_rng(seed)
    w = np.linspace(14.0, 5.0, NW)  # long to short along the dispersion axis (y)
    edges = np.arange(NC + 1) - 0.5
    prof = 0.5 * np.diff(erf((edges[None] - row_centre) / (np.sqrt(2) * 1.2)), axis=1)  # (NW, NC)
    source = prof * truth_jy(w)[:, None] * 1e-6 / PIX**2  # MJy/sr, (nwave, ncross)
    noise = np.full(source.shape, source.max() / 500, np.float32)
    m = ImageModel((source + 5.0 + rng.normal(size=source.shape) * noise).astype(np.float32))
    m.err, m.dq = noise, np.zeros(source.shape, np.uint32)
    m.wavelength = np.broadcast_to(w[:, None], source.shape).astype(np.float32).copy()
    m.meta.instrument.name, m.meta.instrument.detector, m.meta.instrument.filter = "MIRI", "MIRIMAGE", "P750L"
    m.meta.exposure.type = "MIR_LRS-FIXEDSLIT"
    m.meta.bunit_data = "MJy/sr"
    m.meta.photometry.pixelarea_steradians = PIX**2
    m.meta.wcsinfo.dispersion_direction = 2
    m.save(path)
    return path


def test_decreasing_lrs_grids_extract_combine_and_stitch(tmp_path: Path) -> None:
    spectra = []
    for i, row in enumerate((15.0, 25.0)):  # a two-point nod along the slit
        s2d = lrs_s2d(tmp_path / f"nod{i}_s2d.fits", row, seed=i)
        res = extract_file(s2d, tmp_path / f"nod{i}_x1d.fits", radius="5px", bkg_annulus=("8px", "12px"))
        assert np.all(np.diff(res.spectrum.wavelength) < 0)  # the extraction keeps the detector's order
        spectra.append(res.path)
    combined = tmp_path / "p750l_combined_x1d.fits"
    result = combine_files(spectra, combined, plot=None)
    comb = read_spectrum(combined)
    assert np.all(np.diff(comb.wavelength) > 0) and comb.ncombined.max() == 2 and result.notes == []
    aperture = erf(5.0 / (np.sqrt(2) * 1.2))  # the Gaussian profile's fraction inside +-5 rows
    good = np.isfinite(comb.flux)
    assert good.mean() > 0.98
    ratio = comb.flux[good] / (truth_jy(comb.wavelength[good]) * aperture)
    assert abs(np.median(ratio) - 1) < 0.01 and np.percentile(np.abs(ratio - 1), 95) < 0.03
    product = stitch_bands([combined], tmp_path / "stitched_x1d.fits", spectral_leak=True, plot=False)
    st = read_spectrum(product.fits)
    assert product.bands == ["p750l"] and st.meta["LEAKCORR"] is False  # not MRS: no leak correction
    np.testing.assert_array_equal(st.wavelength, comb.wavelength[np.isfinite(comb.wavelength)])
    np.testing.assert_allclose(st.flux, comb.flux, equal_nan=True)
