"""Synthetic NIRSpec exposures placed with the synthetic instrument model.

The signal is put where jwst's own WCS says: a first ``assign_wcs`` pass
(the real step, with the references of
:mod:`jwstspec.synthetic.nirspec_model` from the local CRDS cache) gives
every pixel of a slit its wavelength and its position along the slit, and
the count rate is the injected spectrum divided by the model's photom
sensitivity, so that the real Stage 2 must give the injected spectrum back
in physical units:

* point source (fixed slit): ``rate = F_nu(lambda) * P(y) / S(lambda)``
  with ``S`` = :func:`~jwstspec.synthetic.nirspec_model.sensitivity`
  (MJy per DN/s) and ``P`` the source's profile along the slit normalised
  to 1 over each detector column, so photom gives MJy per pixel and the
  column sum is ``F_nu``;
* extended source: ``rate = I_nu(lambda) * Omega / S(lambda)`` with
  ``Omega`` the pixel solid angle of the ``area`` reference, so photom
  gives ``I_nu`` in MJy/sr.

:func:`rate_model` makes an empty rate image with the metadata jwst
needs; :func:`fixed_slit_exposure` writes a fixed-slit rate file with a
known spectrum.  IFU exposures (:func:`ifu_exposure`, :func:`ifu_uncal`)
are placed with :func:`ifu_pixel_map`: ``assign_wcs`` runs once per
setting and detector and cache, not once per exposure (each pass costs
~16 s on a quiet machine, ~40 % of it stdatamodels validating the WCS jwst
attaches).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.fileio import atomic_path
from jwstspec.synthetic import nirspec_model as nm

GROUP_TIME = 10.737
TARGET_RA, TARGET_DEC, ROLL = 53.16, -27.78, 0.0


def subarray_of(name: str) -> tuple[int, int, int, int]:
    """(xstart, ystart, xsize, ysize) of subarray ``name`` (:data:`~jwstspec.synthetic.nirspec_model.SUBARRAYS`)."""
    try:
        return nm.SUBARRAYS[name]
    except KeyError:
        raise ValueError(f"unknown synthetic NIRSpec subarray {name!r}; known: {', '.join(nm.SUBARRAYS)}") from None


def rate_model(exp_type: str = "NRS_FIXEDSLIT", *, grating: str = "G395H", detector: str = "NRS1",
               subarray: str = "FULL", fixed_slit: str = "S200A1", source_type: str = "POINT",
               ra: float = TARGET_RA, dec: float = TARGET_DEC, program: str = "01234", observation: str = "005",
               exposure: int = 1, nod: int = 1, ngroups: int = 5) -> Any:
    """An empty NIRSpec rate image (DN/s) with the metadata ``assign_wcs`` and Spec2 read.

    Parameters
    ----------
    exp_type : str
        ``NRS_FIXEDSLIT``, ``NRS_IFU``, ``NRS_MSASPEC`` or ``NRS_BRIGHTOBJ``.
    grating : str
        A key of :data:`jwstspec.synthetic.nirspec_model.SETTINGS` (the filter follows).
    subarray : str
        A name of :data:`jwstspec.synthetic.nirspec_model.SUBARRAYS` (``FULL``, ``SUBS200A1``).
    source_type : str
        ``POINT`` or ``EXTENDED`` (``SRCTYPE``: what ``srctype`` gives the primary slit).

    Returns
    -------
    ImageModel or IFUImageModel
        Zero data, unit errors, ``var_*`` zero; pointing: the target at the
        aperture reference point (the MSA centre), roll ``ROLL``.
    """
    from stdatamodels.jwst.datamodels import IFUImageModel, ImageModel

    setting = nm.SETTINGS[grating]
    xstart, ystart, xsize, ysize = subarray_of(subarray)
    shape = (ysize, xsize)
    cls = IFUImageModel if exp_type == "NRS_IFU" else ImageModel
    m = cls(data=np.zeros(shape, np.float32), err=np.ones(shape, np.float32), dq=np.zeros(shape, np.uint32))
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        setattr(m, name, np.zeros(shape, np.float32))
    md = m.meta
    md.telescope = "JWST"
    md.instrument.name, md.instrument.detector = "NIRSPEC", detector
    md.instrument.grating, md.instrument.filter = setting.grating, setting.filter
    md.instrument.gwa_xtilt = md.instrument.gwa_ytilt = 0.0
    md.instrument.gwa_tilt = 37.0
    if exp_type in ("NRS_FIXEDSLIT", "NRS_BRIGHTOBJ"):
        md.instrument.fixed_slit = fixed_slit
    e = md.exposure
    e.type, e.readpatt = exp_type, "NRSRAPID"
    e.nints, e.ngroups, e.nframes, e.groupgap = 1, ngroups, 1, 0
    e.frame_time = e.group_time = GROUP_TIME
    e.integration_time = e.exposure_time = e.effective_exposure_time = GROUP_TIME * ngroups
    e.start_time, e.mid_time, e.end_time = 60310.0 + exposure * 0.01, 60310.0003 + exposure * 0.01, 60310.0006 + exposure * 0.01
    o = md.observation
    o.date, o.time = "2024-01-01", "00:00:00"
    o.program_number, o.observation_number, o.visit_number = program, observation, "001"
    o.visit_group, o.sequence_id, o.activity_id, o.exposure_number = "01", "1", "01", str(exposure)
    sa = md.subarray
    sa.name, sa.xstart, sa.ystart, sa.xsize, sa.ysize = subarray, xstart, ystart, xsize, ysize
    sa.fastaxis, sa.slowaxis = (2, 1) if detector == "NRS1" else (-2, -1)
    w = md.wcsinfo
    # the aperture reference point: the MSA centre, or S1600A1 itself for a bright-object time series
    w.v2_ref, w.v3_ref = slit_v2v3("S1600A1") if exp_type == "NRS_BRIGHTOBJ" else (nm.V2_REF, nm.V3_REF)
    if exp_type == "NRS_BRIGHTOBJ":
        md.aperture.name = "NRS_S1600A1_SLIT"
    w.ra_ref, w.dec_ref, w.roll_ref = ra, dec, ROLL
    w.v3yangle, w.vparity = 0.0, -1
    w.ra_v1, w.dec_v1, w.pa_v3 = ra, dec, ROLL
    md.target.ra, md.target.dec = ra, dec
    md.target.proposer_name = md.target.catalog_name = "SYNTH-NRS"
    md.target.source_type = source_type
    md.dither.x_offset, md.dither.y_offset = 0.0, 0.0
    md.dither.position_number = nod
    md.dither.primary_type = "NONE"
    md.velocity_aberration.scale_factor = 1.0
    md.bunit_data, md.bunit_err = "DN/s", "DN/s"
    md.cal_step.dq_init = md.cal_step.ramp_fit = "COMPLETE"
    return m


def slit_v2v3(slit: str) -> tuple[float, float]:
    """V2/V3 (arcsec) of the centre of fixed slit ``slit`` in the model (fore optics and OTE are linear scales)."""
    y_msa = nm.FIXED_SLITS[slit][1]
    return nm.V2_REF, nm.V3_REF + y_msa / nm.MSA_PER_ARCSEC


def assign_wcs(model: Any) -> Any:
    """Run the real ``AssignWcsStep`` on ``model`` (references from the active CRDS cache).

    The WCS is not validated as it is assigned
    (:func:`~jwstspec.synthetic.datamodels.assignment_unvalidated`: ~70 % of
    an IFU ``assign_wcs``); it is jwst's own transform all the same.  The
    step's ``gc.collect()`` passes skip the caller's heap
    (:func:`~jwstspec.stages.pipelines.frozen_heap`).
    """
    from jwst.assign_wcs import AssignWcsStep

    from jwstspec.stages.pipelines import frozen_heap
    from jwstspec.synthetic.datamodels import assignment_unvalidated

    with assignment_unvalidated(), frozen_heap():
        return AssignWcsStep.call(model)


#: emission lines of :func:`point_source_jy`: (centre, sigma) in micron
LINES_UM = ((3.60, 0.003), (4.70, 0.003), (1.40, 0.006))


def point_source_jy(wavelength_um: np.ndarray) -> np.ndarray:
    """Default injected point-source spectrum (Jy): a tilted continuum with a resolved emission line.

    1 mJy at 4 micron rising as lambda^0.5, with Gaussian emission lines of
    peak twice the continuum where the model puts them on the detectors:
    3.60 micron (G395H, NRS1) and 4.70 micron (G395H, NRS2), sigma 3 nm
    (about 5 pixels), and 1.40 micron (G140M, NRS1), sigma 6 nm (about 3 pixels).
    """
    w = np.asarray(wavelength_um, float)
    lines = sum(2.0 * np.exp(-0.5 * ((w - c) / s) ** 2) for c, s in LINES_UM)
    return 1.0e-3 * (w / 4.0) ** 0.5 * (1.0 + lines)


def extended_mjysr(wavelength_um: np.ndarray) -> np.ndarray:
    """Default injected extended-source surface brightness (MJy/sr): 5 MJy/sr at 4 micron, falling as 1/lambda."""
    return 5.0 * 4.0 / np.asarray(wavelength_um, float)


@dataclass
class SlitExposure:
    """A synthetic slit exposure and its truth.

    Attributes
    ----------
    path : Path
        The rate file.
    slit : str
        Slit the source was placed in.
    source_type : str
        ``POINT`` (truth in Jy, all of it inside the slit) or ``EXTENDED``
        (truth in MJy/sr, uniform over the slit).
    truth : callable
        Wavelength (micron) -> injected spectrum.
    position_arcsec : float
        Point source: offset along the slit from its centre.
    """

    path: Path
    slit: str
    source_type: str
    truth: Any
    position_arcsec: float
    grating: str
    detector: str


def slit_pixels(model: Any, slit: str) -> dict[str, np.ndarray]:
    """Pixels of ``slit`` on the detector and what jwst's WCS says about them.

    ``model`` must have been through ``assign_wcs``.  Returns flat arrays
    ``x``, ``y`` (0-based pixel indices in the model's array), ``lam``
    (micron) and ``y_slit`` (slit-frame coordinate along the slit, in units
    of the slit length, 0 at the centre), for the pixels with a finite
    wavelength inside the slit's bounding box.
    """
    from jwst.assign_wcs import nirspec

    w = nirspec.nrs_wcs_set_input(model, slit)
    (x0, x1), (y0, y1) = w.bounding_box
    yy, xx = np.mgrid[int(np.ceil(y0)):int(np.floor(y1)) + 1, int(np.ceil(x0)):int(np.floor(x1)) + 1]
    _, ys, lam = w.get_transform("detector", "slit_frame")(xx, yy)
    ok = np.isfinite(lam) & np.isfinite(ys)
    ny, nx = model.data.shape[-2:]
    ok &= (xx >= 0) & (xx < nx) & (yy >= 0) & (yy < ny)
    return {"x": xx[ok], "y": yy[ok], "lam": lam[ok] * 1e6, "y_slit": ys[ok]}  # slit_frame lambda is in metres


def slit_rate(pix: dict[str, np.ndarray], grating: str, source_type: str, truth: Any, slit_length_arcsec: float,
              position_arcsec: float = 0.0, sigma_arcsec: float = 0.12) -> np.ndarray:
    """Count rate (DN/s) of the slit pixels ``pix`` (:func:`slit_pixels`) for a known source.

    Point source: ``truth`` in Jy, Gaussian profile along the slit
    normalised to 1 over each detector column.  Extended: ``truth`` in
    MJy/sr, uniform.
    """
    sens = nm.sensitivity(grating, pix["lam"])  # MJy per DN/s
    if source_type == "EXTENDED":
        omega = nm.PIXEL_AREA_ARCSEC2 * nm.ARCSEC2_TO_SR
        return truth(pix["lam"]) * omega / sens
    y_arcsec = pix["y_slit"] * slit_length_arcsec
    prof = np.exp(-0.5 * ((y_arcsec - position_arcsec) / sigma_arcsec) ** 2)
    colsum = np.bincount(pix["x"], weights=prof)
    norm = prof / colsum[pix["x"]]
    return truth(pix["lam"]) * 1e-6 * norm / sens


def source_position_in_slit(model: Any, slit: str, x_offset: float, y_offset: float) -> float:
    """Where a target at the dither offsets (ideal arcsec) falls along ``slit``, in arcsec from its centre.

    The same transform as jwst's ``extract_2d`` (``get_source_xpos``: ideal
    offsets -> V2/V3 -> slit frame), on a model that went through
    ``assign_wcs``, times the slit length: a nodded point source is placed
    where the pipeline will look for it.
    """
    from jwst.assign_wcs import nirspec
    from stdatamodels.jwst.transforms import models as trmodels

    w = model.meta.wcsinfo
    xv, yv = trmodels.IdealToV2V3(w.v3yangle, w.v2_ref, w.v3_ref, w.vparity)(x_offset, y_offset)
    _, ypos, _ = nirspec.nrs_wcs_set_input(model, slit).get_transform("v2v3", "slit_frame")(xv, yv, 2.0)
    return float(ypos) * nm.FIXED_SLITS[slit][3]


def point_at_target(model: Any, placed: Any, slit: str | int, y_slit: float, lam_um: float) -> None:
    """Move ``model``'s pointing so that the slit point where the source sits sees the target's sky position.

    A nod or dither moves the telescope, and the target stays where it is
    on the sky: the source then sits at another place in the slit, and
    Stage 3 resamples the exposures onto one sky grid, source on source.
    ``placed`` is ``model`` through ``assign_wcs`` with the pointing as it
    is; the slit-frame point ``(0, y_slit)`` of ``slit`` (``y_slit`` in
    slit-frame units: the slit length, a MOS shutter height) sees some sky
    position there, and the pointing (``wcsinfo.ra_ref``/``dec_ref``,
    ``ra_v1``/``dec_v1``) moves by its difference from the target's.  What
    the detector sees does not change (the slits' pixels, the source's
    place in them), only which sky position each pixel sees.
    """
    from jwst.assign_wcs import nirspec

    to_sky = nirspec.nrs_wcs_set_input(placed, slit).get_transform("slit_frame", "world")
    ra, dec, _ = to_sky(0.0, y_slit, lam_um * 1e-6)  # slit_frame wavelengths are in metres
    w, target = model.meta.wcsinfo, model.meta.target
    d_ra, d_dec = float(target.ra) - float(ra), float(target.dec) - float(dec)
    w.ra_ref, w.dec_ref = w.ra_ref + d_ra, w.dec_ref + d_dec
    w.ra_v1, w.dec_v1 = w.ra_v1 + d_ra, w.dec_v1 + d_dec


def _fixed_slit_model(*, grating: str, detector: str, subarray: str, slit: str, source_type: str, truth: Any,
                      position_arcsec: float | None, sigma_arcsec: float, nod_offset_arcsec: float | None,
                      **meta: Any) -> tuple[Any, SlitExposure, dict[str, np.ndarray]]:
    """The noiseless rate model of a fixed-slit exposure (DN/s), its truth (``path`` left empty) and the slit's pixels."""
    if source_type not in ("POINT", "EXTENDED"):
        raise ValueError(f"source_type must be POINT or EXTENDED, not {source_type!r}")
    if truth is None:
        truth = point_source_jy if source_type == "POINT" else extended_mjysr
    model = rate_model("NRS_FIXEDSLIT", grating=grating, detector=detector, subarray=subarray, fixed_slit=slit,
                       source_type=source_type, **meta)
    if nod_offset_arcsec is not None:  # a nod moves the telescope: the target sits at the dither offset
        model.meta.dither.y_offset = nod_offset_arcsec
        model.meta.dither.primary_type = "2-POINT-NOD"
        model.meta.dither.total_points = 2
    placed = assign_wcs(model.copy())
    if position_arcsec is None:
        position_arcsec = source_position_in_slit(placed, slit, model.meta.dither.x_offset, model.meta.dither.y_offset)
    pix = slit_pixels(placed, slit)
    length = nm.FIXED_SLITS[slit][3]
    point_at_target(model, placed, slit, position_arcsec / length, float(np.median(pix["lam"])))
    placed.close()
    rate = slit_rate(pix, grating, source_type, truth, length, position_arcsec, sigma_arcsec)
    model.data[pix["y"], pix["x"]] += rate.astype(np.float32)
    return model, SlitExposure(Path(), slit, source_type, truth, position_arcsec, grating, detector), pix


def fixed_slit_exposure(path: str | Path, *, grating: str = "G395H", detector: str = "NRS1",
                        subarray: str = "SUBS200A1", slit: str = "S200A1", source_type: str = "POINT",
                        truth: Any = None, position_arcsec: float | None = 0.0, sigma_arcsec: float = 0.12,
                        nod_offset_arcsec: float | None = None, noise: float = 0.0, seed: int = 0,
                        **meta: Any) -> SlitExposure:
    """Write a fixed-slit rate file with a known source in ``slit``, placed by jwst's WCS.

    Parameters
    ----------
    path : path
        Rate file to write (name it ``jw..._<det>_rate.fits``).
    source_type : {"POINT", "EXTENDED"}
        Point source (``truth`` in Jy, default :func:`point_source_jy`) or
        uniform extended source (``truth`` in MJy/sr, default
        :func:`extended_mjysr`).
    position_arcsec, sigma_arcsec : float
        Point source: offset along the slit and Gaussian sigma.  None:
        where jwst puts the target of the dither offsets
        (:func:`source_position_in_slit`).
    nod_offset_arcsec : float, optional
        A nod: the dither ``y_offset`` (ideal arcsec) of the exposure; with
        ``position_arcsec=None`` the source is placed there.
    noise : float
        Gaussian noise (DN/s) added to every pixel (``err`` holds it).
    **meta
        Passed to :func:`rate_model` (program, observation, exposure, nod...).

    Returns
    -------
    SlitExposure
    """
    path = Path(path)
    model, exp, _ = _fixed_slit_model(grating=grating, detector=detector, subarray=subarray, slit=slit,
                                      source_type=source_type, truth=truth, position_arcsec=position_arcsec,
                                   sigma_arcsec=sigma_arcsec, nod_offset_arcsec=nod_offset_arcsec, **meta)
    if noise > 0:
        model.data = model.data + np.random.default_rng(seed).normal(0.0, noise, model.data.shape).astype(np.float32)
    model.err = np.full(model.data.shape, max(noise, 1e-6), np.float32)
    model.var_rnoise = model.err**2
    with atomic_path(path) as tmp:
        model.save(tmp)
    model.close()
    exp.path = path
    return exp


def fixed_slit_uncal(path: str | Path, *, grating: str = "G395H", detector: str = "NRS1",
                     subarray: str = "SUBS200A1", slit: str = "S200A1", truth: Any = None,
                     nod_offset_arcsec: float = 0.0, sigma_arcsec: float = 0.12, sky: float = 0.5,
                     ngroups: int | None = None, seed: int = 0, stripe_sigma: float = 0.0,
                     **meta: Any) -> SlitExposure:
    """Write a fixed-slit point-source **uncal** exposure (ramps) placed by jwst's WCS.

    The count rate is that of :func:`fixed_slit_exposure` (the source where
    jwst puts the target of the nod offset) plus a uniform ``sky`` (DN/s)
    on the slit's pixels, which nod subtraction removes; the ramps add
    Poisson noise (gain 1) and read noise on the bias of the synthetic
    Detector1 references (:func:`jwstspec.synthetic.nirspec.write_nirspec_references`
    for ``subarray`` and ``detector``), so Detector1 gives the rate back.

    Parameters
    ----------
    path : path
        ``jw<program><obs><visit>_<group>_<exp>_<det>_uncal.fits``.
    nod_offset_arcsec : float
        The nod's dither ``y_offset`` (ideal arcsec).
    ngroups : int, optional
        Groups per integration (default that of the Detector1 references).
    stripe_sigma : float
        1/f stripes (DN/s) on the whole subarray (:func:`write_uncal`).
    **meta
        Passed to :func:`rate_model` (program, observation, exposure, nod...).

    Returns
    -------
    SlitExposure
        ``path`` is the uncal file; the truth is in Jy.
    """
    from jwstspec.synthetic import nirspec as nrs

    path = Path(path)
    ngroups = ngroups or nrs.NGROUPS
    model, exp, pix = _fixed_slit_model(grating=grating, detector=detector, subarray=subarray, slit=slit,
                                        source_type="POINT", truth=truth, position_arcsec=None,
                                   sigma_arcsec=sigma_arcsec, nod_offset_arcsec=nod_offset_arcsec,
                                   ngroups=ngroups, **meta)
    model.data[pix["y"], pix["x"]] += np.float32(sky)
    write_uncal(model, path, ngroups=ngroups, seed=seed, stripe_sigma=stripe_sigma)
    model.close()
    exp.path = path
    return exp


def write_uncal(model: Any, path: str | Path, *, ngroups: int, seed: int = 0, int_scale: Any = None,
                int_times: Any = None, stripe_sigma: float = 0.0) -> Path:
    """Write the ramps (``Level1bModel``) whose Detector1 rate is ``model.data`` (DN/s).

    Bias, gain and read noise are those of the synthetic Detector1
    references (:mod:`jwstspec.synthetic.nirspec`); the reference columns
    (``REF_COLUMNS`` each side) get no signal; the metadata are
    ``model``'s (less its calibration steps).

    Parameters
    ----------
    model : ImageModel
        Rate (DN/s) and metadata.
    path : path
        The uncal file.
    ngroups : int
        Groups per integration.
    seed : int
        Noise seed.
    int_scale : array_like, optional
        A time series: the rate of integration ``i`` is ``model.data * int_scale[i]``
        (``NINTS = len(int_scale)``); default one integration.
    int_times : numpy.ndarray, optional
        The ``INT_TIMES`` table of a time series (:func:`int_times_table`).
    stripe_sigma : float
        1/f read-out noise (DN/s rms) added to each integration's rate, in
        the detector's read order from the model's ``FASTAXIS``/``SLOWAXIS``
        (:func:`jwstspec.synthetic.nirspec.readout_1f`; reference pixels
        included), new in every integration; 0 (default) adds none.

    Returns
    -------
    Path
    """
    from stdatamodels.jwst.datamodels import Level1bModel

    from jwstspec.synthetic import nirspec as nrs

    rng = np.random.default_rng(seed)
    scale = np.ones(1) if int_scale is None else np.asarray(int_scale, float).ravel()
    rate = np.clip(np.asarray(model.data, float), 0, None)
    # reference pixels see no light: with signal there, Detector1's refpix step subtracts it from every row
    rate[..., :nrs.REF_COLUMNS] = 0.0
    rate[..., rate.shape[-1] - nrs.REF_COLUMNS:] = 0.0
    t = GROUP_TIME * np.arange(1, ngroups + 1)
    increments = np.diff(rate[None] * t[:, None, None], axis=0, prepend=0.0)
    # drawn only when asked for: the noise of exposures without stripes stays what it was
    sub = model.meta.subarray
    stripe = (nrs.readout_1f(rng, scale.size, rate.shape, stripe_sigma, fastaxis=sub.fastaxis or 2,
                             slowaxis=sub.slowaxis or 1) if stripe_sigma > 0 else None)
    data = np.empty((scale.size, ngroups) + rate.shape, np.uint16)
    for i, s in enumerate(scale):
        inc = increments * s
        shot = rng.normal(size=inc.shape) * np.sqrt(inc / nrs.GAIN)
        if stripe is not None:  # read-out stripes (DN/s, either sign): no photon noise of their own
            inc = inc + stripe[i][None] * np.diff(t, prepend=0.0)[:, None, None]
        ramps = nrs.BIAS + np.cumsum(inc + shot, axis=0) + rng.normal(0, nrs.READ_NOISE, inc.shape)
        data[i] = np.clip(np.round(ramps), 0, 65535)
    m = Level1bModel(data=data)
    m.update(model)
    m.meta.cal_step.dq_init = m.meta.cal_step.ramp_fit = None
    e = m.meta.exposure
    e.nints, e.ngroups, e.nframes, e.groupgap = scale.size, ngroups, 1, 0
    e.integration_time = GROUP_TIME * ngroups
    e.exposure_time = GROUP_TIME * ngroups * scale.size
    e.nresets_at_start, e.drop_frames1 = 1, 0
    if int_scale is not None:
        e.integration_start, e.integration_end = 1, scale.size
    if int_times is not None:
        m.int_times = int_times
    m.meta.bunit_data = m.meta.bunit_err = None
    with atomic_path(Path(path)) as tmp:
        m.save(tmp)
    m.close()
    return Path(path)


def int_times_table(nints: int, start_mjd: float, ngroups: int) -> np.ndarray:
    """The ``INT_TIMES`` table of ``nints`` back-to-back integrations (MJD UTC; BJD_TDB set equal to UTC here).

    Each integration lasts ``(ngroups + 1)`` group times (one reset).
    """
    dt = GROUP_TIME * (ngroups + 1) / 86400.0
    start = start_mjd + dt * np.arange(nints)
    dtype = [("integration_number", "i4")] + [(f"int_{f}_{scale}", "f8") for scale in ("MJD_UTC", "BJD_TDB")
                                              for f in ("start", "mid", "end")]
    table = np.zeros(nints, dtype=dtype)
    table["integration_number"] = np.arange(1, nints + 1)
    for frame, offset in (("start", 0.0), ("mid", 0.5), ("end", 1.0)):
        table[f"int_{frame}_MJD_UTC"] = start + offset * dt
        table[f"int_{frame}_BJD_TDB"] = start + offset * dt + 2400000.5
    return table


@dataclass
class TimeSeriesExposure:
    """A synthetic bright-object time series and its truth.

    Attributes
    ----------
    path : Path
        The uncal file.
    truth : callable
        Wavelength (micron) -> out-of-transit spectrum (Jy).
    depth : float
        Injected transit depth (fraction of the flux, the same at every wavelength).
    in_transit : numpy.ndarray
        Per integration: inside the transit (bool).
    grating, detector, subarray : str
        The setting.
    """

    path: Path
    truth: Any
    depth: float
    in_transit: np.ndarray
    grating: str
    detector: str
    subarray: str

    def scale(self) -> np.ndarray:
        """Per-integration flux relative to out of transit (``1 - depth`` inside)."""
        return np.where(self.in_transit, 1.0 - self.depth, 1.0)


def bots_uncal(path: str | Path, *, grating: str = "G395H", detector: str = "NRS1", subarray: str = "SUB2048",
               truth: Any = None, nints: int = 16, transit: tuple[int, int] = (6, 11), depth: float = 0.01,
               sigma_arcsec: float = 0.12, ngroups: int | None = None, seed: int = 0, stripe_sigma: float = 0.0,
               **meta: Any) -> TimeSeriesExposure:
    """Write a NIRSpec bright-object time series (``NRS_BRIGHTOBJ``, S1600A1) as uncal ramps, placed by jwst's WCS.

    The point source sits where jwst's ``extract_2d`` puts the target (the
    dither offsets are zero: the slit centre); its count rate is that of
    :func:`fixed_slit_exposure` (column sums times the photom sensitivity
    give ``truth``), times ``1 - depth`` in the integrations of ``transit``.

    Parameters
    ----------
    path : path
        ``jw<program><obs><visit>_<group>_<exp>_<det>_uncal.fits``.
    truth : callable, optional
        Wavelength (micron) -> out-of-transit flux (Jy); default :func:`point_source_jy`.
    nints : int
        Integrations.
    transit : (int, int)
        First and last integration (0-based, inclusive) inside the box-shaped transit.
    depth : float
        Transit depth (fraction of the flux).
    ngroups : int, optional
        Groups per integration (default that of the Detector1 references).
    stripe_sigma : float
        1/f stripes (DN/s) in every integration (:func:`write_uncal`).
    **meta
        Passed to :func:`rate_model` (program, observation, exposure...).

    Returns
    -------
    TimeSeriesExposure
    """
    from jwstspec.synthetic import nirspec as nrs

    if not 0 <= transit[0] <= transit[1] < nints:
        raise ValueError(f"transit {transit} must be integrations inside 0..{nints - 1}")
    if not 0 < depth < 1:
        raise ValueError(f"depth must be between 0 and 1, not {depth}")
    truth = truth or point_source_jy
    ngroups = ngroups or nrs.NGROUPS
    model = rate_model("NRS_BRIGHTOBJ", grating=grating, detector=detector, subarray=subarray, fixed_slit="S1600A1",
                       ngroups=ngroups, **meta)
    model.meta.visit.tsovisit = True
    model.meta.exposure.nints = nints
    placed = assign_wcs(model.copy())
    position = source_position_in_slit(placed, "S1600A1", 0.0, 0.0)
    pix = slit_pixels(placed, "S1600A1")
    placed.close()
    rate = slit_rate(pix, grating, "POINT", truth, nm.FIXED_SLITS["S1600A1"][3], position, sigma_arcsec)
    model.data[pix["y"], pix["x"]] += rate.astype(np.float32)
    in_transit = (np.arange(nints) >= transit[0]) & (np.arange(nints) <= transit[1])
    exp = TimeSeriesExposure(Path(path), truth, depth, in_transit, grating, detector, subarray)
    times = int_times_table(nints, float(model.meta.exposure.start_time), ngroups)
    write_uncal(model, path, ngroups=ngroups, seed=seed, int_scale=exp.scale(), int_times=times,
                stripe_sigma=stripe_sigma)
    model.close()
    return exp


#: file name (in the model's reference directory) of the cached IFU pixel map of one setting and detector
IFU_MAP_FILE = ".jwstspec-ifu-map-v{version}-{grating}-{detector}.npz"


def ifu_pixel_map(grating: str = "G395H", detector: str = "NRS1", crds_path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Every IFU slice pixel of a setting and detector and where jwst's WCS puts it, cached per model.

    The first call runs the real ``assign_wcs`` (the model of the active
    CRDS cache) and keeps, for each pixel with a wavelength, its position
    in the telescope's ``v2v3`` frame and its wavelength: neither depends
    on the pointing, so every exposure of that setting (any dither, any
    target) is placed without running ``assign_wcs`` again (sky position:
    :func:`ifu_sky`).  The map lives beside the model's references
    (``IFU_MAP_FILE``), is tied to its :data:`~jwstspec.synthetic.nirspec_model.MODEL_VERSION`
    and is removed when the model is rewritten.

    Parameters
    ----------
    grating, detector : str
        The setting (a key of :data:`~jwstspec.synthetic.nirspec_model.SETTINGS`) and ``NRS1``/``NRS2``.
    crds_path : path, optional
        The CRDS cache holding the model (default ``$CRDS_PATH``).

    Returns
    -------
    dict
        Flat arrays ``x``, ``y`` (0-based pixel indices, int16), ``v2``,
        ``v3`` (arcsec) and ``lam`` (micron), float32.
    """
    import os

    from jwstspec.synthetic.crds_cache import reference_dir

    if crds_path is None:
        crds_path = os.environ.get("CRDS_PATH")
        if not crds_path:
            raise ValueError("ifu_pixel_map: no CRDS cache given and CRDS_PATH is not set")
    path = reference_dir(Path(crds_path), "NIRSPEC") / IFU_MAP_FILE.format(
        version=nm.MODEL_VERSION, grating=grating.upper(), detector=detector.upper())
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in ("x", "y", "v2", "v3", "lam")}
    model = rate_model("NRS_IFU", grating=grating, detector=detector)
    placed = assign_wcs(model)
    yy, xx = np.nonzero(placed.regions > 0)
    v2, v3, lam = placed.meta.wcs.get_transform("coordinates", "v2v3")(xx, yy)
    placed.close()
    ok = np.isfinite(lam) & np.isfinite(v2) & np.isfinite(v3)
    out = {"x": xx[ok].astype(np.int16), "y": yy[ok].astype(np.int16), "v2": v2[ok].astype(np.float32),
           "v3": v3[ok].astype(np.float32), "lam": lam[ok].astype(np.float32)}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **out)
    return out


def ifu_sky(model: Any, pix: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (deg) of the pixels of :func:`ifu_pixel_map` for the pointing of ``model`` (jwst's ``v23tosky``)."""
    from jwst.assign_wcs.pointing import v23tosky

    return v23tosky(model)(pix["v2"].astype(float), pix["v3"].astype(float))


def ifu_rate(exp_type: str = "NRS_IFU", *, grating: str = "G395H", detector: str = "NRS1", source_type: str = "POINT",
             truth: Any = None, offset_arcsec: tuple[float, float] = (0.0, 0.0),
             pointing_offset_arcsec: tuple[float, float] = (0.0, 0.0), sigma_arcsec: float = 0.15,
             sky_mjysr: Any = None, **meta: Any) -> tuple[Any, Any]:
    """The noiseless IFU rate image (DN/s) of a known scene, placed by jwst's IFU WCS.

    Every slice pixel gets the scene's surface brightness at the sky
    position jwst's WCS gives it (:func:`ifu_pixel_map`, :func:`ifu_sky`),
    times the pixel solid angle, divided by the photom sensitivity: a
    Gaussian point source of total flux ``truth`` (Jy) at
    ``offset_arcsec`` (RA, Dec offsets from the target) or a uniform
    extended source ``truth`` (MJy/sr); plus ``sky_mjysr`` (callable of
    wavelength, MJy/sr) on every slice pixel.

    Parameters
    ----------
    pointing_offset_arcsec : tuple of float
        A dither: the telescope points this far (RA, Dec arcsec) from the
        target (``wcsinfo.ra_ref``/``dec_ref`` move, the target does not;
        ``dither.x_offset``/``y_offset`` record it).
    **meta
        Passed to :func:`rate_model` (program, observation, exposure, nod, ngroups...).

    Returns
    -------
    model : IFUImageModel
        The rate (no WCS attached).
    truth : callable
        The source's spectrum (Jy or MJy/sr).
    """
    if truth is None:
        truth = point_source_jy if source_type == "POINT" else extended_mjysr
    model = rate_model(exp_type, grating=grating, detector=detector, source_type=source_type, **meta)
    md = model.meta
    if any(pointing_offset_arcsec):
        dra, ddec = pointing_offset_arcsec
        md.wcsinfo.dec_ref = md.target.dec + ddec / 3600.0
        md.wcsinfo.ra_ref = md.target.ra + dra / 3600.0 / np.cos(np.deg2rad(md.wcsinfo.dec_ref))
        md.wcsinfo.ra_v1, md.wcsinfo.dec_v1 = md.wcsinfo.ra_ref, md.wcsinfo.dec_ref
        md.dither.x_offset, md.dither.y_offset = float(dra), float(ddec)
    pix = ifu_pixel_map(grating, detector)
    lam = pix["lam"].astype(float)
    sens = nm.sensitivity(grating, lam)
    omega_sr = nm.PIXEL_AREA_ARCSEC2 * nm.ARCSEC2_TO_SR
    if source_type == "EXTENDED":
        sb = truth(lam)  # MJy/sr
    else:
        ra, dec = ifu_sky(model, pix)
        dx = (ra - md.target.ra) * np.cos(np.deg2rad(md.target.dec)) * 3600.0 - offset_arcsec[0]
        dy = (dec - md.target.dec) * 3600.0 - offset_arcsec[1]
        density = np.exp(-0.5 * (dx**2 + dy**2) / sigma_arcsec**2) / (2 * np.pi * sigma_arcsec**2)  # 1/arcsec2
        sb = truth(lam) * 1e-6 * density / nm.ARCSEC2_TO_SR  # MJy/sr
    if sky_mjysr is not None:
        sb = sb + sky_mjysr(lam)
    model.data[pix["y"], pix["x"]] += (sb * omega_sr / sens).astype(np.float32)
    return model, truth


def ifu_exposure(path: str | Path, *, grating: str = "G395H", detector: str = "NRS1", source_type: str = "POINT",
                 truth: Any = None, offset_arcsec: tuple[float, float] = (0.0, 0.0), sigma_arcsec: float = 0.15,
                 noise: float = 0.0, seed: int = 0, **meta: Any) -> SlitExposure:
    """Write an IFU rate file with a known source, placed by jwst's IFU WCS (:func:`ifu_rate`).

    The IFU cube of the real Spec2 is then in MJy/sr with the injected
    surface brightness.
    """
    path = Path(path)
    model, truth = ifu_rate(grating=grating, detector=detector, source_type=source_type, truth=truth,
                            offset_arcsec=offset_arcsec, sigma_arcsec=sigma_arcsec, **meta)
    rng = np.random.default_rng(seed)
    if noise > 0:
        model.data = model.data + rng.normal(0.0, noise, model.data.shape).astype(np.float32)
    model.err = np.full(model.data.shape, max(noise, 1e-6), np.float32)
    model.var_rnoise = model.err**2
    with atomic_path(path) as tmp:
        model.save(tmp)
    model.close()
    return SlitExposure(path, "IFU", source_type, truth, 0.0, grating, detector)


#: groups per integration of the synthetic IFU uncal exposures (full frame: Detector1 time grows with the groups)
IFU_NGROUPS = 3


def msa_leak_rate(shape: tuple[int, int] = (nm.NPIX, nm.NPIX), rate: float = 0.5) -> np.ndarray:
    """A synthetic MSA leakage (imprint) pattern, DN/s: three bands of 6 rows across the detector.

    Light through failed-open MSA shutters reaches the detector whatever
    the IFU sees; a leakcal (imprint) exposure records it alone, and
    ``calwebb_spec2``'s ``imprint_subtract`` removes it from the science
    and background exposures.
    """
    leak = np.zeros(shape, np.float32)
    for row in (0.2, 0.5, 0.8):
        y0 = int(row * shape[0])
        leak[y0:y0 + 6] = rate
    return leak


def ifu_uncal(path: str | Path, *, kind: str = "science", grating: str = "G395H", detector: str = "NRS1",
              truth: Any = None, pointing_offset_arcsec: tuple[float, float] = (0.0, 0.0), sigma_arcsec: float = 0.15,
              sky_mjysr: Any = None, leak: np.ndarray | None = None, ngroups: int = IFU_NGROUPS, seed: int = 0,
              stripe_sigma: float = 0.0, **meta: Any) -> SlitExposure:
    """Write a NIRSpec IFU **uncal** exposure (full-frame ramps) placed by jwst's IFU WCS.

    Parameters
    ----------
    path : path
        ``jw<program><obs><visit>_<group>_<exp>_<det>_uncal.fits``.
    kind : {"science", "background", "imprint"}
        ``science``: the point source ``truth`` (Jy) at the target, the sky
        and the leakage; ``background``: sky and leakage (``BKGDTARG``);
        ``imprint``: the leakage alone (a leakcal exposure, ``IS_IMPRT``).
    pointing_offset_arcsec : tuple of float
        The dither: telescope offset from the target (:func:`ifu_rate`).
    sky_mjysr : callable, optional
        Sky surface brightness (MJy/sr) of wavelength, on every slice pixel.
    leak : ndarray, optional
        Leakage rate (DN/s, detector shape), e.g. :func:`msa_leak_rate`.
    ngroups, seed
        Groups per integration (the Detector1 references of the full frame
        must have as many) and the noise seed.
    stripe_sigma : float
        1/f stripes (DN/s) on the whole detector (:func:`write_uncal`).
    **meta
        Passed to :func:`rate_model` (program, observation, exposure, nod...).

    Returns
    -------
    SlitExposure
        ``path`` is the uncal file; the truth (science) is in Jy.
    """
    if kind not in ("science", "background", "imprint"):
        raise ValueError(f"kind must be science, background or imprint, not {kind!r}")
    if kind == "science":
        model, truth = ifu_rate(grating=grating, detector=detector, truth=truth, sigma_arcsec=sigma_arcsec,
                                pointing_offset_arcsec=pointing_offset_arcsec, sky_mjysr=sky_mjysr,
                                ngroups=ngroups, **meta)
    elif kind == "background" and sky_mjysr is not None:
        model, _ = ifu_rate(grating=grating, detector=detector, source_type="EXTENDED", truth=sky_mjysr,
                            pointing_offset_arcsec=pointing_offset_arcsec, ngroups=ngroups, **meta)
    else:
        model = rate_model("NRS_IFU", grating=grating, detector=detector, ngroups=ngroups, **meta)
    model.meta.observation.bkgdtarg = kind == "background"
    model.meta.exposure.imprint = kind == "imprint"
    if leak is not None:
        model.data += leak.astype(np.float32)
    write_uncal(model, path, ngroups=ngroups, seed=seed, stripe_sigma=stripe_sigma)
    model.close()
    return SlitExposure(Path(path), "IFU", "POINT", truth, 0.0, grating, detector)
