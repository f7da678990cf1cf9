"""Stage-1 background handling: pixel-by-pixel subtraction, nod subtraction, tilt check.

* :func:`subtract_pixel_background`: science minus the sigma-clipped mean of
  the background exposures, through ``jwst.background``'s own
  ``background_sub`` routine (the code ``BackgroundStep`` runs).
* :func:`nod_subtract`: when the background observation is the science
  observation itself, each nod position minus the mean of the other nod
  positions of its cycle (any number of nods: 2-point, 3-point, 4-point).
* :func:`tilts_match`: the NIRSpec grating-wheel tilts of science and
  background exposures agree within a tolerance (``BackgroundStep`` compares
  ``GWA_XTIL``/``GWA_YTIL`` the same way); outside it the flow falls back
  from ``asn`` to ``pixel`` with a warning.

Outputs keep the input's extensions and metadata (suffix ``_rate_bkgsub``);
inputs are never modified; writes are atomic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from astropy.io import fits

from stdatamodels.util import create_history_entry

from jwstspec.errors import InputFileError
from jwstspec.fileio import atomic_path

from jwstspec.layout import product_name


def _check_files(paths: Sequence[Path]) -> None:
    for p in paths:
        if not Path(p).is_file():
            raise InputFileError(p, "file not found")


def _check_compatible(science: Path, backgrounds: Sequence[Path]) -> None:
    sh = fits.getheader(science, 0)
    for b in backgrounds:
        bh = fits.getheader(b, 0)
        for key in ("SUBARRAY", "READPATT"):
            if sh.get(key) != bh.get(key):
                raise InputFileError(b, f"{key} {bh.get(key)} differs from science exposure {Path(science).name} ({sh.get(key)})")


def subtract_pixel_background(science: Path, backgrounds: Sequence[Path], output_path: Path, *, clip_sigma: float = 3.0) -> Path:
    """Science rate minus the clipped mean background image (jwst's ``background_sub``)."""
    from jwst.background.background_sub import background_sub
    from stdatamodels.jwst import datamodels

    science, output_path = Path(science), Path(output_path)
    backgrounds = [Path(b) for b in backgrounds]
    if not backgrounds:
        raise InputFileError(science, "no background exposure to subtract")
    _check_files([science, *backgrounds])
    _check_compatible(science, backgrounds)
    with datamodels.open(str(science)) as model:
        work = model.copy()
    _bkg, result = background_sub(work, [str(b) for b in backgrounds], clip_sigma, None)
    result.meta.cal_step.bkg_subtract = "COMPLETE"
    result.history.append(create_history_entry(f"jwstspec: subtracted the clipped mean of {len(backgrounds)} background exposure(s): "
                          + ", ".join(b.name for b in backgrounds)))
    with atomic_path(output_path) as tmp:
        result.save(tmp)
    return output_path


def pair_nods(paths: Sequence[Path]) -> dict[Path, list[Path]]:
    """For each exposure, the other nod positions of its cycle (by ``PATT_NUM``).

    Raises
    ------
    InputFileError
        Fewer than two distinct nod positions: nothing to subtract.
    """
    positions = {Path(p): int(fits.getval(p, "PATT_NUM", 0) or 1) for p in paths}
    if len(set(positions.values())) < 2:
        first = next(iter(positions), Path("?"))
        raise InputFileError(first, f"nod subtraction needs two or more nod positions; found {sorted(set(positions.values()))}")
    return {p: [q for q, pos in positions.items() if pos != positions[p]] for p in positions}


def nod_subtract(exposures: Sequence[Path], output_dir: Path) -> list[Path]:
    """Each nod minus the mean of the other nods of its cycle -> ``*_rate_bkgsub.fits``."""
    exposures = [Path(e) for e in exposures]
    _check_files(exposures)
    pairs = pair_nods(exposures)
    out = []
    for exp in exposures:
        suffix = "rateints_bkgsub" if "rateints" in exp.name else "rate_bkgsub"
        out.append(subtract_pixel_background(exp, pairs[exp], Path(output_dir) / f"{product_name(exp)}_{suffix}.fits"))
    return out


def tilts_match(science: Path, background: Path, *, tol: float = 1e-4) -> bool:
    """Grating-wheel tilts (``GWA_XTIL``, ``GWA_YTIL``) of two exposures agree within ``tol``."""
    s, b = fits.getheader(science, 0), fits.getheader(background, 0)
    values = [s.get("GWA_XTIL"), s.get("GWA_YTIL"), b.get("GWA_XTIL"), b.get("GWA_YTIL")]
    if any(v is None for v in values):
        raise InputFileError(background if values[2] is None else science, "GWA_XTIL/GWA_YTIL missing: cannot compare tilts")
    return abs(values[0] - values[2]) <= tol and abs(values[1] - values[3]) <= tol
