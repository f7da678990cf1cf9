"""A synthetic MIRI MRS observation that the real ``jwst`` pipelines process.

Two pieces:

* :func:`write_miri_references` writes a complete set of synthetic MIRI
  references into a local CRDS cache: a toy MRS geometry for MIRIFUSHORT
  channel "12" band SHORT (distortion, specwcs, regions, wavelengthrange),
  the Detector1 references (mask, saturation, linearity, dark, gain,
  readnoise) and the Spec2/Spec3 calibration references (flat, fringe,
  fringefreq, photom, cubepar, extract1d, mrsptcorr).  Everything else resolves to N/A
  in the cache, so those steps skip themselves.
* :func:`make_mrs_uncal` / :func:`make_mrs_program` write ``uncal`` ramps
  whose slopes encode a uniform sky background plus a point source with a
  Gaussian PSF at a fixed sky position, seen through the toy geometry at
  several dither positions (each dither moves the pointing, so the source
  moves on the detector while staying at one sky position).

Toy geometry
------------
Every slice is a 20-pixel vertical strip of the 1024 x 1032 detector (ch1:
21 slices 101-121 from x=10; ch2: 17 slices 201-217 from x=530; 2-pixel
gaps).  Inside a strip the along-slice coordinate is
``alpha = (x - x_centre) * alpha_scale``; ``beta`` is constant per slice
(``beta_zero + (k - 1) * slice_width``); the wavelength is linear in
``y``.  ``(alpha, beta)`` map onto ``(v2, v3)`` by a shift to the
reference point of the aperture, then the pointing (``wcsinfo``) takes
``(v2, v3)`` to the sky.

Flux calibration
----------------
The photom reference multiplies rates by :data:`PHOTOM_SENS` (MJy/sr per
DN/s); flat and fringe are unity.  The injected rate of a slice pixel is
``surface_brightness / PHOTOM_SENS`` where the surface brightness is the
sky background plus ``F_nu * P / Omega_pix``: ``P`` is the fraction of the
Gaussian PSF that falls in the pixel's footprint on the sky (an
``alpha_scale`` x ``slice_width`` rectangle, the footprint ``cube_build``
drizzles) and ``Omega_pix`` its solid angle.  Summing a cube over an
aperture, times the spaxel solid angle, thus gives ``F_nu`` times the PSF
fraction inside the aperture.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import erf

from jwstspec.errors import OptionError
from jwstspec.fileio import atomic_path
from jwstspec.synthetic.crds_cache import RefEntry, reference_dir

NY, NX = 1024, 1032
STRIP, GAP = 20, 2
DETECTOR = "MIRIFUSHORT"
CHANNEL = "12"
BAND = "SHORT"
READPATT = "FASTR1"
FRAME_TIME = 2.77504  # s, FASTR1 full frame
DEFAULT_NGROUPS = 5
MAX_NGROUPS = 8  # groups of the synthetic dark: uncal files may have at most this many
GAIN = 3.1  # e-/DN
READ_NOISE = 6.0  # DN per read (the readnoise reference holds the CDS noise, READ_NOISE * sqrt(2))
BIAS = 10000.0  # DN
SATURATION = 60000.0  # DN
PHOTOM_SENS = 40.0  # MJy/sr per DN/s
ARCSEC2_TO_SR = (math.pi / 180.0 / 3600.0) ** 2
V2_REF, V3_REF = -503.65, -318.74  # arcsec, reference point of the toy IFU aperture
ROLL_REF = 253.0  # deg
SOURCE_RA, SOURCE_DEC = 80.4875, -69.4989  # deg (a point in the LMC)
BACKGROUND_OFFSET_ARCSEC = 90.0
#: 4-point dither offsets (alpha, beta) in arcsec: the source position in the field
DITHER_OFFSETS = ((0.52, 0.44), (-0.52, -0.44), (0.52, -0.44), (-0.52, 0.44), (0.26, 0.22), (-0.26, -0.22),
                  (0.26, -0.22), (-0.26, 0.22))
REF_META = {"author": "jwstspec synthetic", "pedigree": "DUMMY", "useafter": "2000-01-01T00:00:00"}


@dataclass(frozen=True)
class MrsChannel:
    """Toy geometry of one MRS channel/band on MIRIFUSHORT."""

    channel: str
    band: str
    nslices: int
    x0: int  # first column of slice 1
    alpha_scale: float  # arcsec per pixel along the slice
    slice_width: float  # arcsec
    wmin: float  # shortest wavelength (row 0, or row NY - 1 when descending), micron
    wmax: float  # longest wavelength, micron
    #: Wavelength decreasing with the row (MIRIFULONG, as jwst's residual_fringe expects of channels 3-4)
    descending: bool = False

    @property
    def dlam(self) -> float:
        """Wavelength step per detector row (micron)."""
        return (self.wmax - self.wmin) / (NY - 1)

    def wavelength(self, y: np.ndarray) -> np.ndarray:
        """Wavelength (micron) of detector row(s) ``y``."""
        y = np.asarray(y, dtype=float)
        return self.wmax - self.dlam * y if self.descending else self.wmin + self.dlam * y

    @property
    def labels(self) -> list[int]:
        """Slice labels (101, 102, ...)."""
        return [int(self.channel) * 100 + k for k in range(1, self.nslices + 1)]

    @property
    def beta_zero(self) -> float:
        """Beta of the centre of slice 1 (arcsec)."""
        return -(self.nslices - 1) / 2.0 * self.slice_width

    def strip(self, k: int) -> tuple[int, int]:
        """First and last column (inclusive) of slice ``k`` (1-based)."""
        start = self.x0 + (k - 1) * (STRIP + GAP)
        return start, start + STRIP - 1

    def x_centre(self, k: int) -> float:
        """Column of alpha = 0 in slice ``k``."""
        a, b = self.strip(k)
        return (a + b) / 2.0

    def beta(self, k: int) -> float:
        """Beta of slice ``k`` (arcsec)."""
        return self.beta_zero + (k - 1) * self.slice_width

    @property
    def pixel_solid_angle(self) -> float:
        """Footprint of one detector pixel on the sky (sr)."""
        return self.alpha_scale * self.slice_width * ARCSEC2_TO_SR

    @property
    def name(self) -> str:
        """``"1SHORT"`` etc."""
        return self.channel + self.band

    @property
    def detector(self) -> str:
        """``MIRIFUSHORT`` (channels 1, 2) or ``MIRIFULONG`` (channels 3, 4)."""
        return DETECTOR_CHANNELS_INV[self.channel]


CHANNELS = (
    MrsChannel("1", "SHORT", 21, 10, 0.196, 0.177, 4.90, 5.74),
    MrsChannel("2", "SHORT", 17, 530, 0.196, 0.280, 7.51, 8.77),
)
#: The two MRS detectors and their channels.
DETECTOR_CHANNELS = {"MIRIFUSHORT": "12", "MIRIFULONG": "34"}
DETECTOR_CHANNELS_INV = {c: det for det, chans in DETECTOR_CHANNELS.items() for c in chans}
#: The three grating settings.
SETTINGS = ("SHORT", "MEDIUM", "LONG")
#: Toy geometry per channel: (slices, first column, alpha pixel scale, slice width), MRS-like scales.
_GEOMETRY = {"1": (21, 10, 0.196, 0.177), "2": (17, 530, 0.196, 0.280),
             "3": (16, 10, 0.245, 0.390), "4": (12, 530, 0.273, 0.645)}
#: Margin (micron) between a toy band's wavelength coverage and jwst's nominal range (``bands.MRS_RANGES``).
_BAND_MARGIN = 0.01


def mrs_channels(detector: str = DETECTOR, band: str = BAND) -> tuple[MrsChannel, ...]:
    """The toy geometry of the two channels one exposure of ``detector`` sees in grating setting ``band``.

    MIRIFUSHORT SHORT is :data:`CHANNELS`; every other sub-band covers
    jwst's nominal range (:data:`jwstspec.bands.MRS_RANGES`) less
    :data:`_BAND_MARGIN` at both ends, on the channel's slices
    (:data:`MRS_SLICES`).  On MIRIFULONG the wavelength decreases with the
    row, as on the real detector (jwst's ``residual_fringe`` fits channels
    3 and 4 in that orientation only).

    Raises
    ------
    OptionError
        Unknown detector or grating setting.
    """
    from jwstspec.bands import MRS_RANGES, mrs_key

    detector, band = str(detector).upper(), str(band).upper()
    if detector not in DETECTOR_CHANNELS:
        raise OptionError("detector", f"{detector!r} must be one of {', '.join(DETECTOR_CHANNELS)}")
    if band not in SETTINGS:
        raise OptionError("band", f"{band!r} must be one of {', '.join(SETTINGS)}")
    if (detector, band) == (DETECTOR, BAND):
        return CHANNELS
    out = []
    for c in DETECTOR_CHANNELS[detector]:
        lo, hi = MRS_RANGES[mrs_key(c, band)]
        out.append(MrsChannel(c, band, *_GEOMETRY[c], round(lo + _BAND_MARGIN, 4), round(hi - _BAND_MARGIN, 4),
                              descending=c in "34"))
    return tuple(out)


# ----------------------------------------------------------------------------- truth
def source_spectrum_jy(wavelength_um: np.ndarray) -> np.ndarray:
    """The injected point-source spectrum (Jy).

    A rising power-law continuum (20 mJy at 5 micron) with three resolved
    Gaussian emission lines (sigma 6-9 nm, i.e. 8-10 resolution elements).
    """
    w = np.asarray(wavelength_um, dtype=float)
    cont = 0.020 * (w / 5.0) ** 1.5
    lines = 0.0
    for centre, sigma, peak in ((5.10, 0.006, 0.6), (5.45, 0.006, 0.3), (8.10, 0.009, 0.5)):
        lines = lines + peak * np.exp(-0.5 * ((w - centre) / sigma) ** 2)
    return cont * (1.0 + lines)


#: The synthetic spectral leak: a Gaussian bump of the ``mrsptcorr`` leak fraction (peak, centre and
#: sigma in micron) around 12.2 um, where channel 1B's second order (6.1 um) falls on channel 3A.
LEAK_PEAK, LEAK_CENTRE_UM, LEAK_SIGMA_UM = 0.05, 12.2, 0.2
#: Channel 3A range (micron) of the leak table (jwst corrects 11.55-13.46 um).
LEAK_TABLE_RANGE = (11.0, 13.5)


def leak_fraction(wavelength_um: np.ndarray) -> np.ndarray:
    """Fraction of the 1B flux at half the wavelength that leaks into channel 3A (the synthetic ``mrsptcorr``)."""
    w = np.asarray(wavelength_um, dtype=float)
    return LEAK_PEAK * np.exp(-0.5 * ((w - LEAK_CENTRE_UM) / LEAK_SIGMA_UM) ** 2)


def observed_spectrum_jy(wavelength_um: np.ndarray, channel: str, band: str) -> np.ndarray:
    """The point-source spectrum a sub-band records (Jy): the source, plus the 1B leak in channel 3A.

    Channel 3A (``channel="3"``, ``band="SHORT"``) sees the source at
    ``wavelength`` plus :func:`leak_fraction` times the source at half the
    wavelength (channel 1B's second order), as on the telescope; every other
    sub-band sees :func:`source_spectrum_jy`.  jwst's ``spectral_leak`` (and
    :func:`jwstspec.corrections.spectral_leak`) subtract the leak again with
    the synthetic ``mrsptcorr`` table.
    """
    w = np.asarray(wavelength_um, dtype=float)
    flux = source_spectrum_jy(w)
    if (str(channel), band.upper()) == ("3", "SHORT"):
        flux = flux + leak_fraction(w) * source_spectrum_jy(w / 2.0)
    return flux


def background_mjysr(wavelength_um: np.ndarray) -> np.ndarray:
    """The uniform sky background surface brightness (MJy/sr)."""
    w = np.asarray(wavelength_um, dtype=float)
    return 300.0 * (1.0 + 0.1 * (w - 5.0))


def psf_sigma_arcsec(wavelength_um: np.ndarray) -> np.ndarray:
    """Gaussian PSF sigma (arcsec): FWHM = 0.033 * lambda + 0.106 (MRS-like)."""
    w = np.asarray(wavelength_um, dtype=float)
    return (0.033 * w + 0.106) / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass
class MrsProgram:
    """A synthetic MRS program: the uncal files and the injected truth."""

    program: str
    sci_obs: str
    bkg_obs: str
    uncal: dict[str, list[Path]]
    source_ra: float
    source_dec: float
    channels: tuple[MrsChannel, ...] = CHANNELS
    photom_sens: float = PHOTOM_SENS
    dither_offsets: list[tuple[float, float]] = field(default_factory=list)

    @property
    def science(self) -> list[Path]:
        """Science uncal files (one per dither)."""
        return self.uncal[self.sci_obs]

    @property
    def background(self) -> list[Path]:
        """Background uncal files."""
        return self.uncal[self.bkg_obs]

    @staticmethod
    def source_spectrum_jy(wavelength_um: np.ndarray) -> np.ndarray:
        """See :func:`source_spectrum_jy`."""
        return source_spectrum_jy(wavelength_um)

    @staticmethod
    def psf_sigma_arcsec(wavelength_um: np.ndarray) -> np.ndarray:
        """See :func:`psf_sigma_arcsec`."""
        return psf_sigma_arcsec(wavelength_um)

    @staticmethod
    def background_mjysr(wavelength_um: np.ndarray) -> np.ndarray:
        """See :func:`background_mjysr`."""
        return background_mjysr(wavelength_um)

    @property
    def alpha_scale(self) -> dict[str, float]:
        """Along-slice pixel scale per channel (arcsec)."""
        return {c.channel: c.alpha_scale for c in self.channels}

    @property
    def slice_width(self) -> dict[str, float]:
        """Slice width per channel (arcsec)."""
        return {c.channel: c.slice_width for c in self.channels}

    @property
    def wavelength_range(self) -> dict[str, tuple[float, float]]:
        """Wavelength coverage per channel (micron)."""
        return {c.channel: (c.wmin, c.wmax) for c in self.channels}


# ------------------------------------------------------------------------ references
def _set_ref_meta(m, reftype: str, description: str, *, exp_type: bool = True, subarray: bool = True,
                  band: bool = True, detector: str = DETECTOR, setting: str = BAND) -> None:
    """Standard reference-file keywords (sections a schema lacks are left out)."""
    m.meta.instrument.name = "MIRI"
    m.meta.instrument.detector = detector
    if band:
        m.meta.instrument.channel = DETECTOR_CHANNELS[detector]
        m.meta.instrument.band = setting
    if exp_type:
        try:
            m.meta.exposure.type = "MIR_MRS"
        except AttributeError:
            pass
    if subarray:
        try:
            sa = m.meta.subarray
        except AttributeError:
            sa = None
        if sa is not None:
            sa.name = "FULL"
            sa.xstart, sa.ystart, sa.xsize, sa.ysize = 1, 1, NX, NY
    m.meta.reftype = reftype.upper()
    m.meta.description = description
    m.meta.author = REF_META["author"]
    m.meta.pedigree = REF_META["pedigree"]
    m.meta.useafter = REF_META["useafter"]


def _save(model, path: Path, **kwargs) -> None:
    suffix = "".join(path.suffixes[-1:])
    with atomic_path(path, suffix=suffix) as tmp:
        model.save(tmp, **kwargs)


def slice_map(detector: str = DETECTOR) -> np.ndarray:
    """Slice label of every pixel of ``detector`` (0 outside slices), shape (NY, NX)."""
    labels = np.zeros((NY, NX), dtype=np.int32)
    for ch in mrs_channels(detector):
        for k, label in enumerate(ch.labels, start=1):
            a, b = ch.strip(k)
            labels[:, a : b + 1] = label
    return labels


def _wcs_models(detector: str = DETECTOR, band: str = BAND, *, all_bands: bool = False):
    """The four toy WCS reference models of one detector and grating setting (in memory).

    ``all_bands``: the wavelengthrange reference lists all twelve sub-bands
    (default: the two of this exposure type).
    """
    channels = mrs_channels(detector, band)
    kw = {"detector": detector, "setting": band}
    from astropy.modeling import models as am
    from stdatamodels.jwst.datamodels import (
        DistortionMRSModel,
        RegionsModel,
        SpecwcsModel,
        WavelengthrangeModel,
    )

    slices, xm, ym, alm, bem, lam = [], [], [], [], [], []
    for ch in channels:
        ps = ch.alpha_scale
        for k, label in enumerate(ch.labels, start=1):
            xc = ch.x_centre(k)
            slices.append(label)
            alm.append(am.Polynomial2D(1, c0_0=-xc * ps, c1_0=0.0, c0_1=ps))  # alpha(y, x)
            bem.append(am.Const1D(ch.beta(k)))  # beta(x)
            if ch.descending:
                lam.append(am.Polynomial2D(1, c0_0=ch.wmax, c1_0=-ch.dlam, c0_1=0.0))  # lambda(y, x)
            else:
                lam.append(am.Polynomial2D(1, c0_0=ch.wmin, c1_0=ch.dlam, c0_1=0.0))  # lambda(y, x)
            xm.append(am.Polynomial2D(1, c0_0=xc, c1_0=0.0, c0_1=1.0 / ps))  # x(lam, alpha)
            if ch.descending:
                ym.append(am.Polynomial2D(1, c0_0=ch.wmax / ch.dlam, c1_0=-1.0 / ch.dlam, c0_1=0.0))  # y(lam, alpha)
            else:
                ym.append(am.Polynomial2D(1, c0_0=-ch.wmin / ch.dlam, c1_0=1.0 / ch.dlam, c0_1=0.0))
    names = [c.name for c in channels]
    v23 = []
    for _ in channels:
        m = am.Shift(V2_REF) & am.Shift(V3_REF)
        v23.append(m)
    dist = DistortionMRSModel(
        x_model=xm,
        y_model=ym,
        alpha_model=alm,
        beta_model=bem,
        bzero={"channel_band": names, "beta_zero": [c.beta_zero for c in channels]},
        bdel={"channel_band": names, "delta_beta": [c.slice_width for c in channels]},
    )
    dist.slices = slices
    dist.abv2v3_model = {"channel_band": names, "model": v23}
    _set_ref_meta(dist, "distortion", "Toy MRS distortion: straight 20-px slices", subarray=False, **kw)
    dist.meta.input_units = "pixel"
    dist.meta.output_units = "arcsec"

    spec = SpecwcsModel(model=lam)
    _set_ref_meta(spec, "specwcs", "Toy MRS wavelength solution: linear in y", subarray=False, **kw)
    spec.meta.input_units = "pixel"
    spec.meta.output_units = "micron"

    smap = slice_map(detector)
    regions = RegionsModel(regions=np.repeat(smap[None], 9, axis=0).astype(np.int32))
    _set_ref_meta(regions, "regions", "Toy MRS slice map (same at every throughput level)", subarray=False, **kw)

    margin = 0.01
    listed = [c for det in DETECTOR_CHANNELS for s in SETTINGS for c in mrs_channels(det, s)] if all_bands \
        else channels
    wr = WavelengthrangeModel(
        wrange_selector=[c.name for c in listed],
        wrange=[[c.wmin - margin, c.wmax + margin] for c in listed],
    )
    _set_ref_meta(wr, "wavelengthrange", "Toy MRS wavelength ranges", band=False, subarray=False)
    wr.meta.wavelength_units = "micron"
    return {"distortion": dist, "specwcs": spec, "regions": regions, "wavelengthrange": wr}


def _detector1_models(max_ngroups: int = MAX_NGROUPS):
    from stdatamodels.jwst.datamodels import (
        DarkMIRIModel,
        GainModel,
        LinearityModel,
        MaskModel,
        ReadnoiseModel,
        SaturationModel,
        dqflags,
    )

    dq = np.zeros((NY, NX), np.uint32)
    dq[:, :4] = dqflags.pixel["REFERENCE_PIXEL"]
    dq[:, -4:] = dqflags.pixel["REFERENCE_PIXEL"]
    mask = MaskModel(dq=dq)
    _set_ref_meta(mask, "mask", "Synthetic MIRI mask: reference columns flagged", exp_type=False, band=False)

    sat = SaturationModel(data=np.full((NY, NX), SATURATION, np.float32), dq=np.zeros((NY, NX), np.uint32))
    _set_ref_meta(sat, "saturation", "Synthetic MIRI saturation: 60000 DN", exp_type=False, band=False)

    coeffs = np.zeros((3, NY, NX), np.float32)
    coeffs[1] = 1.0
    lin = LinearityModel(coeffs=coeffs, dq=np.zeros((NY, NX), np.uint32))
    _set_ref_meta(lin, "linearity", "Synthetic MIRI linearity: identity", exp_type=False, band=False)

    # MIRI darks are 4-D; stcal only reads the first group of the DQ plane, so the DQ
    # and ERR cubes are kept one group deep to keep the file small
    dark = DarkMIRIModel(data=np.zeros((1, max_ngroups, NY, NX), np.float32),
                         err=np.zeros((1, 1, NY, NX), np.float32), dq=np.zeros((1, 1, NY, NX), np.uint32))
    _set_ref_meta(dark, "dark", "Synthetic MIRI dark: zero", exp_type=False, band=False)
    dark.meta.exposure.nframes = 1
    dark.meta.exposure.groupgap = 0
    dark.meta.exposure.ngroups = max_ngroups
    dark.meta.exposure.nints = 1
    dark.meta.exposure.readpatt = READPATT

    gain = GainModel(data=np.full((NY, NX), GAIN, np.float32))
    _set_ref_meta(gain, "gain", "Synthetic MIRI gain", exp_type=False, band=False)
    # stcal reads the reference as the noise of a difference of two reads (CDS): per-read noise * sqrt(2)
    rn = ReadnoiseModel(data=np.full((NY, NX), READ_NOISE * math.sqrt(2.0), np.float32))
    _set_ref_meta(rn, "readnoise", "Synthetic MIRI read noise", exp_type=False, band=False)
    return {"mask": mask, "saturation": sat, "linearity": lin, "dark": dark, "gain": gain, "readnoise": rn}


def _calib_models(detector: str = DETECTOR, band: str = BAND):
    from stdatamodels.jwst.datamodels import (
        Extract1dIFUModel,
        FlatModel,
        FringeModel,
        MirMrsPhotomModel,
        MirMrsPtCorrModel,
    )

    zeros = np.zeros((NY, NX), np.float32)
    dqz = np.zeros((NY, NX), np.uint32)
    ones = np.ones((NY, NX), np.float32)
    kw = {"detector": detector, "setting": band}
    channels = mrs_channels(detector, band)
    flat = FlatModel(data=ones, err=zeros, dq=dqz)
    _set_ref_meta(flat, "flat", "Synthetic MRS flat: unity", **kw)
    fringe = FringeModel(data=ones, err=zeros, dq=dqz)
    _set_ref_meta(fringe, "fringe", "Synthetic MRS fringe flat: unity", exp_type=False, subarray=False, **kw)

    inslice = slice_map(detector) > 0
    sens = np.where(inslice, PHOTOM_SENS, np.nan).astype(np.float32)
    pdq = np.where(inslice, 0, 1).astype(np.uint32)  # DO_NOT_USE outside the slices
    pixsiz = np.zeros((NY, NX), np.float32)
    for ch in channels:
        for k in range(1, ch.nslices + 1):
            a, b = ch.strip(k)
            pixsiz[:, a : b + 1] = ch.alpha_scale * ch.slice_width
    photom = MirMrsPhotomModel(data=sens, err=zeros, dq=pdq, pixsiz=pixsiz)
    _set_ref_meta(photom, "photom", f"Synthetic MRS photom: {PHOTOM_SENS} MJy/sr per DN/s", **kw)
    photom.meta.photometry.conversion_megajanskys = 1.0
    # nominal pixel area (first channel); the MRS pipeline does not use it
    photom.meta.photometry.pixelarea_arcsecsq = channels[0].alpha_scale * channels[0].slice_width
    photom.meta.photometry.pixelarea_steradians = channels[0].pixel_solid_angle

    wl = np.linspace(4.5, 29.0, 50).astype(np.float32)
    rad = (2.5 * (0.033 * wl + 0.106)).astype(np.float32)  # 2.5 FWHM
    x1d = Extract1dIFUModel()
    x1d.data.wavelength = wl
    x1d.data.wavelength_units = "micron"
    x1d.data.radius = rad
    x1d.data.radius_units = "arcsec"
    x1d.data.inner_bkg = (rad * 1.5).astype(np.float32)
    x1d.data.inner_bkg_units = "arcsec"
    x1d.data.outer_bkg = (rad * 2.0).astype(np.float32)
    x1d.data.outer_bkg_units = "arcsec"
    x1d.data.axis_ratio = np.ones_like(wl)
    x1d.data.axis_pa = np.zeros_like(wl)
    x1d.data.axis_pa_units = "degrees"
    _set_ref_meta(x1d, "extract1d", "Synthetic MRS extract1d: radius 2.5 FWHM", subarray=False, band=False)
    x1d.meta.instrument.detector = "N/A"
    x1d.meta.region_type = "target"
    x1d.meta.subtract_background = False
    x1d.meta.method = "exact"
    x1d.meta.subpixels = 10

    pt = MirMrsPtCorrModel()
    leak_wave = np.linspace(*LEAK_TABLE_RANGE, 51)
    pt.leakcor_table = np.array([(w, f, 0.0) for w, f in zip(leak_wave, leak_fraction(leak_wave), strict=True)],
                                dtype=[("wavelength", "f4"), ("frac_leak", "f4"), ("err_leak", "f4")])
    _set_ref_meta(pt, "mrsptcorr", f"Synthetic MRS spectral-leak table: 1B into 3A, peak {LEAK_PEAK} at "
                  f"{LEAK_CENTRE_UM} um", subarray=False, band=False)
    pt.meta.instrument.detector = "N/A"
    return {"flat": flat, "fringe": fringe, "photom": photom, "extract1d": x1d, "mrsptcorr": pt,
            "fringefreq": fringefreq_model()}


#: Slices per MRS channel (jwst's MRS slicer: 21, 17, 16, 12).
MRS_SLICES = {1: 21, 2: 17, 3: 16, 4: 12}
#: Residual-fringe frequency table of the synthetic ``fringefreq`` reference, per slice:
#: (ffreq, dffreq, min_nfringes, max_nfringes, min_snr, pgram_res) for the detector fringe and the
#: channel 3/4 dichroic fringe (0 = none in channels 1/2).  The values are jwst's 1-D defaults
#: (``jwst.residual_fringe.utils.FFREQ_1D``, ``DFFREQ_1D``, ``MAX_NFRINGES_1D``; ``pgram_res`` the 1-D
#: correction's periodogram step), so the 2-D step looks for the same fringe as the 1-D correction.
#: ``min_snr`` sets the step's cost: it fits every column whose S/N (DER_SNR along the column)
#: reaches ``min_snr[0]`` (0.6-1 CPU-s a column, ~3 s when it takes several sines; half of it the
#: Lomb-Scargle scan of ``2 dffreq / pgram_res`` periods) and adds the dichroic fringe where the S/N
#: exceeds ``min_snr[1]``.  A background-subtracted toy exposure has 19-31 such columns (5 bands measured);
#: without it every sky column of MIRIFULONG MEDIUM passes (560 columns, ~380 CPU-s: the toy sky's
#: median column S/N is 12 and 16 in 3B and 4B, 7 and 9 in 1B and 2B).  The toy scene has no dichroic fringe.
FRINGEFREQ_ROW = {
    "short": ((2.9, 0.0), (1.5, 0.15), (1, 1), (10, 15), (10.0, 150.0), (0.001, 0.001)),
    "long": ((2.9, 0.4), (1.5, 0.15), (1, 1), (10, 15), (10.0, 150.0), (0.001, 0.001)),
}
#: Largest residual-fringe amplitude (fraction of the signal; jwst doubles it) of the synthetic reference.
FRINGEFREQ_MAX_AMP = 0.1


def fringefreq_model():
    """The synthetic ``fringefreq`` reference of the 2-D ``residual_fringe`` step.

    One row per slice of all four channels (labels ``100 * channel + k``,
    as in the ``regions`` reference) in each of the SHORT, MEDIUM and LONG
    tables (:data:`FRINGEFREQ_ROW`), and a flat ``max_amp`` table
    (:data:`FRINGEFREQ_MAX_AMP`) over 4.5-29 µm.
    """
    from stdatamodels.jwst.datamodels import FringeFreqModel

    dtype = [("slice", "f8"), ("ffreq", "f8", (2,)), ("dffreq", "f8", (2,)), ("min_nfringes", "i8", (2,)),
             ("max_nfringes", "i8", (2,)), ("min_snr", "f8", (2,)), ("pgram_res", "f8", (2,))]
    rows = [(100.0 * ch + k, *FRINGEFREQ_ROW["short" if ch < 3 else "long"])
            for ch, n in MRS_SLICES.items() for k in range(1, n + 1)]
    table = np.array(rows, dtype=dtype)
    m = FringeFreqModel()
    m.rfc_freq_short_table = table
    m.rfc_freq_medium_table = table.copy()
    m.rfc_freq_long_table = table.copy()
    m.max_amp_table = np.array([(w, FRINGEFREQ_MAX_AMP) for w in np.linspace(4.5, 29.0, 50)],
                               dtype=[("wavelength", "f8"), ("amplitude", "f8")])
    _set_ref_meta(m, "fringefreq", "Synthetic MRS residual-fringe frequencies (jwst's 1-D defaults)",
                  exp_type=False, subarray=False, band=False)
    m.meta.instrument.detector = "N/A"
    return m


def _cubepar_hdulist():
    from astropy.io import fits

    hdu0 = fits.PrimaryHDU()
    for k, v in {"REFTYPE": "CUBEPAR", "INSTRUME": "MIRI", "DETECTOR": "N/A", "EXP_TYPE": "MIR_MRS",
                 "PEDIGREE": "DUMMY", "AUTHOR": "jwstspec synthetic", "USEAFTER": "2000-01-01T00:00:00",
                 "DESCRIP": "Synthetic MRS cube parameters"}.items():
        hdu0.header[k] = v
    channel = np.repeat(["1", "2", "3", "4"], 3)
    band = np.array(["SHORT", "MEDIUM", "LONG"] * 4)
    spsize = np.repeat([0.13, 0.17, 0.20, 0.35], 3)
    wsamp = np.repeat([0.001, 0.002, 0.003, 0.006], 3)
    wmin = np.array([4.89, 5.65, 6.52, 7.49, 8.65, 10.00, 11.53, 13.37, 15.44, 17.66, 20.54, 23.95])
    wmax = np.array([5.75, 6.64, 7.66, 8.78, 10.14, 11.7, 13.48, 15.63, 18.05, 20.92, 24.40, 28.45])
    roispat = np.repeat([0.10, 0.15, 0.20, 0.40], 3)
    roispec = np.repeat([0.001, 0.002, 0.003, 0.006], 3)
    power = np.full(12, 2)
    softrad = np.full(12, 0.01)
    scalerad = np.repeat([0.1, 0.15, 0.2, 0.4], 3)
    c = fits.Column
    cubepar = fits.BinTableHDU.from_columns([
        c(name="CHANNEL", format="1A", array=channel), c(name="BAND", format="6A", array=band),
        c(name="WAVEMIN", format="E", array=wmin, unit="micron"), c(name="WAVEMAX", format="E", array=wmax, unit="micron"),
        c(name="SPAXELSIZE", format="E", array=spsize, unit="arcsec"),
        c(name="SPECTRALSTEP", format="D", array=wsamp, unit="micron")], name="CUBEPAR")
    msm = fits.BinTableHDU.from_columns([
        c(name="CHANNEL", format="1A", array=channel), c(name="BAND", format="6A", array=band),
        c(name="ROISPATIAL", format="E", array=roispat, unit="arcsec"),
        c(name="ROISPECTRAL", format="E", array=roispec, unit="micron"),
        c(name="POWER", format="I", array=power), c(name="SOFTRAD", format="E", array=softrad, unit="arcsec")],
        name="CUBEPAR_MSM")
    emsm = fits.BinTableHDU.from_columns([
        c(name="CHANNEL", format="1A", array=channel), c(name="BAND", format="6A", array=band),
        c(name="ROISPATIAL", format="E", array=roispat, unit="arcsec"),
        c(name="ROISPECTRAL", format="E", array=roispec, unit="micron"),
        c(name="SCALERAD", format="E", array=scalerad, unit="arcsec")], name="CUBEPAR_EMSM")
    # multi-channel tables: a wavelength grid covering ch1-ch4
    fw = np.concatenate([np.arange(4.89, 5.75, 0.001), np.arange(5.75, 11.7, 0.002),
                         np.arange(11.7, 18.05, 0.003), np.arange(18.05, 28.45, 0.006)])
    scale = np.interp(fw, [5, 10, 15, 25], [0.10, 0.15, 0.20, 0.40])
    rspec = np.interp(fw, [5, 10, 15, 25], [0.001, 0.002, 0.003, 0.006])
    mmsm = fits.BinTableHDU.from_columns([
        c(name="WAVELENGTH", format="D", array=fw, unit="micron"), c(name="ROISPATIAL", format="E", array=scale),
        c(name="ROISPECTRAL", format="E", array=rspec), c(name="POWER", format="I", array=np.full(fw.size, 2)),
        c(name="SOFTRAD", format="E", array=np.full(fw.size, 0.01))], name="MULTICHANNEL_MSM")
    memsm = fits.BinTableHDU.from_columns([
        c(name="WAVELENGTH", format="D", array=fw, unit="micron"), c(name="ROISPATIAL", format="E", array=scale),
        c(name="ROISPECTRAL", format="E", array=rspec), c(name="SCALERAD", format="E", array=scale)],
        name="MULTICHANNEL_EMSM")
    mdriz = fits.BinTableHDU.from_columns([c(name="WAVELENGTH", format="D", array=fw, unit="micron")],
                                          name="MULTICHANNEL_DRIZ")
    return fits.HDUList([hdu0, cubepar, msm, emsm, mmsm, memsm, mdriz])


_BAND_MATCH = {"META.INSTRUMENT.DETECTOR": DETECTOR, "META.INSTRUMENT.CHANNEL": CHANNEL, "META.INSTRUMENT.BAND": BAND}
_DET_MATCH = {"META.INSTRUMENT.DETECTOR": DETECTOR}
_MRS_MATCH = {"META.EXPOSURE.TYPE": "MIR_MRS"}


def write_miri_references(crds_path: Path, *, max_ngroups: int = MAX_NGROUPS) -> list[RefEntry]:
    """Write every synthetic MIRI reference into ``crds_path``.

    Parameters
    ----------
    crds_path : Path
        Root of the local CRDS cache; files go to ``references/jwst/miri/``.
    max_ngroups : int
        Groups of the synthetic dark (uncal files may not have more).

    Returns
    -------
    list of RefEntry
        To be registered with :func:`jwstspec.synthetic.crds_cache.write_crds_cache`.
    """
    refdir = reference_dir(Path(crds_path), "MIRI")
    entries: list[RefEntry] = []
    tag = "mirifushort_12short"
    for reftype, model in _wcs_models().items():
        name = f"jwst_miri_{reftype}_synth_{tag}.asdf"
        kwargs = {"all_array_compression": "zlib"} if reftype == "regions" else {}
        _save(model, refdir / name, **kwargs)
        match = _MRS_MATCH if reftype == "wavelengthrange" else _BAND_MATCH
        entries.append(RefEntry("MIRI", reftype, name, match))
    for reftype, model in _detector1_models(max_ngroups).items():
        name = f"jwst_miri_{reftype}_synth_mirifushort.fits"
        _save(model, refdir / name)
        entries.append(RefEntry("MIRI", reftype, name, _DET_MATCH))
    for reftype, model in _calib_models().items():
        if reftype == "fringefreq":  # FITS like the real one: the step reads its tables after closing the model
            name = f"jwst_miri_{reftype}_synth_mrs.fits"
            _save(model, refdir / name)
            entries.append(RefEntry("MIRI", reftype, name, _MRS_MATCH))
        elif reftype in ("extract1d", "mrsptcorr"):
            name = f"jwst_miri_{reftype}_synth_mrs.asdf"
            _save(model, refdir / name, all_array_storage="inline") if reftype == "extract1d" else _save(model, refdir / name)
            entries.append(RefEntry("MIRI", reftype, name, _MRS_MATCH))
        else:
            name = f"jwst_miri_{reftype}_synth_{tag}.fits"
            _save(model, refdir / name)
            entries.append(RefEntry("MIRI", reftype, name, _BAND_MATCH))
    name = "jwst_miri_cubepar_synth_mrs.fits"
    with atomic_path(refdir / name) as tmp:
        _cubepar_hdulist().writeto(tmp)
    entries.append(RefEntry("MIRI", "cubepar", name, _MRS_MATCH))
    return entries


def band_tag(detector: str, band: str) -> str:
    """File-name tag of one detector's grating setting: ``"mirifulong_34medium"``."""
    return f"{detector.lower()}_{DETECTOR_CHANNELS[detector]}{band.lower()}"


def write_mrs_program_references(crds_path: Path) -> list[RefEntry]:
    """Write the toy references of all twelve MRS sub-bands (both detectors, three settings).

    Adds to :func:`write_miri_references` (whose MIRIFUSHORT SHORT files
    must already be in ``crds_path``; they are not rewritten): per detector
    and grating setting the WCS references (distortion, specwcs, regions)
    and flat, fringe and photom, matched by DETECTOR/CHANNEL/BAND like the
    SHORT ones; a wavelengthrange listing all twelve sub-bands (the SHORT
    rows equal the SHORT-only file's); the Detector1 references of
    MIRIFUSHORT registered for MIRIFULONG too (the same unity/zero
    detector).  The files of a detector's three settings that do not
    depend on wavelength (regions, flat, fringe, photom) are one file per
    detector registered three times.

    Parameters
    ----------
    crds_path : Path
        Root of the local CRDS cache (:func:`write_miri_references` written).

    Returns
    -------
    list of RefEntry
        To be registered with :func:`jwstspec.synthetic.crds_cache.write_crds_cache`.
    """
    from jwstspec.errors import InputFileError

    refdir = reference_dir(Path(crds_path), "MIRI")
    entries: list[RefEntry] = []
    for rt in ("mask", "saturation", "linearity", "dark", "gain", "readnoise"):
        name = f"jwst_miri_{rt}_synth_mirifushort.fits"
        if not (refdir / name).exists():
            raise InputFileError(refdir / name, "missing: write_miri_references first")
        entries.append(RefEntry("MIRI", rt, name, {"META.INSTRUMENT.DETECTOR": "MIRIFULONG"}))
    name = "jwst_miri_wavelengthrange_synth_mrs12.asdf"
    _save(_wcs_models(all_bands=True)["wavelengthrange"], refdir / name)
    entries.append(RefEntry("MIRI", "wavelengthrange", name, _MRS_MATCH))
    for det, chans in DETECTOR_CHANNELS.items():
        shared: dict[str, str] = {}  # band-independent reftype -> file of this detector
        if det == DETECTOR:
            shared = {rt: f"jwst_miri_{rt}_synth_{band_tag(DETECTOR, BAND)}.{'asdf' if rt == 'regions' else 'fits'}"
                      for rt in ("regions", "flat", "fringe", "photom")}
        for band in SETTINGS:
            match = {"META.INSTRUMENT.DETECTOR": det, "META.INSTRUMENT.CHANNEL": chans,
                     "META.INSTRUMENT.BAND": band}
            if (det, band) == (DETECTOR, BAND):
                continue  # write_miri_references' own
            tag = band_tag(det, band)
            for reftype, model in _wcs_models(det, band).items():
                if reftype == "wavelengthrange":
                    continue
                if reftype == "regions" and reftype in shared:
                    entries.append(RefEntry("MIRI", reftype, shared[reftype], match))
                    continue
                name = f"jwst_miri_{reftype}_synth_{tag}.asdf"
                _save(model, refdir / name, **({"all_array_compression": "zlib"} if reftype == "regions" else {}))
                if reftype == "regions":
                    shared[reftype] = name
                entries.append(RefEntry("MIRI", reftype, name, match))
            missing = [rt for rt in ("flat", "fringe", "photom") if rt not in shared]
            if missing:
                models = _calib_models(det, band)
                for rt in missing:
                    name = f"jwst_miri_{rt}_synth_{tag}.fits"
                    _save(models[rt], refdir / name)
                    shared[rt] = name
            for rt in ("flat", "fringe", "photom"):
                entries.append(RefEntry("MIRI", rt, shared[rt], match))
    return entries


# ----------------------------------------------------------------------------- uncal
#: Activity number of each grating setting in the exposure names of a multi-setting program.
SETTING_ACTIVITY = {"SHORT": 1, "MEDIUM": 2, "LONG": 3}


def _exposure_name(program: str, observation: str, exposure: int, detector: str = DETECTOR,
                   activity: int = 1) -> str:
    return f"jw{program}{observation}001_031{activity:02d}_{exposure:05d}_{detector.lower()}"


def _pointing(offset_ab: tuple[float, float], ra0: float, dec0: float) -> tuple[float, float]:
    """``(ra_ref, dec_ref)`` that puts sky point (ra0, dec0) at alpha/beta offset ``offset_ab``.

    With the pointing centred on the target, the sky position of the
    aperture point at ``-offset`` is where the reference point must be
    pointed so that the target lands at ``+offset`` (exact to second order
    in the offset, i.e. to ~1e-10 arcsec for arcsecond dithers).
    """
    from jwst.assign_wcs import pointing
    from stdatamodels.jwst.datamodels import ImageModel

    m = ImageModel()
    w = m.meta.wcsinfo
    w.v2_ref, w.v3_ref, w.ra_ref, w.dec_ref, w.roll_ref = V2_REF, V3_REF, ra0, dec0, ROLL_REF
    w.v3yangle, w.vparity = 0.0, -1
    tel2sky = pointing.v23tosky(m)
    ra, dec = tel2sky(V2_REF - offset_ab[0], V3_REF - offset_ab[1])
    return float(ra) % 360.0, float(dec)


def _set_exposure_meta(m, *, kind: str, program: str, observation: str, exposure: int, ngroups: int,
                       ra_ref: float, dec_ref: float, dither: int, n_dithers: int,
                       offset: tuple[float, float], detector: str = DETECTOR, band: str = BAND,
                       activity: int = 1) -> None:
    m.meta.telescope = "JWST"
    m.meta.instrument.name = "MIRI"
    m.meta.instrument.detector = detector
    m.meta.instrument.channel = DETECTOR_CHANNELS[detector]
    m.meta.instrument.band = band
    e = m.meta.exposure
    e.type = "MIR_MRS"
    e.readpatt = READPATT
    e.nints, e.ngroups, e.nframes, e.groupgap = 1, ngroups, 1, 0
    e.frame_time = e.group_time = FRAME_TIME
    e.integration_time = e.exposure_time = e.effective_exposure_time = FRAME_TIME * ngroups
    e.duration = FRAME_TIME * (ngroups + 1)
    e.nresets_at_start, e.nresets_between_ints, e.drop_frames1, e.drop_frames3 = 0, 1, 0, 0
    e.sample_time = 10
    start = 60310.0 + 0.01 * exposure + (0.2 if kind == "background" else 0.0)
    e.start_time, e.mid_time, e.end_time = start, start + e.duration / 2 / 86400, start + e.duration / 86400
    m.meta.observation.date, m.meta.observation.time = "2024-01-01", "00:00:00"
    o = m.meta.observation
    o.program_number, o.observation_number, o.visit_number = program, observation, "001"
    o.visit_group, o.sequence_id, o.activity_id, o.exposure_number = "03", "1", f"{activity:02d}", f"{exposure:05d}"
    o.visit_id = f"{program}{observation}001"
    o.obs_id = f"V{program}{observation}001P0000000003101"
    o.bkgdtarg = kind == "background"
    m.meta.subarray.name = "FULL"
    s = m.meta.subarray
    s.xstart, s.ystart, s.xsize, s.ysize, s.fastaxis, s.slowaxis = 1, 1, NX, NY, 1, 2
    m.meta.aperture.name = f"MIRIFU_CHANNEL{DETECTOR_CHANNELS[detector][0]}{'ABC'[SETTINGS.index(band)]}"
    w = m.meta.wcsinfo
    w.v2_ref, w.v3_ref, w.ra_ref, w.dec_ref, w.roll_ref = V2_REF, V3_REF, ra_ref, dec_ref, ROLL_REF
    w.v3yangle, w.vparity = 0.0, -1
    m.meta.pointing.ra_v1, m.meta.pointing.dec_v1, m.meta.pointing.pa_v3 = ra_ref, dec_ref, ROLL_REF
    m.meta.velocity_aberration.scale_factor = 1.0
    t = m.meta.target
    if kind == "science":
        t.catalog_name, t.proposer_name, t.type = "SYNTH-PS", "SYNTH-PS", "FIXED"
        t.ra, t.dec, t.source_type, t.source_type_apt = SOURCE_RA, SOURCE_DEC, "POINT", "POINT"
        t.ra_uncertainty = t.dec_uncertainty = 0.0
    else:
        t.catalog_name, t.proposer_name, t.type = "SYNTH-BKG", "SYNTH-BKG", "FIXED"
        t.ra, t.dec, t.source_type, t.source_type_apt = ra_ref, dec_ref, "EXTENDED", "EXTENDED"
    d = m.meta.dither
    d.primary_type = "4-POINT" if n_dithers >= 4 else "2-POINT"
    d.primary_points = n_dithers
    d.position_number = dither
    d.total_points = n_dithers
    d.optimized_for = "POINT-SOURCE"
    d.x_offset, d.y_offset = float(offset[0]), float(offset[1])


def _exposure_channels(m) -> tuple[MrsChannel, ...]:
    """The toy channels of exposure ``m`` (its DETECTOR and BAND)."""
    return mrs_channels(m.meta.instrument.detector or DETECTOR, m.meta.instrument.band or BAND)


def _pixel_offsets_from_source(m, wcs_refs, ra0: float, dec0: float) -> dict[str, tuple[np.ndarray, ...]]:
    """Along-slice (alpha) and across-slice (beta) offsets of pixel centres from the source.

    Evaluated with the real jwst MRS WCS (``jwst.assign_wcs.miri``) on the
    toy references, so the scene is placed exactly where ``cube_build``
    will put it back.  Returns per channel ``(columns, a_off, b_off)`` in
    arcsec.
    """
    import gwcs
    from jwst.assign_wcs import miri
    from stdatamodels.jwst.datamodels import IFUImageModel

    with IFUImageModel(data=np.zeros((NY, NX), np.float32)) as im:
        im.update(m)
        wcs = gwcs.WCS(miri.create_pipeline(im, wcs_refs))
    out = {}
    ra0r, dec0r = math.radians(ra0), math.radians(dec0)
    for ch in _exposure_channels(m):
        cols = _slice_columns(ch)
        y = np.full(cols.shape, NY / 2.0)
        ra, dec, _lam = wcs(cols.astype(float), y)
        rar, decr = np.radians(ra), np.radians(dec)
        cosc = math.sin(dec0r) * np.sin(decr) + math.cos(dec0r) * np.cos(decr) * np.cos(rar - ra0r)
        xi = np.cos(decr) * np.sin(rar - ra0r) / cosc
        eta = (math.cos(dec0r) * np.sin(decr) - math.sin(dec0r) * np.cos(decr) * np.cos(rar - ra0r)) / cosc
        d = np.degrees(np.stack([xi, eta], axis=1)) * 3600.0  # pixel centre - source, arcsec
        # sky directions of +alpha (along a slice) and of +beta (across slices)
        s1 = np.searchsorted(cols, ch.strip(1)[0])
        u_a = (d[s1 + STRIP - 1] - d[s1]) / ((STRIP - 1) * ch.alpha_scale)
        c_first = d[s1 : s1 + STRIP].mean(axis=0)
        kl = ch.nslices
        sl = np.searchsorted(cols, ch.strip(kl)[0])
        c_last = d[sl : sl + STRIP].mean(axis=0)
        u_b = (c_last - c_first) / ((kl - 1) * ch.slice_width)
        if not (abs(np.linalg.norm(u_a) - 1) < 1e-3 and abs(np.linalg.norm(u_b) - 1) < 1e-3):
            raise RuntimeError("toy MRS WCS is not a rigid rotation of (alpha, beta)")  # pragma: no cover
        out[ch.channel] = (cols, d @ u_a, d @ u_b)
    return out


def _slice_columns(ch: MrsChannel) -> np.ndarray:
    """Sorted detector columns of all slices of a channel."""
    return np.concatenate([np.arange(ch.strip(k)[0], ch.strip(k)[1] + 1) for k in range(1, ch.nslices + 1)])


def _box_fraction(offset: np.ndarray, width: float, sigma: np.ndarray) -> np.ndarray:
    """Fraction of a 1-D unit Gaussian of ``sigma`` inside [offset - w/2, offset + w/2] around its centre."""
    s2 = np.sqrt(2.0) * sigma
    return 0.5 * (erf((offset + width / 2.0) / s2) - erf((offset - width / 2.0) / s2))


def scene_rate(m, wcs_refs, *, source: bool, ra0: float = SOURCE_RA, dec0: float = SOURCE_DEC,
               background: bool = True, fringe: float = 0.0) -> np.ndarray:
    """Noiseless count rate (DN/s) of the scene seen by exposure ``m``, shape (NY, NX).

    ``background=False`` leaves the sky out (a background-subtracted scene);
    ``fringe`` multiplies every slice pixel by a residual fringe of that
    amplitude (:func:`jwstspec.synthetic.spectra.fringe`, the MRS period,
    phase 0) that the unity fringe flat leaves in place.
    """
    from jwstspec.synthetic.spectra import fringe as fringe_factor

    rate = np.zeros((NY, NX), dtype=np.float64)
    offs = _pixel_offsets_from_source(m, wcs_refs, ra0, dec0) if source else None
    y = np.arange(NY)
    for ch in _exposure_channels(m):
        lam = ch.wavelength(y)
        bkg = background_mjysr(lam) if background else np.zeros_like(lam)
        cols = _slice_columns(ch)
        sb = np.repeat(bkg[:, None], cols.size, axis=1)
        if source:
            ocols, a_off, b_off = offs[ch.channel]
            idx = np.searchsorted(ocols, cols)
            sig = psf_sigma_arcsec(lam)[:, None]
            pa = _box_fraction(-a_off[idx][None, :], ch.alpha_scale, sig)
            pb = _box_fraction(-b_off[idx][None, :], ch.slice_width, sig)
            sb = sb + observed_spectrum_jy(lam, ch.channel, ch.band)[:, None] * 1e-6 * pa * pb / ch.pixel_solid_angle
        if fringe:
            sb = sb * fringe_factor(lam, fringe)[:, None]
        rate[:, cols] = sb / PHOTOM_SENS
    return rate


def _wcs_ref_paths(crds_path: Path | None, detector: str = DETECTOR, band: str = BAND):
    """The WCS references as file paths (from the cache) or in-memory models."""
    if crds_path is not None and (detector, band) == (DETECTOR, BAND):
        refdir = Path(crds_path) / "references" / "jwst" / "miri"
        paths = {rt: refdir / f"jwst_miri_{rt}_synth_mirifushort_12short.asdf"
                 for rt in ("distortion", "specwcs", "regions", "wavelengthrange")}
        if all(p.exists() for p in paths.values()):
            return {k: str(v) for k, v in paths.items()}
    return _wcs_models(detector, band)


def make_mrs_uncal(path: Path, *, kind: str, dither: int, program: str = "01234", observation: str = "001",
                   n_dithers: int = 4, ngroups: int = DEFAULT_NGROUPS, crds_path: Path | None = None,
                   exposure: int | None = None, seed: int | None = None, detector: str = DETECTOR,
                   band: str = BAND, fringe: float = 0.0) -> Path:
    """Write one synthetic MRS ``uncal`` exposure (default MIRIFUSHORT, channel 12, SHORT).

    Parameters
    ----------
    path : Path
        Output file; should end in ``_uncal.fits`` (pipeline products are
        named after it).
    kind : {"science", "background"}
        Science: sky background + the point source at
        (:data:`SOURCE_RA`, :data:`SOURCE_DEC`), the pointing moved so that
        the source sits at dither offset ``dither``.  Background: sky only,
        pointed :data:`BACKGROUND_OFFSET_ARCSEC` away.
    dither : int
        1-based dither position.
    program, observation : str
        Program (5 digits) and observation (3 digits) numbers.
    n_dithers : int
        Total dither positions of the pattern (metadata only).
    ngroups : int
        Groups of the single integration (at most :data:`MAX_NGROUPS`).
    crds_path : Path, optional
        Cache written by :func:`write_miri_references` (its WCS references
        are used); default: the same references built in memory.
    exposure : int, optional
        Exposure number (default ``dither``).
    seed : int, optional
        Noise seed (default: derived from the file name).
    detector, band : str
        Detector (``MIRIFUSHORT``, ``MIRIFULONG``) and grating setting
        (``SHORT``, ``MEDIUM``, ``LONG``); other than MIRIFUSHORT SHORT the
        references of :func:`write_mrs_program_references`.
    fringe : float
        Amplitude of a residual fringe on every slice pixel (source and sky;
        see :func:`scene_rate`), e.g. 0.05 for 5 %; 0: none.

    Returns
    -------
    Path
        ``path``.
    """
    from stdatamodels.jwst.datamodels import Level1bModel

    channels = mrs_channels(detector, band)  # checks both
    detector, band = channels[0].detector, channels[0].band
    if kind not in ("science", "background"):
        raise OptionError("kind", f"{kind!r} must be 'science' or 'background'")
    if not 1 <= dither <= len(DITHER_OFFSETS):
        raise OptionError("dither", f"{dither} must be 1..{len(DITHER_OFFSETS)}")
    if not 3 <= ngroups <= MAX_NGROUPS:
        raise OptionError("ngroups", f"{ngroups} must be 3..{MAX_NGROUPS}")
    path = Path(path)
    exposure = dither if exposure is None else exposure
    if kind == "science":
        offset = DITHER_OFFSETS[dither - 1]
        ra_ref, dec_ref = _pointing(offset, SOURCE_RA, SOURCE_DEC)
    else:
        offset = (0.0, 0.0)
        dec_ref = SOURCE_DEC + BACKGROUND_OFFSET_ARCSEC / 3600.0
        ra_ref = SOURCE_RA + 0.3 * (dither - 1) / 3600.0 / math.cos(math.radians(dec_ref))
    m = Level1bModel()
    _set_exposure_meta(m, kind=kind, program=program, observation=observation, exposure=exposure,
                       ngroups=ngroups, ra_ref=ra_ref, dec_ref=dec_ref, dither=dither, n_dithers=n_dithers,
                       offset=offset, detector=detector, band=band, activity=_activity(path))
    rate = scene_rate(m, _wcs_ref_paths(crds_path, detector, band), source=kind == "science", fringe=fringe)

    if seed is None:
        seed = int.from_bytes(hashlib.sha256(path.name.encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    electrons = rng.poisson(np.broadcast_to(rate * GAIN * FRAME_TIME, (ngroups, NY, NX))).astype(np.float32)
    ramp = np.cumsum(electrons, axis=0) / GAIN
    ramp += BIAS + rng.normal(0.0, READ_NOISE, size=ramp.shape).astype(np.float32)
    data = np.clip(np.rint(ramp), 0, 65535).astype(np.uint16)[None]
    m.data = data
    m.meta.filename = path.name
    with atomic_path(path) as tmp:
        m.save(tmp)
    return path


def _activity(path: Path) -> int:
    """Activity number in a ``jw..._031AA_...`` file name (1 when the name has none)."""
    parts = Path(path).name.split("_")
    return int(parts[1][3:5]) if len(parts) > 2 and len(parts[1]) == 5 and parts[1].isdigit() else 1


def make_mrs_rate(path: Path, *, dither: int = 1, background: bool = True, fringe: float = 0.0,
                  noise: float = 0.0, crds_path: Path | None = None, seed: int = 1, detector: str = DETECTOR,
                  band: str = BAND) -> Path:
    """Write a synthetic MRS science ``rate`` file directly (no ramps, no Detector1).

    For tests of Stage 2 steps: the rate is :func:`scene_rate` of the
    science exposure at ``dither`` (the point source, with or without the
    sky ``background``, times a residual ``fringe`` of that amplitude) plus
    Gaussian noise of ``noise`` DN/s per pixel; ``ERR`` holds that noise
    (or 1 % of the rate when ``noise`` is 0); ``detector`` and ``band`` as
    in :func:`make_mrs_uncal`.

    Returns
    -------
    Path
        ``path``.
    """
    from stdatamodels.jwst.datamodels import IFUImageModel

    if not 1 <= dither <= len(DITHER_OFFSETS):
        raise OptionError("dither", f"{dither} must be 1..{len(DITHER_OFFSETS)}")
    channels = mrs_channels(detector, band)
    detector, band = channels[0].detector, channels[0].band
    path = Path(path)
    offset = DITHER_OFFSETS[dither - 1]
    ra_ref, dec_ref = _pointing(offset, SOURCE_RA, SOURCE_DEC)
    m = IFUImageModel((NY, NX))  # what Detector1's ramp_fit writes for an IFU exposure
    _set_exposure_meta(m, kind="science", program="01234", observation="001", exposure=dither,
                       ngroups=DEFAULT_NGROUPS, ra_ref=ra_ref, dec_ref=dec_ref, dither=dither, n_dithers=4,
                       offset=offset, detector=detector, band=band, activity=_activity(path))
    rate = scene_rate(m, _wcs_ref_paths(crds_path, detector, band), source=True, background=background,
                      fringe=fringe)
    rng = np.random.default_rng(seed)
    inslice = slice_map(detector) > 0
    m.data = np.where(inslice, rate + rng.normal(0.0, noise, rate.shape) if noise else rate, 0).astype(np.float32)
    m.err = np.full(rate.shape, noise, np.float32) if noise else (0.01 * np.abs(rate) + 1e-6).astype(np.float32)
    m.var_rnoise = (m.err.astype(np.float64) ** 2).astype(np.float32)
    m.var_poisson = np.zeros(rate.shape, np.float32)
    m.dq = np.zeros(rate.shape, np.uint32)
    m.meta.filename = path.name
    m.meta.bunit_data = m.meta.bunit_err = "DN/s"
    with atomic_path(path) as tmp:
        m.save(tmp)
    return path


def make_mrs_program(root: Path, crds_path: Path, *, n_dithers: int = 4, n_background: int = 2,
                     program: str = "01234", sci_obs: str = "001", bkg_obs: str = "002",
                     ngroups: int = DEFAULT_NGROUPS, detectors: tuple[str, ...] = (DETECTOR,),
                     settings: tuple[str, ...] = (BAND,), fringe: float = 0.0) -> MrsProgram:
    """Write a science observation (``n_dithers`` dithers) and a background observation.

    Parameters
    ----------
    root : Path
        Directory of the uncal files (created).
    crds_path : Path
        Cache with the MIRI references (:func:`write_miri_references`).
    n_dithers, n_background : int
        Exposures of the science and of the background observation.
    program, sci_obs, bkg_obs : str
        Program and observation numbers.
    ngroups : int
        Groups per integration.
    detectors, settings : tuple of str
        Every exposure is taken on each detector in each grating setting
        (activity :data:`SETTING_ACTIVITY` of the setting in the file
        names); other than MIRIFUSHORT SHORT they need
        :func:`write_mrs_program_references`.
    fringe : float
        Residual fringe amplitude of every exposure (:func:`make_mrs_uncal`).

    Returns
    -------
    MrsProgram
        The uncal paths and the injected truth.
    """
    combos = [(det, band) for band in settings for det in detectors]
    channels = tuple(c for det, band in combos for c in mrs_channels(det, band))
    if not 1 <= n_dithers <= len(DITHER_OFFSETS):
        raise OptionError("n_dithers", f"{n_dithers} must be 1..{len(DITHER_OFFSETS)}")
    if not 0 <= n_background <= len(DITHER_OFFSETS):
        raise OptionError("n_background", f"{n_background} must be 0..{len(DITHER_OFFSETS)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    uncal: dict[str, list[Path]] = {sci_obs: [], bkg_obs: []}
    for det, band in combos:
        act = SETTING_ACTIVITY[band.upper()]
        for d in range(1, n_dithers + 1):
            p = root / f"{_exposure_name(program, sci_obs, d, det, act)}_uncal.fits"
            uncal[sci_obs].append(make_mrs_uncal(p, kind="science", dither=d, program=program,
                                                 observation=sci_obs, n_dithers=n_dithers, ngroups=ngroups,
                                                 crds_path=crds_path, detector=det, band=band, fringe=fringe))
        for d in range(1, n_background + 1):
            p = root / f"{_exposure_name(program, bkg_obs, d, det, act)}_uncal.fits"
            uncal[bkg_obs].append(make_mrs_uncal(p, kind="background", dither=d, program=program,
                                                 observation=bkg_obs, n_dithers=n_background, ngroups=ngroups,
                                                 crds_path=crds_path, detector=det, band=band, fringe=fringe))
    return MrsProgram(program=program, sci_obs=sci_obs, bkg_obs=bkg_obs, uncal=uncal, source_ra=SOURCE_RA,
                      source_dec=SOURCE_DEC, channels=channels, dither_offsets=list(DITHER_OFFSETS[:n_dithers]))


def expected_rate(path: Path, crds_path: Path | None = None) -> np.ndarray:
    """Noiseless injected count rate (DN/s) of a synthetic uncal file, shape (NY, NX)."""
    from stdatamodels.jwst.datamodels import Level1bModel

    with Level1bModel(str(path)) as m:
        source = not bool(m.meta.observation.bkgdtarg)
        refs = _wcs_ref_paths(crds_path, m.meta.instrument.detector, m.meta.instrument.band)
        return scene_rate(m, refs, source=source)


__all__ = [
    "CHANNELS",
    "DETECTOR_CHANNELS",
    "SETTINGS",
    "MrsChannel",
    "MrsProgram",
    "background_mjysr",
    "expected_rate",
    "make_mrs_program",
    "make_mrs_rate",
    "make_mrs_uncal",
    "mrs_channels",
    "psf_sigma_arcsec",
    "scene_rate",
    "slice_map",
    "source_spectrum_jy",
    "write_miri_references",
    "write_mrs_program_references",
]
