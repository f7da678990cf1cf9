"""The demo's ``apcorr`` references: aperture corrections of the PSFs the synthetic point sources carry.

Every mode the demo observes a point source in gets a CRDS ``apcorr``
reference in the synthetic cache, in the layout jwst's ``extract_1d`` and
:mod:`jwstspec.extract.apcorr` read (:mod:`jwstspec.synthetic.apcorr_refs`),
registered the way CRDS selects the real ones (the parameter keys of the
installed ``crds`` package's ``jwst/specs/*_apcorr.rmap``: MIRI by
``EXP_TYPE`` and ``CHANNEL``, NIRSpec by ``EXP_TYPE``; the NIRSpec IFU
tables, one per setting as their ``FILTER``/``GRATING`` keywords say, also
by filter and grating):

* MIRI MRS: one radial table over all twelve bands (4.8-29 um) for the
  PSF as it arrives in the cubes (:func:`mrs_effective_sigma`: the
  injected :func:`jwstspec.synthetic.miri_mrs.psf_sigma_arcsec` broadened
  by the detector pixels, slices and spaxels ``cube_build`` resamples);
* NIRSpec IFU: one radial table per grating/filter of the synthetic model
  (its wavelength range), a circular Gaussian of
  :data:`jwstspec.synthetic.demo.IFU_SIGMA_ARCSEC`;
* NIRSpec fixed slit and MOS: pixel-phase tables (one row per
  grating/filter, and per fixed slit) for the Gaussian profile along the
  slit that :func:`~jwstspec.synthetic.nirspec_exposures.fixed_slit_uncal`
  and :func:`~jwstspec.synthetic.nirspec_mos.mos_uncal` inject (their
  ``sigma_arcsec`` default, which the demo uses);
* MIRI LRS slit: a size (pixels) x wavelength table for
  :func:`jwstspec.synthetic.miri_lrs_model.psf_sigma_arcsec` across the slit.

Each correction is total / enclosed of the profile (the MRS one with the
resampling's broadening, measured on the demo's cubes; the others the
injected profile, which the demo's apertures hold to 1e-4-1e-3): the
demo's spectra, aperture-corrected, are compared with the whole injected
flux (``demo_truth.json``).  The time-series modes (``NRS_BRIGHTOBJ``,
``MIR_LRS-SLITLESS``) get none: their truths are the in-box fluxes of
jwst's own extraction.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.synthetic.crds_cache import RefEntry, reference_dir

__all__ = ["MRS_CHANNELS", "MRS_SPAXEL", "demo_sigma", "mrs_effective_sigma", "write_apcorr_references"]

#: ``CHANNEL`` values of MRS products the MRS table serves (single channels and the pipeline's multi-channel cubes)
MRS_CHANNELS = "1|2|3|4|12|34|123|234|1234"
_TAG = "synth"
#: radii (arcsec) of the radial tables and sizes of the slit tables (arcsec for NIRSpec, pixels for LRS)
#: (radii: 0.01" steps to 1" where the correction curves most, as jwst interpolates linearly in radius)
_RADII = np.round(np.concatenate([np.arange(0.01, 0.9999, 0.01), np.arange(1.0, 3.0001, 0.05)]), 3)
_NRS_SIZES = np.round(np.arange(0.1, 3.0001, 0.1), 3)
_LRS_SIZES = np.arange(1, 41)


def demo_sigma(generator: Any) -> float:
    """The ``sigma_arcsec`` default of an exposure generator (what the demo injects: it never passes one)."""
    return float(inspect.signature(generator).parameters["sigma_arcsec"].default)


#: the default MRS cube spaxel (arcsec) per channel (the toy cubepar's, as jwst's)
MRS_SPAXEL = {"1": 0.13, "2": 0.17, "3": 0.20, "4": 0.35}


def _toy_channels() -> list[Any]:
    """The toy MRS model's twelve sub-bands (:func:`jwstspec.synthetic.miri_mrs.mrs_channels`)."""
    from jwstspec.synthetic.miri_mrs import DETECTOR_CHANNELS, SETTINGS, mrs_channels

    return [c for det in DETECTOR_CHANNELS for band in SETTINGS for c in mrs_channels(det, band)]


def mrs_effective_sigma(wavelength_um: np.ndarray) -> np.ndarray:
    """Width (arcsec) of the MRS point source as it arrives in a cube: the injected PSF broadened by the sampling.

    ``cube_build`` drizzles detector pixels (the toy's ``alpha_scale`` x
    ``slice_width``) onto spaxels: each box adds its ``width**2 / 12`` to
    the variance of the PSF (the pixel along the slice, the slice across
    it, the channel's default spaxel).  Measured on the demo's Stage 3
    ch1/ch2 cubes, the enclosed flux at 1.5-3 spaxels fits this within
    ~1.5 %, where the injected Gaussian alone gave 80-97 % of it.  All
    twelve sub-bands of the toy (:func:`_toy_channels`); outside them the
    injected PSF alone.
    """
    from jwstspec.synthetic.miri_mrs import psf_sigma_arcsec

    w = np.asarray(wavelength_um, float)
    var = psf_sigma_arcsec(w) ** 2
    extra = np.zeros_like(w)
    for ch in _toy_channels():
        box = (ch.alpha_scale**2 + ch.slice_width**2 + MRS_SPAXEL[ch.channel[0]] ** 2) / 12.0
        extra = np.where((w >= min(ch.wmin, ch.wmax)) & (w <= max(ch.wmin, ch.wmax)), np.maximum(extra, box), extra)
    return np.sqrt(var + extra)


def _mrs(refdir: Path) -> RefEntry:
    from jwstspec.synthetic.apcorr_refs import write_ifu_apcorr

    edges = np.concatenate([[min(c.wmin, c.wmax) - 1e-3, max(c.wmin, c.wmax) + 1e-3] for c in _toy_channels()])
    wave = np.unique(np.concatenate([np.linspace(4.8, 29.0, 243), edges]))  # steps at the toy's band edges
    name = f"jwst_miri_apcorr_{_TAG}_mrs.asdf"
    write_ifu_apcorr(refdir / name, wave, mrs_effective_sigma(wave), radii_arcsec=_RADII, instrument="MIRI",
                     channel="ANY", band="ANY")
    return RefEntry("MIRI", "apcorr", name, {"META.EXPOSURE.TYPE": "MIR_MRS", "META.INSTRUMENT.CHANNEL": MRS_CHANNELS})


def _lrs(refdir: Path) -> RefEntry:
    from jwstspec.synthetic import miri_lrs_model as lm
    from jwstspec.synthetic.apcorr_refs import write_slit_apcorr

    wave = np.linspace(3.0, 15.0, 121)
    name = f"jwst_miri_apcorr_{_TAG}_lrs.fits"
    write_slit_apcorr(refdir / name, wave, lm.psf_sigma_arcsec(wave) / lm.PIXEL_SCALE, sizes=_LRS_SIZES,
                      size_units="pixels", exp_type=lm.SLIT, rows=[{"subarray": "FULL"}])
    return RefEntry("MIRI", "apcorr", name, {"META.EXPOSURE.TYPE": lm.SLIT})


def _nirspec(refdir: Path) -> list[RefEntry]:
    from jwstspec.synthetic import nirspec_exposures as nx
    from jwstspec.synthetic import nirspec_model as nm
    from jwstspec.synthetic.apcorr_refs import write_ifu_apcorr, write_slit_apcorr
    from jwstspec.synthetic.demo import IFU_SIGMA_ARCSEC
    from jwstspec.synthetic.nirspec_mos import mos_uncal

    entries = []
    for s in nm.SETTINGS.values():
        wave = np.linspace(s.lam_lo * 1e6, s.lam_hi * 1e6, 101)
        name = f"jwst_nirspec_apcorr_{_TAG}_ifu_{s.grating.lower()}_{s.filter.lower()}.asdf"
        write_ifu_apcorr(refdir / name, wave, np.full(wave.size, IFU_SIGMA_ARCSEC), radii_arcsec=_RADII,
                         grating=s.grating, filter=s.filter)
        entries.append(RefEntry("NIRSPEC", "apcorr", name, {"META.EXPOSURE.TYPE": "NRS_IFU",
                                                            "META.INSTRUMENT.FILTER": s.filter,
                                                            "META.INSTRUMENT.GRATING": s.grating}))
    lo = min(s.lam_lo for s in nm.SETTINGS.values()) * 1e6
    hi = max(s.lam_hi for s in nm.SETTINGS.values()) * 1e6
    wave = np.linspace(0.98 * lo, 1.02 * hi, 121)  # the profile is grey: one grid serves every setting
    settings = [{"filter": s.filter, "grating": s.grating} for s in nm.SETTINGS.values()]
    name = f"jwst_nirspec_apcorr_{_TAG}_fs.fits"
    write_slit_apcorr(refdir / name, wave, demo_sigma(nx.fixed_slit_uncal), sizes=_NRS_SIZES, exp_type="NRS_FIXEDSLIT",
                      rows=[{**r, "slit": slit} for r in settings for slit in nm.FIXED_SLITS])
    entries.append(RefEntry("NIRSPEC", "apcorr", name, {"META.EXPOSURE.TYPE": "NRS_FIXEDSLIT"}))
    name = f"jwst_nirspec_apcorr_{_TAG}_mos.fits"
    write_slit_apcorr(refdir / name, wave, demo_sigma(mos_uncal), sizes=_NRS_SIZES, exp_type="NRS_MSASPEC", rows=settings)
    entries.append(RefEntry("NIRSPEC", "apcorr", name, {"META.EXPOSURE.TYPE": "NRS_MSASPEC"}))
    return entries


def write_apcorr_references(crds_path: Path, instruments: tuple[str, ...] = ("MIRI", "NIRSPEC")) -> list[RefEntry]:
    """Write the demo's apcorr references into ``crds_path``; return the entries to register.

    Parameters
    ----------
    crds_path : Path
        Root of the local CRDS cache.
    instruments : tuple of str
        ``MIRI`` (MRS and the LRS slit) and/or ``NIRSPEC`` (IFU, fixed slit, MOS).

    Returns
    -------
    list of RefEntry
        To be registered with :func:`jwstspec.synthetic.crds_cache.write_crds_cache`.
    """
    entries: list[RefEntry] = []
    if "MIRI" in instruments:
        refdir = reference_dir(Path(crds_path), "MIRI")
        entries += [_mrs(refdir), _lrs(refdir)]
    if "NIRSPEC" in instruments:
        entries += _nirspec(reference_dir(Path(crds_path), "NIRSPEC"))
    return entries
