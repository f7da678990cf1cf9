"""Synthetic IFU cubes with known truth (s3d files the real ``jwst`` code reads).

A point source with a known spectrum (:func:`source_spectrum`, Jy) and a
Gaussian PSF whose width grows with wavelength and whose centre drifts,
on a flat background, with Gaussian noise whose sigma is the ERR the file
reports, NaN corners, written as an ``IFUCubeModel`` with a gwcs (the
same helper ``cube_build`` uses) so that ``Extract1dStep`` and jwstspec
read it like a pipeline product.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.fileio import atomic_path

PIXEL_ARCSEC = 0.1  # NIRSpec IFU cube spaxel


def source_spectrum(wavelength_um: np.ndarray) -> np.ndarray:
    """Injected source flux density in Jy: power law with ripple, two emission lines, an absorption."""
    w = np.asarray(wavelength_um, dtype=float)
    cont = 5e-3 * (w / 4.0) ** -1.2 * (1 + 0.02 * np.sin(2 * np.pi * w / 0.37))
    lines = 2e-3 * np.exp(-0.5 * ((w - 3.3) / 0.004) ** 2) + 1.5e-3 * np.exp(-0.5 * ((w - 4.05) / 0.005) ** 2)
    absorption = 1 - 0.3 * np.exp(-0.5 * ((w - 4.6) / 0.02) ** 2)
    return (cont + lines) * absorption


@dataclasses.dataclass
class SyntheticCube:
    """Arrays and truth of a synthetic cube (flux in MJy/sr per spaxel)."""

    data: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    wavelength: np.ndarray
    truth_jy: np.ndarray
    x_center: np.ndarray
    y_center: np.ndarray
    psf_sigma_px: np.ndarray
    pixel_sr: float
    background_mjysr: float


def make_cube(nwave: int = 600, ny: int = 25, nx: int = 25, wave_range: tuple[float, float] = (2.87, 5.27), *,
              seed: int = 0, snr: float = 200.0, background: float = 0.5, nan_corners: bool = True,
              wavelength: np.ndarray | None = None) -> SyntheticCube:
    """A point-source cube with known truth (see module docstring).

    ``wavelength``: the planes' wavelengths (µm, e.g. two MRS channels with
    the gap between them) instead of ``nwave`` planes over ``wave_range``.
    """
    rng = np.random.default_rng(seed)
    w = np.linspace(*wave_range, nwave) if wavelength is None else np.asarray(wavelength, dtype=float)
    pixel_sr = (PIXEL_ARCSEC / 206264.806) ** 2
    truth = source_spectrum(w)
    sigma = 0.8 + 0.25 * (w - w[0]) / (w[-1] - w[0])  # px
    xc = (nx - 1) / 2 + 0.3 + 0.4 * (w - w[0]) / (w[-1] - w[0])
    yc = (ny - 1) / 2 - 0.2 + 0.3 * (w - w[0]) / (w[-1] - w[0])
    y, x = np.mgrid[0:ny, 0:nx]
    psf = np.exp(-0.5 * (((x[None] - xc[:, None, None]) / sigma[:, None, None]) ** 2 + ((y[None] - yc[:, None, None]) / sigma[:, None, None]) ** 2))
    psf /= 2 * np.pi * sigma[:, None, None] ** 2
    to_mjysr = 1e-6 / pixel_sr
    model = truth[:, None, None] * psf * to_mjysr + background
    peak = truth * to_mjysr / (2 * np.pi * sigma**2)
    noise = np.broadcast_to((peak / snr)[:, None, None], model.shape).copy()
    data = model + rng.normal(size=model.shape) * noise
    dq = np.zeros(model.shape, np.uint32)
    if nan_corners:
        corner = (x + y < 3) | ((nx - 1 - x) + (ny - 1 - y) < 3)
        data[:, corner] = np.nan
        dq[:, corner] = 1
    return SyntheticCube(data.astype(np.float32), noise.astype(np.float32), dq, w, truth, xc, yc, sigma, pixel_sr, background)


def write_s3d(cube: SyntheticCube, path: str | Path, *, instrument: str = "NIRSPEC", detector: str = "NRS1",
              grating: str = "G395H", filter: str = "F290LP", program: str = "01234", observation: str = "001",
              exposure: int = 1, ra: float = 80.0, dec: float = -69.5, channel: str = "", band: str = "",
              **extra: Any) -> Path:
    """Write an ``IFUCubeModel`` s3d file with a gwcs (atomic).

    MIRI: ``channel`` (``"1"``, ``"12"`` ...) and ``band`` (``"SHORT"`` ...)
    go to the header as ``cube_build`` writes them.  A wavelength grid that
    is not evenly spaced (two MRS channels) is written as ``cube_build``
    writes multi-channel cubes: a ``WAVE-TAB`` axis from the ``WCS-TABLE``.
    """
    from jwst.assign_wcs.pointing import create_fitswcs
    from stdatamodels.jwst.datamodels import IFUCubeModel

    nw, ny, nx = cube.data.shape
    wave = np.asarray(cube.wavelength, dtype=np.float32)
    step = np.diff(cube.wavelength)
    tabular = bool(step.size and np.ptp(step) > 1e-6 * np.abs(step).max())
    table = np.array([(wave[None].T,)], dtype=[("wavelength", "<f4", (nw, 1))])
    m = IFUCubeModel(data=cube.data, err=cube.err, dq=cube.dq, weightmap=np.ones(cube.data.shape, np.float32),
                     wavetable=table)
    m.meta.telescope = "JWST"
    m.meta.instrument.name = instrument
    m.meta.instrument.detector = detector
    if instrument == "NIRSPEC":
        m.meta.instrument.grating = grating
        m.meta.instrument.filter = filter
        m.meta.exposure.type = "NRS_IFU"
    else:
        m.meta.exposure.type = "MIR_MRS"
        m.meta.instrument.channel = channel or None
        m.meta.instrument.band = band or None
    m.meta.observation.program_number = program
    m.meta.observation.observation_number = observation
    m.meta.observation.visit_number = "001"
    m.meta.observation.exposure_number = str(exposure)
    m.meta.observation.date = "2024-01-01"
    m.meta.observation.time = "00:00:00"
    m.meta.target.source_type = "POINT"
    m.meta.bunit_data = "MJy/sr"
    m.meta.bunit_err = "MJy/sr"
    m.meta.photometry.pixelarea_steradians = cube.pixel_sr
    m.meta.photometry.pixelarea_arcsecsq = PIXEL_ARCSEC**2
    wi = m.meta.wcsinfo
    wi.wcsaxes = 3
    wi.ctype1, wi.ctype2, wi.ctype3 = "RA---TAN", "DEC--TAN", "WAVE"
    wi.cunit1, wi.cunit2, wi.cunit3 = "deg", "deg", "um"
    wi.crpix1, wi.crpix2, wi.crpix3 = (nx + 1) / 2, (ny + 1) / 2, 1.0
    wi.crval1, wi.crval2, wi.crval3 = ra, dec, float(cube.wavelength[0])
    wi.cdelt1, wi.cdelt2 = -PIXEL_ARCSEC / 3600, PIXEL_ARCSEC / 3600
    wi.cdelt3 = float(cube.wavelength[1] - cube.wavelength[0])
    if tabular:  # as cube_build writes a multi-channel cube
        wi.ctype3, wi.ps3_0, wi.ps3_1 = "WAVE-TAB", "WCS-TABLE", "wavelength"
        wi.crval3, wi.crpix3, wi.cdelt3 = 1.0, 1.0, None
        m.wavedim = f"(1,{nw:d})"
    wi.pc1_1, wi.pc1_2, wi.pc2_1, wi.pc2_2, wi.pc3_3 = -1.0, 0.0, 0.0, 1.0, 1.0
    wi.dispersion_direction = 3
    m.meta.wcs = create_fitswcs(m)
    m.meta.wcs.bounding_box = ((0, nx - 1), (0, ny - 1), (0, nw - 1))
    path = Path(path)
    with atomic_path(path) as tmp:
        m.save(tmp)
    m.close()
    return path
