"""NIRSpec MSA metadata files: which exposure needs which, finding them, staging them for Stage 2.

A NIRSpec MOS exposure names its MSA metadata file in the primary header
keyword ``MSAMETFL`` (``jw01234005001_01_msa.fits``: one per visit, shared
by the exposures of the visit).  jwst's ``assign_wcs`` opens it from the
directory of the Stage 2 input (``Step.make_input_path``: the rate file or
the level-2 association), so it must lie beside that input.  The file is
downloaded and ingested with the exposures (into the observation's
``uncal/`` directory, beside the raw inputs) and linked into the directory
of the Stage 2 inputs before Spec2 starts (:func:`stage_metadata`).

A missing or unreadable metadata file is a one-line
:class:`jwstspec.errors.InputFileError` naming the exposure and the file,
raised before any Spec2 run.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from astropy.io import fits

from jwstspec.errors import InputFileError
from jwstspec.fileio import TMP_PREFIX
from jwstspec.fitscheck import check_fits, hdu_spans

log = logging.getLogger("jwstspec.msa")

#: product suffix of an MSA metadata file (``jw<program><obs><visit>_<nn>_msa.fits``)
MSA_SUFFIX = "msa"
#: the tables jwst's ``assign_wcs`` reads (``nirspec.get_open_msa_slits``)
MSA_TABLES: tuple[str, ...] = ("SHUTTER_INFO", "SOURCE_INFO")
_MSA_NAME = re.compile(r"^jw(\d{5})(\d{3})\d{3}_[A-Za-z0-9]+_msa\.fits$")


def is_metadata_name(name: str | Path) -> bool:
    """True for a file name of the MSA metadata form ``jw01234005001_01_msa.fits``."""
    return _MSA_NAME.match(Path(name).name) is not None


def metadata_observation(name: str | Path) -> tuple[str, str] | None:
    """``(program, observation)`` from an MSA metadata file name, or None for another name."""
    m = _MSA_NAME.match(Path(name).name)
    return (m.group(1), m.group(2)) if m else None


def metadata_name(exposure: str | Path) -> str | None:
    """The MSA metadata file an exposure names in ``MSAMETFL`` (None when it names none).

    Raises
    ------
    InputFileError
        The exposure cannot be read, or ``MSAMETFL`` is not a plain file name.
    """
    try:
        value = fits.getval(exposure, "MSAMETFL", 0)
    except KeyError:
        return None
    except Exception as exc:  # unreadable: the one-line error names the file
        raise InputFileError(exposure, f"cannot read the primary header ({type(exc).__name__})") from None
    name = str(value).strip()
    if not name or name.upper() in ("N/A", "NONE"):
        return None
    if Path(name).name != name or name.startswith("."):
        raise InputFileError(exposure, f"MSAMETFL is {name!r}, not a file name")
    return name


def requires_metadata(exposure: str | Path) -> bool:
    """Whether jwst's ``assign_wcs`` needs the exposure's MSA metadata file (jwst's rule in ``nirspec.get_open_slits``).

    ``NRS_MSASPEC`` and ``NRS_AUTOFLAT``, and ``NRS_LAMP``/``NRS_AUTOWAVE``
    with ``LAMPMODE = MSASPEC``.  Other exposures (fixed slit, IFU) may name
    a file they do not need: it is staged when present, never required.
    """
    header = fits.getheader(exposure, 0)
    exp_type = str(header.get("EXP_TYPE", "")).strip().upper()
    lamp = str(header.get("LAMPMODE", "")).strip().upper()
    return exp_type in ("NRS_MSASPEC", "NRS_AUTOFLAT") or (exp_type in ("NRS_LAMP", "NRS_AUTOWAVE") and lamp == "MSASPEC")


def check_metadata_file(path: str | Path) -> None:
    """A complete FITS file holding the ``SHUTTER_INFO`` and ``SOURCE_INFO`` tables.

    Raises
    ------
    InputFileError
        Missing, empty, truncated, or without one of the tables (one line naming the file).
    """
    check_fits(path, telescope=None)  # MSA metadata files need not carry TELESCOP
    names = {str(span.header.get("EXTNAME", "")).strip().upper() for span in hdu_spans(path)}
    missing = [t for t in MSA_TABLES if t not in names]
    if missing:
        raise InputFileError(path, f"not an MSA metadata file: no {' or '.join(missing)} extension")


def required_metadata(exposures: Iterable[str | Path]) -> dict[Path, str]:
    """``{exposure: metadata file name}`` for every exposure that names one in ``MSAMETFL``."""
    out = {}
    for exp in exposures:
        name = metadata_name(exp)
        if name is not None:
            out[Path(exp)] = name
    return out


def find_metadata(exposure: str | Path, name: str, search_dirs: Sequence[str | Path]) -> Path:
    """The metadata file ``name`` of ``exposure``: beside it, else in the first of ``search_dirs`` holding it.

    Raises
    ------
    InputFileError
        Not found (the message names the exposure, the file and where it was looked for), or not valid.
    """
    exposure = Path(exposure)
    dirs = [exposure.parent, *(Path(d) for d in search_dirs)]
    for d in dirs:
        candidate = d / name
        if candidate.is_file():
            check_metadata_file(candidate)
            return candidate
    where = ", ".join(dict.fromkeys(str(d) for d in dirs))
    raise InputFileError(exposure, f"its MSA metadata file {name} (MSAMETFL) is missing: not in {where}")


def _link(src: Path, dest: Path) -> Path:
    """``dest`` as a hard link to ``src`` (a copy when linking fails), placed by an atomic rename."""
    if dest.exists() and os.path.samefile(src, dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{TMP_PREFIX}{dest.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        import shutil

        shutil.copy2(src, tmp)
    os.replace(tmp, dest)
    return dest


def stage_metadata(exposures: Iterable[str | Path], dest_dir: str | Path, search_dirs: Sequence[str | Path] = ()) -> list[Path]:
    """Put the MSA metadata file of every exposure that names one into ``dest_dir``.

    ``dest_dir`` is the directory of the Stage 2 inputs (where
    ``assign_wcs`` opens ``MSAMETFL``).  Every file is found and checked
    before anything is placed.

    Parameters
    ----------
    exposures : iterable of path
        Exposures (uncal or rate files) whose ``MSAMETFL`` is read.
    dest_dir : path
        Where the metadata files go (hard links).
    search_dirs : sequence of path
        Where to look besides each exposure's own directory.

    Returns
    -------
    list of Path
        The staged metadata files (none for exposures that name none).

    Raises
    ------
    InputFileError
        An exposure that needs its metadata file (:func:`requires_metadata`)
        and whose file is missing or invalid: one line naming the exposure
        and the file.
    """
    found: dict[str, Path] = {}
    for exp, name in required_metadata(exposures).items():
        if name in found:
            continue
        try:
            found[name] = find_metadata(exp, name, search_dirs)
        except InputFileError:
            if requires_metadata(exp):
                raise
            log.debug("%s names %s (MSAMETFL) but does not need it: not found, not staged", Path(exp).name, name)
    staged = [_link(src, Path(dest_dir) / name) for name, src in sorted(found.items())]
    if staged:
        log.info("MSA metadata staged in %s: %s", dest_dir, ", ".join(p.name for p in staged))
    return staged
