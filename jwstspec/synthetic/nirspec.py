"""Synthetic NIRSpec IFU exposures and the Detector1 references they need.

The exposures are ``uncal`` ramps on a 256 x 2048 subarray of NRS1 whose
count rate is known: an IFU-like footprint of horizontal slice traces
(dispersion along x), a uniform sky in every slice, a point source in the
central slices (science only) and 1/f read-noise stripes along the columns
(a slowly varying offset per column, different per integration and per
exposure).  :func:`expected_rate` returns the noiseless rate without the
stripes, so the real Detector1 and the 1/f and background corrections can
be checked against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jwstspec.fileio import atomic_path
from jwstspec.synthetic.crds_cache import RefEntry, reference_dir

NY, NX = 256, 2048
SUBARRAY = ("ALLSLITS", 1, 897, NX, NY)  # name, xstart, ystart (1-based, DMS), xsize, ysize
GROUP_TIME = 10.737
NGROUPS, NINTS = 5, 1
BIAS, GAIN, READ_NOISE = 12000.0, 1.0, 5.0
N_SLICES, SLICE_HEIGHT, SLICE_GAP, FIRST_ROW = 12, 14, 6, 12
SKY_RATE, SOURCE_RATE, STRIPE_SIGMA = 0.6, 4.0, 0.2
REF_META = {"author": "jwstspec.synthetic", "pedigree": "DUMMY", "useafter": "2000-01-01T00:00:00"}


def slice_rows() -> list[tuple[int, int]]:
    """(first, last+1) row of each slice trace."""
    return [(FIRST_ROW + k * (SLICE_HEIGHT + SLICE_GAP), FIRST_ROW + k * (SLICE_HEIGHT + SLICE_GAP) + SLICE_HEIGHT)
            for k in range(N_SLICES)]


def footprint() -> np.ndarray:
    """True where the IFU slices illuminate the detector (inside the 4 reference columns)."""
    fp = np.zeros((NY, NX), bool)
    for a, b in slice_rows():
        fp[a:b, 4:-4] = True
    return fp


def expected_rate(kind: str = "science") -> np.ndarray:
    """Noiseless count rate (DN/s) without 1/f stripes."""
    rate = np.where(footprint(), SKY_RATE, 0.0)
    if kind == "science":
        y = np.arange(NY)[:, None]
        x = np.arange(NX)[None, :]
        centre = np.mean(slice_rows()[N_SLICES // 2])
        profile = np.exp(-0.5 * ((y - centre) / 4.0) ** 2) * (1.0 + 0.3 * np.sin(x / 150.0))
        rate = rate + np.where(footprint(), SOURCE_RATE * profile, 0.0)
    return rate


def stripes(rng: np.random.Generator, nints: int = NINTS) -> np.ndarray:
    """1/f stripes (DN/s): per column a smooth offset along y, different per integration."""
    from scipy.ndimage import gaussian_filter1d

    walk = rng.normal(size=(nints, NY, NX))
    smooth = gaussian_filter1d(walk, sigma=40.0, axis=1, mode="nearest")
    smooth /= smooth.std(axis=1, keepdims=True)
    offsets = rng.normal(size=(nints, 1, NX))
    out = STRIPE_SIGMA * (0.7 * offsets + 0.7 * smooth)
    out[:, :, :4] = 0.0  # the reference columns carry no signal
    out[:, :, -4:] = 0.0
    return out


def _set_ref_meta(m, reftype: str, description: str) -> None:
    m.meta.instrument.name = "NIRSPEC"
    m.meta.instrument.detector = "NRS1"
    try:
        sa = m.meta.subarray
        sa.name, sa.xstart, sa.ystart, sa.xsize, sa.ysize = SUBARRAY
    except AttributeError:
        pass
    m.meta.reftype = reftype.upper()
    m.meta.description = description
    m.meta.author = REF_META["author"]
    m.meta.pedigree = REF_META["pedigree"]
    m.meta.useafter = REF_META["useafter"]


def write_nirspec_references(crds_path: Path) -> list[RefEntry]:
    """Write the NRS1 ALLSLITS Detector1 references; return the entries to register.

    mask (reference columns flagged), saturation, superbias (the bias level),
    linearity (identity), dark (zero), gain and read noise.  Every other
    reference type resolves to N/A in the local cache.
    """
    from stdatamodels.jwst.datamodels import (
        DarkModel,
        GainModel,
        LinearityModel,
        MaskModel,
        ReadnoiseModel,
        SaturationModel,
        SuperBiasModel,
        dqflags,
    )

    refdir = reference_dir(Path(crds_path), "NIRSPEC")
    dq = np.zeros((NY, NX), np.uint32)
    dq[:, :4] = dqflags.pixel["REFERENCE_PIXEL"]
    dq[:, -4:] = dqflags.pixel["REFERENCE_PIXEL"]
    zeros = np.zeros((NY, NX), np.uint32)
    coeffs = np.zeros((3, NY, NX), np.float32)
    coeffs[1] = 1.0
    dark = DarkModel(data=np.zeros((NGROUPS, NY, NX), np.float32), err=np.zeros((NGROUPS, NY, NX), np.float32), dq=zeros)
    dark.meta.exposure.nframes, dark.meta.exposure.groupgap, dark.meta.exposure.ngroups = 1, 0, NGROUPS
    models = {
        "mask": MaskModel(dq=dq),
        "saturation": SaturationModel(data=np.full((NY, NX), 60000, np.float32), dq=zeros),
        "superbias": SuperBiasModel(data=np.full((NY, NX), BIAS, np.float32), err=np.zeros((NY, NX), np.float32), dq=zeros),
        "linearity": LinearityModel(coeffs=coeffs, dq=zeros),
        "dark": dark,
        "gain": GainModel(data=np.full((NY, NX), GAIN, np.float32)),
        "readnoise": ReadnoiseModel(data=np.full((NY, NX), READ_NOISE, np.float32)),
    }
    entries = []
    match = {"META.INSTRUMENT.DETECTOR": "NRS1", "META.SUBARRAY.NAME": SUBARRAY[0]}
    for reftype, model in models.items():
        _set_ref_meta(model, reftype, f"Synthetic NIRSpec {reftype} (jwstspec demo)")
        name = f"jwst_nirspec_{reftype}_synth_nrs1_{SUBARRAY[0].lower()}.fits"
        with atomic_path(refdir / name) as tmp:
            model.save(tmp)
        entries.append(RefEntry("NIRSPEC", reftype, name, match))
    return entries


def make_nirspec_ifu_uncal(path: str | Path, *, kind: str = "science", nod: int = 1, program: str = "01234",
                           observation: str = "003", grating: str = "G395H", filter: str = "F290LP",
                           seed: int | None = None, nints: int = NINTS) -> Path:
    """Write one NRS1 IFU uncal exposure (ramps) with a known rate plus 1/f stripes."""
    from stdatamodels.jwst.datamodels import Level1bModel

    path = Path(path)
    rng = np.random.default_rng(seed if seed is not None else (hash((kind, nod, observation)) & 0xFFFF))
    rate = expected_rate(kind)[None] + stripes(rng, nints)  # (nints, ny, nx)
    t = GROUP_TIME * np.arange(1, NGROUPS + 1)
    signal = rate[:, None] * t[None, :, None, None]  # (nints, ngroups, ny, nx)
    # shot noise accumulated up the ramp, read noise per group
    increments = np.diff(np.concatenate([np.zeros_like(signal[:, :1]), signal], axis=1), axis=1)
    shot = rng.normal(size=increments.shape) * np.sqrt(np.clip(increments, 0, None) / GAIN)
    ramps = BIAS + np.cumsum(increments + shot, axis=1) + rng.normal(0, READ_NOISE, signal.shape)
    m = Level1bModel(data=np.clip(np.round(ramps), 0, 65535).astype(np.uint16))
    m.meta.telescope = "JWST"
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    m.meta.instrument.filter, m.meta.instrument.grating = filter, grating
    m.meta.instrument.gwa_xtilt, m.meta.instrument.gwa_ytilt = 0.3, 0.13
    m.meta.exposure.type = "NRS_IFU"
    m.meta.exposure.readpatt = "NRSRAPID"
    m.meta.exposure.nints, m.meta.exposure.ngroups = nints, NGROUPS
    m.meta.exposure.nframes, m.meta.exposure.groupgap = 1, 0
    m.meta.exposure.frame_time = m.meta.exposure.group_time = GROUP_TIME
    m.meta.exposure.integration_time = GROUP_TIME * NGROUPS
    e = m.meta.exposure
    e.start_time, e.mid_time, e.end_time = 60310.0 + nod * 0.01, 60310.001 + nod * 0.01, 60310.002 + nod * 0.01
    e.nresets_at_start, e.drop_frames1 = 1, 0
    m.meta.observation.date, m.meta.observation.time = "2024-01-01", "00:00:00"
    m.meta.observation.program_number = program
    m.meta.observation.observation_number = observation
    m.meta.observation.visit_number = "001"
    m.meta.observation.exposure_number = str(nod)
    m.meta.observation.bkgdtarg = kind == "background"
    m.meta.dither.position_number = nod
    m.meta.target.proposer_name = "SYNTH-NRS"
    sa = m.meta.subarray
    sa.name, sa.xstart, sa.ystart, sa.xsize, sa.ysize = SUBARRAY
    sa.fastaxis, sa.slowaxis = 2, 1
    with atomic_path(path) as tmp:
        m.save(tmp)
    m.close()
    return path
