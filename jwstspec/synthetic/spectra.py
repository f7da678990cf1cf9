"""Synthetic 1-D spectra with known truth for combination and MIRI corrections.

* :func:`dither_spectra`: one band's per-dither spectra (continuum + narrow
  lines + Gaussian noise of known sigma) with single-dither artefacts
  injected at known points.
* :func:`mrs_fringed_spectrum`: an MRS-like spectrum of one or two channel
  segments with a residual fringe of the MRS period (2.9 cm⁻¹ in
  wavenumber) and known amplitude.
* :func:`mrs_line_forest`: one fringed MRS band with several emission and
  absorption lines of known flux.
* :func:`leak_pair`: channel 1B and 3A spectra with the second-order leak
  of 1B injected into 3A from a leak table.
* :func:`write_leak_table`: that table as a ``MirMrsPtCorrModel`` file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jwstspec.fileio import atomic_path
from jwstspec.spectrum import Spectrum

#: Residual-fringe period of MRS channels 1/2 in wavenumber (cm⁻¹), jwst's FFREQ_1D[0].
FRINGE_PERIOD_CM = 2.9

#: Nominal wavelength ranges (µm) of the MRS sub-bands used here.
MRS_BANDS: dict[str, tuple[float, float]] = {
    "1A": (4.90, 5.74), "1B": (5.66, 6.63), "1C": (6.53, 7.65),
    "2A": (7.51, 8.77), "2B": (8.67, 10.13), "2C": (10.02, 11.70),
    "3A": (11.55, 13.47), "3B": (13.34, 15.57), "3C": (15.41, 17.98),
    "4A": (17.70, 20.95), "4B": (20.69, 24.48), "4C": (23.83, 27.90),
}


@dataclasses.dataclass
class DitherSet:
    """Per-dither spectra of one band with their truth.

    Attributes
    ----------
    spectra : list of Spectrum
        The dithers (same grid), noise sigma = ``FLUX_ERROR``.
    truth : ndarray
        Noise-free flux on the grid.
    continuum : ndarray
        The continuum part of ``truth`` (truth minus lines).
    lines : tuple of float
        Line centres (µm).
    injected : list of ndarray
        Boolean masks of the artefacts injected in each dither.
    """

    spectra: list[Spectrum]
    truth: np.ndarray
    continuum: np.ndarray
    lines: tuple[float, ...]
    injected: list[np.ndarray]


def dither_spectra(
    n_dithers: int = 4,
    n_points: int = 3000,
    *,
    wave_range: tuple[float, float] = (5.0, 6.0),
    lines: Sequence[float] = (5.2, 5.5, 5.8),
    continuum_jy: float = 1e-2,
    line_jy: float = 4e-3,
    line_sigma_points: float = 1.2,
    noise_jy: float = 1e-4,
    artefacts: int = 30,
    artefact_sigma: tuple[float, float] = (20.0, 200.0),
    seed: int = 0,
    band: str = "",
    error_factor: float = 1.0,
) -> DitherSet:
    """Known-truth dither spectra with single-dither artefacts (spikes of either sign).

    Parameters
    ----------
    n_dithers, n_points : int
        Number of dithers and of grid points.
    wave_range : (float, float)
        Grid limits in µm.
    lines : sequence of float
        Centres of Gaussian emission lines (µm) of peak ``line_jy`` and
        sigma ``line_sigma_points`` grid steps.
    continuum_jy, noise_jy : float
        Continuum at the short end (rising as λ^1.5) and noise sigma.
    artefacts : int
        Artefacts per dither, amplitude uniform in ``artefact_sigma`` × noise.
    seed : int
        Random seed.
    band : str
        ``BAND_KEY`` header value.
    error_factor : float
        The reported errors are ``error_factor`` x the true noise sigma
        (below 1: underestimated, as the ERR of resampled cubes).
    """
    rng = np.random.default_rng(seed)
    w = np.linspace(wave_range[0], wave_range[1], n_points)
    step = (w[-1] - w[0]) / (n_points - 1)
    cont = continuum_jy * (w / w[0]) ** 1.5
    truth = cont.copy()
    for c in lines:
        truth += line_jy * np.exp(-0.5 * ((w - c) / (line_sigma_points * step)) ** 2)
    err = np.full(n_points, noise_jy * error_factor)
    spectra, injected = [], []
    for i in range(n_dithers):
        f = truth + rng.normal(0.0, noise_jy, n_points)
        hit = np.zeros(n_points, bool)
        if artefacts:
            idx = rng.choice(n_points, artefacts, replace=False)
            amp = rng.choice([-1.0, 1.0], artefacts) * rng.uniform(*artefact_sigma, artefacts) * noise_jy
            f[idx] += amp
            hit[idx] = True
        meta = {"BAND_KEY": band, "DITHER": i + 1} if band else {"DITHER": i + 1}
        spectra.append(Spectrum(w, f, err.copy(), meta=meta))
        injected.append(hit)
    return DitherSet(spectra, truth, cont, tuple(lines), injected)


def fringe(wavelength: np.ndarray, amplitude: float, *, period_cm: float = FRINGE_PERIOD_CM,
           phase: float = 0.0) -> np.ndarray:
    """Multiplicative fringe ``1 + A sin(2π σ / P + φ)`` with σ = 10⁴/λ in cm⁻¹."""
    sigma = 1e4 / np.asarray(wavelength, dtype=float)
    return 1.0 + amplitude * np.sin(2 * np.pi * sigma / period_cm + phase)


def fringe_amplitude(wavelength: np.ndarray, ratio: np.ndarray, *, period_cm: float = FRINGE_PERIOD_CM) -> float:
    """Amplitude of the fringe of :func:`fringe` left in ``ratio`` (observed / truth): a least-squares sinusoid.

    ``ratio - 1`` is fitted with ``a sin(2π σ / P) + b cos(2π σ / P) + c``
    (σ = 10⁴/λ in cm⁻¹, any phase); returns ``hypot(a, b)``, e.g. 0.05 for
    an untouched 5 % fringe.  Non-finite points are left out.
    """
    w, r = np.asarray(wavelength, dtype=float), np.asarray(ratio, dtype=float)
    ok = np.isfinite(w) & np.isfinite(r) & (w > 0)
    sigma = 1e4 / w[ok]
    phase = 2 * np.pi * sigma / period_cm
    design = np.vstack([np.sin(phase), np.cos(phase), np.ones_like(sigma)]).T
    coef, *_ = np.linalg.lstsq(design, r[ok] - 1, rcond=None)
    return float(np.hypot(coef[0], coef[1]))


@dataclasses.dataclass
class FringedSpectrum:
    """An MRS-like spectrum with a known injected fringe.

    Attributes
    ----------
    spectrum : Spectrum
        Observed (fringed, noisy) spectrum.
    truth : ndarray
        Noise-free, fringe-free flux.
    continuum : ndarray
        ``truth`` without the line.
    line : float or None
        Centre of the narrow line (µm).
    segments : list of slice
        Index ranges of the channel segments.
    """

    spectrum: Spectrum
    truth: np.ndarray
    continuum: np.ndarray
    line: float | None
    segments: list[slice]


def mrs_fringed_spectrum(
    bands: Sequence[str] = ("1A",),
    n_points: int = 3000,
    *,
    amplitude: float = 0.05,
    noise: float = 0.002,
    continuum_jy: float = 0.1,
    line: bool = True,
    line_strength: float = 0.5,
    seed: int = 1,
) -> FringedSpectrum:
    """A fringed MRS-like spectrum: one segment per band (Stage 2: e.g. ``("1A", "2A")``).

    Each segment is a smooth continuum × fringe of the MRS period × (1 +
    relative noise ``noise``); the first segment carries a narrow emission
    line of peak ``line_strength`` × continuum (sigma 1.5 grid steps) at
    40 % of its range.
    """
    rng = np.random.default_rng(seed)
    waves, truths, conts, segs = [], [], [], []
    line_at = None
    start = 0
    for k, band in enumerate(bands):
        lo, hi = MRS_BANDS[band]
        w = np.linspace(lo, hi, n_points)
        cont = continuum_jy * (w / lo) ** 1.2 * (1 + 0.1 * np.sin(2 * np.pi * (w - lo) / (hi - lo)))
        t = cont.copy()
        if line and k == 0:
            line_at = lo + 0.4 * (hi - lo)
            t = t + line_strength * np.interp(line_at, w, cont) * np.exp(
                -0.5 * ((w - line_at) / (1.5 * (hi - lo) / (n_points - 1))) ** 2)
        waves.append(w)
        truths.append(t)
        conts.append(cont)
        segs.append(slice(start, start + n_points))
        start += n_points
    w = np.concatenate(waves)
    truth = np.concatenate(truths)
    obs = truth * fringe(w, amplitude) * (1 + rng.normal(0.0, noise, w.size))
    err = np.abs(truth) * noise
    spec = Spectrum(w, obs, err, meta={"BAND_KEY": "+".join(bands)})
    return FringedSpectrum(spec, truth, np.concatenate(conts), line_at, segs)


#: Lines of :func:`mrs_line_forest`: (position as a fraction of the band, peak / continuum, sigma in grid steps).
LINE_FOREST: tuple[tuple[float, float, float], ...] = (
    (0.15, 0.3, 1.5), (0.30, 1.0, 1.5), (0.45, -0.2, 2.0), (0.62, 3.0, 3.0), (0.80, 0.6, 4.0))


@dataclasses.dataclass
class LineForest:
    """A fringed MRS band with several lines of known flux.

    Attributes
    ----------
    spectrum : Spectrum
        Observed (fringed, noisy) spectrum.
    truth, continuum : ndarray
        Noise-free, fringe-free flux with and without the lines.
    centres : ndarray
        Line centres (µm), in the order of the ``lines`` argument.
    """

    spectrum: Spectrum
    truth: np.ndarray
    continuum: np.ndarray
    centres: np.ndarray

    def line_fluxes(self, flux: np.ndarray, half_width: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Integrated line flux (sum over ``2 half_width + 1`` points, continuum subtracted) of ``flux`` and of the truth."""
        w = self.spectrum.wavelength
        measured, true = [], []
        for c in self.centres:
            i = int(np.argmin(np.abs(w - c)))
            sl = slice(max(i - half_width, 0), i + half_width + 1)
            measured.append(float((flux[sl] - self.continuum[sl]).sum()))
            true.append(float((self.truth[sl] - self.continuum[sl]).sum()))
        return np.array(measured), np.array(true)


def mrs_line_forest(
    band: str = "3A",
    n_points: int = 3000,
    *,
    lines: Sequence[tuple[float, float, float]] = LINE_FOREST,
    amplitude: float = 0.05,
    noise: float = 0.002,
    continuum_jy: float = 0.1,
    seed: int = 1,
) -> LineForest:
    """One MRS band: power-law continuum + ``lines`` (see :data:`LINE_FOREST`), × fringe × (1 + noise).

    The fringe has the MRS period, amplitude ``amplitude`` and a random phase.
    """
    rng = np.random.default_rng(seed)
    lo, hi = MRS_BANDS[band]
    w = np.linspace(lo, hi, n_points)
    step = (hi - lo) / (n_points - 1)
    cont = continuum_jy * (w / lo) ** 1.2
    truth = cont.copy()
    centres = []
    for frac, peak, sigma in lines:
        c = lo + frac * (hi - lo)
        truth = truth + peak * np.interp(c, w, cont) * np.exp(-0.5 * ((w - c) / (sigma * step)) ** 2)
        centres.append(c)
    obs = truth * fringe(w, amplitude, phase=rng.uniform(0, 2 * np.pi)) * (1 + rng.normal(0.0, noise, w.size))
    spec = Spectrum(w, obs, np.abs(truth) * noise, meta={"BAND_KEY": band})
    return LineForest(spec, truth, cont, np.array(centres))


def leak_table_rows(n: int = 40, *, peak: float = 0.08, wave_range: tuple[float, float] = (11.5, 13.2)) -> np.ndarray:
    """A synthetic ``leakcor_table``: a leak fraction peaking at 12.2 µm.

    The default range stops short of the 3A long end (13.47 µm) so that the
    "table undefined there" case is exercised.
    """
    w = np.linspace(wave_range[0], wave_range[1], n)
    frac = peak * np.exp(-0.5 * ((w - 12.2) / 0.35) ** 2)
    rows = np.zeros(n, dtype=[("wavelength", "f4"), ("frac_leak", "f4"), ("err_leak", "f4")])
    rows["wavelength"], rows["frac_leak"], rows["err_leak"] = w, frac, 0.05 * frac
    return rows


def write_leak_table(path: str | Path, rows: np.ndarray | None = None) -> Path:
    """Write a ``MirMrsPtCorrModel`` (``mrsptcorr``) file holding ``rows`` (default :func:`leak_table_rows`)."""
    from stdatamodels.jwst.datamodels import MirMrsPtCorrModel

    model = MirMrsPtCorrModel()
    model.leakcor_table = leak_table_rows() if rows is None else rows
    model.meta.instrument.name = "MIRI"
    model.meta.instrument.detector = "N/A"
    model.meta.reftype = "MRSPTCORR"
    model.meta.exposure.type = "MIR_MRS"
    model.meta.author = "jwstspec synthetic"
    model.meta.pedigree = "DUMMY"
    model.meta.useafter = "2000-01-01T00:00:00"
    model.meta.description = "Synthetic MRS spectral-leak table"
    path = Path(path)
    with atomic_path(path) as tmp:
        model.save(str(tmp))
    return path


@dataclasses.dataclass
class LeakPair:
    """Channel 1B and leaked 3A spectra with the 3A truth."""

    ch1b: Spectrum
    ch3a: Spectrum
    truth_3a: np.ndarray
    leak: np.ndarray


def leak_pair(rows: np.ndarray | None = None, n_points: int = 2000, *, noise: float = 0.0,
              seed: int = 2) -> LeakPair:
    """Synthetic 1B (5.66-6.63 µm) and 3A (11.55-13.47 µm) spectra, the leak injected into 3A.

    The leak is ``frac_leak(λ) × F_1B(λ/2)`` evaluated where the table is
    defined (zero elsewhere, like the real instrument beyond the table).
    1B carries a bright line at 6.1 µm so that the leak has structure.
    """
    rng = np.random.default_rng(seed)
    rows = leak_table_rows() if rows is None else rows
    w1 = np.linspace(*MRS_BANDS["1B"], n_points)
    f1 = 0.5 * (w1 / 6.0) ** -2 * (1 + 2.0 * np.exp(-0.5 * ((w1 - 6.1) / 0.004) ** 2))
    w3 = np.linspace(*MRS_BANDS["3A"], n_points)
    t3 = 0.3 * (w3 / 12.0) ** 0.8
    tw = np.asarray(rows["wavelength"], float)
    defined = (w3 >= tw[0]) & (w3 <= tw[-1]) & (w3 <= 2 * w1[-1]) & (w3 >= 2 * w1[0])
    leak = np.where(defined, np.interp(w3, tw, np.asarray(rows["frac_leak"], float)) * np.interp(w3, 2 * w1, f1), 0.0)
    f3 = t3 + leak
    if noise:
        f1 = f1 * (1 + rng.normal(0, noise, f1.size))
        f3 = f3 * (1 + rng.normal(0, noise, f3.size))
    ch1b = Spectrum(w1, f1, np.abs(f1) * max(noise, 1e-4), meta={"BAND_KEY": "ch1-medium"})
    ch3a = Spectrum(w3, f3, np.abs(f3) * max(noise, 1e-4), meta={"BAND_KEY": "ch3-short"})
    return LeakPair(ch1b, ch3a, t3, leak)
