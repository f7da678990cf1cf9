"""MIRI MRS corrections of 1-D spectra: residual fringes and the spectral leak.

* :func:`apply_defringe`: :func:`defringe_1d` when asked (by default for
  MIRI MRS spectra), header ``DEFRINGE = T/F`` either way.
* :func:`defringe_1d`: the 1-D residual-fringe fit of ``jwst``
  (:func:`jwst.residual_fringe.utils.fit_residual_fringes_1d`) applied per
  MRS channel.  The channel comes from the spectrum's header (``CHANNEL``,
  see :mod:`jwstspec.bands`); a Stage 2 spectrum holding the two channels
  of one detector (``CHANNEL = '12'``, e.g. 1A + 2A) is split at the
  wavelength gap and each segment is fitted with the fringe frequencies of
  its own channel.  A segment whose fit fails is left as it was, its
  points flagged ``DEFRINGE_FAILED`` and the reason returned as a message.
  In channels 1-3 spectral lines are masked before the fit and the fit is
  repeated (see :func:`_defringe_segment`): with lines in the spectrum, the
  single fit of ``jwst`` misses channel 2 and 3 line fluxes by up to 65 %.
* :func:`load_leak_table`: the ``leakcor_table`` of a ``MirMrsPtCorrModel``
  (``mrsptcorr``) reference, from a file or from the run's CRDS context.
* :func:`spectral_leak`: channel 3A minus the second-order light of
  channel 1B (at half the wavelength) times the leak fraction, between
  11.55 and 13.46 µm; points the table does not cover keep their flux and
  are flagged ``LEAK_UNCORRECTED``.

Inputs are never modified; every function returns new records.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from jwstspec.bands import BandError, channel_parts, channel_segments, mrs_channel  # noqa: F401 (re-exported)
from jwstspec.errors import ConfigError, InputFileError, require_file
from jwstspec.spectrum import DQ_FLAGS, Spectrum

log = logging.getLogger("jwstspec.corrections")

#: Wavelength range (µm) of channel 3A where the 1B second-order leak is corrected.
LEAK_RANGE: tuple[float, float] = (11.55, 13.46)

#: Fewer positive finite points than this in a segment: no fit is attempted.
_MIN_POINTS = 50

#: Line masking between fringe fits: a point of the defringed segment further than
#: ``_LINE_SIGMA`` robust sigma from its running median (``_LINE_WINDOW`` points) is a
#: line point; the mask grows by ``_LINE_GROW`` points on each side.
_LINE_WINDOW = 31
_LINE_SIGMA = 5.0
_LINE_GROW = 3
#: Default largest number of fits per segment (the first one unmasked); 1 is the single ``jwst`` fit.
MAX_FITS = 4
#: A mask covering more of the segment than this is not used (nothing left to interpolate from).
_MAX_LINE_FRACTION = 0.3
#: Channels whose fit is repeated with lines masked.  Channel 4 is left out: its
#: first-fit residual (~1.2 %) is found as "lines" and the masked fit is worse there.
_LINE_MASK_CHANNELS = (1, 2, 3)


def _fit_fringes(flux: np.ndarray, wave: np.ndarray, channel: int) -> np.ndarray:
    """One ``jwst`` 1-D fringe fit; raises ``ValueError`` with the reason on failure."""
    import warnings

    from jwst.residual_fringe.utils import fit_residual_fringes_1d

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fitted = fit_residual_fringes_1d(flux, wave, channel=channel)
        except Exception as exc:  # the fitter raises ValueError/LinAlgError/... from deep inside
            raise ValueError(f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
    fitted = np.asarray(fitted, dtype=float)
    if fitted.shape != flux.shape or not np.isfinite(fitted).all():
        raise ValueError("the fit returned non-finite values")
    return fitted


def line_mask(flux: np.ndarray) -> np.ndarray:
    """Points of a fringe-free spectrum that belong to narrow lines (emission or absorption).

    A point further than ``_LINE_SIGMA`` robust sigma (1.4826 MAD of the
    residuals) from the running median of ``_LINE_WINDOW`` points is a line
    point; the mask is grown by ``_LINE_GROW`` points on each side to take
    the line wings.
    """
    from scipy.ndimage import binary_dilation, median_filter

    f = np.asarray(flux, dtype=float)
    resid = f - median_filter(f, _LINE_WINDOW, mode="nearest")
    sigma = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    if sigma <= 0:
        return np.zeros(f.shape, dtype=bool)
    return binary_dilation(np.abs(resid) > _LINE_SIGMA * sigma, iterations=_LINE_GROW)


def _defringe_segment(flux: np.ndarray, wave: np.ndarray, channel: int,
                      max_fits: int = MAX_FITS) -> tuple[np.ndarray, int]:
    """Fringe-corrected flux of one segment and the number of line points masked.

    The ``jwst`` fitter clips lines from its own weights but its fit is
    still pulled by them: in channel 3 a single narrow line changes the line
    flux by up to 30 % and doubles the residual on the continuum.  So, in the
    channels of ``_LINE_MASK_CHANNELS``, the lines found on the corrected
    spectrum (:func:`line_mask`) are replaced by the continuum interpolated
    across them, times the fringe of the previous fit, and the fit is done
    again on that line-free spectrum; its correction factor is applied to
    the original flux.  This repeats until the mask stops changing (at most
    ``max_fits`` fits).  Raises ``ValueError`` with the reason on failure.
    """
    good = np.isfinite(flux) & np.isfinite(wave) & (flux > 0)
    if good.sum() < _MIN_POINTS:
        raise ValueError(f"only {int(good.sum())} positive finite points (need {_MIN_POINTS})")
    order = np.argsort(wave[good], kind="stable")
    idx = np.flatnonzero(good)[order]
    f, w = flux[idx].astype(float), wave[idx].astype(float)
    corrected = _fit_fringes(f, w, channel)
    n_masked = 0
    if channel in _LINE_MASK_CHANNELS:
        mask = np.zeros(f.shape, dtype=bool)
        for _ in range(max_fits - 1):
            lines = line_mask(corrected)
            if (not lines.any() or np.array_equal(lines, mask) or lines.mean() > _MAX_LINE_FRACTION
                    or (corrected <= 0).any()):  # the line-free spectrum is made by dividing by it
                break
            continuum = corrected.copy()
            continuum[lines] = np.interp(w[lines], w[~lines], corrected[~lines])
            line_free = f * (continuum / corrected)  # the previous fringe kept under the lines
            try:
                refit = _fit_fringes(line_free, w, channel)
                if (refit <= 0).any():
                    raise ValueError("the fit returned non-positive values")
            except ValueError as exc:
                log.warning("fringe refit with %d line points masked failed (%s); the previous fit is kept",
                            int(lines.sum()), exc)
                break
            corrected = f * (refit / line_free)
            mask, n_masked = lines, int(lines.sum())
    out = flux.astype(float).copy()
    out[idx] = corrected
    return out, n_masked


def defringe_1d(spectrum: Spectrum, *, max_fits: int = MAX_FITS) -> tuple[Spectrum, list[str]]:
    """Residual-fringe correction of a MIRI MRS spectrum, per channel segment.

    Parameters
    ----------
    spectrum : Spectrum
        One band (Stage 3) or the two channels of one detector (Stage 2),
        wavelengths in µm.  Not modified.
    max_fits : int, optional
        Largest number of fringe fits per segment: the first on the
        spectrum as it is, the next ones with the lines found on the
        corrected spectrum masked (channels 1-3 only; see
        :func:`_defringe_segment`).  ``1`` is the single fit of ``jwst``.

    Returns
    -------
    corrected : Spectrum
        Copy with the corrected ``FLUX``; the error is scaled by the same
        factor as the flux.  Points of a failed segment keep their flux and
        carry ``DQ_FLAGS["DEFRINGE_FAILED"]``.
    messages : list of str
        One line per failed segment, with the channel, its wavelength range
        and the reason (also logged as warnings).
    """
    wave = spectrum.wavelength
    flux = spectrum.flux.astype(float).copy()
    err = spectrum.flux_error.astype(float).copy()
    dq = spectrum.dq.astype(np.int64).copy()
    messages: list[str] = []
    done: list[str] = []
    try:
        parts = channel_parts(spectrum, str(spectrum.meta.get("SRCFILE", "") or "spectrum"))
    except BandError as exc:
        parts = []
        messages.append(f"1-D defringing not done: {exc}")
        log.warning(messages[-1])
    for part in parts:
        seg, channel = part.index, part.channel
        w, f = wave[seg], spectrum.flux[seg]
        if not np.isfinite(w).any():
            continue
        where = f"channel {channel} segment {np.nanmin(w):.3f}-{np.nanmax(w):.3f} um"
        try:
            corrected, n_lines = _defringe_segment(f, w, channel, max_fits)
        except ValueError as exc:
            msg = f"1-D defringing failed on {where}, left uncorrected: {exc}"
            log.warning(msg)
            messages.append(msg)
            dq[seg] |= DQ_FLAGS["DEFRINGE_FAILED"]
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(np.isfinite(f) & (f != 0), corrected / f, 1.0)
        flux[seg] = corrected
        err[seg] = err[seg] * np.abs(ratio)
        done.append(f"{channel}:{np.nanmin(w):.2f}-{np.nanmax(w):.2f}")
        if n_lines:
            log.info("1-D defringing of %s: %d line points masked from the fit", where, n_lines)
    meta = dict(spectrum.meta)
    meta["DEFRINGE"] = bool(done)
    meta["DEFRSEGS"] = ",".join(done) if done else "NONE"
    out = dataclasses.replace(spectrum, flux=flux, flux_error=err, dq=dq, meta=meta)
    return out, messages


def apply_defringe(spectrum: Spectrum, enabled: bool | None = None, *,
                   max_fits: int = MAX_FITS) -> tuple[Spectrum, list[str]]:
    """The 1-D residual-fringe correction of a combined spectrum when it is asked for, with header ``DEFRINGE``.

    Parameters
    ----------
    spectrum : Spectrum
        A combined sub-band spectrum.  Not modified.
    enabled : bool or None
        True: correct (:func:`defringe_1d`); False: leave it; None (the
        ``[combine] defringe`` default): correct MIRI MRS spectra, read from
        the header (:func:`jwstspec.bands.is_mrs`), and leave the others.
    max_fits : int, optional
        See :func:`defringe_1d`.

    Returns
    -------
    corrected : Spectrum
        The corrected copy (``DEFRINGE = True`` when at least one channel
        segment was corrected; the segments in ``DEFRSEGS``), or a copy with
        ``DEFRINGE = False``.
    messages : list of str
        See :func:`defringe_1d`.
    """
    from jwstspec.bands import is_mrs

    on = is_mrs(spectrum.meta) if enabled is None else bool(enabled)
    if on:
        return defringe_1d(spectrum, max_fits=max_fits)
    return dataclasses.replace(spectrum, meta={**spectrum.meta, "DEFRINGE": False}), []


# ----------------------------------------------------------------------------- spectral leak
@dataclasses.dataclass(frozen=True)
class LeakTable:
    """The spectral-leak table of an ``mrsptcorr`` reference.

    Attributes
    ----------
    wavelength : ndarray
        Channel 3A wavelength (µm), increasing.
    frac_leak, err_leak : ndarray
        Fraction of the 1B flux (at half the wavelength) leaking into 3A, and its error.
    source : str
        File the table was read from.
    """

    wavelength: np.ndarray
    frac_leak: np.ndarray
    err_leak: np.ndarray
    source: str


def _read_leak_file(path: Path) -> LeakTable:
    from stdatamodels.jwst.datamodels import MirMrsPtCorrModel

    p = require_file(path)
    try:
        with MirMrsPtCorrModel(str(p)) as model:
            table = model.leakcor_table
            if table is None or len(table) == 0:
                raise InputFileError(p, "mrsptcorr reference has no leakcor_table")
            wave = np.asarray(table["wavelength"], dtype=float)
            frac = np.asarray(table["frac_leak"], dtype=float)
            err = np.asarray(table["err_leak"], dtype=float)
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(p, f"cannot be read as an mrsptcorr reference ({type(exc).__name__}: {exc})") from None
    good = np.isfinite(wave) & np.isfinite(frac)
    if good.sum() < 2:
        raise InputFileError(p, "leakcor_table has fewer than two finite rows")
    order = np.argsort(wave[good])
    err = np.where(np.isfinite(err), err, 0.0)
    return LeakTable(wave[good][order], frac[good][order], err[good][order], str(p))


#: Header of a MIRI MRS channel-3 exposure for the CRDS look-up of ``mrsptcorr``.
_MRS_HEADER = {
    "META.INSTRUMENT.NAME": "MIRI",
    "META.EXPOSURE.TYPE": "MIR_MRS",
    "META.INSTRUMENT.DETECTOR": "MIRIFULONG",
    "META.INSTRUMENT.CHANNEL": "34",
    "META.INSTRUMENT.BAND": "SHORT",
    "META.SUBARRAY.NAME": "FULL",
    "META.OBSERVATION.DATE": "2024-01-01",
    "META.OBSERVATION.TIME": "00:00:00",
}


def _crds_leak_reference() -> Path:
    """Path of the ``mrsptcorr`` reference of the run's CRDS context, or ConfigError."""
    from jwstspec.crds import context_in_force

    context = context_in_force()
    field = "combine.leak_reference"
    try:
        import crds

        kwargs = {"reftypes": ["mrsptcorr"], "observatory": "jwst"}
        if not context.startswith("unknown"):
            kwargs["context"] = context
        refs = crds.getreferences(dict(_MRS_HEADER), **kwargs)
    except (Exception, SystemExit) as exc:  # CRDS exits on a failed set-up
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(field, f"no mrsptcorr reference from CRDS context {context} ({reason}); give the file") from None
    path = refs.get("mrsptcorr", "")
    if not path or str(path).upper().startswith("N/A") or not Path(path).is_file():
        raise ConfigError(field, f"CRDS context {context} has no mrsptcorr reference ({path or 'none'}); give the file")
    return Path(path)


def load_leak_table(path: str | Path | None) -> LeakTable:
    """The spectral-leak table from ``path`` or, when None, from CRDS.

    Parameters
    ----------
    path : str, Path or None
        A ``MirMrsPtCorrModel`` file; None asks CRDS for the ``mrsptcorr``
        reference of the run's context (``CRDS_CONTEXT`` or the cache's
        operational context) for a MIRI MRS exposure.

    Raises
    ------
    InputFileError
        The file is missing, unreadable or has no usable ``leakcor_table``.
    ConfigError
        No path and CRDS has no ``mrsptcorr`` reference (field ``combine.leak_reference``).
    """
    if path is None or str(path) == "":
        return _read_leak_file(_crds_leak_reference())
    return _read_leak_file(Path(path))


def spectral_leak(ch1b: Spectrum, ch3a: Spectrum, table: LeakTable) -> Spectrum:
    """Channel 3A corrected for the second-order leak of channel 1B.

    ``flux_3A(λ) - frac_leak(λ) · flux_1B(λ/2)`` for ``11.55 ≤ λ ≤ 13.46``
    µm where the table is defined and 1B covers ``λ/2``; elsewhere the 3A
    flux is kept and flagged ``LEAK_UNCORRECTED``.  The errors of the 1B
    flux and of the leak fraction are added in quadrature.

    Parameters
    ----------
    ch1b, ch3a : Spectrum
        Channel 1B (1 MEDIUM) and channel 3A (3 SHORT) spectra in Jy, µm.
        Not modified.
    table : LeakTable
        From :func:`load_leak_table`.

    Returns
    -------
    Spectrum
        Corrected copy of ``ch3a`` (header ``LEAKCORR`` names the table).
    """
    w3 = ch3a.wavelength
    ok1 = np.isfinite(ch1b.wavelength) & np.isfinite(ch1b.flux)
    if ok1.sum() < 2:
        raise InputFileError("channel 1B spectrum", "fewer than two finite points: no spectral-leak correction")
    order = np.argsort(ch1b.wavelength[ok1])
    w1 = 2.0 * ch1b.wavelength[ok1][order]  # second order: 1B light at λ/2 lands at λ in 3A
    f1 = ch1b.flux[ok1][order]
    e1 = np.nan_to_num(ch1b.flux_error[ok1][order], nan=0.0)
    inside = (
        np.isfinite(w3)
        & (w3 >= LEAK_RANGE[0]) & (w3 <= LEAK_RANGE[1])
        & (w3 >= table.wavelength[0]) & (w3 <= table.wavelength[-1])
        & (w3 >= w1[0]) & (w3 <= w1[-1])
    )
    frac = np.interp(w3, table.wavelength, table.frac_leak)
    efrac = np.interp(w3, table.wavelength, table.err_leak)
    f1i = np.interp(w3, w1, f1)
    e1i = np.interp(w3, w1, e1)
    leak = np.where(inside, frac * f1i, 0.0)
    flux = np.where(inside, ch3a.flux - leak, ch3a.flux)
    with np.errstate(invalid="ignore"):
        var_leak = (frac * e1i) ** 2 + (efrac * f1i) ** 2
        err = np.where(inside, np.sqrt(ch3a.flux_error**2 + var_leak), ch3a.flux_error)
    dq = ch3a.dq.astype(np.int64) | np.where(inside, 0, DQ_FLAGS["LEAK_UNCORRECTED"]).astype(np.int64)
    meta = dict(ch3a.meta)
    meta["LEAKCORR"] = Path(table.source).name
    n_out = int((~inside & np.isfinite(w3)).sum())
    if not inside.any():
        meta["LEAKCORR"] = "NONE"
        log.warning("spectral leak: no channel 3A point in %.2f-%.2f um covered by the table (%.2f-%.2f um) "
                    "and by channel 1B at half the wavelength; 3A left uncorrected", *LEAK_RANGE,
                    table.wavelength[0], table.wavelength[-1])
    elif n_out:
        log.info("spectral leak: %d of %d channel 3A points outside the corrected range, left as they were",
                 n_out, w3.size)
    return dataclasses.replace(ch3a, flux=flux, flux_error=err, dq=dq, meta=meta)
