"""The embedded demo: a synthetic program processed end to end.

:func:`build_demo` writes, under one directory,

* ``crds/``: a local CRDS cache (mappings + synthetic references) so the
  real ``jwst`` pipelines resolve every reference with no network, exactly
  as they do from a user's synced cache;
* ``raw/miri/``: a MIRI MRS observation (obs 001: a point source at
  ``n_dithers`` dither positions; obs 002: a dedicated background);
* ``raw/nirspec/``: a NIRSpec IFU observation (``nirspec-ifu``: obs 003, a
  point source at 2 dither positions, 1 in the default demo, and a leakcal/imprint exposure;
  obs 004, a dedicated background) as full-frame uncal ramps placed with
  the synthetic NIRSpec model's own WCS;
* ``raw/nirspec/``, obs 005 (``nirspec-fs``): a NIRSpec fixed-slit point
  source (S200A1, G395H/F290LP, NRS1, SUBS200A1, 2-point nod) as uncal
  ramps placed with the synthetic NIRSpec model's own WCS;
* ``raw/miri/``, obs 011 (``miri-mrs-full``): a realistic MIRI MRS program,
  all three grating settings (SHORT, MEDIUM, LONG) on both detectors, the
  twelve sub-bands 4.9-27.9 um (:data:`MRS_FULL_DITHERS` science dither,
  obs 012: :data:`MRS_FULL_BACKGROUNDS` background exposure per setting
  and detector), with a :data:`MRS_FULL_FRINGE` residual fringe and the
  1B -> 3A spectral leak (:func:`~jwstspec.synthetic.miri_mrs.leak_fraction`);
* ``raw/miri/``, obs 006 (``miri-lrs``): a MIRI LRS fixed-slit point source
  (P750L, FULL, 2-point nod) and obs 007 (``miri-lrs-tso``): a slitless
  time series with a transit (SLITLESSPRISM), as uncal ramps placed with
  jwst's LRS WCS on the toy references of
  :mod:`jwstspec.synthetic.miri_lrs_model`;
* ``raw/nirspec/``, obs 010 (``nirspec-bots``): a NIRSpec bright-object
  time series (``NRS_BRIGHTOBJ``, S1600A1, G395H/F290LP, SUB2048,
  :data:`BOTS_NINTS` integrations with a grey box transit of depth
  :data:`BOTS_DEPTH`) on NRS1 and NRS2 (the G395H spectrum continues onto
  NRS2: one exposure per detector, the same integrations) as uncal ramps
  placed with the model's WCS;
* ``raw/nirspec/``, obs 008 (``nirspec-mos``): NIRSpec MOS (G395H/F290LP,
  NRS1 and NRS2, SUBS200A1), two sources (a bright and a faint one) in two
  3-shutter slitlets, a 3-point nod, as uncal ramps placed with the model's
  WCS, and their MSA metadata file (:mod:`jwstspec.synthetic.nirspec_mos`);
* ``data/``: the data directory the runs write into;
* ``<configuration>.toml``: the run configurations.

Which observations are generated and run is ``branches``
(``jwstspec demo --only NAME[,NAME]``, :data:`OBSERVATIONS`).  Every run
compares its final spectra with the injected truth (:func:`check_truth`:
``combined/demo_truth.json``).

Every branch runs every stage with the real pipelines (references from
the local CRDS cache, NIRSpec's optical model from
:mod:`jwstspec.synthetic.nirspec_model`):

* MIRI MRS: uncal -> Detector1 -> Spec2 (background association) -> Spec3
  -> extraction per dither -> combine;
* NIRSpec IFU (G395H/F290LP, NRS1 and NRS2; the default demo NRS1 alone):
  uncal -> Detector1 -> 1/f ->
  ``calwebb_spec2`` (a level-2 association: the background exposure and
  the imprint exposure as ``imprint`` member, which ``imprint_subtract``
  removes from science and background) -> ``calwebb_spec3`` (one cube of
  both dithers and detectors) -> extraction -> combine.  Stage 2 writes no cube
  (``cube_build`` and ``extract_1d`` skipped there: the spectrum comes
  from the Stage 3 cube, and Stage 2's cube was the largest cost of the
  branch);
* NIRSpec fixed slit: Detector1 -> nod subtraction -> ``calwebb_spec2`` ->
  ``calwebb_spec3`` -> extraction of the primary slit per nod -> combine.

The MIRI LRS branches run every stage with the real pipelines: slit
Detector1 -> nod subtraction -> Spec2 -> Spec3 -> extraction per nod ->
combine; slitless Detector1 -> Spec2 -> Tso3 -> light curves (its
``demo_truth.json`` record has ``depth_ratio``, the white-light depth over
the injected one).

The bright-object time series runs Detector1 -> ``calwebb_spec2`` per
detector -> one ``calwebb_tso3`` of both detectors (jwst's ``tso3``
association rule groups NRS1 and NRS2 in one product) -> light curves
(:mod:`jwstspec.timeseries`: one time series over both detectors), with
``depth_ratio`` in its ``demo_truth.json`` record like the LRS time series.

Running the generated configurations through the Prefect flow is
:func:`flows.demo.run_demo` (the science package never imports the flow).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.config import PipelineConfig, save_config, validate_config
from jwstspec.crds import SERVERLESS

log = logging.getLogger("jwstspec.demo")

PROGRAM = "01234"
MIRI_OBS, MIRI_BKG_OBS = "001", "002"
#: background exposures of the MIRI MRS observation (``asn`` background: jwst averages them; one keeps the demo short)
MIRI_BACKGROUNDS = 1
NIRSPEC_OBS, NIRSPEC_BKG_OBS = "003", "004"
NIRSPEC_FS_OBS = "005"
LRS_OBS, LRS_TSO_OBS = "006", "007"
NIRSPEC_BOTS_OBS = "010"
NIRSPEC_MOS_OBS = "008"
MRS_FULL_OBS, MRS_FULL_BKG_OBS = "011", "012"
#: the twelve-band MRS program: science dithers and background exposures per setting and detector (6 Detector1
#: runs each), and the amplitude of the residual fringe its exposures carry (removed by residual_fringe + defringe)
MRS_FULL_DITHERS, MRS_FULL_BACKGROUNDS, MRS_FULL_FRINGE = 1, 1, 0.05
#: Stage 3 steps the MRS demo runs skip: jwstspec extracts the cubes (jwst's extract_1d) and corrects the leak on
#: its own spectra in combine (jwst's spectral_leak works on extract_1d's x1d only and warns without one)
MRS_STAGE3_SKIPS = {"extract_1d": {"skip": True}, "spectral_leak": {"skip": True}}
CONTEXT = "jwst_0000.pmap"

#: the demo's observations by the name ``jwstspec demo --only`` takes -> the configurations that run them
OBSERVATIONS: dict[str, tuple[str, ...]] = {
    "miri-mrs": ("miri", "miri-stage3"),
    "miri-mrs-full": ("miri-full",),
    "nirspec-ifu": ("nirspec",),
    "nirspec-fs": ("nirspec-fs",),
    "miri-lrs": ("miri-lrs",),
    "miri-lrs-tso": ("miri-lrs-tso",),
    "nirspec-bots": ("nirspec-bots",),
    "nirspec-mos": ("nirspec-mos",),
}
#: what ``jwstspec demo`` runs without ``--only`` (``nirspec-fs``, ``miri-lrs``, ``miri-lrs-tso`` and
#: ``nirspec-bots`` run with ``--only``)
DEFAULT_OBSERVATIONS: tuple[str, ...] = ("miri-mrs", "nirspec-ifu")
#: NIRSpec fixed slit: S200A1, G395H/F290LP on NRS1, SUBS200A1, a 2-point nod (dither y offsets, arcsec)
FS_SLIT, FS_SUBARRAY, FS_NODS = "S200A1", "SUBS200A1", (-0.75, 0.75)
#: the fixed-slit source is this many times :func:`~jwstspec.synthetic.nirspec_exposures.point_source_jy`
#: (100 Jy at 4 micron, ~3 % noise per extracted point; at 1 Jy the points were noise-dominated,
#: 10-90 % of flux/truth -3.8..6.2 per nod, and the median of the combined ratio read 1.06)
FS_SCALE = 1.0e5
#: MIRI LRS slitless time series: integrations, the transit (first, last+1) and the source scale
LRS_TSO_NINTS, LRS_TSO_TRANSIT, LRS_TSO_SCALE = 24, (8, 16), 20.0
#: MIRI LRS slit: extraction half-width (pixels) of the demo
LRS_RADIUS_PX = 7
#: NIRSpec MOS: G395H/F290LP on NRS1 and NRS2 (each slitlet's spectrum continues onto NRS2), SUBS200A1 (the
#: rows of the demo's two slitlets on both detectors)
MOS_DETECTORS = ("NRS1", "NRS2")
#: NIRSpec bright-object time series: S1600A1, G395H/F290LP on NRS1 and NRS2, SUB2048
BOTS_SUBARRAY, BOTS_DETECTORS = "SUB2048", ("NRS1", "NRS2")
#: integrations, the box transit (first and last integration inside, 0-based) and its depth (grey)
BOTS_NINTS, BOTS_TRANSIT, BOTS_DEPTH = 16, (5, 10), 0.01
#: the BOTS source is this many times :func:`~jwstspec.synthetic.nirspec_exposures.point_source_jy` (1000 Jy at
#: 4 micron, ~40 % of saturation in 5 groups): photon noise ~0.015 % of the white light per integration (gain 1)
BOTS_SCALE = 1.0e6
#: NIRSpec IFU: G395H/F290LP on NRS1 and NRS2 (the G395H spectrum continues onto NRS2 past ~4.1 micron), full
#: frame; telescope offsets (RA, Dec arcsec) of the 2 dithers from the target
IFU_GRATING, IFU_DETECTORS = "G395H", ("NRS1", "NRS2")
IFU_DITHERS = ((-0.075, -0.075), (0.075, 0.075))
#: 1/f read-out noise (DN/s rms) in every model-placed NIRSpec exposure (``synthetic.nirspec.readout_1f``: in the
#: detector's read order, so mostly column stripes in DMS images), about the per-pixel rate noise of a 3-group
#: ramp (0.33 DN/s): a column's stripe stands far above the noise of its median.  On full frames Detector1's
#: ``refpix`` takes part of it (its side reference pixels see it), the flow's 1/f correction the rest
NIRSPEC_STRIPE_SIGMA = 0.4
#: IFU dithers of the default ``jwstspec demo`` (with MIRI MRS): the first of :data:`IFU_DITHERS` alone,
#: because each full-frame dither costs a Detector1 and a Spec2 pass and a share of Spec3, and the
#: default demo must stay under 6 minutes on 2 cores; ``--only nirspec-ifu`` (and :func:`build_demo`'s
#: default) observes both
DEFAULT_DEMO_IFU_DITHERS = 1
#: IFU detectors of the default ``jwstspec demo``: NRS1 alone, for the same reason (each detector doubles every
#: exposure's Detector1 and Spec2); ``--only nirspec-ifu`` (and :func:`build_demo`'s default) observes both
DEFAULT_DEMO_IFU_DETECTORS = ("NRS1",)
#: the IFU point source is this many times :func:`~jwstspec.synthetic.nirspec_exposures.point_source_jy`
#: (1000 Jy at 4 micron: ~1000 DN in the brightest pixel in 3 groups, with this model's photom)
IFU_SCALE = 1.0e6
#: the IFU sky, MJy/sr (~0.6 DN/s per slice pixel with this model's photom)
IFU_SKY_MJYSR = 5.0e6
#: Gaussian sigma (arcsec) of the IFU point source
IFU_SIGMA_ARCSEC = 0.15
#: older names of ``branches`` (benchmarks, tests)
_ALIASES = {"miri": "miri-mrs", "nirspec": "nirspec-ifu"}


def parse_only(text: str | None) -> tuple[str, ...]:
    """The observations named by ``--only NAME[,NAME]`` (None: the default set), in the demo's order.

    Raises
    ------
    OptionError
        An unknown or empty name (the message lists the known ones).
    """
    from jwstspec.errors import OptionError

    if text is None:
        return DEFAULT_OBSERVATIONS
    names = [n.strip() for n in str(text).split(",")]
    unknown = [n for n in names if n not in OBSERVATIONS]
    if not names or unknown:
        raise OptionError("--only", f"unknown observation {', '.join(map(repr, unknown)) or repr(text)}; "
                                    f"known: {', '.join(OBSERVATIONS)}")
    return tuple(n for n in OBSERVATIONS if n in names)


def _observations(branches: tuple[str, ...] | None) -> tuple[str, ...]:
    """Normalise ``branches`` (names of :data:`OBSERVATIONS` or their older aliases)."""
    if branches is None:
        return DEFAULT_OBSERVATIONS
    return parse_only(",".join(_ALIASES.get(b, b) for b in branches))

@dataclasses.dataclass
class Demo:
    """Paths and truth of a generated demo."""

    root: Path
    crds_path: Path
    data_dir: Path
    configs: dict[str, PipelineConfig]
    config_files: dict[str, Path]
    truth: dict[str, Any]
    observations: tuple[str, ...] = DEFAULT_OBSERVATIONS


def write_references(crds_path: Path, branches: tuple[str, ...] | None = None) -> Path:
    """Write every synthetic reference of the demo into one local CRDS cache.

    ``branches``: observations of :data:`OBSERVATIONS` (default all); the
    MIRI references come with ``miri-mrs``, the NIRSpec ones with any
    NIRSpec observation.  The reference models are built without
    validation on assignment and validated when saved
    (:func:`~jwstspec.synthetic.datamodels.assignment_unvalidated`).
    """
    from jwstspec.synthetic.datamodels import assignment_unvalidated

    with assignment_unvalidated():
        return _write_references(crds_path, branches)


def _write_references(crds_path: Path, branches: tuple[str, ...] | None) -> Path:
    names = _observations(branches) if branches is not None else tuple(OBSERVATIONS)
    from jwstspec.synthetic.crds_cache import write_crds_cache
    from jwstspec.synthetic.miri_lrs import write_lrs_references
    from jwstspec.synthetic.miri_mrs import write_miri_references

    crds_path = Path(crds_path)
    miri = any(n.startswith("miri") for n in names)
    entries = list(write_miri_references(crds_path)) + list(write_lrs_references(crds_path)) if miri else []
    if miri:
        from jwstspec.synthetic.miri_lrs_model import write_lrs_model_references
        from jwstspec.synthetic.miri_mrs import write_mrs_program_references

        entries += write_mrs_program_references(crds_path)  # the other eleven MRS sub-bands
        entries += write_lrs_model_references(crds_path)  # the toy LRS slit/slitless instrument
    if any(n.startswith("nirspec") for n in names):
        from jwstspec.synthetic.nirspec import write_nirspec_references
        from jwstspec.synthetic.nirspec_model import write_nirspec_model

        entries += list(write_nirspec_references(crds_path))
        entries += list(write_nirspec_references(crds_path, subarray=_fs_subarray()))  # fixed slit and MOS, NRS1
        entries += list(write_nirspec_references(crds_path, subarray=_fs_subarray(), detector="NRS2"))  # MOS, NRS2
        for det in BOTS_DETECTORS:  # BOTS
            entries += list(write_nirspec_references(crds_path, subarray=_model_subarray(BOTS_SUBARRAY), detector=det))
        from jwstspec.synthetic.nirspec_exposures import IFU_NGROUPS

        for det in IFU_DETECTORS:  # the IFU: full frame, IFU_NGROUPS groups
            entries += list(write_nirspec_references(crds_path, subarray=_model_subarray("FULL"), detector=det, ngroups=IFU_NGROUPS))
        entries += write_nirspec_model(crds_path)  # optical model + Stage 2 calibration (written once per cache)
    from jwstspec.synthetic.demo_apcorr import write_apcorr_references

    instruments = (("MIRI",) if miri else ()) + (("NIRSPEC",) if any(n.startswith("nirspec") for n in names) else ())
    entries += write_apcorr_references(crds_path, instruments)  # point-source aperture corrections of the injected PSFs
    write_crds_cache(crds_path, entries, context=CONTEXT)
    if branches is None:
        from jwstspec.fileio import atomic_write_text

        atomic_write_text(references_stamp(crds_path), f"{REFERENCES_VERSION}\n")
    return crds_path


#: version of the demo's CRDS cache content: a cache without this version's stamp is written again
#: (2: the apcorr references; 3: the BOTS NRS2 Detector1 references, G140M across NRS1 only; 4: the twelve MRS
#: sub-bands, the 1B -> 3A leak in mrsptcorr; 5: the IFU's NRS2 full-frame Detector1 references; 6: SUBS200A1
#: on NRS2 for MOS)
REFERENCES_VERSION = 6


def references_stamp(crds_path: Path) -> Path:
    """The file recording that the cache at ``crds_path`` holds every demo reference of :data:`REFERENCES_VERSION`."""
    return Path(crds_path) / "config" / "jwst" / f".jwstspec-demo-refs-v{REFERENCES_VERSION}"


def _fs_subarray() -> Any:
    return _model_subarray(FS_SUBARRAY)


def _model_subarray(name: str) -> Any:
    """Subarray ``name`` of the synthetic NIRSpec model as the Detector1 references take it."""
    from jwstspec.synthetic.nirspec import Subarray
    from jwstspec.synthetic.nirspec_model import SUBARRAYS

    return Subarray(name, *SUBARRAYS[name])


def fs_truth_jy(wavelength_um: np.ndarray) -> np.ndarray:
    """The injected spectrum (Jy) of the demo's fixed-slit point source."""
    from jwstspec.synthetic.nirspec_exposures import point_source_jy

    return FS_SCALE * point_source_jy(wavelength_um)


def _nirspec_fs(raw: Path, layout: Any) -> list[Path]:
    """The fixed-slit observation: one uncal exposure per nod, the source placed by the model's WCS."""
    from jwstspec.synthetic.nirspec_exposures import fixed_slit_uncal

    paths = []
    for nod, offset in enumerate(FS_NODS, start=1):
        name = f"jw{PROGRAM}{NIRSPEC_FS_OBS}001_03101_0000{nod}_nrs1_uncal.fits"
        exp = fixed_slit_uncal(raw / "nirspec" / name, slit=FS_SLIT, subarray=FS_SUBARRAY, truth=fs_truth_jy,
                               nod_offset_arcsec=offset, seed=100 + nod, stripe_sigma=NIRSPEC_STRIPE_SIGMA, program=PROGRAM,
                               observation=NIRSPEC_FS_OBS, exposure=nod, nod=nod)
        paths.append(exp.path)
    _place(paths, layout.uncal_dir(NIRSPEC_FS_OBS))
    return paths


def bots_truth_jy(wavelength_um: Any) -> np.ndarray:
    """The out-of-transit spectrum (Jy) of the demo's bright-object time series (a spectrum or wavelengths)."""
    from jwstspec.synthetic.nirspec_exposures import point_source_jy

    return BOTS_SCALE * point_source_jy(getattr(wavelength_um, "wavelength", wavelength_um))


def bots_transit() -> Any:
    """The demo's BOTS transit as a :class:`~jwstspec.synthetic.miri_lrs.TransitTruth` (grey: one depth)."""
    from jwstspec.synthetic.miri_lrs import TransitTruth

    first, last = BOTS_TRANSIT
    return TransitTruth(BOTS_NINTS, tuple(first <= i <= last for i in range(BOTS_NINTS)), BOTS_DEPTH, BOTS_DEPTH)


def bots_baseline() -> list[list[int]]:
    """The out-of-transit integrations of the demo's time series (1-based inclusive ranges, ``[timeseries]``)."""
    first, last = BOTS_TRANSIT
    return [[1, first], [last + 2, BOTS_NINTS]]


def _nirspec_bots(raw: Path, layout: Any) -> list[Any]:
    """The bright-object time series: one uncal exposure of :data:`BOTS_NINTS` integrations per detector.

    As on the telescope, NRS1 and NRS2 record the same integrations of one
    exposure (the same transit); each detector's ramps are placed with the
    model's WCS for that detector.
    """
    from jwstspec.synthetic.nirspec_exposures import bots_uncal

    exps = []
    for k, det in enumerate(BOTS_DETECTORS):
        name = f"jw{PROGRAM}{NIRSPEC_BOTS_OBS}001_04101_00001_{det.lower()}_uncal.fits"
        exps.append(bots_uncal(raw / "nirspec" / name, detector=det, subarray=BOTS_SUBARRAY, truth=bots_truth_jy,
                               nints=BOTS_NINTS, transit=BOTS_TRANSIT, depth=BOTS_DEPTH, seed=200 + k,
                               stripe_sigma=NIRSPEC_STRIPE_SIGMA, program=PROGRAM,
                               observation=NIRSPEC_BOTS_OBS))
    _place([e.path for e in exps], layout.uncal_dir(NIRSPEC_BOTS_OBS))
    return exps


def _nirspec_mos(raw: Path, layout: Any) -> list[Path]:
    """The MOS observation: the MSA metadata file and one uncal exposure per nod and detector, placed with it in ``uncal/``."""
    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES, mos_uncal, write_msa_metadata

    msa = write_msa_metadata(raw / "nirspec" / f"jw{PROGRAM}{NIRSPEC_MOS_OBS}001_01_msa.fits", DEMO_SOURCES,
                             program=PROGRAM)
    paths = [msa]
    for k, det in enumerate(MOS_DETECTORS):  # NRS1 and NRS2 record the same nods
        for nod in (1, 2, 3):
            name = f"jw{PROGRAM}{NIRSPEC_MOS_OBS}001_03101_0000{nod}_{det.lower()}_uncal.fits"
            exp = mos_uncal(raw / "nirspec" / name, msa, nod=nod, detector=det, seed=200 + 10 * k + nod,
                            stripe_sigma=NIRSPEC_STRIPE_SIGMA, program=PROGRAM, observation=NIRSPEC_MOS_OBS)
            paths.append(exp.path)
    _place(paths, layout.uncal_dir(NIRSPEC_MOS_OBS))
    return paths


def mos_truth(spec: Any) -> np.ndarray:
    """The injected spectrum (Jy) of a demo MOS spectrum, by the source of its slit (``SLITNAME``)."""
    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES, truth_of_slit

    return truth_of_slit(str(spec.meta.get("SLITNAME", "")), DEMO_SOURCES)(spec.wavelength)


def ifu_truth_jy(wavelength_um: np.ndarray) -> np.ndarray:
    """The injected spectrum (Jy) of the demo's NIRSpec IFU point source."""
    from jwstspec.synthetic.nirspec_exposures import point_source_jy

    return IFU_SCALE * point_source_jy(wavelength_um)


def ifu_cube_wavemax(crds: Path, detectors: tuple[str, ...] = IFU_DETECTORS) -> float:
    """Longest wavelength (micron) the IFU ``detectors`` see, rounded up to 0.01 micron.

    ``cube_build`` takes a NIRSpec cube's wavelength range from the
    ``cubepar`` reference, which spans the whole grating (G395H/F290LP:
    2.87-5.27 micron over NRS1 and NRS2).  The default demo observes NRS1
    only (:data:`DEFAULT_DEMO_IFU_DETECTORS`: NRS1 reaches ~4.1 micron), so
    without a ``wavemax`` about half the Stage 3 cube's planes stay empty
    and still cost ``cube_build`` and ``extract_1d`` their time.  The value
    is read from the pixel map the exposures are placed with (jwst's own
    WCS, cached beside the model).
    """
    from jwstspec.synthetic.crds_cache import activate
    from jwstspec.synthetic.nirspec_exposures import ifu_pixel_map

    activate(crds, CONTEXT)  # a missing map is made again with assign_wcs on this cache's model
    top = max(float(ifu_pixel_map(IFU_GRATING, det, crds_path=crds)["lam"].max()) for det in detectors)
    return float(np.ceil(top * 100) / 100)


def _ifu_sky(wavelength_um: np.ndarray) -> np.ndarray:
    return np.full(np.shape(wavelength_um), IFU_SKY_MJYSR)


def _ifu_exposure_names(detector: str, n_dithers: int = len(IFU_DITHERS)) -> list[tuple[str, str]]:
    """``[(observation, uncal file name)]`` of the IFU observation on ``detector``.

    The first ``n_dithers`` science dithers, then the leakcal (imprint)
    exposure of the pointing and the background exposure.
    """
    d = detector.lower()
    return ([(NIRSPEC_OBS, f"jw{PROGRAM}{NIRSPEC_OBS}001_03101_0000{k}_{d}_uncal.fits") for k in range(1, n_dithers + 1)]
            + [(NIRSPEC_OBS, f"jw{PROGRAM}{NIRSPEC_OBS}001_03103_00001_{d}_uncal.fits"),
               (NIRSPEC_BKG_OBS, f"jw{PROGRAM}{NIRSPEC_BKG_OBS}001_03101_00001_{d}_uncal.fits")])


def _nirspec_ifu(raw: Path, layout: Any, n_dithers: int = len(IFU_DITHERS),
                 detectors: tuple[str, ...] = IFU_DETECTORS) -> list[Path]:
    """The IFU observation on ``detectors``: ``n_dithers`` dithers, a leakcal (imprint) exposure and a background.

    The dithers are the first ``n_dithers`` of :data:`IFU_DITHERS`, on each
    of ``detectors`` (of :data:`IFU_DETECTORS`); every exposure is placed by
    the model's WCS for its detector.

    Exposures beyond this observation left by an earlier demo in the same
    directory (further dithers, another detector) are removed (raw and
    placed copies), so the flow finds exactly this observation.
    """
    from jwstspec.errors import OptionError
    from jwstspec.synthetic.nirspec_exposures import ifu_uncal, msa_leak_rate

    if not 1 <= n_dithers <= len(IFU_DITHERS):
        raise OptionError("ifu_dithers", f"{n_dithers} must be 1..{len(IFU_DITHERS)}")
    if not detectors or not set(detectors) <= set(IFU_DETECTORS):
        raise OptionError("ifu_detectors", f"{', '.join(detectors) or 'none'}: must be some of {', '.join(IFU_DETECTORS)}")
    for det in IFU_DETECTORS:
        keep = set(_ifu_exposure_names(det, n_dithers)) if det in detectors else set()
        for obs, name in set(_ifu_exposure_names(det)) - keep:
            for directory in (raw / "nirspec", layout.uncal_dir(obs)):
                (directory / name).unlink(missing_ok=True)
    leak = msa_leak_rate()
    science, background = [], []
    for det in detectors:
        names = _ifu_exposure_names(det, n_dithers)
        s0 = 100 * IFU_DETECTORS.index(det)  # each detector its own noise
        for k, (offset, (_, name)) in enumerate(zip(IFU_DITHERS, names[:n_dithers], strict=False), start=1):
            science.append(ifu_uncal(raw / "nirspec" / name, kind="science", grating=IFU_GRATING, detector=det,
                                     truth=ifu_truth_jy, pointing_offset_arcsec=offset, sigma_arcsec=IFU_SIGMA_ARCSEC,
                                     sky_mjysr=_ifu_sky, leak=leak, seed=s0 + 200 + k, stripe_sigma=NIRSPEC_STRIPE_SIGMA,
                                     program=PROGRAM,
                                     observation=NIRSPEC_OBS, exposure=k, nod=k).path)
        (_, imprint), (_, bkg) = names[n_dithers:]
        science.append(ifu_uncal(raw / "nirspec" / imprint, kind="imprint", grating=IFU_GRATING, detector=det,
                                 leak=leak, seed=s0 + 210, stripe_sigma=NIRSPEC_STRIPE_SIGMA, program=PROGRAM, observation=NIRSPEC_OBS, exposure=1, nod=1).path)
        background.append(ifu_uncal(raw / "nirspec" / bkg, kind="background", grating=IFU_GRATING, detector=det,
                                    sky_mjysr=_ifu_sky, leak=leak, seed=s0 + 220, stripe_sigma=NIRSPEC_STRIPE_SIGMA,
                                    program=PROGRAM,
                                    observation=NIRSPEC_BKG_OBS, exposure=1, nod=1).path)
    _place(science, layout.uncal_dir(NIRSPEC_OBS))
    _place(background, layout.uncal_dir(NIRSPEC_BKG_OBS))
    return science + background


def _place(paths: list[Path], directory: Path) -> None:
    """Hard-link (or copy) raw files into an uncal directory (replacing a placed file that differs)."""
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    for p in paths:
        dest = directory / Path(p).name
        if dest.exists():
            if os.path.samefile(p, dest) or _identity(dest) == _identity(Path(p)):
                continue
            dest.unlink()
        try:
            os.link(p, dest)
        except OSError:
            shutil.copy2(p, dest)


#: identity of the demo's generated data; change it when the generators change what they write
#: (2: 1/f stripes in the NIRSpec IFU and BOTS exposures; 3: fixed-slit and MOS nods move the pointing;
#: 4: 1/f stripes in the fixed-slit and MOS exposures; 5: the 1/f noise in the read order, reference pixels included)
DATA_VERSION = 5


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def data_files(root: Path, data: Path) -> dict[Path, list[int]]:
    """Identity of the files the demo's generators write: the raw exposures and their placed copies."""
    dirs = [root / "raw"] + sorted(data.glob("*/Obs*/uncal"))
    return {p: _identity(p) for d in dirs if d.is_dir() for p in d.rglob("*.fits")}


def data_stamp(root: Path, files: list[Path], key: str) -> dict[str, Any]:
    """The identity of the generated data: version, options and each file's size and mtime (not content)."""
    from jwstspec import __version__

    return {"version": DATA_VERSION, "jwstspec": __version__, "key": key,
            "files": {str(p.relative_to(root)): _identity(p) for p in files}}


def stamp_matches(stamp_file: Path, root: Path, key: str) -> bool:
    """Whether the data recorded in ``stamp_file`` are all there, unchanged (size and mtime), for ``key``.

    A missing or unreadable stamp, another data version or options, a
    missing, resized or touched file: ``False`` (the data are generated
    again).  Nothing is read but the stamp and the files' metadata.
    """
    import json

    from jwstspec import __version__

    try:
        stamp = json.loads(stamp_file.read_text())
        if (stamp.get("version"), stamp.get("jwstspec"), stamp.get("key")) != (DATA_VERSION, __version__, key):
            return False
        files = stamp["files"]
        return bool(files) and all(_identity(root / rel) == list(ident) for rel, ident in files.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _generate(raw: Path, data: Path, crds: Path, layout: Any, n_dithers: int, name: str,
              ifu_dithers: int = len(IFU_DITHERS), ifu_detectors: tuple[str, ...] = IFU_DETECTORS) -> dict[str, Any]:
    """Write the synthetic raw files of observation ``name`` into the layout; return its truth."""
    from jwstspec.synthetic.miri_mrs import make_mrs_program

    truth: dict[str, Any] = {}
    if name == "miri-mrs":
        # raw files go straight into the layout's uncal directories (what Stage 0 would do)
        mrs = make_mrs_program(raw / "miri", crds, n_dithers=n_dithers, n_background=MIRI_BACKGROUNDS, program=PROGRAM,
                               sci_obs=MIRI_OBS, bkg_obs=MIRI_BKG_OBS)
        for obs, paths in mrs.uncal.items():
            _place(paths, layout.uncal_dir(obs))
        truth["miri"] = mrs
    if name == "miri-mrs-full":
        from jwstspec.synthetic.miri_mrs import DETECTOR_CHANNELS, SETTINGS

        mrs = make_mrs_program(raw / "miri", crds, n_dithers=MRS_FULL_DITHERS, n_background=MRS_FULL_BACKGROUNDS,
                               program=PROGRAM, sci_obs=MRS_FULL_OBS, bkg_obs=MRS_FULL_BKG_OBS,
                               detectors=tuple(DETECTOR_CHANNELS), settings=SETTINGS, fringe=MRS_FULL_FRINGE)
        for obs, paths in mrs.uncal.items():
            _place(paths, layout.uncal_dir(obs))
        truth["miri-full"] = mrs
    if name == "nirspec-ifu":
        from jwstspec.synthetic.crds_cache import activate

        activate(crds, CONTEXT)  # the exposures are placed with the model in this cache (pixel map cached there)
        truth["nirspec"] = _nirspec_ifu(raw, layout, ifu_dithers, ifu_detectors)
    if name in ("miri-lrs", "miri-lrs-tso"):
        from jwstspec.synthetic import miri_lrs_model as lm
        from jwstspec.synthetic.crds_cache import activate

        activate(crds, CONTEXT)  # the exposures are placed with jwst's LRS WCS on the cache's references
        if name == "miri-lrs":
            nods = [lm.make_lrs_slit_uncal(raw / "miri" / f"{lm.exposure_name(PROGRAM, LRS_OBS, n)}_uncal.fits", crds,
                                           nod=n, program=PROGRAM, observation=LRS_OBS) for n in (1, 2)]
            _place(nods, layout.uncal_dir(LRS_OBS))
            truth["miri-lrs"] = nods
        else:
            path = raw / "miri" / f"{lm.exposure_name(PROGRAM, LRS_TSO_OBS, 1)}_uncal.fits"
            truth["miri-lrs-tso"] = lm.make_lrs_slitless_uncal(
                path, crds, nints=LRS_TSO_NINTS, transit=LRS_TSO_TRANSIT, program=PROGRAM, observation=LRS_TSO_OBS,
                source_scale=LRS_TSO_SCALE)
            _place([path], layout.uncal_dir(LRS_TSO_OBS))
    if name == "nirspec-fs":
        from jwstspec.synthetic.crds_cache import activate

        activate(crds, CONTEXT)  # the exposures are placed with assign_wcs and the model in this cache
        truth["nirspec-fs"] = _nirspec_fs(raw, layout)
    if name == "nirspec-bots":
        from jwstspec.synthetic.crds_cache import activate

        activate(crds, CONTEXT)
        truth["nirspec-bots"] = _nirspec_bots(raw, layout)
    if name == "nirspec-mos":
        from jwstspec.synthetic.crds_cache import activate

        activate(crds, CONTEXT)  # the exposures are placed with assign_wcs and the model in this cache
        truth["nirspec-mos"] = _nirspec_mos(raw, layout)
    return truth


def data_dir(root: str | Path) -> Path:
    """The data directory of the demo generated under ``root``."""
    return Path(root).resolve() / "data"


def build_demo(root: str | Path, *, n_dithers: int = 2, crds_path: Path | None = None, task_runner: str = "process",
               workers: int | None = None, branches: tuple[str, ...] | None = None, verbose: bool = False,
               ifu_dithers: int = len(IFU_DITHERS), ifu_detectors: tuple[str, ...] = IFU_DETECTORS,
               overrides: dict[str, dict[str, Any]] | None = None) -> Demo:
    """Generate the demo observations, references and configurations.

    Parameters
    ----------
    root : path
        Output directory (created).
    n_dithers : int
        MIRI MRS dither positions (2: the MRS 2-point pattern; 4: the 4-point one).
    ifu_dithers : int
        NIRSpec IFU dither positions, 1 or 2 (the first ``ifu_dithers`` of
        :data:`IFU_DITHERS`; ``jwstspec demo`` without ``--only`` uses
        :data:`DEFAULT_DEMO_IFU_DITHERS`).
    ifu_detectors : tuple of str
        NIRSpec IFU detectors, some of :data:`IFU_DETECTORS` (``jwstspec
        demo`` without ``--only``: :data:`DEFAULT_DEMO_IFU_DETECTORS`).
    crds_path : Path, optional
        Existing local CRDS cache to (re)use; default ``<root>/crds``.
    task_runner, workers, verbose
        ``[runtime]`` of the generated configurations.
    branches : tuple of str, optional
        Which observations to generate and run: names of :data:`OBSERVATIONS`
        (``miri-mrs``, ``nirspec-ifu``...; ``miri``/``nirspec`` are accepted
        for the first two); default :data:`DEFAULT_OBSERVATIONS`.
    overrides : dict, optional
        ``{config name: {section: {option: value}}}`` merged into the named
        configurations (``miri``, ``miri-stage3``, ``nirspec``, ``nirspec-fs``...)
        before they are validated and saved, e.g. ``{"nirspec": {"stage3":
        {"steps": {"outlier_detection": {"skip": True}}}}}``; an unknown name
        is an error.
    """
    from jwstspec.layout import Layout

    t0 = time.perf_counter()
    root = Path(root).resolve()
    crds = Path(crds_path) if crds_path else root / "crds"
    data = data_dir(root)
    raw = root / "raw"
    for d in (data, raw / "miri", raw / "nirspec"):
        d.mkdir(parents=True, exist_ok=True)
    names = _observations(branches)
    if not references_stamp(crds).is_file():
        write_references(crds)  # every observation's references: a later --only finds them

    layout = Layout(data, PROGRAM)
    truth: dict[str, Any] = {}
    configs: dict[str, PipelineConfig] = {}
    # a second `jwstspec demo` in the same directory reuses the generated files (checked by identity:
    # sizes and mtimes), so the flow finds unchanged inputs and serves every task from its cache
    for name in names:
        ifu = f"{name}-{ifu_dithers}-{'-'.join(ifu_detectors).lower()}"
        key = {"miri-mrs": f"{name}-{n_dithers}", "nirspec-ifu": ifu}.get(name, name)
        stamp = root / f".generated-{key}"
        if stamp.is_file() and stamp.read_text() == "generated\n":
            continue  # written before the identity stamp: the files are kept as they are
        if not stamp_matches(stamp, root, key):
            import json

            from jwstspec.fileio import atomic_write_text

            stamp.unlink(missing_ok=True)
            before = data_files(root, data)
            truth.update(_generate(raw, data, crds, layout, n_dithers, name, ifu_dithers, tuple(ifu_detectors)))
            written = [p for p, ident in data_files(root, data).items() if before.get(p) != ident]
            atomic_write_text(stamp, json.dumps(data_stamp(root, written, key), indent=1))
    truth["pixel_arcsec"] = {"miri": 0.13, "nirspec": 0.1}

    common = {
        "program": PROGRAM,
        "mode": "ifu",
        "data_dir": str(data),
        "crds": {"path": str(crds), "server_url": SERVERLESS, "context": CONTEXT},
        "download": {"enabled": False},  # every observation is generated here (what Stage 0 would fetch)
        "runtime": {"task_runner": task_runner, **({"workers": workers} if workers else {}), **({"verbose": True} if verbose else {})},
    }
    if "miri-mrs" in names:
        configs["miri"] = validate_config({
        **common,
        "observation": MIRI_OBS,
        "background_observation": MIRI_BKG_OBS,
        "instrument": "miri",
        "stage1": {"bkg_subtract": "asn"},
        # jwstspec extracts the Stage 2 and Stage 3 cubes and corrects the leak in combine: Stage 3 skips
        # jwst's own extract_1d and its spectral_leak (which needs that x1d); a user's run keeps both
        "stage3": {"steps": MRS_STAGE3_SKIPS},
        # the MIRI MRS defaults run: residual_fringe (2-D, ~16 s CPU per exposure: only the ~16 columns
        # with S/N >= 10 after the background subtraction are fitted) and the 1-D [combine] defringe
        "extract": {"stage": "stage2", "method": "aperture", "radius": "4px"},
        "combine": {"spectral_leak": True},
    })
        # the same observation extracted from the Stage 3 cubes: a second extraction variant;
        # Stage 1-3 are served from the cache of the first run
        configs["miri-stage3"] = validate_config({
            **configs["miri"].model_dump(mode="json"),
            "extract": {"stage": "stage3", "method": "aperture", "radius": "4px", "variant": "stage3"},
            "combine": {"variant": "stage3", "spectral_leak": True},
        })
    if "miri-mrs-full" in names:
        # the MIRI MRS defaults, as a user's run has them: residual_fringe (2-D) in Stage 2, the 1-D defringe
        # and the spectral leak in combine; spectra from the two-channel Stage 2 cubes, cut per sub-band
        configs["miri-full"] = validate_config({
            **common,
            "observation": MRS_FULL_OBS,
            "background_observation": MRS_FULL_BKG_OBS,
            "instrument": "miri",
            "stage1": {"bkg_subtract": "asn"},
            # one dither: jwst's outlier_detection would skip itself after reading the exposure
            "stage3": {"steps": {**MRS_STAGE3_SKIPS, **({"outlier_detection": {"skip": True}} if MRS_FULL_DITHERS == 1 else {})}},
            # 6 px: 0.78" in the ch1/2 cubes (0.13" spaxels), 1.2" in the ch3/4 cubes (0.2"), ~2 FWHM at 4C's 28 um;
            # at 4 px the aperture correction does 10 % of channel 4's flux and the model's 1-2 % error shows
            "extract": {"stage": "stage2", "method": "aperture", "radius": "6px"},
        })
    if "nirspec-ifu" in names:
        both = set(ifu_detectors) == set(IFU_DETECTORS)
        ifu_wave_range = {} if both else {"wavemax": ifu_cube_wavemax(crds, tuple(ifu_detectors))}
        configs["nirspec"] = validate_config({
            **common,
            "observation": NIRSPEC_OBS,
            "background_observation": NIRSPEC_BKG_OBS,
            "instrument": "nirspec",
            # the background and the imprint go to calwebb_spec2 as members of the exposure's association
            "stage1": {"readnoise_correct": "pipeline", "bkg_subtract": "asn"},
            # the spectrum is extracted from the Stage 3 cube (all dithers): Stage 2 builds no cube of its own
            "stage2": {"steps": {"cube_build": {"skip": True}, "extract_1d": {"skip": True}}},
            # cube_build takes its wavelength range from the cubepar reference (G395H: both detectors,
            # 2.87-5.27 um); the default demo observes NRS1 alone, so its cube ends where NRS1's data end
            # jwstspec extracts the Stage 3 cube: jwst's own extract_1d is not needed (a user's run keeps it);
            # with one dither (the default demo) jwst's outlier_detection skips itself after reading the cube
            "stage3": {"steps": {"cube_build": ifu_wave_range, "extract_1d": {"skip": True},
                                 **({"outlier_detection": {"skip": True}} if ifu_dithers == 1 else {})}},
            "extract": {"stage": "stage3", "method": "aperture", "radius": "6px", "bkg_annulus": ["8px", "11px"]},
        })
    if "nirspec-fs" in names:
        configs["nirspec-fs"] = validate_config({
            **common,
            "observation": NIRSPEC_FS_OBS,
            "background_observation": NIRSPEC_FS_OBS,  # nod subtraction
            "instrument": "nirspec",
            "mode": "slit",
            "stage1": {"bkg_subtract": "pixel"},  # the NIRSpec default 1/f correction, then the nods subtracted
            "extract": {"stage": "stage2", "method": "aperture", "radius": "5px"},
        })
    if "miri-lrs" in names:
        configs["miri-lrs"] = validate_config({
            **common,
            "observation": LRS_OBS,
            "background_observation": LRS_OBS,  # nod subtraction
            "instrument": "miri",
            "mode": "slit",
            "stage1": {"readnoise_correct": "none", "bkg_subtract": "pixel"},
            "extract": {"stage": "stage2", "method": "aperture", "radius": f"{LRS_RADIUS_PX}px"},
        })
    if "nirspec-bots" in names:
        configs["nirspec-bots"] = validate_config({
            **common,
            "observation": NIRSPEC_BOTS_OBS,
            "instrument": "nirspec",
            "mode": "slit",
            "tso": True,
            # the NIRSpec default 1/f correction (jwst's clean_flicker_noise on each rateints, the slit masked)
            "timeseries": {"bins": 8, "baseline_integrations": bots_baseline()},
        })
    if "miri-lrs-tso" in names:
        configs["miri-lrs-tso"] = validate_config({
            **common,
            "observation": LRS_TSO_OBS,
            "instrument": "miri",
            "mode": "slitless",
            "tso": True,
            "stage1": {"readnoise_correct": "none", "bkg_subtract": "none"},
            "timeseries": {"bins": 8, "baseline_integrations": [[1, LRS_TSO_TRANSIT[0]],
                                                                [LRS_TSO_TRANSIT[1] + 1, LRS_TSO_NINTS]]},
        })
    if "nirspec-mos" in names:
        configs["nirspec-mos"] = validate_config({
            **common,
            "observation": NIRSPEC_MOS_OBS,
            "background_observation": NIRSPEC_MOS_OBS,  # nod subtraction
            "instrument": "nirspec",
            "mode": "slit",
            "stage1": {"bkg_subtract": "pixel"},  # the NIRSpec default 1/f correction, then the nods subtracted
            # the other nods' negative traces lie one shutter (5.3 px) from the source: a 3 px aperture keeps
            # them out, and holds a source in the end shutter of its slitlet (4-5 px from the slit image's edge)
            "extract": {"stage": "stage2", "method": "aperture", "radius": "3px"},
        })
    for name, patch in (overrides or {}).items():
        if name not in configs:
            raise ValueError(f"demo overrides: no configuration '{name}' (configurations: {', '.join(configs)})")
        configs[name] = validate_config(_merged(configs[name].model_dump(mode="json", exclude_unset=True), patch))
    files = {name: save_config(cfg, root / f"{name}.toml") for name, cfg in configs.items()}
    log.info("demo generated in %.1f s under %s", time.perf_counter() - t0, root)
    return Demo(root, crds, data, configs, files, truth, names)


def _merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in, tables (dicts) recursively, other values replaced."""
    out = dict(base)
    for key, value in patch.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def expected_point_source_flux(wavelength: np.ndarray, radius_arcsec: float) -> np.ndarray:
    """Injected MIRI source flux inside a circular aperture (Gaussian PSF of the generator)."""
    from jwstspec.synthetic.miri_mrs import psf_sigma_arcsec, source_spectrum_jy

    sigma = psf_sigma_arcsec(wavelength)
    return source_spectrum_jy(wavelength) * (1 - np.exp(-(radius_arcsec**2) / (2 * sigma**2)))


# ----------------------------------------------------------------------------- truth check
def aperture_corrected(spec: Any) -> bool:
    """Whether the spectrum's header says a point-source aperture correction was applied (``APCORR = T``)."""
    return spec.meta.get("APCORR") not in (None, False, "F", "NONE", "none", "")


def _miri_truth(spec: Any) -> np.ndarray:
    """MIRI MRS: the whole injected source when aperture-corrected, else inside the spectrum's aperture (``RADIUS`` x ``PIXSCALE``).

    A channel 3A spectrum (``CHANNEL`` 3, ``BAND`` SHORT) not corrected for
    the spectral leak (no ``LEAKCORR = T``) is compared with what 3A records,
    the source plus the 1B leak (:func:`~jwstspec.synthetic.miri_mrs.observed_spectrum_jy`).
    """
    if aperture_corrected(spec):
        from jwstspec.synthetic.miri_mrs import observed_spectrum_jy, source_spectrum_jy

        w = np.asarray(spec.wavelength, float)
        if not spec.meta.get("LEAKCORR") and (str(spec.meta.get("CHANNEL")), spec.meta.get("BAND")) == ("3", "SHORT"):
            return observed_spectrum_jy(w, "3", "SHORT")
        return source_spectrum_jy(w)
    try:
        radius_arcsec = float(spec.meta["RADIUS"]) * float(spec.meta["PIXSCALE"])
    except (KeyError, TypeError, ValueError):
        return np.full(len(spec), np.nan)  # no aperture recorded: nothing to compare
    return expected_point_source_flux(spec.wavelength, radius_arcsec)


def _nirspec_ifu_truth(spec: Any) -> np.ndarray:
    """NIRSpec IFU: the injected point source inside the spectrum's aperture, or all of it when aperture-corrected."""
    w = np.asarray(spec.wavelength, float)
    if aperture_corrected(spec):
        return ifu_truth_jy(w)
    try:
        radius_arcsec = float(spec.meta["RADIUS"]) * float(spec.meta["PIXSCALE"])
    except (KeyError, TypeError, ValueError):
        return np.full(len(w), np.nan)
    return ifu_truth_jy(w) * (1 - np.exp(-(radius_arcsec**2) / (2 * IFU_SIGMA_ARCSEC**2)))


def lrs_truth_jy(spec: Any) -> np.ndarray:
    """MIRI LRS slit: the whole injected source when aperture-corrected, else inside the demo's half-width (:data:`LRS_RADIUS_PX`)."""
    from jwstspec.synthetic import miri_lrs_model as lm

    w = np.asarray(spec.wavelength, float)
    if aperture_corrected(spec):
        return lm.source_spectrum_jy(w)
    return lm.source_spectrum_jy(w) * lm.aperture_fraction(0.0, LRS_RADIUS_PX, w)


def lrs_tso_truth_jy(spec: Any) -> np.ndarray:
    """MIRI LRS slitless: the injected out-of-transit source inside jwst's slitless box (columns 30-41, +-6 px)."""
    from jwstspec.synthetic import miri_lrs_model as lm

    w = np.asarray(spec.wavelength, float)
    return lm.source_spectrum_jy(w, scale=LRS_TSO_SCALE) * lm.aperture_fraction(0.0, 6.0, w)


def timeseries_truth_record(record: dict[str, Any], transit: Any, truth: Any = None) -> dict[str, Any]:
    """A time-series product against the injected transit: ``depth_ratio`` (white-light depth / injected).

    The injected white-light depth is the depth law of ``transit``
    (:class:`~jwstspec.synthetic.miri_lrs.TransitTruth`) weighted by the
    product's own out-of-transit spectrum over the white-light band
    (``WAVE_LO``-``WAVE_HI``); ``median_ratio`` compares that spectrum with
    ``truth`` (default :func:`lrs_tso_truth_jy`).
    """
    from astropy.table import Table

    from jwstspec.synthetic.truth import truth_record

    oot = Table.read(record["oot_spectrum"], hdu="EXTRACT1D")
    meta = Table.read(record["whitelight"], format="ascii.ecsv").meta
    w, f = np.asarray(oot["WAVELENGTH"], float), np.asarray(oot["FLUX"], float)
    inside = (w >= meta["WAVE_LO"]) & (w <= meta["WAVE_HI"]) & np.isfinite(f)
    injected = float(np.sum(f[inside] * transit.depth(w[inside])) / np.sum(f[inside]))
    out = truth_record(record["oot_spectrum"], truth or lrs_tso_truth_jy)
    return {**out, "depth": round(float(record["depth"]), 6), "depth_injected": round(injected, 6),
            "depth_ratio": round(float(record["depth"]) / injected, 5)}


def truth_of(config_name: str) -> Any:
    """The injected truth of a demo configuration: spectrum -> flux (Jy) on its wavelengths."""
    truths = {"miri": _miri_truth, "miri-stage3": _miri_truth, "miri-full": _miri_truth, "nirspec": _nirspec_ifu_truth,
              "nirspec-fs": lambda spec: fs_truth_jy(spec.wavelength), "miri-lrs": lrs_truth_jy,
              "miri-lrs-tso": lrs_tso_truth_jy, "nirspec-bots": bots_truth_jy, "nirspec-mos": mos_truth}
    try:
        return truths[config_name]
    except KeyError:
        raise ValueError(f"demo configuration {config_name!r} has no truth; known: {', '.join(truths)}") from None


def check_truth(demo: Demo, config_name: str, products: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Compare the final products of one demo run with the injected truth; write ``demo_truth.json``.

    Parameters
    ----------
    demo : Demo
        The generated demo.
    config_name : str
        Key of ``demo.configs``.
    products : dict
        The run's final products (``RunResult.products``: ``{band: {"fits": path, ...}}``).

    Returns
    -------
    path : Path
        ``combined[-<variant>]/demo_truth.json`` of the run.
    records : dict
        ``{product name: {"median_ratio", "frac_within_3pct", ...}}``
        (:func:`jwstspec.synthetic.truth.truth_record`).
    """
    from jwstspec.layout import DEMO_TRUTH_FILE, Layout
    from jwstspec.synthetic.truth import product_key, truth_records, write_truth_file

    config = demo.configs[config_name]
    series = {k: v for k, v in products.items() if isinstance(v, dict) and v.get("kind") == "timeseries"}
    records = truth_records({k: v for k, v in products.items() if k not in series}, truth_of(config_name))
    if series:
        if config_name == "nirspec-bots":
            transit, truth = bots_transit(), bots_truth_jy
        else:
            transit, truth = demo.truth.get("miri-lrs-tso") or _lrs_transit(), lrs_tso_truth_jy
        records.update({product_key(v["fits"]): timeseries_truth_record(v, transit, truth) for v in series.values()})
    path = Layout.from_config(config).run_file(config.observation, DEMO_TRUTH_FILE)
    return write_truth_file(path, records), records


def _lrs_transit() -> Any:
    """The demo's slitless transit (when the data were generated by an earlier command)."""
    from jwstspec.synthetic.miri_lrs import TransitTruth

    return TransitTruth(LRS_TSO_NINTS, tuple(LRS_TSO_TRANSIT[0] <= i < LRS_TSO_TRANSIT[1] for i in range(LRS_TSO_NINTS)),
                        0.010, 0.020)
