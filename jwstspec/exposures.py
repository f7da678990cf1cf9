"""Header-driven exposure selection and grouping.

Rules (plain functions, unit tested in ``tests/test_exposures.py``):

* Target-acquisition, confirmation, imaging and calibration exposures are
  skipped, with the reason recorded.
* Exposures are grouped by grating/filter (NIRSpec) or channel/band (MIRI)
  and detector: the unit of Stage 3 and of combination.
* Which detector a NIRSpec setting puts data on is not decided here (no
  table of ours): the flow asks jwst's own ``assign_wcs`` rule
  (:mod:`jwstspec.stages.detector_rule`) before Stage 1 and leaves out,
  as skipped with jwst's reason, the exposures it finds no data on.
* Science and background groups are matched on the group key; a science
  group without background exposures is an error when background
  subtraction is requested.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from astropy.io import fits

from jwstspec.errors import ConfigError, InputFileError, require_file

#: exposure types that carry no science spectrum
NON_SPECTRAL_EXP_TYPES: frozenset[str] = frozenset(
    {
        "NRS_TACQ",
        "NRS_TASLIT",
        "NRS_TACONFIRM",
        "NRS_CONFIRM",
        "NRS_WATA",
        "NRS_MSATA",
        "NRS_IMAGE",
        "NRS_MIMF",
        "NRS_FOCUS",
        "NRS_MSASPEC_TA",
        "NRS_VERIFY",
        "NRS_LAMP",
        "NRS_AUTOWAVE",
        "NRS_AUTOFLAT",
        "NRS_DARK",
        "MIR_TACQ",
        "MIR_TACONFIRM",
        "MIR_IMAGE",
        "MIR_CORONCAL",
        "MIR_4QPM",
        "MIR_LYOT",
        "MIR_FLATIMAGE",
        "MIR_FLATMRS",
        "MIR_DARKIMG",
        "MIR_DARKMRS",
        "MIR_DARKALL",
    }
)

SPECTRAL_EXP_TYPES: dict[str, str] = {
    "NRS_IFU": "ifu",
    "NRS_FIXEDSLIT": "slit",
    "NRS_MSASPEC": "slit",
    "NRS_BRIGHTOBJ": "slit",
    "MIR_MRS": "ifu",
    "MIR_LRS-FIXEDSLIT": "slit",
    "MIR_LRS-SLITLESS": "slitless",
}


@dataclasses.dataclass(frozen=True)
class Exposure:
    """What the pipeline needs to know about one exposure file."""

    path: Path
    instrument: str
    detector: str
    exp_type: str
    program: str
    observation: str
    visit: str
    exposure: str
    grating: str = ""
    filter: str = ""
    channel: str = ""
    band: str = ""
    subarray: str = ""
    readpatt: str = ""
    tso: bool = False
    nints: int | None = None
    patt_num: int = 1
    num_dither: int = 1
    gwa_xtilt: float | None = None
    gwa_ytilt: float | None = None
    target: str = ""
    imprint: bool = False

    @property
    def name(self) -> str:
        """Product root, e.g. ``jw01234001001_01101_00001_mirifushort``."""
        from jwstspec.layout import product_name

        return product_name(self.path)

    @property
    def mode(self) -> str:
        """``ifu``, ``slit`` or ``slitless``."""
        return SPECTRAL_EXP_TYPES.get(self.exp_type, "")

    @property
    def setting(self) -> str:
        """Optical setting: ``g395h-f290lp`` (NIRSpec) or ``12short`` (MIRI MRS)."""
        if self.instrument == "MIRI":
            if self.exp_type == "MIR_MRS":
                return f"{self.channel}{self.band}".lower()
            return (self.filter or "p750l").lower()
        return f"{self.grating}-{self.filter}".lower()

    @property
    def stage3_key(self) -> str:
        """Stage-3 group: NIRSpec combines both detectors of a setting; MIRI MRS a detector's band."""
        if self.instrument == "NIRSPEC":
            return self.setting
        return self.group_key

    @property
    def group_key(self) -> str:
        """Band/grating and detector: ``g395h-f290lp_nrs1``, ``12short_mirifushort``."""
        return f"{self.setting}_{self.detector.lower()}"


def _text(header: fits.Header, key: str) -> str:
    value = header.get(key, "")
    return "" if value is None else str(value).strip()


def read_exposure(path: str | Path) -> Exposure:
    """Read the primary header of a JWST product into an :class:`Exposure`.

    Raises
    ------
    InputFileError
        Missing, empty, unreadable or non-JWST file, or a missing keyword.
    """
    p = require_file(path)
    try:
        header = fits.getheader(p, 0)
    except Exception as exc:
        raise InputFileError(p, f"not a readable FITS file ({type(exc).__name__})") from None
    if _text(header, "TELESCOP") != "JWST":
        raise InputFileError(p, f"not a JWST product (TELESCOP = {_text(header, 'TELESCOP') or 'missing'!r})")
    for key in ("INSTRUME", "EXP_TYPE", "PROGRAM", "OBSERVTN"):
        if not _text(header, key):
            raise InputFileError(p, f"header keyword {key} is missing")
    tilt = header.get("GWA_XTIL"), header.get("GWA_YTIL")
    return Exposure(
        path=p,
        instrument=_text(header, "INSTRUME").upper(),
        detector=_text(header, "DETECTOR").upper(),
        exp_type=_text(header, "EXP_TYPE").upper(),
        program=_text(header, "PROGRAM").zfill(5),
        observation=_text(header, "OBSERVTN").zfill(3),
        visit=_text(header, "VISIT").zfill(3),
        exposure=_text(header, "EXPOSURE") or "1",
        grating=_text(header, "GRATING").upper(),
        filter=_text(header, "FILTER").upper(),
        channel=_text(header, "CHANNEL"),
        band=_text(header, "BAND").upper(),
        subarray=_text(header, "SUBARRAY").upper(),
        readpatt=_text(header, "READPATT").upper(),
        tso=bool(header.get("TSOVISIT", False)),
        nints=int(header["NINTS"]) if header.get("NINTS") is not None else None,
        patt_num=int(header.get("PATT_NUM", 1) or 1),
        num_dither=int(header.get("NUMDTHPT", 1) or 1),
        gwa_xtilt=None if tilt[0] is None else float(tilt[0]),
        gwa_ytilt=None if tilt[1] is None else float(tilt[1]),
        target=_text(header, "TARGPROP") or _text(header, "TARGNAME"),
        imprint=bool(header.get("IS_IMPRT", False)),
    )


def is_time_series(exp: Exposure) -> bool:
    """Whether ``exp`` is a time series by jwst's own rule (``jwst.lib.pipe_utils.is_tso``).

    ``TSOVISIT`` true or a TSO exposure type (``NRS_BRIGHTOBJ``, ...), and
    not a single integration.  jwst's function is applied to the header's
    values, so the rule cannot drift from the pipeline's.
    """
    from types import SimpleNamespace

    from jwst.lib.pipe_utils import is_tso

    meta = SimpleNamespace(visit=SimpleNamespace(tsovisit=exp.tso),
                           exposure=SimpleNamespace(type=exp.exp_type, nints=exp.nints))
    return bool(is_tso(SimpleNamespace(meta=meta)))


def check_time_series(exposures: Iterable[Exposure], tso: bool) -> None:
    """The configuration's ``tso`` must match what the exposures' headers say.

    Raises
    ------
    ConfigError
        Field ``tso``, naming the first exposure that disagrees and its
        ``TSOVISIT``, ``EXP_TYPE`` and ``NINTS``.
    """
    for exp in exposures:
        header_tso = is_time_series(exp)
        if header_tso != tso:
            seen = f"TSOVISIT = {'T' if exp.tso else 'F'}, EXP_TYPE = {exp.exp_type}, NINTS = {exp.nints if exp.nints is not None else 'missing'}"
            if tso:
                raise ConfigError("tso", f"tso = true, but {exp.path.name} is not a time series ({seen}); set tso = false")
            raise ConfigError("tso", f"tso = false, but {exp.path.name} is a time series ({seen}); set tso = true")


def skip_reason(exp: Exposure) -> str | None:
    """Why an exposure is not processed (``None`` = keep it)."""
    if exp.exp_type in NON_SPECTRAL_EXP_TYPES:
        return f"{exp.exp_type} is a target-acquisition, imaging or calibration exposure"
    if exp.exp_type not in SPECTRAL_EXP_TYPES:
        return f"exposure type {exp.exp_type} is not a supported spectroscopic mode"
    return None


@dataclasses.dataclass
class Selection:
    """Exposures kept, grouped, and those skipped with the reason."""

    groups: dict[str, list[Exposure]]
    skipped: list[tuple[Path, str]]
    #: NIRSpec imprint (leakcal) exposures (``IS_IMPRT``) by group key: Spec2 ``imprint`` members, never dithers
    imprints: dict[str, list[Exposure]] = dataclasses.field(default_factory=dict)

    @property
    def exposures(self) -> list[Exposure]:
        """The science exposures (dithers/nods) of every group, imprints excluded."""
        return [e for g in self.groups.values() for e in g]

    def imprints_for(self, exp: Exposure) -> list[Exposure]:
        """The imprint exposures of ``exp``'s setting and detector (its Spec2 ``imprint`` members)."""
        return list(self.imprints.get(exp.group_key, ()))


def select_exposures(
    paths: Iterable[str | Path],
    *,
    instrument: str | None = None,
    program: str | None = None,
    observation: str | None = None,
    mode: str | None = None,
) -> Selection:
    """Read, filter and group exposures.

    Parameters
    ----------
    paths : iterable of path
        Exposure files (any product level).
    instrument, program, observation, mode : str, optional
        When given, a file of another instrument/program/observation is an
        error (it does not belong in this run) and another mode is skipped.

    Returns
    -------
    Selection
        Groups keyed by :attr:`Exposure.group_key`, sorted by dither position
        then exposure number, and the skipped files with their reasons.
    """
    groups: dict[str, list[Exposure]] = defaultdict(list)
    imprints: dict[str, list[Exposure]] = defaultdict(list)
    skipped: list[tuple[Path, str]] = []
    for path in sorted(Path(p) for p in paths):
        exp = read_exposure(path)
        if instrument and exp.instrument != instrument.upper():
            raise InputFileError(path, f"INSTRUME is {exp.instrument}, the configuration says {instrument.upper()}")
        if program and exp.program != program:
            raise InputFileError(path, f"PROGRAM is {exp.program}, the configuration says {program}")
        if observation and exp.observation != observation:
            raise InputFileError(path, f"OBSERVTN is {exp.observation}, expected {observation}")
        reason = skip_reason(exp)
        if reason is None and mode and exp.mode != mode:
            reason = f"{exp.exp_type} is {exp.mode} mode, the configuration says {mode}"
        if reason:
            skipped.append((path, reason))
            continue
        (imprints if exp.imprint else groups)[exp.group_key].append(exp)
    for key in groups:
        groups[key].sort(key=lambda e: (e.patt_num, e.visit, e.exposure, e.name))
    lone = [e for key, group in imprints.items() if key not in groups for e in group]
    skipped += [(e.path, "imprint exposure (IS_IMPRT) without science exposures of its setting and detector")
                for e in lone]
    kept = {key: sorted(group, key=lambda e: e.name) for key, group in imprints.items() if key in groups}
    return Selection(dict(sorted(groups.items())), skipped, kept)


def match_backgrounds(
    science: dict[str, Sequence[Exposure]], background: dict[str, Sequence[Exposure]]
) -> dict[str, list[Exposure]]:
    """Background exposures for each science group.

    Raises
    ------
    ConfigError
        A science group has no background exposure of the same setting and
        detector (names the group and what the background observation has).
    """
    out: dict[str, list[Exposure]] = {}
    for key in science:
        if key not in background or not background[key]:
            have = ", ".join(sorted(background)) or "no spectroscopic exposures"
            raise ConfigError(
                "background_observation",
                f"no background exposure for science group {key} (background observation has: {have})",
            )
        out[key] = list(background[key])
    return out


def check_compatible(science: Exposure, background: Exposure) -> None:
    """Science and background must share subarray and readout pattern."""
    for attr in ("subarray", "readpatt"):
        a, b = getattr(science, attr), getattr(background, attr)
        if a and b and a != b:
            raise InputFileError(
                background.path, f"{attr} {b} differs from science exposure {science.path.name} ({a})"
            )
