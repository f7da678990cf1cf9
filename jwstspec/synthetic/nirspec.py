"""Synthetic NIRSpec exposures (rate images and uncal ramps) and the Detector1 references they need.

The default detector region is the ALLSLITS subarray of NRS1 (256 x 2048,
dispersion along x).  Its count rate is known:

* ``mode="ifu"``: an IFU-like footprint of horizontal slice traces, a
  uniform sky in every slice and, for science exposures, a point source
  whose slice depends on the nod position;
* ``mode="fs"``: one fixed-slit trace with sky along the slit and the
  source at a nod-dependent position along the slit;
* 1/f read-noise stripes along the columns (:func:`stripes`, of the rate
  images here): per column a constant offset plus a smooth drift along the
  column, different per column, per integration and per exposure (zero in
  the 4 reference columns each side).  The model-placed exposures of
  :mod:`jwstspec.synthetic.nirspec_exposures` get :func:`readout_1f`
  instead, the noise in the detector's read order.

:func:`expected_rate` is the noiseless rate without stripes, the truth for
Detector1, the 1/f correction and the background subtraction;
:func:`make_nirspec_rate` returns a rate/rateints image with its truth;
:func:`make_nirspec_ifu_uncal` writes ramps for the real Detector1;
:func:`write_nirspec_references` writes its references.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jwstspec.fileio import atomic_path
from jwstspec.synthetic.crds_cache import RefEntry, reference_dir


class Subarray(NamedTuple):
    """A detector region in DMS orientation (1-based start, as the SUBARRAY keywords)."""

    name: str
    xstart: int
    ystart: int
    xsize: int
    ysize: int


SUBARRAY = Subarray("ALLSLITS", 1, 897, 2048, 256)
NY, NX = SUBARRAY.ysize, SUBARRAY.xsize
GROUP_TIME = 10.737
NGROUPS, NINTS = 5, 1
BIAS, GAIN, READ_NOISE = 12000.0, 1.0, 5.0
SLICE_HEIGHT, SLICE_GAP, FIRST_ROW = 14, 6, 12
N_SLICES = (NY - FIRST_ROW - 4 + SLICE_GAP) // (SLICE_HEIGHT + SLICE_GAP)  # 12 on ALLSLITS
SLIT_HEIGHT, NOD_STEP_PX = 40, 10  # fixed slit: trace height and the nod throw along it
SKY_RATE, SOURCE_RATE, STRIPE_SIGMA = 0.6, 4.0, 0.2
REF_COLUMNS = 4
REF_META = {"author": "jwstspec.synthetic", "pedigree": "DUMMY", "useafter": "2000-01-01T00:00:00"}


def _shape(shape: tuple[int, int] | None) -> tuple[int, int]:
    return (NY, NX) if shape is None else (int(shape[0]), int(shape[1]))


def _subarray(subarray: Subarray | tuple[int, ...] | None) -> Subarray:
    """A :class:`Subarray` from one, from ``(ysize, xsize)`` (ALLSLITS name and y start kept), or the default."""
    if subarray is None:
        return SUBARRAY
    if isinstance(subarray, Subarray):
        return subarray
    if len(subarray) == 2:
        ysize, xsize = int(subarray[0]), int(subarray[1])
        return Subarray(SUBARRAY.name, 1, SUBARRAY.ystart, xsize, ysize)
    return Subarray(*subarray)  # type: ignore[arg-type]


def slice_rows(shape: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """(first, last+1) row of each IFU slice trace on a detector region of ``shape``."""
    ny, _ = _shape(shape)
    n = max((ny - FIRST_ROW - 4 + SLICE_GAP) // (SLICE_HEIGHT + SLICE_GAP), 1)
    step = SLICE_HEIGHT + SLICE_GAP
    return [(FIRST_ROW + k * step, FIRST_ROW + k * step + SLICE_HEIGHT) for k in range(n)]


def slit_rows(shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """(first, last+1) row of the fixed-slit trace (centred)."""
    ny, _ = _shape(shape)
    first = max(ny // 2 - SLIT_HEIGHT // 2, 0)
    return first, min(first + SLIT_HEIGHT, ny)


def footprint(shape: tuple[int, int] | None = None, mode: str = "ifu") -> np.ndarray:
    """True where the slices (``ifu``) or the slit (``fs``) illuminate the detector."""
    ny, nx = _shape(shape)
    fp = np.zeros((ny, nx), bool)
    rows = slice_rows((ny, nx)) if mode == "ifu" else [slit_rows((ny, nx))]
    for a, b in rows:
        fp[a:b, REF_COLUMNS:nx - REF_COLUMNS] = True
    return fp


def source_row(nod: int = 1, shape: tuple[int, int] | None = None, mode: str = "ifu") -> float:
    """Row of the source centre at nod position ``nod`` (1-based).

    IFU: the centre of slice ``n_slices // 2 + 3 * (nod - 1)`` (cyclic);
    fixed slit: the slit centre plus ``NOD_STEP_PX * (nod - 2)`` pixels
    (nods 1, 2, 3 at -10, 0, +10).
    """
    if mode == "ifu":
        rows = slice_rows(shape)
        a, b = rows[(len(rows) // 2 + 3 * (nod - 1)) % len(rows)]
        return (a + b - 1) / 2
    a, b = slit_rows(shape)
    return (a + b - 1) / 2 + NOD_STEP_PX * (nod - 2)


def expected_rate(kind: str = "science", *, nod: int = 1, shape: tuple[int, int] | None = None,
                  mode: str = "ifu") -> np.ndarray:
    """Noiseless count rate (DN/s) without 1/f stripes.

    Sky ``SKY_RATE`` everywhere in the footprint; for ``kind="science"`` a
    source of peak ``SOURCE_RATE`` with a Gaussian spatial profile (sigma 4
    pixels IFU, 2 pixels fixed slit) and a smooth spectrum, confined to the
    footprint.
    """
    ny, nx = _shape(shape)
    fp = footprint((ny, nx), mode)
    rate = np.where(fp, SKY_RATE, 0.0)
    if kind == "science":
        y = np.arange(ny)[:, None]
        x = np.arange(nx)[None, :]
        sigma = 4.0 if mode == "ifu" else 2.0
        profile = np.exp(-0.5 * ((y - source_row(nod, (ny, nx), mode)) / sigma) ** 2) * (1.0 + 0.3 * np.sin(x / 150.0))
        rate = rate + np.where(fp, SOURCE_RATE * profile, 0.0)
    elif kind != "background":
        raise ValueError(f"kind must be 'science' or 'background', not {kind!r}")
    return rate


def stripes(rng: np.random.Generator, nints: int = NINTS, shape: tuple[int, int] | None = None,
            sigma: float = STRIPE_SIGMA, smooth: bool = True) -> np.ndarray:
    """1/f stripes (DN/s), (nints, ny, nx): per column an offset plus a smooth drift along y, per integration.

    With ``smooth=False`` only the constant offset per column (and integration).
    """
    from scipy.ndimage import gaussian_filter1d

    ny, nx = _shape(shape)
    offsets = rng.normal(size=(nints, 1, nx))
    if smooth:
        walk = gaussian_filter1d(rng.normal(size=(nints, ny, nx)), sigma=40.0, axis=1, mode="nearest")
        # unit rms over the whole array: a column much shorter than the smoothing (a 32-row subarray) holds a
        # nearly constant walk, whose own rms along the column is no scale for it
        walk /= walk.std()
        out = sigma * (0.7 * offsets + 0.7 * walk)
    else:
        out = np.repeat(sigma * offsets, ny, axis=1)
    out[:, :, :REF_COLUMNS] = 0.0  # the reference columns carry no signal
    out[:, :, nx - REF_COLUMNS:] = 0.0
    return out


#: Pixel times between two rows of one output (the line overhead of the SIDECAR read-out), in read order
ROW_OVERHEAD = 12
#: Outputs (amplifiers) reading a full frame in parallel; NIRSpec subarrays are read through one
FULL_FRAME_OUTPUTS = 4
#: Highest frequency of the 1/f noise (cycles per pixel time: 1 kHz at 10 us per pixel); above it the white
#: read noise (``READ_NOISE``) is the noise, and a 1/f spectrum carried on to the pixel rate would add more
#: white noise than the read noise itself at the rates of these exposures
KNEE = 0.01


def readout_1f(rng: np.random.Generator, nints: int, shape: tuple[int, int], sigma: float, *,
               fastaxis: int = 2, slowaxis: int = 1, outputs: int | None = None) -> np.ndarray:
    """1/f read-out noise (DN/s) as the detector reads it, ``(nints, ny, nx)`` in DMS orientation.

    One 1/f (pink) time series per integration, up to :data:`KNEE`, in read order: the
    outputs read their strips of each detector row in parallel, pixel after
    pixel along the fast axis, with :data:`ROW_OVERHEAD` pixel times between
    rows, so the noise is common to the outputs (what jwst's
    ``clean_flicker_noise`` assumes with ``fit_by_channel = False``).  The
    array is mapped to DMS orientation by jwst's own
    ``detector_science_frame_transform`` from the exposure's ``FASTAXIS``
    and ``SLOWAXIS``: in NIRSpec DMS images each detector row is a column,
    so the low frequencies make the column stripes (and a smooth gradient
    across the columns), the higher ones vary along a column.  Reference
    pixels carry it too (it is electronic), as they do on the telescope;
    Detector1's ``refpix`` takes the part its side reference pixels see.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random numbers.
    nints : int
        Integrations (a new series each).
    shape : tuple of int
        ``(ny, nx)`` in DMS orientation.
    sigma : float
        Root-mean-square of each integration's series (DN/s; the image's
        own rms is within ~1 % of it).
    fastaxis, slowaxis : int
        The exposure's ``FASTAXIS``/``SLOWAXIS`` (NRS1: 2, 1; NRS2: -2, -1).
    outputs : int, optional
        Outputs reading in parallel; default 4 for a 2048 x 2048 frame, else 1.

    Returns
    -------
    numpy.ndarray
        ``(nints, ny, nx)`` float64.
    """
    from jwst.lib.reffile_utils import detector_science_frame_transform, science_detector_frame_transform

    nslow, nfast = science_detector_frame_transform(np.empty(shape, np.int8), fastaxis, slowaxis).shape
    outputs = outputs or (FULL_FRAME_OUTPUTS if tuple(shape) == (2048, 2048) else 1)
    width = nfast // outputs
    n = nslow * (width + ROW_OVERHEAD)
    freq = np.fft.rfftfreq(n)
    amplitude = np.zeros_like(freq)
    amplitude[1:] = freq[1:] ** -0.5  # power ~ 1/f, no constant term
    amplitude[freq > KNEE] = 0.0
    spectrum = amplitude * (rng.normal(size=(nints, freq.size)) + 1j * rng.normal(size=(nints, freq.size)))
    series = np.fft.irfft(spectrum, n=n, axis=-1)
    series *= sigma / series.std(axis=-1, keepdims=True)
    time = np.arange(nslow)[:, None] * (width + ROW_OVERHEAD) + (np.arange(nfast) % width)[None, :]
    return detector_science_frame_transform(series[:, time], fastaxis, slowaxis)


def _seed(*parts: object) -> int:
    """A reproducible seed from the parts (``hash`` of a str changes between processes)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


@dataclass
class SyntheticRate:
    """A synthetic rate/rateints image and its truth.

    Attributes
    ----------
    data : ndarray
        (ny, nx) rate, or (nints, ny, nx) rateints: truth + stripes + noise.
    truth : ndarray
        (ny, nx) noiseless rate without stripes (:func:`expected_rate`).
    stripes : ndarray
        (nints, ny, nx) injected 1/f stripes.
    footprint : ndarray of bool
        Illuminated pixels.
    source : ndarray
        (ny, nx) source-only rate (zero for a background exposure).
    path : Path or None
        The rate file, when one was written.
    """

    data: np.ndarray
    truth: np.ndarray
    stripes: np.ndarray
    footprint: np.ndarray
    source: np.ndarray
    path: Path | None = None


def make_nirspec_rate(path: str | Path | None = None, *, kind: str = "science", nod: int = 1, mode: str = "ifu",
                      nints: int = 1, shape: tuple[int, int] | None = None, seed: int = 0, noise: float = 0.01,
                      stripe_sigma: float = STRIPE_SIGMA, smooth: bool = True, gwa_tilt: tuple[float, float] = (0.3, 0.13),
                      subarray_name: str = SUBARRAY.name, readpatt: str = "NRSRAPID", patttype: str | None = None,
                      exposure: int | None = None, program: str = "01234", observation: str = "003") -> SyntheticRate:
    """A synthetic NIRSpec rate image (``nints == 1``) or rateints cube with known truth.

    With ``path`` the image is also written as a rate file (``IFUImageModel``
    for IFU, ``ImageModel``/``CubeModel`` otherwise) with the metadata the
    Stage 1 functions read: instrument, detector NRS1, exposure type,
    GWA tilts, subarray, read pattern, dither position (``PATT_NUM`` =
    ``nod``), ``NUMDTHPT``, ``PATTTYPE``.

    Parameters
    ----------
    kind : {"science", "background"}
        A background exposure has sky only.
    nod : int
        Nod (dither) position, 1-based: moves the source.
    mode : {"ifu", "fs"}
        IFU slices or one fixed-slit trace.
    noise : float
        White noise sigma (DN/s) per pixel.
    smooth : bool
        Stripes with a drift along the columns (True) or constant per column.
    """
    ny, nx = _shape(shape)
    rng = np.random.default_rng(seed)
    truth = expected_rate(kind, nod=nod, shape=(ny, nx), mode=mode)
    sky = expected_rate("background", shape=(ny, nx), mode=mode)
    stripe = stripes(rng, nints, (ny, nx), stripe_sigma, smooth)
    data = truth[None] + stripe + rng.normal(0, noise, (nints, ny, nx))
    out = SyntheticRate(data[0] if nints == 1 else data, truth, stripe, footprint((ny, nx), mode), truth - sky)
    if path is not None:
        out.path = _write_rate(Path(path), out, mode=mode, nod=nod, noise=noise, gwa_tilt=gwa_tilt,
                               subarray=Subarray(subarray_name, 1, SUBARRAY.ystart, nx, ny), readpatt=readpatt,
                               patttype=patttype, exposure=exposure, kind=kind, program=program, observation=observation)
    return out


def _write_rate(path: Path, rate: SyntheticRate, *, mode: str, nod: int, noise: float, gwa_tilt: tuple[float, float],
                subarray: Subarray, readpatt: str, patttype: str | None, exposure: int | None, kind: str,
                program: str, observation: str) -> Path:
    from stdatamodels.jwst.datamodels import CubeModel, IFUImageModel, ImageModel

    data = rate.data.astype(np.float32)
    kwargs = {"data": data, "err": np.full(data.shape, noise, np.float32), "dq": np.zeros(data.shape, np.uint32)}
    if data.ndim == 3:
        m = CubeModel(**kwargs)
    else:
        m = IFUImageModel(**kwargs) if mode == "ifu" else ImageModel(**kwargs)
    m.meta.telescope = "JWST"
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    m.meta.instrument.filter, m.meta.instrument.grating = "F290LP", "G395H"
    m.meta.instrument.gwa_xtilt, m.meta.instrument.gwa_ytilt = gwa_tilt
    m.meta.exposure.type = "NRS_IFU" if mode == "ifu" else ("NRS_BRIGHTOBJ" if data.ndim == 3 else "NRS_FIXEDSLIT")
    m.meta.exposure.readpatt = readpatt
    m.meta.exposure.nints = data.shape[0] if data.ndim == 3 else 1
    m.meta.observation.program_number = program
    m.meta.observation.observation_number = observation
    m.meta.observation.visit_number = "001"
    m.meta.observation.exposure_number = str(exposure if exposure is not None else nod)
    m.meta.observation.bkgdtarg = kind == "background"
    m.meta.dither.position_number = nod
    m.meta.dither.primary_type = patttype or ("2-POINT-NOD" if mode == "ifu" else "3-POINT-NOD")
    sa = m.meta.subarray
    sa.name, sa.xstart, sa.ystart, sa.xsize, sa.ysize = subarray
    sa.fastaxis, sa.slowaxis = 2, 1
    with atomic_path(path) as tmp:
        m.save(tmp)
    m.close()
    return path


# ----------------------------------------------------------------------------- Detector1 references
def _set_ref_meta(m, reftype: str, description: str, subarray: Subarray, detector: str) -> None:  # noqa: ANN001
    m.meta.instrument.name = "NIRSPEC"
    m.meta.instrument.detector = detector
    try:
        sa = m.meta.subarray
        sa.name, sa.xstart, sa.ystart, sa.xsize, sa.ysize = subarray
    except AttributeError:
        pass
    m.meta.reftype = reftype.upper()
    m.meta.description = description
    m.meta.author = REF_META["author"]
    m.meta.pedigree = REF_META["pedigree"]
    m.meta.useafter = REF_META["useafter"]


def write_nirspec_references(crds_path: Path, *, subarray: Subarray | tuple[int, ...] | None = None,
                             detector: str = "NRS1", ngroups: int = NGROUPS) -> list[RefEntry]:
    """Write the NIRSpec Detector1 references of one subarray; return the entries to register.

    mask (the 4 reference columns each side flagged REFERENCE_PIXEL),
    saturation (60000 DN), superbias (the bias level), linearity (identity),
    dark (zero, ``ngroups`` groups), gain and read noise, matched on the
    detector and the subarray name.  Every other reference type (ipc,
    refpix, sirskernel, pictureframe...) resolves to N/A in the local cache.
    The files go to ``reference_dir(crds_path, "NIRSPEC")``; registering the
    returned entries (``write_crds_cache``) is the caller's job.
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

    sa = _subarray(subarray)
    ny, nx = sa.ysize, sa.xsize
    refdir = reference_dir(Path(crds_path), "NIRSPEC")
    refdir.mkdir(parents=True, exist_ok=True)
    dq = np.zeros((ny, nx), np.uint32)
    dq[:, :REF_COLUMNS] = dqflags.pixel["REFERENCE_PIXEL"]
    dq[:, nx - REF_COLUMNS:] = dqflags.pixel["REFERENCE_PIXEL"]
    zeros = np.zeros((ny, nx), np.uint32)
    coeffs = np.zeros((3, ny, nx), np.float32)
    coeffs[1] = 1.0
    dark = DarkModel(data=np.zeros((ngroups, ny, nx), np.float32), err=np.zeros((ngroups, ny, nx), np.float32), dq=zeros)
    dark.meta.exposure.nframes, dark.meta.exposure.groupgap, dark.meta.exposure.ngroups = 1, 0, ngroups
    models = {
        "mask": MaskModel(dq=dq),
        "saturation": SaturationModel(data=np.full((ny, nx), 60000, np.float32), dq=zeros),
        "superbias": SuperBiasModel(data=np.full((ny, nx), BIAS, np.float32), err=np.zeros((ny, nx), np.float32), dq=zeros),
        "linearity": LinearityModel(coeffs=coeffs, dq=zeros),
        "dark": dark,
        "gain": GainModel(data=np.full((ny, nx), GAIN, np.float32)),
        # CDS noise (difference of two reads), the convention of stcal's ramp fit: per-read noise * sqrt(2)
        "readnoise": ReadnoiseModel(data=np.full((ny, nx), READ_NOISE * np.sqrt(2.0), np.float32)),
    }
    entries = []
    match = {"META.INSTRUMENT.DETECTOR": detector, "META.SUBARRAY.NAME": sa.name}
    for reftype, model in models.items():
        _set_ref_meta(model, reftype, f"Synthetic NIRSpec {reftype} (jwstspec demo)", sa, detector)
        name = f"jwst_nirspec_{reftype}_synth_{detector.lower()}_{sa.name.lower()}.fits"
        with atomic_path(refdir / name) as tmp:
            model.save(tmp)
        model.close()
        entries.append(RefEntry("NIRSPEC", reftype, name, match))
    return entries


# ----------------------------------------------------------------------------- uncal ramps
def make_nirspec_ifu_uncal(path: str | Path, *, kind: str = "science", nod: int = 1, program: str = "01234",
                           observation: str = "003", grating: str = "G395H", filter: str = "F290LP",
                           detector: str = "NRS1", subarray: Subarray | tuple[int, ...] | None = None,
                           mode: str = "ifu", seed: int | None = None, nints: int = NINTS, ngroups: int = NGROUPS,
                           gwa_tilt: tuple[float, float] = (0.3, 0.13), visit: str = "001",
                           stripe_drift: bool = True) -> Path:
    """Write one NIRSpec uncal exposure (ramps) whose Detector1 rate is known.

    The rate is :func:`expected_rate` (IFU footprint or fixed-slit trace,
    sky, the source at the nod's position for science) plus 1/f stripes
    (different per exposure and integration); the ramps add Poisson noise
    and ``READ_NOISE`` per group on top of ``BIAS``.  The references of
    :func:`write_nirspec_references` (same ``subarray``, ``detector``,
    ``ngroups``) calibrate it.  ``stripe_drift=False`` gives stripes
    constant along each column (the model of jwst's ``median`` clean).  The seed defaults to one derived from
    kind, nod, program, observation and detector (reproducible).

    Returns
    -------
    Path
        ``path``; name it ``jw<program><obs><visit>_<group>_<exp>_<det>_uncal.fits``
        so that Detector1 names the rate after it.
    """
    from stdatamodels.jwst.datamodels import Level1bModel

    path = Path(path)
    sa = _subarray(subarray)
    shape = (sa.ysize, sa.xsize)
    rng = np.random.default_rng(seed if seed is not None else _seed(kind, nod, program, observation, detector, mode))
    rate = expected_rate(kind, nod=nod, shape=shape, mode=mode)[None] + stripes(rng, nints, shape, smooth=stripe_drift)
    t = GROUP_TIME * np.arange(1, ngroups + 1)
    signal = rate[:, None] * t[None, :, None, None]  # (nints, ngroups, ny, nx)
    increments = np.diff(signal, axis=1, prepend=0.0)
    shot = rng.normal(size=increments.shape) * np.sqrt(np.clip(increments, 0, None) / GAIN)
    ramps = BIAS + np.cumsum(increments + shot, axis=1) + rng.normal(0, READ_NOISE, signal.shape)
    m = Level1bModel(data=np.clip(np.round(ramps), 0, 65535).astype(np.uint16))
    m.meta.telescope = "JWST"
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", detector
    m.meta.instrument.filter, m.meta.instrument.grating = filter, grating
    m.meta.instrument.gwa_xtilt, m.meta.instrument.gwa_ytilt = gwa_tilt
    m.meta.exposure.type = "NRS_IFU" if mode == "ifu" else "NRS_FIXEDSLIT"
    m.meta.exposure.readpatt = "NRSRAPID"
    m.meta.exposure.nints, m.meta.exposure.ngroups = nints, ngroups
    m.meta.exposure.nframes, m.meta.exposure.groupgap = 1, 0
    m.meta.exposure.frame_time = m.meta.exposure.group_time = GROUP_TIME
    m.meta.exposure.integration_time = GROUP_TIME * ngroups
    e = m.meta.exposure
    e.start_time, e.mid_time, e.end_time = 60310.0 + nod * 0.01, 60310.001 + nod * 0.01, 60310.002 + nod * 0.01
    e.nresets_at_start, e.drop_frames1 = 1, 0
    m.meta.observation.date, m.meta.observation.time = "2024-01-01", "00:00:00"
    m.meta.observation.program_number = program
    m.meta.observation.observation_number = observation
    m.meta.observation.visit_number = visit
    m.meta.observation.exposure_number = str(nod)
    m.meta.observation.bkgdtarg = kind == "background"
    m.meta.dither.position_number = nod
    m.meta.dither.primary_type = "2-POINT-NOD" if mode == "ifu" else "3-POINT-NOD"
    m.meta.target.proposer_name = "SYNTH-NRS"
    m.meta.subarray.name, m.meta.subarray.xstart, m.meta.subarray.ystart = sa.name, sa.xstart, sa.ystart
    m.meta.subarray.xsize, m.meta.subarray.ysize = sa.xsize, sa.ysize
    m.meta.subarray.fastaxis, m.meta.subarray.slowaxis = 2, 1
    with atomic_path(path) as tmp:
        m.save(tmp)
    m.close()
    return path
