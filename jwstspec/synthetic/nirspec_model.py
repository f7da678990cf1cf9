"""A synthetic NIRSpec instrument model that the real ``jwst`` pipeline accepts.

NIRSpec ``assign_wcs`` chains eleven optical-model references (fpa,
camera, collimator, disperser, fore, ote, msa, ifufore, ifuslicer, ifupost,
chromcorr) that cannot be fetched offline.  This module writes a small,
self-consistent set of them, plus the calibration references that make
the Stage 2 output physical (unity flats, photom, area, cubepar,
extract1d), into the local CRDS cache of
:mod:`jwstspec.synthetic.crds_cache`.  jwst's own code does every
computation (grating equation, direction cosines, slit and slice
selection, bounding boxes); only the optics are ours.

Geometry (linear, no distortion)
--------------------------------
* MSA plane: 1 arcsec on the sky is :data:`MSA_PER_ARCSEC` metres.  Fixed
  slits sit at MSA x = 0 (one wavelength solution for all of them), at
  different heights; IFU slices are virtual slits at x = 0 too, stacked
  in y with a pitch of :data:`SLICE_PITCH_ARCSEC`.  The MOS quadrants meet
  at the MSA centre, so a shutter's column shifts its spectrum.
* Collimator and camera map direction cosines linearly onto the MSA and
  the focal plane ("f sin theta" optics, focal lengths ``F_COL``,
  ``F_CAM``): with jwst's grating equation the wavelength is linear in
  detector x, the slit image has a constant height (no anamorphic
  magnification) and one detector pixel is 0.1 arcsec along the slit.
* Each grating (:data:`SETTINGS`) has a groove density and a camera zero
  point solved (:func:`dispersion_solution`) so that, through jwst's own
  grating equation, the slit centre puts the grating's lower wavelength at
  DMS column 20 of NRS1 and its upper wavelength at column 2027 of NRS2
  (G395H: the spectrum spans both detectors) or of NRS1 (G140M: the whole
  F100LP range of the real ``wavelengthrange`` reference, 0.97-5.0 um,
  fits on NRS1, so that jwst's own slit validation finds no fixed slit on
  NRS2, as its association rules expect of the A slits with a
  medium-resolution grating: the M grating disperses ~3.5 times less than
  the toy's G395H, ~2 nm per pixel).  The zero point lives in
  the camera reference, which is therefore matched on GRATING: in jwst's
  unfolded grating frame the disperser angles (``theta_x/y/z``) rotate the
  incoming and the outgoing beam alike and cannot shift the spectrum, and
  one shared camera cannot place both settings on the detectors.
* FPA: NRS1 and NRS2 side by side along the dispersion with a
  :data:`GAP_PX` gap; NRS2 is rotated by 180 degrees in its native (SCA)
  frame, undone by jwst's ``dms_to_sca``, so both detectors have the
  wavelength increasing with DMS x.
* The wavelength ranges and spectral orders are those of the real
  ``jwst_nirspec_wavelengthrange_0008.asdf`` (package data).
* The optical references are registered for the subarrays of
  :data:`SUBARRAYS` only: the demo's ALLSLITS Stage-1 exposures (their own
  synthetic footprint, :mod:`jwstspec.synthetic.nirspec`) keep getting no
  WCS, so the 1/f sky mask still comes from the image there.

Flux calibration
----------------
``photom`` holds ``photmj`` = :data:`PHOTMJ` (MJy per DN/s) and a smooth
relative response (:func:`sensitivity` is their product, the truth of the
conversion).  jwst then gives fixed-slit and MOS point sources in MJy
(per pixel) and extended sources in MJy/sr (divided by the ``area``
reference's pixel solid angle, :data:`PIXEL_AREA_ARCSEC2`), and IFU data
in MJy/sr, as on the telescope.  Flats are unity (fore-optics flat with a
flat fast-variation table: with fflat, sflat and dflat all N/A jwst's
NIRSpec flat turns every pixel to NaN; MOS reads a per-quadrant flat,
``NirspecQuadFlatModel``, with a unity image per shutter).  The MOS area
reference gives every shutter the fixed slits' pixel solid angle.  pathloss, wavecorr, barshadow:
not written (N/A, the steps skip themselves): a source injected with this
model has no slit losses and sits at the slit centre in the dispersion
direction.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from jwstspec.fileio import atomic_path, atomic_write_text
from jwstspec.synthetic.crds_cache import RefEntry, reference_dir

#: bump when the model changes: a cache written by another version is rewritten
MODEL_VERSION = "5"
STAMP = f".jwstspec-nirspec-model-v{MODEL_VERSION}"

PIX = 18e-6  # m, detector pixel
NPIX = 2048
ARCSEC_PER_PIX = 0.1  # along the slit
MSA_PER_ARCSEC = 0.39e-3  # m of MSA plane per arcsec on the sky
GAP_PX = 100  # gap between NRS1 and NRS2 on the focal plane, pixels
X_CENTRE = (NPIX / 2 + GAP_PX / 2) * PIX  # |FPA x| of each detector centre, m
F_CAM = 0.5  # m: camera focal length (direction cosines stay well below 1 for both settings)
F_COL = F_CAM * (ARCSEC_PER_PIX * MSA_PER_ARCSEC) / PIX  # m: collimator focal length
K_FORE = 1.0 / (MSA_PER_ARCSEC * 3600.0)  # deg on the sky (OTEIP) per m of MSA
V2_REF, V3_REF = 378.6, -428.6  # arcsec: V2/V3 of the MSA centre (NIRSpec-like)
ARCSEC2_TO_SR = (math.pi / 180.0 / 3600.0) ** 2
PIXEL_AREA_ARCSEC2 = ARCSEC_PER_PIX**2  # solid angle of one pixel (slit width 0.1"/pixel, 0.1" along)
PHOTMJ = 2.0e-6  # MJy per DN/s
DETECTORS = ("NRS1", "NRS2")
REF_META = {"author": "jwstspec.synthetic.nirspec_model", "pedigree": "DUMMY", "useafter": "2000-01-01T00:00:00"}
WAVELENGTHRANGE_FILE = "jwst_nirspec_wavelengthrange_0008.asdf"


@dataclass(frozen=True)
class Setting:
    """One grating/filter setting of the model.

    Attributes
    ----------
    grating, filter : str
        NIRSpec GRATING and FILTER keyword values.
    lam_lo, lam_hi : float
        Wavelengths (m) placed at DMS column ``x_lo`` of NRS1 and column
        ``x_hi`` of ``hi_detector`` by the slit centre.
    hi_detector : str
        Detector of the upper wavelength.
    """

    grating: str
    filter: str
    lam_lo: float
    lam_hi: float
    hi_detector: str
    x_lo: float = 20.0
    x_hi: float = 2027.0
    order: int = -1


SETTINGS = {
    "G395H": Setting("G395H", "F290LP", 2.87e-6, 5.27e-6, "NRS2"),
    # the upper end of the wavelengthrange reference (F100LP_G140M: 0.97-5.0 um), not the 1.89 um of the
    # nominal band: jwst's slit validation projects the whole reference range, and only then does no fixed
    # slit reach NRS2 (NoDataOnDetectorError), as on the telescope
    "G140M": Setting("G140M", "F100LP", 0.97e-6, 5.0e-6, "NRS1"),
}

#: fixed slits: name -> (row in quadrant 5, MSA y in m, width ", length ")
FIXED_SLITS = {
    "S200A1": (0, 0.0, 0.2, 3.3),
    "S200A2": (1, 4.5e-3, 0.2, 3.3),
    "S400A1": (2, -4.5e-3, 0.4, 3.8),
    # 6.3" from S200A1 along the slits: the trace falls inside the rows of jwst's SUB2048 subarray (SUBARRAYS)
    "S1600A1": (3, 6.3 * MSA_PER_ARCSEC, 1.6, 1.6),
    "S200B1": (4, -9.0e-3, 0.2, 3.3),
}
NSLICE = 30
SLICE_WIDTH_ARCSEC, SLICE_LENGTH_ARCSEC = 0.1, 3.0
SLICE_PITCH_ARCSEC = 3.6  # pitch of the virtual slits along the detector (traces must not overlap)
SLICER_PER_ARCSEC = 1e-2  # slicer-plane units per arcsec (slice pitch 1e-3 >> jwst's 1e-4 tolerance)
#: subarrays the model describes (DMS, 1-based xstart, ystart, xsize, ysize); jwst opens only the named slit
#: in a SUBS<slit> subarray.  The optical references are matched on these names only, so exposures of
#: other subarrays (e.g. the demo's ALLSLITS Stage-1 exposures, whose synthetic footprint is not this
#: model's) get no WCS instead of a wrong one.
#: SUB2048 (bright-object time series, S1600A1 only) has the corner of jwst's own BOTS test data
#: (``jwst/extract_2d/tests/test_nirspec.py``: SUBSTRT2 = 946, 32 rows); pysiaf 0.29 defines no NIRSpec subarray.
SUBARRAYS = {"FULL": (1, 1, NPIX, NPIX), "SUBS200A1": (1, 993, NPIX, 64), "SUB2048": (1, 946, NPIX, 32)}
MSA_NCOL, MSA_NROW = 365, 171
SHUTTER_PITCH = (0.27, 0.53)  # arcsec
SHUTTER_OPEN = (0.20, 0.46)  # arcsec


# ----------------------------------------------------------------------------- optics (astropy models)
def fpa_x(detector: str, x_dms: np.ndarray | float) -> np.ndarray:
    """Focal-plane x (m) of DMS column ``x_dms`` (0-based) of ``detector``."""
    x = np.asarray(x_dms, float)
    if detector == "NRS1":
        return (x - (NPIX - 1) / 2) * PIX - X_CENTRE
    if detector == "NRS2":
        return (x - (NPIX - 1) / 2) * PIX + X_CENTRE
    raise ValueError(f"detector must be NRS1 or NRS2, not {detector!r}")


def _fpa_models():
    """SCA pixel (0-based) -> FPA metres, per detector (NRS2: native frame rotated by 180 deg)."""
    from astropy.modeling import models as m

    c = (NPIX - 1) / 2
    nrs1 = (m.Shift(-c) | m.Scale(PIX) | m.Shift(-X_CENTRE)) & (m.Shift(-c) | m.Scale(PIX))
    # jwst's dms_to_sca gives NRS2 SCA coordinates xs = 2047 - x: undo it here
    nrs2 = (m.Shift(-c) | m.Scale(-PIX) | m.Shift(X_CENTRE)) & (m.Shift(-c) | m.Scale(-PIX))
    return nrs1, nrs2


def _dircos_to_tan():
    """(a, b) direction cosines -> (a/c, b/c) tangents, c = sqrt(1 - a^2 - b^2); explicit inverse."""
    from astropy.modeling import models as m

    def pick(i):
        return m.Polynomial2D(1, c1_0=1.0) if i == 0 else m.Polynomial2D(1, c0_1=1.0)

    c = m.Polynomial2D(2, c0_0=1.0, c2_0=-1.0, c0_2=-1.0) ** m.Const2D(0.5)
    n = m.Polynomial2D(2, c0_0=1.0, c2_0=1.0, c0_2=1.0) ** m.Const2D(0.5)
    fwd = m.Mapping((0, 1, 0, 1)) | (pick(0) / c) & (pick(1) / c)
    fwd.inverse = m.Mapping((0, 1, 0, 1)) | (pick(0) / n) & (pick(1) / n)
    return fwd


def _camera_model(zero_point: float = 0.0):
    """FPA metres -> unitless tangents at the grating exit.

    An "f sin theta" camera: the direction cosines are linear in the focal
    plane position, ``a = x / F_CAM + zero_point``, ``b = y / F_CAM``, so the
    grating equation (linear in direction cosines) gives a wavelength linear
    in x and a slit image of constant height (no anamorphic magnification).
    """
    from astropy.modeling import models as m

    lin = (m.Scale(1.0 / F_CAM) | m.Shift(zero_point)) & m.Scale(1.0 / F_CAM)
    tan = _dircos_to_tan()
    model = lin | tan
    model.inverse = tan.inverse | lin.inverse
    return model


def _collimator_model():
    """Unitless tangents at the grating entrance -> MSA metres (``F_COL`` times the direction cosines)."""
    from astropy.modeling import models as m

    lin = m.Scale(F_COL) & m.Scale(F_COL)
    tan = _dircos_to_tan()
    model = tan.inverse | lin
    model.inverse = lin.inverse | tan
    return model


def _rotation():
    from stdatamodels.jwst.transforms.models import Rotation3DToGWA

    return Rotation3DToGWA([0.0, 0.0, 0.0, 0.0], axes_order="xyzy", name="rotation")


def trace_fpa(groove_density: float, zero_point: float, lam: np.ndarray, x_msa: float = 0.0,
              y_msa: float = 0.0, order: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Focal-plane position (m) of wavelength ``lam`` (m) from MSA point ``(x_msa, y_msa)``.

    The same astropy models as jwst's ``slits_wcs``: collimator inverse,
    unitless -> direction cosines, rotation to the grating frame, the
    grating equation of :class:`gwcs.spectroscopy.AnglesFromGratingEquation3D`,
    then the inverse of camera -> direction cosines -> rotation.
    """
    from stdatamodels.jwst.transforms.models import Unitless2DirCos

    lam = np.asarray(lam, float)
    rot = _rotation()
    msa2gwa = _collimator_model().inverse | Unitless2DirCos() | rot
    a_in, b_in, _ = msa2gwa(np.full(lam.shape, x_msa), np.full(lam.shape, y_msa))
    a_out = -groove_density * order * lam + a_in
    b_out = -b_in
    with np.errstate(invalid="ignore"):  # beyond the grating's reach: NaN
        c_out = np.sqrt(1.0 - a_out**2 - b_out**2)
    gwa2fpa = (_camera_model(zero_point) | Unitless2DirCos() | rot).inverse
    return gwa2fpa(a_out, b_out, c_out)


@functools.cache
def dispersion_solution(grating: str) -> tuple[float, float]:
    """Groove density (1/m) and camera zero point (tangent at FPA x = 0) of ``grating``.

    Solved so that the slit centre (MSA x = y = 0) puts ``lam_lo`` at DMS
    column ``x_lo`` of NRS1 and ``lam_hi`` at column ``x_hi`` of the
    setting's ``hi_detector`` (:data:`SETTINGS`).
    """
    s = SETTINGS[grating]
    x_lo, x_hi = fpa_x("NRS1", s.x_lo), fpa_x(s.hi_detector, s.x_hi)
    sign = -s.order  # alpha_out = -G * order * lam + alpha_in, alpha_in = 0 at the slit centre
    # the camera makes the direction cosine linear in FPA x: a = x / F_CAM + zero point
    g = (x_hi - x_lo) / F_CAM / (s.lam_hi - s.lam_lo) / sign
    zp = float(sign * g * s.lam_lo - x_lo / F_CAM)
    check = trace_fpa(g, zp, np.array([s.lam_lo, s.lam_hi]), order=s.order)[0]
    if not np.allclose(check, [x_lo, x_hi], rtol=0, atol=1e-9):
        raise RuntimeError(f"dispersion solution of {grating} does not reproduce its targets: {check}")
    return float(g), zp


def wavelength_at_column(grating: str, detector: str, x_dms: np.ndarray, y_msa: float = 0.0) -> np.ndarray:
    """Wavelength (m) that the model puts at DMS column ``x_dms`` for MSA point (0, ``y_msa``).

    The inverse of :func:`trace_fpa` by interpolation on a fine grid (the
    independent check of the WCS the tests compare jwst against).
    """
    s = SETTINGS[grating]
    g, zp = dispersion_solution(grating)
    lam = np.linspace(0.5 * s.lam_lo, 2.0 * s.lam_hi, 20001)
    xf = trace_fpa(g, zp, lam, 0.0, y_msa, s.order)[0]
    good = np.isfinite(xf)
    x_target = fpa_x(detector, x_dms)
    return np.interp(x_target, xf[good], lam[good], left=np.nan, right=np.nan)


# ----------------------------------------------------------------------------- reference models
def _meta(model, reftype: str, description: str, **extra):
    """Common reference metadata (and ``extra`` dotted keys, e.g. ``instrument.filter``)."""
    model.meta.telescope = "JWST"
    model.meta.instrument.name = "NIRSPEC"
    model.meta.reftype = reftype.upper()
    model.meta.description = description
    for k, v in REF_META.items():
        setattr(model.meta, k, v)
    for key, value in extra.items():
        obj = model.meta
        *parents, last = key.split(".")
        for p in parents:
            obj = getattr(obj, p)
        setattr(obj, last, value)
    return model


def _fpa_ref():
    from stdatamodels.jwst.datamodels import FPAModel

    nrs1, nrs2 = _fpa_models()
    ref = FPAModel(nrs1_model=nrs1, nrs2_model=nrs2)
    ref.meta.input_units, ref.meta.output_units = "pixel", "m"
    return _meta(ref, "fpa", "Synthetic NIRSpec FPA: NRS1 and NRS2 side by side along the dispersion")


def _camera_ref(grating: str):
    from stdatamodels.jwst.datamodels import CameraModel

    model = _camera_model(dispersion_solution(grating)[1])
    return _meta(CameraModel(model=model, input_units="m", output_units="rad"), "camera",
                 f"Synthetic NIRSpec camera for {grating}: FPA metres -> tangent at the grating exit",
                 **{"instrument.grating": grating})


def _collimator_ref():
    from stdatamodels.jwst.datamodels import CollimatorModel

    return _meta(CollimatorModel(model=_collimator_model(), input_units="rad", output_units="m"), "collimator",
                 "Synthetic NIRSpec collimator: tangent at the grating entrance -> MSA metres")


def _disperser_ref(grating: str):
    from astropy.modeling import models as m
    from stdatamodels.jwst.datamodels import DisperserModel

    g = dispersion_solution(grating)[0]
    tilt = {"temperatures": [39.58], "tilt_model": m.Polynomial1D(1, c0=0.0, c1=0.0), "unit": "arcsec",
            "zeroreadings": [0.0]}
    ref = DisperserModel(groovedensity=g, theta_x=0.0, theta_y=0.0, theta_z=0.0, gwa_tiltx=tilt,
                         gwa_tilty=dict(tilt))
    ref.tilt_x = 0.0
    ref.tilt_y = 0.0
    ref.meta.input_units, ref.meta.output_units = "rad", "rad"
    return _meta(ref, "disperser", f"Synthetic NIRSpec {grating}: groove density of the toy model",
                 **{"instrument.grating": grating})


def _mapping_3to2(scale: float):
    """(x, y, lam) -> (x*scale, y*scale) with an explicit 3 -> 2 inverse (as jwst expects)."""
    from astropy.modeling import models as m

    fwd = m.Mapping((0, 1), n_inputs=3) | m.Scale(scale) & m.Scale(scale)
    fwd.inverse = m.Mapping((0, 1), n_inputs=3) | m.Scale(1.0 / scale) & m.Scale(1.0 / scale)
    return fwd


def _fore_ref(filt: str):
    from stdatamodels.jwst.datamodels import FOREModel

    return _meta(FOREModel(model=_mapping_3to2(K_FORE), input_units="m", output_units="deg"), "fore",
                 "Synthetic NIRSpec fore optics: MSA metres -> OTEIP degrees", **{"instrument.filter": filt})


def _ote_ref():
    from astropy.modeling import models as m
    from stdatamodels.jwst.datamodels import OTEModel

    model = (m.Scale(3600.0) | m.Shift(V2_REF)) & (m.Scale(3600.0) | m.Shift(V3_REF))
    return _meta(OTEModel(model=model, input_units="deg", output_units="arcsec"), "ote",
                 "Synthetic OTE: OTEIP degrees -> V2/V3 arcsec")


MSA_DTYPE = [("SLITID", "i4"), ("XC", "f8"), ("YC", "f8"), ("SIZEX", "f8"), ("SIZEY", "f8")]


def msa_quadrant_origin(quadrant: int) -> tuple[float, float]:
    """MSA position (m) of the corner of quadrant 1-4 (the four meet at the MSA centre)."""
    qx = {1: -1, 2: -1, 3: 1, 4: 1}[quadrant]
    qy = {1: 1, 2: -1, 3: 1, 4: -1}[quadrant]
    x0 = 0.0 if qx > 0 else -MSA_NCOL * SHUTTER_PITCH[0] * MSA_PER_ARCSEC
    y0 = 0.0 if qy > 0 else -MSA_NROW * SHUTTER_PITCH[1] * MSA_PER_ARCSEC
    return x0, y0


def shutter_centre(quadrant: int, row: int, column: int) -> tuple[float, float]:
    """MSA position (m) of the centre of shutter (row, column), 1-based as in an MSA metadata file."""
    x0, y0 = msa_quadrant_origin(quadrant)
    return (x0 + (column - 0.5) * SHUTTER_PITCH[0] * MSA_PER_ARCSEC,
            y0 + (row - 0.5) * SHUTTER_PITCH[1] * MSA_PER_ARCSEC)


def _msa_ref():
    from astropy.modeling import models as m
    from stdatamodels.jwst.datamodels import MSAModel

    models, data = {}, {}
    shutter = np.arange(1, MSA_NCOL * MSA_NROW + 1)
    col = (shutter - 1) % MSA_NCOL  # shutter id = (row - 1) * 365 + column (jwst convention)
    row = (shutter - 1) // MSA_NCOL
    for q in range(1, 5):
        d = np.zeros(shutter.size, dtype=MSA_DTYPE)
        d["SLITID"] = shutter
        d["XC"] = (col + 0.5) * SHUTTER_PITCH[0] * MSA_PER_ARCSEC
        d["YC"] = (row + 0.5) * SHUTTER_PITCH[1] * MSA_PER_ARCSEC
        d["SIZEX"] = SHUTTER_OPEN[0] * MSA_PER_ARCSEC
        d["SIZEY"] = SHUTTER_OPEN[1] * MSA_PER_ARCSEC
        x0, y0 = msa_quadrant_origin(q)
        data[f"Q{q}"] = d
        models[f"Q{q}"] = m.Shift(x0) & m.Shift(y0)
    d5 = np.zeros(len(FIXED_SLITS), dtype=MSA_DTYPE)
    for k, (rowid, y, width, length) in enumerate(FIXED_SLITS.values()):
        d5[k] = (rowid, 0.0, y, width * MSA_PER_ARCSEC, length * MSA_PER_ARCSEC)
    data["Q5"] = d5
    models["Q5"] = m.Identity(2)
    ref = MSAModel(models=models, data=data)
    ref.meta.input_units, ref.meta.output_units = "m", "m"
    return _meta(ref, "msa", "Synthetic MSA: 4 quadrants of 365 x 171 shutters meeting at the centre; 5 fixed slits")


def slice_sky_x(i: int) -> float:
    """Across-slice sky offset (arcsec) of the centre of IFU slice ``i`` (0-29) from the IFU centre."""
    return (i - (NSLICE - 1) / 2.0) * SLICE_WIDTH_ARCSEC


def slice_msa_y(i: int) -> float:
    """MSA y (m) of the virtual slit of IFU slice ``i`` (its trace height on the detector)."""
    return (i - (NSLICE - 1) / 2.0) * SLICE_PITCH_ARCSEC * MSA_PER_ARCSEC


def _ifuslicer_ref():
    from astropy.modeling import models as m
    from stdatamodels.jwst.datamodels import IFUSlicerModel

    u = SLICER_PER_ARCSEC
    data = np.array([(i, slice_sky_x(i) * u, 0.0, SLICE_WIDTH_ARCSEC * u, SLICE_LENGTH_ARCSEC * u)
                     for i in range(NSLICE)], float)
    ref = IFUSlicerModel(model=m.Identity(2), data=data)
    ref.meta.input_units, ref.meta.output_units = "none", "m"
    return _meta(ref, "ifuslicer", "Synthetic IFU slicer: 30 slices of 0.1 x 3.0 arcsec side by side")


def _ifufore_ref():
    from stdatamodels.jwst.datamodels import IFUFOREModel

    k = MSA_PER_ARCSEC / SLICER_PER_ARCSEC
    return _meta(IFUFOREModel(model=_mapping_3to2(k), input_units="m", output_units="m"), "ifufore",
                 "Synthetic IFU fore optics: slicer plane -> MSA plane")


def _ifupost_ref():
    from astropy.modeling import models as m
    from stdatamodels.jwst.datamodels import IFUPostModel

    k = MSA_PER_ARCSEC / SLICER_PER_ARCSEC
    slices = {}
    for i in range(NSLICE):
        linear = (m.Shift(-slice_sky_x(i) * SLICER_PER_ARCSEC) | m.Scale(k)) & (m.Scale(k) | m.Shift(slice_msa_y(i)))
        xpoly, ypoly = m.Polynomial2D(1, c1_0=1.0), m.Polynomial2D(1, c0_1=1.0)
        xpoly.inverse, ypoly.inverse = m.Polynomial2D(1, c1_0=1.0), m.Polynomial2D(1, c0_1=1.0)
        slices[f"slice_{i}"] = {"linear": linear, "xpoly": xpoly, "ypoly": ypoly,
                                "xpoly_distortion": m.Polynomial2D(1), "ypoly_distortion": m.Polynomial2D(1)}
    ref = IFUPostModel(slice_models=slices)
    ref.meta.input_units, ref.meta.output_units = "m", "m"
    return _meta(ref, "ifupost", "Synthetic IFU post optics: each slice to a virtual slit at MSA x = 0")


def _chromcorr_ref(filt: str):
    from astropy.modeling import models as m
    from stdatamodels.jwst.datamodels import ChromCorrModel

    # not Identity(3): jwst builds chromcorr.inverse & Identity(1) on it, and Identity's inverse
    # is itself, which makes the cal file's WCS tree self-referencing (unreadable)
    model = m.Mapping((0, 1, 2), name="synthetic_chromcorr")
    return _meta(ChromCorrModel(model=model, input_units="deg", output_units="deg"), "chromcorr",
                 "Synthetic IFU chromatic correction (none)", **{"instrument.filter": filt})


# ----------------------------------------------------------------------------- calibration
def relative_response(grating: str, lam_um: np.ndarray) -> np.ndarray:
    """The photom relative response of ``grating`` (a gentle tilt, 0.85-1.15 over the range)."""
    s = SETTINGS[grating]
    lo, hi = s.lam_lo * 1e6, s.lam_hi * 1e6
    return 1.0 + 0.3 * (np.asarray(lam_um, float) - 0.5 * (lo + hi)) / (hi - lo)


def sensitivity(grating: str, lam_um: np.ndarray) -> np.ndarray:
    """MJy per DN/s that ``photom`` applies at ``lam_um`` (point-source convention)."""
    return PHOTMJ * relative_response(grating, lam_um)


_NPHOT = 400  # elements of the photom response arrays


def _phot_arrays(grating: str) -> tuple[np.ndarray, np.ndarray]:
    s = SETTINGS[grating]
    lam = np.linspace(0.9 * s.lam_lo, 2.0 * s.lam_hi, _NPHOT) * 1e6  # covers the whole wavelengthrange (G140M to 5 um)
    return lam.astype(np.float32), relative_response(grating, lam).astype(np.float32)


def _photom_ref(kind: str):
    """``kind`` = fs (NrsFsPhotomModel, one row per slit) or mos / ifu (NrsMosPhotomModel)."""
    from stdatamodels.jwst.datamodels import NrsFsPhotomModel, NrsMosPhotomModel

    rows = []
    for s in SETTINGS.values():
        lam, rel = _phot_arrays(s.grating)
        common = (np.float32(PHOTMJ), np.float32(0.0), np.int16(_NPHOT), lam, rel, np.zeros(_NPHOT, np.float32))
        if kind == "fs":
            rows += [(s.filter, s.grating, slit) + common for slit in FIXED_SLITS]
        else:
            rows.append((s.filter, s.grating) + common)
    vec = [("photmj", "f4"), ("uncertainty", "f4"), ("nelem", "i2"), ("wavelength", "f4", (_NPHOT,)),
           ("relresponse", "f4", (_NPHOT,)), ("reluncertainty", "f4", (_NPHOT,))]
    if kind == "fs":
        table = np.array(rows, dtype=[("filter", "S12"), ("grating", "S15"), ("slit", "S15")] + vec)
        ref = NrsFsPhotomModel(phot_table=table)
        exp = "NRS_FIXEDSLIT|NRS_BRIGHTOBJ"
    else:
        table = np.array(rows, dtype=[("filter", "S12"), ("grating", "S15")] + vec)
        ref = NrsMosPhotomModel(phot_table=table)
        exp = "NRS_MSASPEC" if kind == "mos" else "NRS_IFU"
    return _meta(ref, "photom", f"Synthetic NIRSpec {kind.upper()} photom: photmj {PHOTMJ} MJy/(DN/s) x tilt",
                 **{"exposure.type": exp.split("|")[0]})


def _area_ref(kind: str):
    from stdatamodels.jwst.datamodels import NirspecIfuAreaModel, NirspecSlitAreaModel

    if kind == "fs":
        table = np.array([(name, PIXEL_AREA_ARCSEC2) for name in FIXED_SLITS],
                         dtype=[("slit_id", "S15"), ("pixarea", "f4")])
        ref, exp = NirspecSlitAreaModel(area_table=table), "NRS_FIXEDSLIT"
    else:
        table = np.array([(i, PIXEL_AREA_ARCSEC2) for i in range(NSLICE)], dtype=[("slice_id", "i2"), ("pixarea", "f4")])
        ref, exp = NirspecIfuAreaModel(area_table=table), "NRS_IFU"
    return _meta(ref, "area", f"Synthetic NIRSpec {kind.upper()} pixel area ({PIXEL_AREA_ARCSEC2} arcsec2)",
                 **{"exposure.type": exp})


def _fflat_ref():
    """Unity fore-optics flat (fast-variation table only): fixed slit, bright object and IFU."""
    from stdatamodels.jwst.datamodels import NirspecFlatModel

    n = 2
    table = np.array([("ANY", n, np.array([0.5, 6.0], np.float32), np.ones(n, np.float32), np.zeros(n, np.float32))],
                     dtype=[("slit_name", "S15"), ("nelem", "i4"), ("wavelength", "f4", (n,)), ("data", "f4", (n,)),
                            ("error", "f4", (n,))])
    ref = NirspecFlatModel(flat_table=table)
    return _meta(ref, "fflat", "Synthetic unity NIRSpec fore-optics flat", **{"exposure.type": "NRS_FIXEDSLIT"})


def _fflat_quad_ref():
    """Unity fore-optics flat of the MSA (MOS): one unity image per quadrant, shutter by shutter, and a unity table."""
    from stdatamodels.jwst.datamodels import NirspecQuadFlatModel

    n = 2
    wave = np.array([(0.5,), (6.0,)], dtype=[("wavelength", "f4")])
    table = np.array([("ANY", n, np.array([0.5, 6.0], np.float32), np.ones(n, np.float32), np.zeros(n, np.float32))],
                     dtype=[("slit_name", "S15"), ("nelem", "i4"), ("wavelength", "f4", (n,)), ("data", "f4", (n,)),
                            ("error", "f4", (n,))])
    shape = (n, MSA_NROW, MSA_NCOL)
    ref = NirspecQuadFlatModel()
    for _ in range(4):
        ref.quadrants.append({"data": np.ones(shape, np.float32), "err": np.zeros(shape, np.float32),
                              "dq": np.zeros(shape, np.uint32), "wavelength": wave.copy(), "flat_table": table.copy()})
    return _meta(ref, "fflat", "Synthetic unity NIRSpec MSA fore-optics flat")  # its schema has no EXP_TYPE


def _area_mos_ref():
    """Pixel area of every MSA shutter (MOS): :data:`PIXEL_AREA_ARCSEC2`, as the fixed slits."""
    from stdatamodels.jwst.datamodels import NirspecMosAreaModel

    q, x, y = np.meshgrid(np.arange(1, 5), np.arange(1, MSA_NCOL + 1), np.arange(1, MSA_NROW + 1), indexing="ij")
    table = np.zeros(q.size, dtype=[("quadrant", "i2"), ("shutter_x", "i2"), ("shutter_y", "i2"), ("pixarea", "f4")])
    table["quadrant"], table["shutter_x"], table["shutter_y"] = q.ravel(), x.ravel(), y.ravel()
    table["pixarea"] = PIXEL_AREA_ARCSEC2
    ref = NirspecMosAreaModel(area_table=table)
    return _meta(ref, "area", f"Synthetic NIRSpec MOS pixel area ({PIXEL_AREA_ARCSEC2} arcsec2 per shutter)",
                 **{"exposure.type": "NRS_MSASPEC"})


def _cubepar_hdulist():
    """NIRSpec IFU cube parameters in the ``NirspecIFUCubeParsModel`` layout (12 extensions)."""
    from astropy.io import fits

    disp = ["prism", "g140m", "g140m", "g140h", "g140h", "g235m", "g235h", "g395m", "g395h"]
    filt = ["clear", "f070lp", "f100lp", "f070lp", "f100lp", "f170lp", "f170lp", "f290lp", "f290lp"]
    n = len(disp)
    wmin = [0.6, 0.7, 0.97, 0.7, 0.97, 1.66, 1.66, 2.87, 2.87]
    wmax = [5.3, 1.27, 1.89, 1.27, 1.89, 3.17, 3.17, 5.27, 5.27]
    wstep = [0.005, 0.001, 0.0006, 0.0002, 0.0002, 0.001, 0.0004, 0.0017, 0.0011]
    h0 = fits.PrimaryHDU()
    for k, v in {"REFTYPE": "CUBEPAR", "INSTRUME": "NIRSPEC", "TELESCOP": "JWST", "DETECTOR": "N/A",
                 "EXP_TYPE": "NRS_IFU", "BAND": "N/A", "CHANNEL": "N/A", "PEDIGREE": REF_META["pedigree"],
                 "USEAFTER": REF_META["useafter"], "AUTHOR": REF_META["author"],
                 "DESCRIP": "Synthetic NIRSpec IFU cube parameters", "DATAMODL": "NirspecIFUCubeParsModel"}.items():
        h0.header[k] = v
    c = fits.Column
    dcol = [c(name="DISPERSER", format="5A", array=disp), c(name="FILTER", format="6A", array=filt)]
    hdus = [h0, fits.BinTableHDU.from_columns(dcol + [
        c(name="WAVEMIN", format="E", array=wmin, unit="micron"), c(name="WAVEMAX", format="E", array=wmax, unit="micron"),
        c(name="SPAXELSIZE", format="E", array=[0.1] * n, unit="arcsec"),
        c(name="SPECTRALSTEP", format="D", array=wstep, unit="micron")], name="CUBEPAR")]
    roi = [c(name="ROISPATIAL", format="E", array=[0.2] * n, unit="arcsec"),
           c(name="ROISPECTRAL", format="E", array=[2 * w for w in wstep], unit="micron")]
    hdus.append(fits.BinTableHDU.from_columns(dcol + roi + [
        c(name="POWER", format="I", array=[2] * n), c(name="SOFTRAD", format="E", array=[0.01] * n, unit="arcsec")],
        name="CUBEPAR_MSM"))
    hdus.append(fits.BinTableHDU.from_columns(dcol + roi + [
        c(name="SCALERAD", format="E", array=[0.1] * n, unit="arcsec")], name="CUBEPAR_EMSM"))
    for res, (w0, w1) in (("PRISM", (0.6, 5.3)), ("MED", (0.7, 7.7)), ("HIGH", (0.7, 7.7))):
        wave = np.arange(w0, w1, 0.1)
        ne = len(wave)
        wcol = c(name="WAVELENGTH", format="D", array=wave, unit="micron")
        roi_w = [c(name="ROISPATIAL", format="E", array=np.full(ne, 0.2), unit="arcsec"),
                 c(name="ROISPECTRAL", format="E", array=np.full(ne, 0.01), unit="micron")]
        hdus.append(fits.BinTableHDU.from_columns([wcol] + roi_w + [
            c(name="POWER", format="I", array=np.full(ne, 2)),
            c(name="SOFTRAD", format="E", array=np.full(ne, 0.01), unit="arcsec")], name=f"MULTICHAN_{res}_MSM"))
        hdus.append(fits.BinTableHDU.from_columns([wcol] + roi_w + [
            c(name="SCALERAD", format="E", array=np.full(ne, 0.1), unit="arcsec")], name=f"MULTICHAN_{res}_EMSM"))
        hdus.append(fits.BinTableHDU.from_columns([wcol], name=f"MULTICHAN_{res}_DRIZZLE"))
    return fits.HDUList(hdus)


def _extract1d_slit_json() -> str:
    """Fixed-slit / bright-object extract1d reference (jwst requires JSON for slits).

    Every fixed slit gets an aperture (a full-frame exposure opens all
    five): the whole slit height, no background (nod subtraction removes
    the sky), so a point source's extracted flux is all the flux that
    entered the slit.
    """
    apertures = [{"id": name, "region_type": "target", "disp_axis": 1, "use_source_posn": False, "bkg_order": 0}
                 for name in FIXED_SLITS]
    return json.dumps({"reftype": "EXTRACT1D", "instrument": "NIRSPEC", "telescope": "JWST",
                       "exp_type": "NRS_FIXEDSLIT|NRS_BRIGHTOBJ", "pedigree": REF_META["pedigree"],
                       "author": REF_META["author"], "useafter": REF_META["useafter"],
                       "description": "Synthetic NIRSpec slit extraction: whole slit", "apertures": apertures},
                      indent=1)


def _extract1d_ifu_ref():
    from stdatamodels.jwst.datamodels import Extract1dIFUModel

    ref = Extract1dIFUModel()
    ref.meta.region_type = "target"
    ref.meta.subtract_background = False
    ref.meta.method = "exact"
    ref.meta.subpixels = 10
    wl = np.array([0.5, 6.0], np.float32)
    ref.data = {"wavelength": wl, "radius": np.full(2, 0.5, np.float32), "inner_bkg": np.full(2, 0.8, np.float32),
                "outer_bkg": np.full(2, 1.0, np.float32), "axis_ratio": np.ones(2, np.float32),
                "axis_pa": np.zeros(2, np.float32), "wavelength_units": "micron", "radius_units": "arcsec",
                "inner_bkg_units": "arcsec", "outer_bkg_units": "arcsec", "axis_pa_units": "deg"}
    return _meta(ref, "extract1d", "Synthetic NIRSpec IFU extraction: 0.5 arcsec radius", **{"exposure.type": "NRS_IFU"})


# ----------------------------------------------------------------------------- writing into the cache
_SLIT_EXP = "NRS_FIXEDSLIT|NRS_BRIGHTOBJ"
_SPEC_EXP = "NRS_FIXEDSLIT|NRS_BRIGHTOBJ|NRS_MSASPEC|NRS_IFU"


@dataclass(frozen=True)
class _Ref:
    reftype: str
    filename: str
    match: dict
    build: object  # () -> datamodel | HDUList | str
    kwargs: tuple = ()


_OPTICS = ("fpa", "camera", "collimator", "disperser", "fore", "ote", "msa", "ifuslicer", "ifufore", "ifupost",
           "chromcorr")


def _reference_specs() -> list[_Ref]:
    """Every reference of the model: type, file name, CRDS match, builder."""
    specs = _specs_unrestricted()
    sub = {"META.SUBARRAY.NAME": "|".join(SUBARRAYS)}
    return [_Ref(s.reftype, s.filename, {**s.match, **sub}, s.build, s.kwargs) if s.reftype in _OPTICS else s
            for s in specs]


def _specs_unrestricted() -> list[_Ref]:
    exp = "META.EXPOSURE.TYPE"
    specs = [
        _Ref("fpa", "jwst_nirspec_fpa_synth.asdf", {}, _fpa_ref),
        _Ref("collimator", "jwst_nirspec_collimator_synth.asdf", {}, _collimator_ref),
        _Ref("ote", "jwst_nirspec_ote_synth.asdf", {}, _ote_ref),
        _Ref("msa", "jwst_nirspec_msa_synth.asdf", {}, _msa_ref),
        _Ref("ifuslicer", "jwst_nirspec_ifuslicer_synth.asdf", {}, _ifuslicer_ref),
        _Ref("ifufore", "jwst_nirspec_ifufore_synth.asdf", {}, _ifufore_ref),
        _Ref("ifupost", "jwst_nirspec_ifupost_synth.asdf", {}, _ifupost_ref),
        _Ref("wavelengthrange", WAVELENGTHRANGE_FILE, {}, None),
        _Ref("cubepar", "jwst_nirspec_cubepar_synth.fits", {exp: "NRS_IFU"}, _cubepar_hdulist),
        _Ref("extract1d", "jwst_nirspec_extract1d_synth_slit.json", {exp: _SLIT_EXP}, _extract1d_slit_json),
        _Ref("extract1d", "jwst_nirspec_extract1d_synth_ifu.asdf", {exp: "NRS_IFU"}, _extract1d_ifu_ref,
             (("all_array_storage", "inline"),)),
        _Ref("fflat", "jwst_nirspec_fflat_synth_unity.fits", {exp: "NRS_FIXEDSLIT|NRS_BRIGHTOBJ|NRS_IFU"}, _fflat_ref),
        _Ref("fflat", "jwst_nirspec_fflat_synth_unity_mos.fits", {exp: "NRS_MSASPEC"}, _fflat_quad_ref),
        _Ref("area", "jwst_nirspec_area_synth_mos.fits", {exp: "NRS_MSASPEC"}, _area_mos_ref),
        _Ref("photom", "jwst_nirspec_photom_synth_fs.fits", {exp: _SLIT_EXP}, lambda: _photom_ref("fs")),
        _Ref("photom", "jwst_nirspec_photom_synth_mos.fits", {exp: "NRS_MSASPEC"}, lambda: _photom_ref("mos")),
        _Ref("photom", "jwst_nirspec_photom_synth_ifu.fits", {exp: "NRS_IFU"}, lambda: _photom_ref("ifu")),
        _Ref("area", "jwst_nirspec_area_synth_fs.fits", {exp: _SLIT_EXP}, lambda: _area_ref("fs")),
        _Ref("area", "jwst_nirspec_area_synth_ifu.fits", {exp: "NRS_IFU"}, lambda: _area_ref("ifu")),
    ]
    for s in SETTINGS.values():
        g, f = s.grating, s.filter
        specs.append(_Ref("disperser", f"jwst_nirspec_disperser_synth_{g.lower()}.asdf",
                          {"META.INSTRUMENT.GRATING": g}, functools.partial(_disperser_ref, g)))
        specs.append(_Ref("camera", f"jwst_nirspec_camera_synth_{g.lower()}.asdf",
                          {"META.INSTRUMENT.GRATING": g}, functools.partial(_camera_ref, g)))
        specs.append(_Ref("fore", f"jwst_nirspec_fore_synth_{f.lower()}.asdf", {"META.INSTRUMENT.FILTER": f},
                          functools.partial(_fore_ref, f)))
        specs.append(_Ref("chromcorr", f"jwst_nirspec_chromcorr_synth_{f.lower()}.asdf", {"META.INSTRUMENT.FILTER": f},
                          functools.partial(_chromcorr_ref, f)))
    return specs


def wavelengthrange_source() -> Path:
    """The real ``jwst_nirspec_wavelengthrange_0008.asdf`` shipped as package data."""
    return Path(str(resources.files("jwstspec.synthetic") / "data" / WAVELENGTHRANGE_FILE))


def _write_one(spec: _Ref, path: Path) -> None:
    if spec.build is None:  # package data copied as is
        with atomic_path(path) as tmp:
            shutil.copyfile(wavelengthrange_source(), tmp)
        return
    obj = spec.build()
    if isinstance(obj, str):
        atomic_write_text(path, obj)
        return
    with atomic_path(path) as tmp:
        if hasattr(obj, "writeto"):
            obj.writeto(tmp)
        else:
            obj.save(tmp, **dict(spec.kwargs))
            obj.close()


def model_paths(crds_path: Path) -> dict[str, list[Path]]:
    """Reference type -> the model's files in the cache (written or not)."""
    refdir = Path(crds_path) / "references" / "jwst" / "nirspec"
    out: dict[str, list[Path]] = {}
    for spec in _reference_specs():
        out.setdefault(spec.reftype, []).append(refdir / spec.filename)
    return out


def write_nirspec_model(crds_path: Path, *, force: bool = False) -> list[RefEntry]:
    """Write the synthetic NIRSpec instrument model into a local CRDS cache.

    The files go to ``references/jwst/nirspec/`` of ``crds_path``; a stamp
    file records that the set (of :data:`MODEL_VERSION`) is complete, so a
    second call only returns the entries (the MSA reference alone is
    ~9 MB).  Registering the entries in the mappings
    (:func:`jwstspec.synthetic.crds_cache.write_crds_cache`) is the
    caller's job, as for the other synthetic references.

    Parameters
    ----------
    crds_path : Path
        Root of the local CRDS cache.
    force : bool
        Rewrite every file even if the stamp is present.

    Returns
    -------
    list of RefEntry
        One per reference file (matched on grating, filter or exposure type).
    """
    refdir = reference_dir(Path(crds_path), "NIRSPEC")
    specs = _reference_specs()
    stamp = refdir / STAMP
    complete = stamp.exists() and all((refdir / s.filename).exists() for s in specs)
    if force or not complete:
        for cached in refdir.glob(".jwstspec-ifu-map-*.npz"):  # pixel maps of the model being replaced
            cached.unlink(missing_ok=True)
        for spec in specs:
            _write_one(spec, refdir / spec.filename)
        atomic_write_text(stamp, json.dumps({"version": MODEL_VERSION, "files": [s.filename for s in specs]}) + "\n")
    return [RefEntry("NIRSPEC", s.reftype, s.filename, s.match) for s in specs]
