"""IFU ``apcorr`` references consistent with a circular Gaussian PSF (what the synthetic cubes hold).

The correction of a circle of radius ``R`` on a Gaussian of width ``sigma``
is ``1 / (1 - exp(-R**2 / (2 sigma**2)))``; the table holds it on a grid of
radii (arcsec) and wavelengths in the layout of CRDS's
``NrsIfuApcorrModel`` / ``MirMrsApcorrModel`` (ASDF), which jwst's
``extract_1d`` and :mod:`jwstspec.extract.apcorr` both read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jwstspec.fileio import atomic_path

__all__ = ["gaussian_apcorr", "write_ifu_apcorr"]


def gaussian_apcorr(radius: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Total over enclosed flux of a circular Gaussian of width ``sigma`` in a circle of ``radius`` (same units)."""
    return 1.0 / -np.expm1(-0.5 * (np.asarray(radius, float) / np.asarray(sigma, float)) ** 2)


def write_ifu_apcorr(path: str | Path, wavelength_um: np.ndarray, sigma_arcsec: np.ndarray, *,
                     radii_arcsec: np.ndarray | None = None, instrument: str = "NIRSPEC",
                     grating: str = "G395H", filter: str = "F290LP", channel: str = "1", band: str = "SHORT") -> Path:
    """Write an IFU apcorr reference for a Gaussian PSF of width ``sigma_arcsec`` at ``wavelength_um`` (atomic).

    ``radii_arcsec``: the table's radii (default 0.1-1.0 arcsec, 10 steps).
    NIRSpec: ``NrsIfuApcorrModel`` (grating/filter); MIRI: ``MirMrsApcorrModel``
    (channel/band).
    """
    from stdatamodels.jwst.datamodels import MirMrsApcorrModel, NrsIfuApcorrModel

    wave = np.asarray(wavelength_um, dtype=np.float32)
    radii = np.linspace(0.1, 1.0, 10) if radii_arcsec is None else np.asarray(radii_arcsec, float)
    radius = np.broadcast_to(radii[:, None], (radii.size, wave.size)).astype(np.float32)
    apcorr = gaussian_apcorr(radius, np.asarray(sigma_arcsec, float)[None]).astype(np.float32)
    table = {"wavelength": wave, "wavelength_units": "micron", "radius": radius, "radius_units": "arcsec",
             "apcorr": apcorr, "apcorr_err": np.zeros_like(apcorr)}
    if instrument == "NIRSPEC":
        m = NrsIfuApcorrModel()
        m.apcorr_table = {"grating": grating, "filter": filter, **table}
        m.meta.instrument.grating, m.meta.instrument.filter = grating, filter
        m.meta.exposure.type = "NRS_IFU"
    else:
        m = MirMrsApcorrModel()
        m.apcorr_table = {"channel": channel, "band": band, **table}
        m.meta.instrument.channel = channel
        m.meta.exposure.type = "MIR_MRS"
    m.meta.instrument.name = instrument
    m.meta.reftype = "apcorr"
    m.meta.author = "jwstspec synthetic"
    m.meta.pedigree = "DUMMY"
    m.meta.description = "Gaussian-PSF aperture correction (synthetic)"
    m.meta.useafter = "2000-01-01T00:00:00"
    path = Path(path)
    with atomic_path(path) as tmp:
        m.save(str(tmp), all_array_storage="inline")
    return path
