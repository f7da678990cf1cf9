"""Synthetic NIRSpec MOS exposures: an MSA metadata file and nodded rates placed with the synthetic model.

The MSA metadata file (``_msa.fits``) follows jwst's layout, the
``SHUTTER_INFO`` and ``SOURCE_INFO`` tables that
``jwst.assign_wcs.nirspec.get_open_msa_slits`` reads: one row per open
shutter, per dither point, with the slitlet, quadrant, shutter row (along
the dispersion: jwst's ``xcen``) and column (along the slit: ``ycen``),
whether the shutter holds the source (``primary_source``) or only sky
(``background``), and the source's estimated position in its shutter; one
row per source (id, name, RA/Dec, ``stellarity``: > 0.75 makes jwst's
``srctype`` call it a point source).

Each :class:`MosSource` has its own 3-shutter slitlet; a 3-point nod puts
the source in the slitlet's first, middle and last shutter (nod 1, 2, 3),
so the other two shutters see sky.  The count rate is placed where jwst's
own WCS says (a first ``assign_wcs`` pass with the metadata file): for
each slitlet, ``rate = F_nu(lambda) * P(y) / S(lambda)`` with ``S`` the
model's photom sensitivity (MJy per DN/s) and ``P`` a Gaussian profile
along the slit centred in the primary shutter, normalised to 1 over the
slitlet's pixels of each detector column, so ``photom`` gives MJy per pixel
and a column sum over the slitlet is ``F_nu`` (jwst's point-source
convention for MOS, as for the fixed slits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.fileio import atomic_path
from jwstspec.synthetic import nirspec_exposures as nx
from jwstspec.synthetic import nirspec_model as nm

#: shutter offsets (along the slit, in shutters) of the source in a 3-shutter slitlet, nods 1-3
NOD_SHUTTER = {1: -1, 2: 0, 3: 1}
SHUTTER_INFO_DTYPE = [("slitlet_id", "i2"), ("msa_metadata_id", "i2"), ("shutter_quadrant", "i2"),
                      ("shutter_row", "i2"), ("shutter_column", "i2"), ("source_id", "i4"), ("background", "S1"),
                      ("shutter_state", "S6"), ("estimated_source_in_shutter_x", "f4"),
                      ("estimated_source_in_shutter_y", "f4"), ("dither_point_index", "i2"),
                      ("primary_source", "S1"), ("fixed_slit", "S7")]
SOURCE_INFO_DTYPE = [("program", "i4"), ("source_id", "i4"), ("source_name", "S20"), ("alias", "S31"),
                     ("catalog_id", "S20"), ("ra", "f8"), ("dec", "f8"), ("preimage_id", "S30"), ("stellarity", "f8")]


#: the bright source is this many times :func:`~jwstspec.synthetic.nirspec_exposures.point_source_jy`
#: (20 Jy at 4 micron: S/N ~50 per column in one 5-group nod of the demo's ramps)
BRIGHT_SCALE = 20000.0


def bright_jy(wavelength_um: np.ndarray) -> np.ndarray:
    """The bright MOS source (Jy): 20 Jy at 4 micron rising as lambda^0.5, emission lines at 3.60 and 4.70 micron."""
    return BRIGHT_SCALE * nx.point_source_jy(wavelength_um)


def faint_jy(wavelength_um: np.ndarray) -> np.ndarray:
    """The faint MOS source (Jy): 1 Jy at 4 micron (20x fainter than the bright one) falling as 1/lambda, a line at 4.20 micron.

    In the demo's ramps its S/N is ~3 per column and nod.
    """
    w = np.asarray(wavelength_um, float)
    return 1.0 * (4.0 / w) * (1.0 + 1.5 * np.exp(-0.5 * ((w - 4.2) / 0.004) ** 2))


@dataclass(frozen=True)
class MosSource:
    """One MOS target in its own 3-shutter slitlet.

    Attributes
    ----------
    source_id, name : int, str
        ``SOURCE_INFO`` identity (jwst's ``source_id``/``source_name`` of the slit).
    slitlet_id : int
        The slitlet (jwst names the slit by it).
    quadrant, row, column : int
        MSA quadrant (1-4), shutter row (along the dispersion) and column of
        the slitlet's middle shutter (along the slit), 1-based as in the file.
    truth : callable
        Wavelength (micron) -> flux density (Jy).
    """

    source_id: int
    name: str
    slitlet_id: int
    quadrant: int
    row: int
    column: int
    truth: Callable[[np.ndarray], np.ndarray] = field(compare=False)
    ra: float = nx.TARGET_RA
    dec: float = nx.TARGET_DEC


#: the demo's two sources: a bright and a faint one, in two slitlets of quadrant 3
SOURCES: tuple[MosSource, ...] = (
    MosSource(1001, "bright", 1, 3, 4, 20, bright_jy),
    MosSource(1002, "faint", 2, 3, 8, 60, faint_jy, nx.TARGET_RA + 2e-4, nx.TARGET_DEC + 2e-4),
)


#: the demo's sources, with slitlets chosen so that both land in the 64 rows of the SUBS200A1 subarray (small
#: Detector1 ramps): the bright one just below the MSA centre (quadrant 3), the faint one just above (quadrant 4)
DEMO_SOURCES: tuple[MosSource, ...] = (
    MosSource(1001, "bright", 1, 3, 4, 4, bright_jy),
    MosSource(1002, "faint", 2, 4, 6, 168, faint_jy, nx.TARGET_RA + 2e-4, nx.TARGET_DEC + 2e-4),
)


def truth_of_slit(slit: str | int, sources: Sequence[MosSource] = SOURCES) -> Callable[[np.ndarray], np.ndarray]:
    """The injected spectrum (Jy) of the source in slitlet ``slit`` (jwst's slit name).

    Raises
    ------
    KeyError
        No source has that slitlet.
    """
    for s in sources:
        if str(s.slitlet_id) == str(slit).strip():
            return s.truth
    raise KeyError(f"no synthetic MOS source in slitlet {slit!r}")


def shutter_info(sources: Sequence[MosSource], nods: Sequence[int] = (1, 2, 3), msa_metadata_id: int = 1) -> np.ndarray:
    """The ``SHUTTER_INFO`` rows: three open shutters per source and dither point, the source in ``NOD_SHUTTER[nod]``."""
    rows = []
    for nod in nods:
        for s in sources:
            for k in (-1, 0, 1):
                primary = k == NOD_SHUTTER[nod]
                rows.append((s.slitlet_id, msa_metadata_id, s.quadrant, s.row, s.column + k, s.source_id,
                             "N" if primary else "Y", "OPEN", 0.5 if primary else np.nan, 0.5 if primary else np.nan,
                             nod, "Y" if primary else "N", "NONE"))
    return np.array(rows, dtype=SHUTTER_INFO_DTYPE)


def write_msa_metadata(path: str | Path, sources: Sequence[MosSource] = SOURCES, *, program: str = "01234",
                       nods: Sequence[int] = (1, 2, 3), msa_metadata_id: int = 1) -> Path:
    """Write an MSA metadata file (``jw<program><obs><visit>_<nn>_msa.fits``) in jwst's layout.

    Returns
    -------
    Path
        The file written (atomically).
    """
    from astropy.io import fits

    so = np.array([(int(program), s.source_id, f"{int(program)}_{s.source_id}", s.name, s.name, s.ra, s.dec, "none", 1.0)
                   for s in sources], dtype=SOURCE_INFO_DTYPE)
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"], primary.header["INSTRUME"], primary.header["PROGRAM"] = "JWST", "NIRSPEC", program
    hdus = fits.HDUList([primary, fits.ImageHDU(np.zeros((730, 342), np.int16), name="SHUTTER_IMAGE"),
                         fits.BinTableHDU(shutter_info(sources, nods, msa_metadata_id), name="SHUTTER_INFO"),
                         fits.BinTableHDU(so, name="SOURCE_INFO")])
    path = Path(path)
    with atomic_path(path) as tmp:
        hdus.writeto(tmp)
    return path


@dataclass
class MosExposure:
    """A synthetic MOS exposure and its truth per source (``{source name: Jy(micron)}``)."""

    path: Path
    nod: int
    detector: str
    grating: str
    truths: dict[str, Callable[[np.ndarray], np.ndarray]]
    slitlets: dict[str, int]


def _mos_model(msa_file: Path, *, nod: int, sources: Sequence[MosSource], grating: str, detector: str,
               subarray: str, sigma_arcsec: float, msa_metadata_id: int, sky: float = 0.0, **meta: Any) -> Any:
    """The noiseless MOS rate model (DN/s) of nod ``nod`` with every source (and ``sky`` on every slitlet) placed through jwst's WCS."""
    model = nx.rate_model("NRS_MSASPEC", grating=grating, detector=detector, subarray=subarray, nod=nod, **meta)
    md = model.meta
    md.instrument.msa_metadata_file = Path(msa_file).name
    md.instrument.msa_metadata_id = msa_metadata_id
    md.dither.position_number = nod
    md.dither.total_points = 3
    md.dither.nod_type = "3-SHUTTER-SLITLET"
    from jwst.assign_wcs import AssignWcsStep

    step = AssignWcsStep()
    step.input_dir = str(Path(msa_file).parent)  # where MSAMETFL is opened (as for a Stage 2 input beside it)
    placed = step.run(model.copy())
    try:
        pointed = False
        for s in sources:
            name = int(s.slitlet_id)  # jwst names MOS slits by their (integer) slitlet id
            if not _has_slit(placed, name):
                continue  # jwst found none of the slitlet on this detector
            pix = nx.slit_pixels(placed, name)
            if pix["x"].size == 0:
                continue
            y_arcsec = pix["y_slit"] * nm.SHUTTER_OPEN[1]  # slit-frame y is in open-shutter heights, 0 at the source
            prof = np.exp(-0.5 * (y_arcsec / sigma_arcsec) ** 2)
            colsum = np.bincount(pix["x"], weights=prof)
            sens = nm.sensitivity(grating, pix["lam"])
            rate = s.truth(pix["lam"]) * 1e-6 * (prof / colsum[pix["x"]]) / sens
            model.data[pix["y"], pix["x"]] += (rate + sky).astype(np.float32)
            if not pointed:  # the nod moved the telescope: the first source stays at the target's sky position
                nx.point_at_target(model, placed, name, 0.0, float(np.median(pix["lam"])))
                pointed = True
    finally:
        placed.close()
    return model


def _has_slit(model: Any, name: int) -> bool:
    try:
        from jwst.assign_wcs import nirspec

        nirspec.nrs_wcs_set_input(model, name)
        return True
    except Exception:
        return False


def mos_exposure(path: str | Path, msa_file: str | Path, *, nod: int = 1, sources: Sequence[MosSource] = SOURCES,
                 grating: str = "G395H", detector: str = "NRS1", subarray: str = "FULL", sigma_arcsec: float = 0.1,
                 noise: float = 0.0, seed: int = 0, msa_metadata_id: int = 1, **meta: Any) -> MosExposure:
    """Write a MOS rate file of nod ``nod`` (1-3) with every source in its slitlet, placed by jwst's WCS.

    Parameters
    ----------
    path : path
        The rate file (``jw..._<det>_rate.fits``); ``MSAMETFL`` names ``msa_file``.
    msa_file : path
        The MSA metadata file (:func:`write_msa_metadata`); jwst opens it from
        the directory of the Stage 2 input, so write it there.
    nod : int
        Dither point (1, 2, 3): the source sits in the slitlet's first, middle
        or last shutter.
    noise : float
        Gaussian noise (DN/s) added to every pixel (``err`` holds it).
    **meta
        Passed to :func:`jwstspec.synthetic.nirspec_exposures.rate_model`.

    Returns
    -------
    MosExposure
    """
    if nod not in NOD_SHUTTER:
        raise ValueError(f"nod must be 1, 2 or 3, not {nod!r}")
    path = Path(path)
    model = _mos_model(Path(msa_file), nod=nod, sources=sources, grating=grating, detector=detector, subarray=subarray,
                       sigma_arcsec=sigma_arcsec, msa_metadata_id=msa_metadata_id, exposure=nod, **meta)
    if noise > 0:
        model.data = model.data + np.random.default_rng(seed).normal(0.0, noise, model.data.shape).astype(np.float32)
    model.err = np.full(model.data.shape, max(noise, 1e-6), np.float32)
    model.var_rnoise = model.err**2
    with atomic_path(path) as tmp:
        model.save(tmp)
    model.close()
    return MosExposure(path, nod, detector, grating, {s.name: s.truth for s in sources},
                       {s.name: s.slitlet_id for s in sources})


def mos_uncal(path: str | Path, msa_file: str | Path, *, nod: int = 1, sources: Sequence[MosSource] = DEMO_SOURCES,
              grating: str = "G395H", detector: str = "NRS1", subarray: str = "SUBS200A1", sigma_arcsec: float = 0.08,
              sky: float = 0.5, ngroups: int | None = None, seed: int = 0, msa_metadata_id: int = 1,
              stripe_sigma: float = 0.0, **meta: Any) -> MosExposure:
    """Write a MOS **uncal** exposure (ramps) of nod ``nod``: the rate of :func:`mos_exposure` plus ``sky`` (DN/s) on every slitlet.

    The profile is narrower than :func:`mos_exposure`'s (0.08 arcsec): the
    nod subtraction puts the other nods' negative traces one shutter (5.3
    pixels) away, and an aperture must hold the source without them.
    The ramps are :func:`jwstspec.synthetic.nirspec_exposures.write_uncal`'s
    (Poisson and read noise on the synthetic Detector1 references of
    ``subarray`` and ``detector``); nod subtraction removes the sky.
    ``MSAMETFL`` names ``msa_file``, which must lie beside the exposure
    when this runs (the placement runs jwst's ``assign_wcs`` with it).
    ``stripe_sigma`` adds 1/f stripes (DN/s, :func:`~jwstspec.synthetic.nirspec_exposures.write_uncal`).

    Returns
    -------
    MosExposure
        ``path`` is the uncal file; the truths are in Jy.
    """
    from jwstspec.synthetic import nirspec as nrs

    if nod not in NOD_SHUTTER:
        raise ValueError(f"nod must be 1, 2 or 3, not {nod!r}")
    path = Path(path)
    ngroups = ngroups or nrs.NGROUPS
    model = _mos_model(Path(msa_file), nod=nod, sources=sources, grating=grating, detector=detector, subarray=subarray,
                       sigma_arcsec=sigma_arcsec, msa_metadata_id=msa_metadata_id, sky=sky, exposure=nod,
                       ngroups=ngroups, **meta)
    nx.write_uncal(model, path, ngroups=ngroups, seed=seed, stripe_sigma=stripe_sigma)
    model.close()
    return MosExposure(path, nod, detector, grating, {s.name: s.truth for s in sources},
                       {s.name: s.slitlet_id for s in sources})
