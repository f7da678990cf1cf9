"""A toy MIRI LRS instrument (fixed slit and slitless) that the real ``jwst`` pipelines process offline.

Two pieces, like :mod:`jwstspec.synthetic.miri_mrs` for the MRS:

* :func:`write_lrs_model_references` writes the Stage 2 references of the
  LRS modes (``distortion``, ``specwcs``, ``flat``, ``photom``, ``pathloss``
  and the ``extract1d`` of the fixed slit) into a local CRDS cache and
  registers the MRS Detector1 references (mask, saturation, linearity,
  dark, gain, readnoise: full frame, cut to the subarray by jwst) for
  ``MIRIMAGE`` as well.
* :func:`make_lrs_slit_uncal` / :func:`make_lrs_slitless_uncal` write
  ``uncal`` ramps of a point source seen through those references: the
  fixed slit on FULL (one exposure per nod position, a uniform sky in the
  slit), the slitless time series on the real ``SLITLESSPRISM`` subarray
  (416 x 72) with a box-shaped transit.

Toy geometry (jwst's conventions, ``jwst.assign_wcs.miri.lrs``)
-----------------------------------------------------------------
The ``distortion`` is the imager's: full-frame ``(x, y)`` to ``(v2, v3)``,
here a plain scale of :data:`PIXEL_SCALE` arcsec per pixel around the slit
reference pixel (x along v2, y along v3).  The ``specwcs`` is jwst's LRS
table: the trace centre ``(x_center, y_center)`` relative to the reference
point of the mode (``IMX, IMY`` for the slit, ``IMXSLTL, IMYSLTL`` for
slitless) and the wavelength there; the trace is straight (``x_center = 0``)
and the wavelengths are sampled from the real-format LRS slitless product
shipped with jwst (:func:`jwstspec.synthetic.miri_lrs.shipped_tso_file`):
wavelength falls from ~14.4 to ~4.4 um as the row grows, over rows
``-293 .. +97`` around the reference point.  Both modes share the table; the
slit reference point puts the slit spectrum on full-frame rows ~6-397, the
slitless one on subarray rows ~7-397.

Flux calibration
----------------
``photom`` holds ``photmjsr`` per subarray times a ``relresponse(lambda)``
(:func:`relresponse`); the pixel area is ``PIXEL_SCALE**2``.  The slit
passes a fraction :func:`slit_throughput` of a centred point source;
``pathloss`` holds its inverse (jwst multiplies by it).  The injected rate
of a pixel is ``F_nu(lambda) * T(lambda) * P(x) / (photmjsr * relresponse *
PIXAR_SR)`` plus the sky in the slit, ``P`` the fraction of a Gaussian PSF
(:func:`psf_sigma_arcsec`) in the pixel's columns, so a sum over columns of
jwst's calibrated slit image times ``PIXAR_SR`` gives ``F_nu`` times the
PSF fraction inside the sum.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

from jwstspec.errors import OptionError
from jwstspec.fileio import atomic_path, atomic_write_text
from jwstspec.synthetic.crds_cache import RefEntry, reference_dir
from jwstspec.synthetic.miri_lrs import TransitTruth

DETECTOR = "MIRIMAGE"
FILTER = "P750L"
SLIT, SLITLESS = "MIR_LRS-FIXEDSLIT", "MIR_LRS-SLITLESS"
NY, NX = 1024, 1032
#: jwst's SLITLESSPRISM subarray: xstart, ystart (1-based), xsize, ysize
SLITLESS_SUBARRAY = (1, 529, 72, 416)
FRAME_TIME = {"FULL": 2.77504, "SLITLESSPRISM": 0.15904}  # s, FASTR1
PIXEL_SCALE = 0.11  # arcsec per pixel
PIXAR_SR = (PIXEL_SCALE * math.pi / 180.0 / 3600.0) ** 2
#: reference points (1-based full-frame pixels, as in jwst's specwcs ``IMX/IMY``, ``IMXSLTL/IMYSLTL``)
X_REF, Y_REF = 326.13, 300.70
X_REF_SLITLESS, Y_REF_SLITLESS = 36.5, 829.0
V2_SLIT, V3_SLIT = -414.63, -400.70  # arcsec at the slit reference point
ROLL_REF = 253.0
SLIT_HALF_LENGTH = 21.5  # pixels along the slit (4.7 arcsec)
SLIT_WIDTH = 0.51  # arcsec
NOD_OFFSET = 1.27  # arcsec along the slit, nod positions +-NOD_OFFSET
PHOTMJSR = {"FULL": 60.0, "SLITLESSPRISM": 60.0}  # MJy/sr per DN/s at relresponse 1
SOURCE_RA, SOURCE_DEC = 80.4875, -69.4989
GAIN, READ_NOISE, BIAS = 3.1, 6.0, 10000.0  # as the MRS Detector1 references
DEFAULT_NGROUPS = 5
REF_META = {"author": "jwstspec synthetic", "pedigree": "DUMMY", "useafter": "2000-01-01T00:00:00"}
_TAG = "synth_lrs"


# ----------------------------------------------------------------------------- truth
def source_spectrum_jy(wavelength_um: Any, *, scale: float = 1.0) -> np.ndarray:
    """Injected point-source spectrum (Jy): a 10 mJy-at-8-um power law with a broad 9.7 um absorption."""
    w = np.asarray(wavelength_um, dtype=float)
    return scale * 0.010 * (w / 8.0) ** 1.2 * (1.0 - 0.3 * np.exp(-0.5 * ((w - 9.7) / 0.6) ** 2))


def sky_mjysr(wavelength_um: Any) -> np.ndarray:
    """Uniform sky in the slit (MJy/sr)."""
    w = np.asarray(wavelength_um, dtype=float)
    return 2.0 + 0.5 * (w - 5.0)


def relresponse(wavelength_um: Any) -> np.ndarray:
    """Relative response of the toy photom reference (a +-15 % tilt over 5-14 um)."""
    w = np.asarray(wavelength_um, dtype=float)
    return 1.0 + 0.15 * (w - 9.5) / 4.5


def slit_throughput(wavelength_um: Any) -> np.ndarray:
    """Fraction of a point source the slit passes (the toy pathloss reference holds its inverse)."""
    w = np.asarray(wavelength_um, dtype=float)
    return 0.92 - 0.012 * (w - 5.0)


def psf_sigma_arcsec(wavelength_um: Any) -> np.ndarray:
    """Gaussian PSF sigma (arcsec): FWHM = 0.033 lambda + 0.106 arcsec."""
    w = np.asarray(wavelength_um, dtype=float)
    return (0.033 * w + 0.106) / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def aperture_fraction(centre_offset: Any, half_width: float, wavelength_um: Any) -> np.ndarray:
    """Fraction of the PSF inside ``[c - half_width, c + half_width]`` pixels when the source sits ``centre_offset`` px from c."""
    s = psf_sigma_arcsec(wavelength_um) / PIXEL_SCALE * math.sqrt(2.0)
    d = np.asarray(centre_offset, dtype=float)
    return 0.5 * (erf((half_width - d) / s) + erf((half_width + d) / s))


# ------------------------------------------------------------------------ references
@functools.lru_cache(maxsize=1)
def wavetable_rows() -> tuple[np.ndarray, np.ndarray]:
    """``(dy, wavelength)`` of the trace: rows relative to the reference point, from the shipped LRS product.

    Sampled every pixel along the trace of jwst's shipped slitless file
    (its rows 7-397, the reference row 300); ordered by increasing
    wavelength (decreasing row), as in jwst's LRS specwcs tables.
    """
    from stdatamodels.jwst import datamodels

    from jwstspec.synthetic.miri_lrs import shipped_tso_file

    with datamodels.open(str(shipped_tso_file())) as m:
        y = np.arange(7.0, 398.0)
        wave = np.asarray(m.meta.wcs(np.full(y.shape, 37.5), y)[-1], dtype=float)
    keep = np.isfinite(wave)
    dy, wave = y[keep] - 300.0, wave[keep]
    if np.any(np.diff(wave) >= 0):  # pragma: no cover  (the shipped solution is monotonic)
        raise RuntimeError("the shipped LRS wavelength solution is not monotonic")
    return dy[::-1].copy(), wave[::-1].copy()


def wavelength_of_row(dy: Any) -> np.ndarray:
    """Wavelength (micron) at ``dy`` rows from the reference point (linear between table rows, NaN outside)."""
    tdy, tw = wavetable_rows()
    return np.interp(np.asarray(dy, float), tdy[::-1], tw[::-1], left=np.nan, right=np.nan)


def _set_ref_meta(m, reftype: str, description: str, *, exp_type: str = f"{SLIT}|{SLITLESS}") -> None:
    m.meta.instrument.name = "MIRI"
    m.meta.instrument.detector = DETECTOR
    try:
        m.meta.instrument.filter = FILTER
    except AttributeError:
        pass
    try:
        m.meta.exposure.type = exp_type.split("|")[0]
        m.meta.exposure.p_exptype = exp_type + "|"
    except AttributeError:
        pass
    m.meta.reftype = reftype.upper()
    m.meta.description = description
    m.meta.author = REF_META["author"]
    m.meta.pedigree = REF_META["pedigree"]
    m.meta.useafter = REF_META["useafter"]


def _distortion_transform():
    from astropy.modeling import models as am

    x0, y0 = X_REF - 1, Y_REF - 1
    return ((am.Shift(-x0) & am.Shift(-y0)) | (am.Scale(PIXEL_SCALE) & am.Scale(PIXEL_SCALE))
            | (am.Shift(V2_SLIT) & am.Shift(V3_SLIT)))


def v2v3_of_pixel(x: float, y: float) -> tuple[float, float]:
    """``(v2, v3)`` (arcsec) of full-frame 0-based pixel ``(x, y)`` through the toy distortion."""
    v2, v3 = _distortion_transform()(x, y)
    return float(v2), float(v3)


def _models() -> dict[str, Any]:
    from stdatamodels.jwst.datamodels import (
        DistortionModel,
        FlatModel,
        MiriLRSSpecwcsModel,
        MirLrsPathlossModel,
        MirLrsPhotomModel,
    )

    dist = DistortionModel(model=_distortion_transform())
    _set_ref_meta(dist, "distortion", "Toy MIRI imager distortion: 0.11 arcsec/px, no rotation")
    dist.meta.input_units = "pixel"
    dist.meta.output_units = "arcsec"
    dist.meta.instrument.band = "N/A"

    dy, wave = wavetable_rows()
    zeros = np.zeros_like(dy)
    h = SLIT_HALF_LENGTH
    table = np.array(list(zip(zeros, dy, wave, zeros - h, dy + 0.5, zeros + h, dy + 0.5, zeros + h, dy - 0.5,
                              zeros - h, dy - 0.5, strict=True)),
                     dtype=[(n, "f8") for n in ("x_center", "y_center", "wavelength", "x0", "y0", "x1", "y1",
                                                 "x2", "y2", "x3", "y3")])
    spec = MiriLRSSpecwcsModel(wavetable=table)
    _set_ref_meta(spec, "specwcs", "Toy LRS wavelength solution: straight trace, wavelengths of jwst's shipped LRS file")
    spec.meta.x_ref, spec.meta.y_ref = X_REF, Y_REF
    spec.meta.x_ref_slitless, spec.meta.y_ref_slitless = X_REF_SLITLESS, Y_REF_SLITLESS
    spec.meta.instrument.band = "N/A"
    # slit corners on the sky (S_REGION): along the slit +-SLIT_HALF_LENGTH px, across it +-SLIT_WIDTH / 2
    hw = SLIT_WIDTH / 2.0 / PIXEL_SCALE
    for k, (sx, sy) in enumerate(((-1, -1), (1, -1), (1, 1), (-1, 1)), start=1):
        v2, v3 = v2v3_of_pixel(X_REF - 1 + sx * h, Y_REF - 1 + sy * hw)
        setattr(spec.meta, f"v2_vert{k}", v2)
        setattr(spec.meta, f"v3_vert{k}", v3)
    spec.meta.subarray.name = "GENERIC"

    ones = np.ones((NY, NX), np.float32)
    flat = FlatModel(data=ones, err=np.zeros_like(ones), dq=np.zeros((NY, NX), np.uint32))
    _set_ref_meta(flat, "flat", "Synthetic LRS flat: unity")
    flat.meta.subarray.name = "FULL"
    flat.meta.subarray.xstart, flat.meta.subarray.ystart, flat.meta.subarray.xsize, flat.meta.subarray.ysize = (
        1, 1, NX, NY)

    pw = np.linspace(3.5, 15.0, 116).astype(np.float32)
    rows = [(FILTER, sub, PHOTMJSR[sub], 0.0, pw.size, pw, relresponse(pw).astype(np.float32),
             np.zeros_like(pw)) for sub in ("FULL", "SLITLESSPRISM")]
    ptab = np.array(rows, dtype=[("filter", "S12"), ("subarray", "S17"), ("photmjsr", "f4"), ("uncertainty", "f4"),
                                 ("nelem", "i2"), ("wavelength", "f4", (pw.size,)),
                                 ("relresponse", "f4", (pw.size,)), ("reluncertainty", "f4", (pw.size,))])
    photom = MirLrsPhotomModel(phot_table=ptab)
    _set_ref_meta(photom, "photom", "Synthetic LRS photom: photmjsr per subarray times a +-15 % relresponse")
    photom.meta.photometry.pixelarea_steradians = PIXAR_SR
    photom.meta.photometry.pixelarea_arcsecsq = PIXEL_SCALE**2

    # jwst flips the LRS pathloss wavelengths (stored decreasing); the correction multiplies the data
    lw = np.linspace(15.0, 3.5, 116).astype(np.float32)
    ny_pl, nx_pl = 11, 49
    pl = np.broadcast_to((1.0 / slit_throughput(lw))[:, None, None], (lw.size, ny_pl, nx_pl)).astype(np.float32)
    pl_tab = np.zeros(lw.size, dtype=[("wavelength", "f4"), ("pathloss", "f4", (ny_pl, nx_pl)),
                                      ("pathloss_err", "f4", (ny_pl, nx_pl))])
    pl_tab["wavelength"], pl_tab["pathloss"] = lw, pl
    pathloss = MirLrsPathlossModel(pathloss_table=pl_tab)
    _set_ref_meta(pathloss, "pathloss", "Synthetic LRS pathloss: 1 / slit throughput, flat over the slit",
                  exp_type=SLIT)
    w = pathloss.meta.wcsinfo
    w.crpix1, w.crval1, w.cdelt1 = (nx_pl + 1) / 2.0, 0.0, 1.0
    w.crpix2, w.crval2, w.cdelt2 = (ny_pl + 1) / 2.0, 0.0, 1.0
    return {"distortion": dist, "specwcs": spec, "flat": flat, "photom": photom, "pathloss": pathloss}


#: boxcar half-width (pixels) of the synthetic fixed-slit extract1d reference
SLIT_EXTRACT_HALF_WIDTH = 7.5


def _slit_extract1d() -> dict[str, Any]:
    return {
        "reftype": "EXTRACT1D", "instrument": "MIRI", "telescope": "JWST", "exp_type": SLIT,
        "pedigree": "DUMMY", "useafter": "2000-01-01T00:00:00", "author": "jwstspec.synthetic",
        "description": "Boxcar of 15 columns centred on the source (jwstspec toy LRS slit)",
        "apertures": [{"id": "ANY", "region_type": "target", "disp_axis": 2, "use_source_posn": True,
                       "extract_width": int(2 * SLIT_EXTRACT_HALF_WIDTH), "bkg_order": 0}],
    }


def _slitless_dark():
    from stdatamodels.jwst.datamodels import DarkMIRIModel

    from jwstspec.synthetic.miri_mrs import MAX_NGROUPS

    xs, ys, nx, ny = SLITLESS_SUBARRAY
    dark = DarkMIRIModel(data=np.zeros((1, MAX_NGROUPS, ny, nx), np.float32),
                         err=np.zeros((1, 1, ny, nx), np.float32), dq=np.zeros((1, 1, ny, nx), np.uint32))
    _set_ref_meta(dark, "dark", "Synthetic MIRI dark: zero (SLITLESSPRISM)")
    s = dark.meta.subarray
    s.name, s.xstart, s.ystart, s.xsize, s.ysize = "SLITLESSPRISM", xs, ys, nx, ny
    e = dark.meta.exposure
    e.nframes, e.groupgap, e.ngroups, e.nints, e.readpatt = 1, 0, MAX_NGROUPS, 1, "FASTR1"
    return dark


_DETECTOR1 = ("mask", "saturation", "linearity", "dark", "gain", "readnoise")


def write_lrs_model_references(crds_path: Path) -> list[RefEntry]:
    """Write the toy LRS references into ``crds_path``; return the entries to register.

    The Detector1 entries point at the MRS files of
    :func:`jwstspec.synthetic.miri_mrs.write_miri_references` (written here
    if missing) with a ``MIRIMAGE`` match.

    Parameters
    ----------
    crds_path : Path
        Root of the local CRDS cache.

    Returns
    -------
    list of RefEntry
        To be registered with :func:`jwstspec.synthetic.crds_cache.write_crds_cache`.
    """
    from jwstspec.synthetic.miri_mrs import write_miri_references

    crds_path = Path(crds_path)
    refdir = reference_dir(crds_path, "MIRI")
    entries: list[RefEntry] = []
    mrs = {e.reftype: e.filename for e in write_miri_references(crds_path)} if not all(
        (refdir / f"jwst_miri_{rt}_synth_mirifushort.fits").exists() for rt in _DETECTOR1) else {
        rt: f"jwst_miri_{rt}_synth_mirifushort.fits" for rt in _DETECTOR1}
    for rt in _DETECTOR1:
        if rt == "dark":  # jwst cannot cut the MRS dark's one-group DQ plane to a subarray: a dark per subarray
            entries.append(RefEntry("MIRI", rt, mrs[rt], {"META.INSTRUMENT.DETECTOR": DETECTOR,
                                                          "META.SUBARRAY.NAME": "FULL"}))
        else:
            entries.append(RefEntry("MIRI", rt, mrs[rt], {"META.INSTRUMENT.DETECTOR": DETECTOR}))
    name = f"jwst_miri_dark_{_TAG}_slitlessprism.fits"
    with atomic_path(refdir / name, suffix=".fits") as tmp:
        _slitless_dark().save(tmp)
    entries.append(RefEntry("MIRI", "dark", name, {"META.INSTRUMENT.DETECTOR": DETECTOR,
                                                   "META.SUBARRAY.NAME": "SLITLESSPRISM"}))
    lrs = {"META.EXPOSURE.TYPE": f"{SLIT}|{SLITLESS}"}
    for reftype, model in _models().items():
        name = f"jwst_miri_{reftype}_{_TAG}.{'asdf' if reftype == 'distortion' else 'fits'}"
        with atomic_path(refdir / name, suffix=Path(name).suffix) as tmp:
            model.save(tmp)
        entries.append(RefEntry("MIRI", reftype, name, {"META.EXPOSURE.TYPE": SLIT} if reftype == "pathloss" else lrs))
    name = f"jwst_miri_extract1d_{_TAG}_fixedslit.json"
    atomic_write_text(refdir / name, json.dumps(_slit_extract1d(), indent=2) + "\n")
    entries.append(RefEntry("MIRI", "extract1d", name, {"META.EXPOSURE.TYPE": SLIT}))
    return entries


# ----------------------------------------------------------------------------- exposures
def _pointing(v2: float, v3: float, ra0: float, dec0: float, v2_ref: float, v3_ref: float) -> tuple[float, float]:
    """``(ra_ref, dec_ref)`` of the reference point that puts sky point (ra0, dec0) at ``(v2, v3)``."""
    from jwst.assign_wcs import pointing
    from stdatamodels.jwst.datamodels import ImageModel

    m = ImageModel()
    w = m.meta.wcsinfo
    w.v2_ref, w.v3_ref, w.ra_ref, w.dec_ref, w.roll_ref = v2_ref, v3_ref, ra0, dec0, ROLL_REF
    w.v3yangle, w.vparity = 0.0, -1
    ra, dec = pointing.v23tosky(m)(v2_ref - (v2 - v2_ref), v3_ref - (v3 - v3_ref))
    return float(ra) % 360.0, float(dec)


def _set_exposure_meta(m, *, mode: str, program: str, observation: str, exposure: int, ngroups: int, nints: int,
                       nod: int) -> None:
    slitless = mode == SLITLESS
    sub = "SLITLESSPRISM" if slitless else "FULL"
    m.meta.telescope = "JWST"
    m.meta.instrument.name = "MIRI"
    m.meta.instrument.detector = DETECTOR
    m.meta.instrument.filter = FILTER
    e = m.meta.exposure
    e.type = mode
    e.readpatt = "FASTR1"
    e.nints, e.ngroups, e.nframes, e.groupgap = nints, ngroups, 1, 0
    e.frame_time = e.group_time = FRAME_TIME[sub]
    e.integration_time = e.effective_exposure_time = FRAME_TIME[sub] * ngroups
    e.exposure_time = FRAME_TIME[sub] * ngroups * nints
    e.duration = FRAME_TIME[sub] * (ngroups + 1) * nints
    e.nresets_at_start, e.nresets_between_ints, e.drop_frames1, e.drop_frames3 = 0, 1, 0, 0
    e.sample_time = 10
    start = 60310.0 + 0.01 * exposure
    e.start_time, e.mid_time, e.end_time = start, start + e.duration / 2 / 86400, start + e.duration / 86400
    e.integration_start, e.integration_end = 1, nints
    m.meta.observation.date, m.meta.observation.time = "2024-01-01", "00:00:00"
    o = m.meta.observation
    o.program_number, o.observation_number, o.visit_number = program, observation, "001"
    o.visit_group, o.sequence_id, o.activity_id, o.exposure_number = "03", "1", "01", f"{exposure:05d}"
    o.visit_id = f"{program}{observation}001"
    o.obs_id = f"V{program}{observation}001P0000000003101"
    o.bkgdtarg = False
    m.meta.visit.tsovisit = slitless
    s = m.meta.subarray
    s.name = sub
    s.xstart, s.ystart, s.xsize, s.ysize = SLITLESS_SUBARRAY if slitless else (1, 1, NX, NY)
    s.fastaxis, s.slowaxis = 1, 2
    m.meta.aperture.name = "MIRIM_SLITLESSPRISM" if slitless else "MIRIM_SLIT"
    # the reference point of the aperture (v2_ref, v3_ref) is the mode's reference pixel through the distortion
    xr, yr = (X_REF_SLITLESS - 1, Y_REF_SLITLESS - 1) if slitless else (X_REF - 1, Y_REF - 1)
    v2_ref, v3_ref = v2v3_of_pixel(xr, yr)
    offset = 0.0 if slitless else (NOD_OFFSET if nod == 1 else -NOD_OFFSET)
    ra_ref, dec_ref = _pointing(v2_ref + offset, v3_ref, SOURCE_RA, SOURCE_DEC, v2_ref, v3_ref)
    w = m.meta.wcsinfo
    w.v2_ref, w.v3_ref, w.ra_ref, w.dec_ref, w.roll_ref = v2_ref, v3_ref, ra_ref, dec_ref, ROLL_REF
    w.v3yangle, w.vparity = 0.0, -1
    m.meta.pointing.ra_v1, m.meta.pointing.dec_v1, m.meta.pointing.pa_v3 = ra_ref, dec_ref, ROLL_REF
    m.meta.velocity_aberration.scale_factor = 1.0
    t = m.meta.target
    t.catalog_name, t.proposer_name, t.type = "SYNTH-LRS", "SYNTH-LRS", "FIXED"
    t.ra, t.dec, t.source_type, t.source_type_apt = SOURCE_RA, SOURCE_DEC, "POINT", "POINT"
    t.ra_uncertainty = t.dec_uncertainty = 0.0
    d = m.meta.dither
    if slitless:
        d.primary_type, d.total_points, d.position_number = "NONE", 1, 1
    else:
        d.primary_type, d.total_points, d.position_number = "ALONG-SLIT-NOD", 2, nod
        d.x_offset, d.y_offset = -float(offset), 0.0  # ideal x runs along -v2 (vparity -1, v3yangle 0)
    d.optimized_for = "POINT-SOURCE"


def _source_columns(m, refs: dict[str, str], wave: np.ndarray) -> np.ndarray:
    """Column (subarray pixels) of the source at each wavelength, through jwst's own LRS WCS."""
    import gwcs
    from jwst.assign_wcs import miri
    from stdatamodels.jwst.datamodels import ImageModel

    with ImageModel(data=np.zeros((m.meta.subarray.ysize, m.meta.subarray.xsize), np.float32)) as im:
        im.update(m)
        im.meta.subarray = m.meta.subarray
        wcs = gwcs.WCS(miri.lrs(im, refs))
    x, _y = wcs.backward_transform(np.full(wave.shape, SOURCE_RA), np.full(wave.shape, SOURCE_DEC), wave)
    return np.asarray(x, dtype=float)


def _ref_paths(crds_path: Path) -> dict[str, str]:
    refdir = Path(crds_path) / "references" / "jwst" / "miri"
    return {"distortion": str(refdir / f"jwst_miri_distortion_{_TAG}.asdf"),
            "specwcs": str(refdir / f"jwst_miri_specwcs_{_TAG}.fits")}  # FITS: jwst reads the table's columns as attributes


def scene_rate(m, crds_path: Path, *, source_scale: float = 1.0, sky: bool = True) -> np.ndarray:
    """Noiseless count rate (DN/s) of exposure ``m``'s scene, shape (ysize, xsize) of its subarray.

    The point source at (:data:`SOURCE_RA`, :data:`SOURCE_DEC`) with
    :func:`source_spectrum_jy` times ``source_scale`` (times the slit
    throughput in the slit), and (slit only, ``sky``) the uniform sky
    inside the slit; nothing in the four reference columns at each edge.
    """
    slitless = m.meta.exposure.type == SLITLESS
    sub = "SLITLESSPRISM" if slitless else "FULL"
    ny, nx = m.meta.subarray.ysize, m.meta.subarray.xsize
    ystart = m.meta.subarray.ystart - 1
    y_ref = (Y_REF_SLITLESS if slitless else Y_REF) - 1
    x_ref = (X_REF_SLITLESS if slitless else X_REF) - 1
    rows = np.arange(ny, dtype=float)
    wave = wavelength_of_row(rows + ystart - y_ref)
    good = np.isfinite(wave)
    xs = np.full(ny, np.nan)
    xs[good] = _source_columns(m, _ref_paths(crds_path), wave[good])
    good &= np.isfinite(xs)  # the WCS's inverse ends half a row inside the table
    cols = np.arange(nx, dtype=float)
    sig = psf_sigma_arcsec(np.where(good, wave, 8.0))[:, None] / PIXEL_SCALE * math.sqrt(2.0)
    d = cols[None, :] - xs[:, None]
    frac = 0.5 * (erf((d + 0.5) / sig) - erf((d - 0.5) / sig))
    flux = source_spectrum_jy(np.where(good, wave, 8.0), scale=source_scale)
    if not slitless:
        flux = flux * slit_throughput(np.where(good, wave, 8.0))
    mjysr = flux[:, None] * 1e-6 * frac / PIXAR_SR
    if not slitless:
        in_slit = np.abs(cols - x_ref) <= SLIT_HALF_LENGTH
        mjysr = mjysr * in_slit[None, :]  # the slit mask cuts the PSF's wings along the slit too
        if sky:
            mjysr = mjysr + sky_mjysr(np.where(good, wave, 8.0))[:, None] * in_slit[None, :]
    rate = mjysr / (PHOTMJSR[sub] * relresponse(np.where(good, wave, 8.0)))[:, None]
    rate[~good] = 0.0
    xstart = m.meta.subarray.xstart - 1
    full_cols = cols + xstart
    rate[:, (full_cols < 4) | (full_cols > NX - 5)] = 0.0
    return rate


def _ramps(rate: np.ndarray, nints: int, ngroups: int, frame_time: float, rng: np.random.Generator,
           factors: np.ndarray | None = None) -> np.ndarray:
    """``uint16`` ramps (nints, ngroups, ny, nx) of ``rate`` (times ``factors[i]`` per integration)."""
    out = np.empty((nints, ngroups, *rate.shape), np.uint16)
    for i in range(nints):
        r = rate * (1.0 if factors is None else factors[i])
        electrons = rng.poisson(np.broadcast_to(r * GAIN * frame_time, (ngroups, *rate.shape)))
        ramp = np.cumsum(electrons, axis=0) / GAIN + BIAS + rng.normal(0.0, READ_NOISE, (ngroups, *rate.shape))
        out[i] = np.clip(np.rint(ramp), 0, 65535).astype(np.uint16)
    return out


def _seed(path: Path) -> int:
    return int.from_bytes(hashlib.sha256(Path(path).name.encode()).digest()[:4], "little")


def exposure_name(program: str, observation: str, exposure: int) -> str:
    """``jw<program><obs>001_03101_<exposure>_mirimage`` (what jwst names the products after)."""
    return f"jw{program}{observation}001_03101_{exposure:05d}_mirimage"


def make_lrs_slit_uncal(path: Path, crds_path: Path, *, nod: int, program: str = "01234", observation: str = "003",
                        ngroups: int = DEFAULT_NGROUPS, source_scale: float = 1.0, seed: int | None = None) -> Path:
    """Write one fixed-slit ``uncal`` exposure (FULL, one integration) at nod position ``nod`` (1 or 2).

    Parameters
    ----------
    path : Path
        Output ``*_uncal.fits``.
    crds_path : Path
        Cache holding :func:`write_lrs_model_references` (its WCS references place the source).
    nod : int
        1 puts the source :data:`NOD_OFFSET` arcsec along +v2 from the slit centre, 2 along -v2.
    program, observation : str
        Written to the headers.
    ngroups : int
        Groups (3-8: the synthetic dark has 8).
    source_scale : float
        Multiplies :func:`source_spectrum_jy`.
    seed : int, optional
        Noise seed (default from the file name).

    Returns
    -------
    Path
    """
    from stdatamodels.jwst.datamodels import Level1bModel

    if nod not in (1, 2):
        raise OptionError("nod", f"{nod} must be 1 or 2")
    if not 3 <= ngroups <= 8:
        raise OptionError("ngroups", f"{ngroups} must be 3..8")
    path = Path(path)
    m = Level1bModel()
    _set_exposure_meta(m, mode=SLIT, program=program, observation=observation, exposure=nod, ngroups=ngroups,
                       nints=1, nod=nod)
    rate = scene_rate(m, crds_path, source_scale=source_scale)
    rng = np.random.default_rng(_seed(path) if seed is None else seed)
    m.data = _ramps(rate, 1, ngroups, FRAME_TIME["FULL"], rng)
    m.meta.filename = path.name
    with atomic_path(path) as tmp:
        m.save(tmp)
    return path


def make_lrs_slitless_uncal(path: Path, crds_path: Path, *, nints: int = 24, transit: tuple[int, int] = (8, 16),
                            depth_short: float = 0.010, depth_long: float = 0.020, program: str = "01234",
                            observation: str = "004", ngroups: int = DEFAULT_NGROUPS, source_scale: float = 20.0,
                            seed: int | None = None) -> TransitTruth:
    """Write a slitless time series (``SLITLESSPRISM``, ``nints`` integrations) with a box transit.

    Integration ``i`` sees the source times ``1 - depth(lambda)`` inside
    ``transit`` (first, last+1, 0-based), ``depth`` linear in wavelength
    from ``depth_short`` at 5 um to ``depth_long`` at 12 um
    (:class:`jwstspec.synthetic.miri_lrs.TransitTruth`).  ``INT_TIMES`` holds
    the BJD_TDB and UTC times of the truth.

    Returns
    -------
    TransitTruth
    """
    from astropy.table import Table
    from stdatamodels.jwst.datamodels import Level1bModel

    if not 3 <= ngroups <= 8:
        raise OptionError("ngroups", f"{ngroups} must be 3..8")
    if not 0 <= transit[0] < transit[1] <= nints:
        raise OptionError("transit", f"{transit} must lie within 0..{nints}")
    path = Path(path)
    in_transit = tuple(transit[0] <= i < transit[1] for i in range(nints))
    truth = TransitTruth(nints, in_transit, depth_short, depth_long)
    m = Level1bModel()
    _set_exposure_meta(m, mode=SLITLESS, program=program, observation=observation, exposure=1, ngroups=ngroups,
                       nints=nints, nod=0)
    rate = scene_rate(m, crds_path, source_scale=source_scale)
    ny = rate.shape[0]
    wave = wavelength_of_row(np.arange(ny) + SLITLESS_SUBARRAY[1] - Y_REF_SLITLESS)
    depth = np.where(np.isfinite(wave), truth.depth(np.nan_to_num(wave, nan=5.0)), 0.0)
    factors = [1.0 - depth[:, None] * float(t) for t in in_transit]
    rng = np.random.default_rng(_seed(path) if seed is None else seed)
    m.data = _ramps(rate, nints, ngroups, FRAME_TIME["SLITLESSPRISM"], rng, np.asarray(factors))
    mid = truth.times()
    half = truth.cadence_days / 2
    utc = mid - 0.00074
    m.int_times = Table({
        "integration_number": np.arange(1, nints + 1, dtype=np.int32),
        "int_start_MJD_UTC": utc - half, "int_mid_MJD_UTC": utc, "int_end_MJD_UTC": utc + half,
        "int_start_BJD_TDB": mid - half, "int_mid_BJD_TDB": mid, "int_end_BJD_TDB": mid + half,
    }).as_array()
    e = m.meta.exposure
    e.start_time, e.end_time = float(utc[0] - half), float(utc[-1] + half)
    e.mid_time = float((utc[0] + utc[-1]) / 2)
    m.meta.filename = path.name
    with atomic_path(path) as tmp:
        m.save(tmp)
    return truth


__all__ = [
    "aperture_fraction",
    "exposure_name",
    "make_lrs_slit_uncal",
    "make_lrs_slitless_uncal",
    "psf_sigma_arcsec",
    "relresponse",
    "scene_rate",
    "sky_mjysr",
    "slit_throughput",
    "source_spectrum_jy",
    "wavelength_of_row",
    "write_lrs_model_references",
]
