"""Stage 0 without MAST: ingest products the user already has.

Files (or directories, searched recursively for JWST product names such
as ``*_uncal.fits``, ``*_rate.fits``, ``*_cal.fits``, ``*_x1d.fits``) are
checked with :mod:`jwstspec.fitscheck` (complete FITS, ``TELESCOP = JWST``)
and against the configuration (``PROGRAM``, ``INSTRUME``), grouped by
``OBSERVTN``, and placed where ``destination(observation, name)`` says:

``link``  hard link (no copy); across file systems, or where hard links are
          refused, a symbolic link to the absolute source path (logged);
``copy``  a copy written to a temporary name and renamed (atomic);
``move``  a rename (across file systems: atomic copy, then the source is removed).

Every file is checked before anything is placed, so a bad file leaves the
data directory untouched.  ``link`` and ``copy`` never modify the sources.
A file already in place (the same file, or a copy with the same size and
modification time) is left alone, so ingesting twice is a no-op.

A NIRSpec MOS exposure brings the MSA metadata file it names in
``MSAMETFL`` (:mod:`jwstspec.msa`): looked for among the files given, beside
the exposure and in the directories given, checked, and placed beside the
exposure (where jwst's ``assign_wcs`` looks for it; under ``move`` it is
linked, since the exposures of a visit share it).  A missing one is an
error naming the exposure and the file, and nothing is placed.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from jwstspec.errors import InputFileError, OptionError
from jwstspec.fileio import TMP_PREFIX, atomic_path
from jwstspec.fitscheck import check_fits
from jwstspec.msa import find_metadata, is_metadata_name, metadata_name, requires_metadata

log = logging.getLogger("jwstspec.ingest")

#: Product suffixes found in directories, and their default stage directory.
SUFFIX_DIRS: dict[str, str] = {
    "uncal": "uncal",
    "rate": "stage1", "rateints": "stage1",
    "cal": "stage2", "calints": "stage2", "s2d": "stage2", "s3d": "stage2", "x1d": "stage2", "x1dints": "stage2",
    "crf": "stage3", "c1d": "stage3",
}
_SUFFIX = re.compile(r"_([a-z0-9]+)\.fits$")


@dataclasses.dataclass
class IngestResult:
    """Files placed (or already in place), and how many of each."""

    paths: list[Path]
    placed: int
    already_present: int
    observations: dict[str, list[Path]] = dataclasses.field(default_factory=dict)


def product_suffix(name: str) -> str | None:
    """``uncal`` for ``jw..._uncal.fits``; None for a name that is not a known product."""
    m = _SUFFIX.search(name)
    return m.group(1) if m and m.group(1) in SUFFIX_DIRS else None


def find_products(sources: Sequence[Path], suffixes: Sequence[str] | None = None) -> list[Path]:
    """Product files among ``sources``: files kept as given, directories searched recursively.

    Raises
    ------
    InputFileError
        A source that does not exist, or an empty file.
    """
    wanted = set(SUFFIX_DIRS if suffixes is None else suffixes)
    out: set[Path] = set()
    for src in sources:
        src = Path(src).expanduser()
        if src.is_dir():
            for p in src.rglob("*.fits"):
                if p.name.startswith((".", TMP_PREFIX)) or not p.is_file():
                    continue
                if product_suffix(p.name) in wanted:
                    out.add(p)
        elif src.is_file():
            if src.stat().st_size == 0:
                raise InputFileError(src, "file is empty")
            out.add(src)
        else:
            raise InputFileError(src, "no such file or directory")
    return sorted(out)


def check_product(path: Path, *, program: str, instrument: str) -> str:
    """Check one file (complete JWST FITS of this program and instrument); return its observation (``'001'``).

    Raises
    ------
    InputFileError
        One line naming the file and the failed check or keyword.
    """
    header = check_fits(path)
    have_prog = str(header.get("PROGRAM", "")).strip()
    if not have_prog:
        raise InputFileError(path, "header keyword PROGRAM is missing")
    if have_prog.zfill(5) != str(program).zfill(5):
        raise InputFileError(path, f"PROGRAM is {have_prog}, the configuration says {program}")
    have_inst = str(header.get("INSTRUME", "")).strip().upper()
    if have_inst != instrument.upper():
        raise InputFileError(path, f"INSTRUME is {have_inst or 'missing'}, the configuration says {instrument.upper()}")
    obs = str(header.get("OBSERVTN", "")).strip()
    if not obs.isdigit():
        raise InputFileError(path, "header keyword OBSERVTN is missing" if not obs else f"OBSERVTN is {obs!r}, not a number")
    return obs.zfill(3)


def _in_place(src: Path, dest: Path) -> bool:
    """``dest`` is ``src`` (a link to it) or a copy with the same size and modification time."""
    if not dest.exists():
        return False
    if os.path.samefile(src, dest):
        return True
    s, d = src.stat(), dest.stat()
    return s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime)


def _tmp_beside(dest: Path) -> Path:
    return dest.with_name(f"{TMP_PREFIX}{dest.stem}.{uuid.uuid4().hex[:8]}{dest.suffix}")


def _place(src: Path, dest: Path, mode: str) -> str:
    """Put ``src`` at ``dest`` atomically; return how (``hard link``, ``symlink``, ``copy``, ``move``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mode == "copy":
        with atomic_path(dest) as tmp:
            shutil.copy2(src, tmp)
        return "copy"
    if mode == "move":
        try:
            os.replace(src, dest)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            with atomic_path(dest) as tmp:
                shutil.copy2(src, tmp)
            src.unlink()
        return "move"
    tmp = _tmp_beside(dest)
    how = "hard link"
    try:
        os.link(src, tmp)
    except OSError as exc:
        log.info("ingest: no hard link possible for %s (%s): symbolic link instead", src, os.strerror(exc.errno or 0) or type(exc).__name__)
        os.symlink(src.resolve(), tmp)
        how = "symlink"
    try:
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return how


def _plan_metadata(plan: dict[Path, tuple[Path, str]], given: Sequence[Path], sources: Sequence[Path]) -> None:
    """Add to ``plan`` the MSA metadata file of every planned exposure that names one, beside the exposure.

    Looked for among the metadata files given, beside the exposure, then
    in the source directories (searched recursively).

    Raises
    ------
    InputFileError
        A metadata file that is missing or invalid (names the exposure and the file).
    """
    by_name = {p.name: p for p in given}
    dirs = [s.expanduser() for s in sources if s.expanduser().is_dir()]
    for dest, (src, obs) in list(plan.items()):
        name = metadata_name(src)
        if name is None:
            continue
        try:
            if name in by_name:
                found = find_metadata(src, name, [by_name[name].parent])
            else:
                extra = [p.parent for d in dirs for p in d.rglob(name) if not p.name.startswith((".", TMP_PREFIX))]
                found = find_metadata(src, name, extra)
        except InputFileError:
            if requires_metadata(src):
                raise
            continue  # a fixed-slit or IFU exposure may name a file it does not need
        target = dest.parent / name
        if target in plan and not os.path.samefile(plan[target][0], found):
            raise InputFileError(found, f"another MSA metadata file of the same name is also given: {plan[target][0]}")
        plan[target] = (found, obs)


def ingest_files(
    sources: Sequence[Path],
    dest_dir: Path,
    *,
    program: str,
    instrument: str,
    mode: Literal["link", "copy", "move"] = "link",
    observations: Sequence[str] | None = None,
    destination: Callable[[str, str], Path] | None = None,
    suffixes: Sequence[str] | None = None,
) -> IngestResult:
    """Check existing products and place them in the data layout.

    Parameters
    ----------
    sources : sequence of Path
        Files or directories (searched recursively for product names).
    dest_dir : Path
        Program directory, used when no ``destination`` is given:
        ``dest_dir/Obs<NNN>/<uncal|stage1|stage2|stage3>/<name>`` by suffix.
    program, instrument : str
        What every file must be (``PROGRAM``, ``INSTRUME``).
    mode : {'link', 'copy', 'move'}
        How files are placed (see the module docstring).
    observations : sequence of str, optional
        Keep only these observations (others are skipped with a log line).
    destination : callable, optional
        ``(observation, file name) -> path``: the layout's choice of place.
    suffixes : sequence of str, optional
        Product suffixes searched in directories (default: all of
        :data:`SUFFIX_DIRS`); files named explicitly are always taken.

    Returns
    -------
    IngestResult
        Final paths (sorted), counts, and the paths per observation.

    Raises
    ------
    InputFileError
        A missing, empty, truncated or non-JWST file, or one of another
        program or instrument (one line naming the file and the keyword),
        or a NIRSpec exposure whose MSA metadata file (``MSAMETFL``) is
        missing (naming the exposure and the file); nothing is placed then.
    OptionError
        An unknown ``mode``.
    """
    if mode not in ("link", "copy", "move"):
        raise OptionError("download.ingest_mode", f"{mode!r} is not link, copy or move")
    wanted_obs = None if observations is None else {str(o).zfill(3) for o in observations}
    files = find_products([Path(s) for s in sources], suffixes)
    given_msa = [f for f in files if is_metadata_name(f.name)]  # metadata files named explicitly
    files = [f for f in files if not is_metadata_name(f.name)]
    if not files:
        shown = ", ".join(str(s) for s in sources) or "(no source given)"
        raise InputFileError(shown, "no JWST product file (*_uncal.fits, *_rate.fits ...) found to ingest")
    plan: dict[Path, tuple[Path, str]] = {}
    for f in files:  # check everything before placing anything
        obs = check_product(f, program=program, instrument=instrument)
        if wanted_obs is not None and obs not in wanted_obs:
            log.info("ingest: %s belongs to observation %s, not requested", f.name, obs)
            continue
        if destination is not None:
            dest = Path(destination(obs, f.name))
        else:
            dest = Path(dest_dir) / f"Obs{obs}" / SUFFIX_DIRS.get(product_suffix(f.name) or "uncal", "uncal") / f.name
        if dest in plan and not os.path.samefile(plan[dest][0], f):
            raise InputFileError(f, f"another file of the same name is also given: {plan[dest][0]}")
        plan[dest] = (f, obs)
    if instrument.upper() == "NIRSPEC":
        _plan_metadata(plan, given_msa, [Path(s) for s in sources])
    placed = present = 0
    how_counts: dict[str, int] = {}
    by_obs: dict[str, list[Path]] = {}
    for dest, (src, obs) in sorted(plan.items()):
        by_obs.setdefault(obs, []).append(dest)
        if _in_place(src, dest):
            present += 1
            continue
        # an MSA metadata file is shared by the exposures of a visit: linked, never moved away from the others
        how = _place(src, dest, "link" if mode == "move" and is_metadata_name(dest.name) else mode)
        how_counts[how] = how_counts.get(how, 0) + 1
        placed += 1
    hows = ", ".join(f"{n} by {h}" for h, n in sorted(how_counts.items())) or "none placed"
    log.info("ingest: %d file(s) placed (%s), %d already in place", placed, hows, present)
    return IngestResult(sorted(plan), placed, present, by_obs)
