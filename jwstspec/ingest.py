"""Stage 0 without MAST: ingest products the user already has.

Files (or directories, searched recursively for JWST product names) are
checked to be JWST products of the configured program and instrument, then
placed in the layout (``destination(observation, name)``) by hard link
(falling back to a symbolic link across file systems), copy (atomic) or
move.  Sources are never modified by ``link`` or ``copy``.  A file already
in place with the same size is left alone, so ingesting twice is a no-op.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from astropy.io import fits

from jwstspec.errors import InputFileError, require_file
from jwstspec.fileio import atomic_path

log = logging.getLogger("jwstspec.ingest")

PATTERNS: tuple[str, ...] = ("*_uncal.fits",)


@dataclasses.dataclass
class IngestResult:
    """Files placed (or already in place) and how."""

    paths: list[Path]
    placed: int
    already_present: int


def find_products(sources: Sequence[Path], patterns: Sequence[str] = PATTERNS) -> list[Path]:
    """Product files among ``sources`` (files kept as given, directories searched)."""
    out: list[Path] = []
    for src in sources:
        src = Path(src)
        if src.is_dir():
            for pattern in patterns:
                out += sorted(p for p in src.rglob(pattern) if not p.name.startswith("."))
        else:
            out.append(require_file(src))
    return sorted(set(out))


def check_product(path: Path, *, program: str, instrument: str) -> str:
    """Check one file; return its observation number (three digits)."""
    require_file(path)
    try:
        header = fits.getheader(path, 0)
    except Exception as exc:
        raise InputFileError(path, f"not a readable FITS file ({type(exc).__name__})") from None
    if str(header.get("TELESCOP", "")).strip() != "JWST":
        raise InputFileError(path, "not a JWST product (TELESCOP)")
    have_prog = str(header.get("PROGRAM", "")).strip().zfill(5)
    if have_prog != program:
        raise InputFileError(path, f"PROGRAM is {have_prog}, the configuration says {program}")
    have_inst = str(header.get("INSTRUME", "")).strip().upper()
    if have_inst != instrument.upper():
        raise InputFileError(path, f"INSTRUME is {have_inst}, the configuration says {instrument.upper()}")
    obs = str(header.get("OBSERVTN", "")).strip()
    if not obs:
        raise InputFileError(path, "header keyword OBSERVTN is missing")
    return obs.zfill(3)


def _place(src: Path, dest: Path, mode: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if mode == "move":
        shutil.move(src, dest)  # a rename on one file system
    elif mode == "copy":
        with atomic_path(dest) as tmp:
            shutil.copy2(src, tmp)
    else:
        try:
            os.link(src, dest)
        except OSError:
            log.info("hard link impossible for %s (other file system): symbolic link instead", src)
            os.symlink(src.resolve(), dest)


def ingest_files(
    sources: Sequence[Path],
    dest_dir: Path,
    *,
    program: str,
    instrument: str,
    mode: Literal["link", "copy", "move"] = "link",
    observations: Sequence[str] | None = None,
    destination: Callable[[str, str], Path] | None = None,
) -> IngestResult:
    """Check and place existing products in the data layout.

    Parameters
    ----------
    sources : sequence of Path
        Files or directories.
    dest_dir : Path
        Program directory; used as ``dest_dir/Obs<NNN>/uncal/<name>`` when no
        ``destination`` is given.
    program, instrument : str
        What every file must be (PROGRAM, INSTRUME keywords).
    mode : {'link', 'copy', 'move'}
        How files are placed.
    observations : sequence of str, optional
        Keep only these observations (others are skipped with a log line).
    destination : callable, optional
        ``(observation, file name) -> path``: the layout's choice of place.

    Raises
    ------
    InputFileError
        A file that is not a JWST product of this program and instrument
        (one line naming the file and the keyword); nothing is placed then.
    """
    if mode not in ("link", "copy", "move"):
        raise InputFileError(dest_dir, f"ingest mode {mode!r} is not link, copy or move")
    files = find_products([Path(s) for s in sources])
    if not files:
        raise InputFileError(", ".join(str(s) for s in sources), "no uncal product found to ingest")
    plan: list[tuple[Path, Path]] = []
    for f in files:  # check everything before placing anything
        obs = check_product(f, program=program, instrument=instrument)
        if observations is not None and obs not in observations:
            log.info("ingest: %s belongs to observation %s, not requested", f.name, obs)
            continue
        dest = destination(obs, f.name) if destination else Path(dest_dir) / f"Obs{obs}" / "uncal" / f.name
        plan.append((f, dest))
    placed = present = 0
    for src, dest in plan:
        if dest.exists() and dest.stat().st_size == src.stat().st_size:
            present += 1
            continue
        _place(src, dest, mode)
        placed += 1
    log.info("ingest: %d file(s) placed (%s), %d already present", placed, mode, present)
    return IngestResult([d for _, d in plan], placed, present)
