"""``apcorr`` references consistent with a Gaussian PSF (what the synthetic cubes and slits hold).

The correction of a circle of radius ``R`` on a Gaussian of width ``sigma``
is ``1 / (1 - exp(-R**2 / (2 sigma**2)))``; the table holds it on a grid of
radii (arcsec) and wavelengths in the layout of CRDS's
``NrsIfuApcorrModel`` / ``MirMrsApcorrModel`` (ASDF), which jwst's
``extract_1d`` and :mod:`jwstspec.extract.apcorr` both read.  Slits: a
band of full height ``H`` centred on a Gaussian of width ``sigma`` holds
``erf(H / (2 sqrt(2) sigma))`` of it; the FITS tables of CRDS's
``NrsFsApcorrModel`` / ``NrsMosApcorrModel`` / ``MirLrsApcorrModel``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jwstspec.fileio import atomic_path

__all__ = ["gaussian_apcorr", "gaussian_slit_apcorr", "write_ifu_apcorr", "write_slit_apcorr"]


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
        m.save(str(tmp))
    return path


def gaussian_slit_apcorr(height: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Total over enclosed flux of a Gaussian of width ``sigma`` in a band of full ``height`` centred on it (same units)."""
    from scipy.special import erf

    return 1.0 / erf(np.asarray(height, float) / (2.0 * np.sqrt(2.0) * np.asarray(sigma, float)))


def write_slit_apcorr(path: str | Path, wavelength_um: np.ndarray, sigma: np.ndarray, *,
                      sizes: np.ndarray | None = None, size_units: str = "arcsec", exp_type: str = "NRS_FIXEDSLIT",
                      rows: list[dict[str, str]] | None = None, pixphase: np.ndarray | None = None,
                      phase_slope: float = 0.0) -> Path:
    """Write a slit apcorr reference (FITS) for a Gaussian profile of width ``sigma`` (``size_units``) at ``wavelength_um`` (atomic).

    Parameters
    ----------
    path : str or Path
        The file to write.
    wavelength_um, sigma : ndarray (nwl,)
        The table's wavelengths and the profile's width there.
    sizes : ndarray (nsize,), optional
        Full aperture heights of the table (default 0.2-1.2 arcsec or 2-12 px, 11 steps).
    exp_type : str
        ``NRS_FIXEDSLIT``/``NRS_BRIGHTOBJ`` (``NrsFsApcorrModel``),
        ``NRS_MSASPEC`` (``NrsMosApcorrModel``): the pixel-phase layout
        jwst's ``ApCorrPhase`` applies, ``apcorr[size, wavelength,
        pixphase]``; ``MIR_LRS-FIXEDSLIT``/``MIR_LRS-SLITLESS``
        (``MirLrsApcorrModel``): ``apcorr[wavelength, size]``.
    rows : list of dict, optional
        One table row per dict of match values (``filter``, ``grating``,
        ``slit``; ``subarray`` for LRS); default one row
        ``F290LP/G395H/S200A1`` (``FULL`` for LRS).
    pixphase : ndarray, optional
        NIRSpec pixel phases (default 0, 0.25, 0.5).
    phase_slope : float
        NIRSpec: the correction times ``1 + phase_slope * (pixphase - 0.5)``
        (a table whose phase matters, to check which phase is used).

    Returns
    -------
    Path
    """
    from stdatamodels.jwst.datamodels import MirLrsApcorrModel, NrsFsApcorrModel, NrsMosApcorrModel

    wave = np.asarray(wavelength_um, dtype=np.float32)
    sig = np.broadcast_to(np.asarray(sigma, float), wave.shape)
    arcsec = size_units.lower().startswith("arcsec")
    size = (np.linspace(0.2, 1.2, 11) if arcsec else np.linspace(2.0, 12.0, 11)) if sizes is None else np.asarray(sizes, float)
    corr = gaussian_slit_apcorr(size[:, None], sig[None])  # (nsize, nwl)
    lrs = exp_type.startswith("MIR_LRS")
    rows = rows or [{"subarray": "FULL"} if lrs else {"filter": "F290LP", "grating": "G395H", "slit": "S200A1"}]
    if lrs:
        model, instrument = MirLrsApcorrModel(), "MIRI"
        fields = [("subarray", "S17"), ("wavelength", "f4", wave.shape), ("nelem_wl", "i2"),
                  ("size", "u1", size.shape), ("nelem_size", "i2"), ("apcorr", "f4", corr.T.shape),
                  ("apcorr_err", "f4", corr.T.shape)]
        values = [(r["subarray"], wave, wave.size, size.astype(np.uint8), size.size, corr.T, np.zeros_like(corr.T))
                  for r in rows]
    else:
        phases = np.array([0.0, 0.25, 0.5]) if pixphase is None else np.asarray(pixphase, float)
        cube = corr[:, :, None] * (1.0 + phase_slope * (phases[None, None] - 0.5))  # (nsize, nwl, nphase)
        size2 = np.broadcast_to(size[:, None], corr.shape)
        fs = exp_type in ("NRS_FIXEDSLIT", "NRS_BRIGHTOBJ")
        model, instrument = (NrsFsApcorrModel() if fs else NrsMosApcorrModel()), "NIRSPEC"
        fields = [("filter", "S12"), ("grating", "S15")] + ([("slit", "S15")] if fs else []) + [
            ("wavelength", "f4", wave.shape), ("nelem_wl", "i2"), ("size", "f4", size2.shape), ("nelem_size", "i2"),
            ("pixphase", "f4", phases.shape), ("apcorr", "f4", cube.shape), ("apcorr_err", "f4", cube.shape)]
        values = [(r["filter"], r["grating"], *([r["slit"]] if fs else []), wave, wave.size, size2, size.size, phases,
                   cube, np.zeros_like(cube)) for r in rows]
    model.apcorr_table = np.array(values, dtype=fields)
    model.sizeunit = "arcsec" if arcsec else "pixels"
    model.meta.instrument.name = instrument
    model.meta.exposure.type = exp_type
    model.meta.reftype = "apcorr"
    model.meta.author = "jwstspec synthetic"
    model.meta.pedigree = "DUMMY"
    model.meta.description = "Gaussian-profile slit aperture correction (synthetic)"
    model.meta.useafter = "2000-01-01T00:00:00"
    path = Path(path)
    with atomic_path(path) as tmp:
        model.save(str(tmp))
    return path
