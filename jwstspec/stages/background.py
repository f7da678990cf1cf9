"""Stage-1 background handling: pixel-by-pixel subtraction, nod subtraction, tilt check.

* :func:`subtract_pixel_background`: science minus the sigma-clipped mean of
  the background exposures, through ``jwst.background.background_sub``
  (the routine ``BackgroundStep`` runs: per-pixel clipped mean over the
  background exposures, each first clipped over its integrations).  Unlike
  jwst, the variance of that mean is added to the science ``ERR``,
  ``VAR_POISSON`` and ``VAR_RNOISE`` (:func:`add_background_variance`).
* :func:`nod_subtract`: when the background observation is the science
  observation itself, each nod position minus the clipped mean of the other
  nod positions of its cycle (2-, 3-, 4-point nods or more; see
  :func:`pair_nods` for the header keywords used).
* :func:`tilts_match`: the NIRSpec grating-wheel tilts (``GWA_XTIL``,
  ``GWA_YTIL``) of science and background agree.  ``BackgroundStep``
  silently skips the subtraction when they differ by more than 1e-8
  (absolute), so that is the default tolerance; outside it the flow falls
  back from ``asn`` to ``pixel`` with a warning.

Outputs keep the input's extensions and metadata (name ``<root>_rate_bkgsub.fits``
or ``<root>_rateints_bkgsub.fits``); inputs are never modified; writes are
atomic, and every check runs before the first file is written.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from jwstspec.errors import InputFileError
from jwstspec.fileio import atomic_path
from jwstspec.layout import bkgsub_name

log = logging.getLogger(__name__)

#: ``BackgroundStep``'s own tolerance on GWA_XTIL/GWA_YTIL (jwst 3.0 ``background_step.py``, ``atol``).
BACKGROUND_STEP_TILT_TOLERANCE = 1.0e-8
#: Header keywords that must agree between a science exposure and its backgrounds.
MATCH_KEYWORDS = ("SUBARRAY", "READPATT", "DETECTOR")


def _headers(path: Path) -> fits.Header:
    """Primary header merged with the SCI header's shape; InputFileError when unreadable or without SCI."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        with fits.open(path) as hdul:
            header = hdul[0].header.copy()
            if "SCI" not in hdul or hdul["SCI"].data is None:
                raise InputFileError(path, "no SCI extension (not a rate/rateints file)")
            header["NAXISSCI"] = "x".join(map(str, hdul["SCI"].data.shape))
    except OSError as exc:
        raise InputFileError(path, f"not a readable FITS file ({exc})") from None
    return header


def _check_compatible(science: Path, backgrounds: Sequence[Path]) -> None:
    sh = _headers(science)
    for b in backgrounds:
        bh = _headers(b)
        for key in MATCH_KEYWORDS:
            if sh.get(key) != bh.get(key):
                raise InputFileError(b, f"{key} {bh.get(key)} differs from the science exposure "
                                        f"{Path(science).name} ({sh.get(key)})")
        if sh["NAXISSCI"].split("x")[-2:] != bh["NAXISSCI"].split("x")[-2:]:
            raise InputFileError(b, f"image shape {bh['NAXISSCI']} differs from the science exposure "
                                    f"{Path(science).name} ({sh['NAXISSCI']})")


def subtract_pixel_background(science: Path, backgrounds: Sequence[Path], output_path: Path, *,
                              clip_sigma: float = 3.0, maxiters: int | None = None) -> Path:
    """Science rate minus the sigma-clipped mean background image (jwst's ``background_sub``).

    Parameters
    ----------
    science : Path
        Science rate or rateints file (never modified).
    backgrounds : sequence of Path
        Background exposures of the same detector, subarray and read pattern.
    output_path : Path
        Output file, written atomically.
    clip_sigma, maxiters : float, int or None
        ``BackgroundStep``'s ``sigma`` and ``maxiters``.

    Raises
    ------
    InputFileError
        No background, a missing/unreadable file, or mismatched SUBARRAY,
        READPATT, DETECTOR or image shape (nothing is written).
    """
    science, output_path = Path(science), Path(output_path)
    backgrounds = [Path(b) for b in backgrounds]
    if not backgrounds:
        raise InputFileError(science, "no background exposure to subtract")
    _check_compatible(science, backgrounds)
    _subtract(science, backgrounds, output_path, clip_sigma, maxiters)
    return output_path


def _subtract(science: Path, backgrounds: list[Path], output_path: Path, clip_sigma: float,
              maxiters: int | None, what: str = "background exposure") -> None:
    from jwst.background.background_sub import background_sub
    from stdatamodels.jwst import datamodels

    with datamodels.open(str(science)) as model:
        work = model.copy()
    _bkg, result = background_sub(work, [str(b) for b in backgrounds], clip_sigma, maxiters)
    _bkg.close()
    add_background_variance(result, backgrounds)
    result.meta.cal_step.bkg_subtract = "COMPLETE"
    result.add_history_entry(f"jwstspec: subtracted the {clip_sigma}-sigma clipped mean of {len(backgrounds)} "
                             f"{what}(s): " + ", ".join(b.name for b in backgrounds)
                             + "; their variance added to VAR_POISSON, VAR_RNOISE and ERR")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output_path) as tmp:
        result.save(tmp)
    result.close()


#: the variance arrays a rate file carries, as the ``ERR`` they make up (``ERR**2 = VAR_POISSON + VAR_RNOISE``)
VARIANCES = ("var_poisson", "var_rnoise")


def mean_background_variance(backgrounds: Sequence[Path]) -> dict[str, np.ndarray]:
    """Variance of the mean background image that jwst's ``background_sub`` subtracts.

    Per background file the mean over its integrations (a rateints file),
    then the mean over the files, each over its finite values:
    ``var(mean) = sum(var) / n**2``.  Sigma clipping is not followed (with
    the 1-3 exposures of a nod cycle or a background observation it keeps
    every value).

    Parameters
    ----------
    backgrounds : sequence of Path
        The background (or other nod) rate/rateints files.

    Returns
    -------
    dict
        ``{"err": ..., "var_poisson": ..., "var_rnoise": ...}``: 2-D
        variances of the mean (``err``: from the files' ``ERR**2``); an
        array missing from any file is left out.
    """
    per_file: dict[str, list[np.ndarray]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN
        for path in backgrounds:
            with fits.open(path) as hdul:
                names = {h.name.lower(): h for h in hdul[1:]}
                for key in ("err", *VARIANCES):
                    if key not in names or names[key].data is None:
                        continue
                    var = np.asarray(names[key].data, float) ** (2 if key == "err" else 1)
                    if var.ndim == 3:  # the mean over integrations
                        var = np.nansum(var, axis=0) / np.sum(np.isfinite(var), axis=0) ** 2
                    per_file.setdefault(key, []).append(var)
        out = {}
        for key, arrays in per_file.items():
            if len(arrays) == len(backgrounds):
                stack = np.stack(arrays)
                out[key] = np.nansum(stack, axis=0) / np.sum(np.isfinite(stack), axis=0) ** 2
    return out


def add_background_variance(result: Any, backgrounds: Sequence[Path]) -> None:
    """Add the subtracted background's variance to ``result``'s ``ERR`` and variance arrays (in place).

    jwst's ``background_sub`` subtracts the mean background but leaves the
    science ``ERR`` and ``VAR_*`` as they were (jwst issues #8723 and
    #10566): a nod-subtracted image was then ~sqrt(2) noisier than its
    ``ERR`` said.  ``VAR_POISSON`` and ``VAR_RNOISE`` carry it on through
    Spec2 (``flat_field`` rebuilds ``ERR`` from them).
    """
    variance = mean_background_variance(backgrounds)
    for key in VARIANCES:
        current = getattr(result, key, None)
        if key in variance and current is not None and np.size(current):
            setattr(result, key, (np.asarray(current, float) + variance[key]).astype(np.float32))
    if "err" in variance:
        result.err = np.sqrt(np.asarray(result.err, float) ** 2 + variance["err"]).astype(np.float32)


def _nod_info(item: Path | Mapping[str, Any], index: int) -> tuple[Any, int, float, str]:
    """(key, PATT_NUM, time order, name) of an exposure path or header."""
    if isinstance(item, Mapping) or isinstance(item, fits.Header):
        header, key = item, Path(str(item["FILENAME"])) if "FILENAME" in item else index
    else:
        key = Path(item)
        header = _headers(key)
    name = str(key.name if isinstance(key, Path) else key)
    pos = header.get("PATT_NUM")
    if pos is None:
        raise InputFileError(name, "PATT_NUM (dither/nod position) missing: cannot identify the nod")
    order = header.get("EXPSTART")
    if order is None:
        order = float(header.get("EXPOSURE") or 0)
    return key, int(pos), float(order), name


def pair_nods(headers_or_paths: Sequence[Path | Mapping[str, Any]]) -> dict[Any, list[Any]]:
    """For each exposure, the exposures at the other nod positions of its cycle.

    Nods are identified from the headers: ``PATT_NUM`` (position in the
    nod/dither pattern) and the time order ``EXPSTART`` (else ``EXPOSURE``).
    In time order, a new cycle starts when ``PATT_NUM`` goes down (1,2,1,2
    is two 2-point cycles; 1,1,2,2, several exposures per position, is one;
    1,2,3 one 3-point cycle).  A trailing cycle with a single position is
    merged into the previous one.

    Parameters
    ----------
    headers_or_paths : sequence
        Exposure paths, or header mappings (keyed by ``FILENAME`` when they
        have one, else by their index in the sequence).

    Returns
    -------
    dict
        exposure -> list of the exposures at other positions of its cycle.

    Raises
    ------
    InputFileError
        A missing ``PATT_NUM``, or fewer than two nod positions in a cycle:
        nothing to subtract.
    """
    given = [_nod_info(item, i) for i, item in enumerate(headers_or_paths)]
    info = sorted(given, key=lambda t: (t[2], t[3]))
    if not info:
        raise InputFileError("(no exposures)", "nod subtraction needs exposures")
    cycles: list[list[tuple[Any, int, float, str]]] = [[]]
    for entry in info:
        if cycles[-1] and entry[1] < cycles[-1][-1][1]:
            cycles.append([])
        cycles[-1].append(entry)
    if len(cycles) > 1 and len({e[1] for e in cycles[-1]}) < 2:
        cycles[-2].extend(cycles.pop())
    pairs: dict[Any, list[Any]] = {}
    for cycle in cycles:
        positions = sorted({e[1] for e in cycle})
        if len(positions) < 2:
            raise InputFileError(cycle[0][3], f"nod subtraction needs two or more nod positions (PATT_NUM) per cycle; "
                                              f"found only {positions} among {', '.join(e[3] for e in cycle)}")
        for key, pos, _t, _n in cycle:
            pairs[key] = [k for k, p, _t2, _n2 in cycle if p != pos]
    return {key: pairs[key] for key, *_rest in given}


def nod_subtract(exposures: Sequence[Path], output_dir: Path, *, clip_sigma: float = 3.0) -> list[Path]:
    """Each nod position minus the clipped mean of the other nods of its cycle.

    Parameters
    ----------
    exposures : sequence of Path
        Rate (or rateints) files of one science group (same detector,
        subarray, read pattern).
    output_dir : Path
        Where ``<root>_rate_bkgsub.fits`` files go.

    Returns
    -------
    list of Path
        One output per exposure, in the input order.
    """
    exposures = [Path(e) for e in exposures]
    pairs = pair_nods(exposures)
    for exp in exposures:  # every check before the first write
        _check_compatible(exp, pairs[exp])
    out = []
    for exp in exposures:
        target = Path(output_dir) / bkgsub_name(exp)
        _subtract(exp, pairs[exp], target, clip_sigma, None, what="other nod exposure")
        out.append(target)
    return out


def tilts_match(science: Path, background: Path, *, tol: float = BACKGROUND_STEP_TILT_TOLERANCE) -> bool:
    """The grating-wheel tilts (``GWA_XTIL``, ``GWA_YTIL``) of two exposures agree within ``tol`` (absolute).

    The default is ``BackgroundStep``'s own tolerance: with a larger
    difference ``calwebb_spec2`` would skip the subtraction of an ``asn``
    background (``bkg_subtract = SKIPPED``).
    """
    s, b = fits.getheader(science, 0), fits.getheader(background, 0)
    values = [s.get("GWA_XTIL"), s.get("GWA_YTIL"), b.get("GWA_XTIL"), b.get("GWA_YTIL")]
    if any(v is None for v in values):
        raise InputFileError(background if values[0] is not None and values[1] is not None else science,
                             "GWA_XTIL/GWA_YTIL missing: cannot compare grating-wheel tilts")
    return abs(values[0] - values[2]) <= tol and abs(values[1] - values[3]) <= tol


def background_method(method: str, instrument: str, science: Sequence[Path], backgrounds: Sequence[Path], *,
                      tol: float = BACKGROUND_STEP_TILT_TOLERANCE) -> tuple[str, str | None]:
    """The background method to use for one science group, and why it changed.

    For NIRSpec ``asn`` subtraction every science/background pair must have
    matching grating-wheel tilts (:func:`tilts_match`); otherwise
    ``calwebb_spec2`` would silently skip the subtraction, so the group falls
    back to ``pixel``.

    Parameters
    ----------
    method : str
        The configured ``bkg_subtract`` method.
    instrument : str
        ``"nirspec"`` or ``"miri"``.
    science, backgrounds : sequence of Path
        Rate (or uncal) files of the science group and its background group.
    tol : float
        Absolute tilt tolerance.

    Returns
    -------
    method : str
        The method to use.
    note : str or None
        A one-line reason when the method was changed, for the log and the run summary.
    """
    if method != "asn" or instrument.lower() != "nirspec":
        return method, None
    bad = [(s, b) for s in science for b in backgrounds if not tilts_match(Path(s), Path(b), tol=tol)]
    if not bad:
        return method, None
    s, b = bad[0]
    return "pixel", (f"grating-wheel tilts of {Path(s).name} and {Path(b).name} differ beyond {tol:g} "
                     f"({len(bad)} pair(s)): background subtracted pixel by pixel instead of by association")
