"""Combine benchmark: dither cleaning + combination, and 1-D defringing per MRS channel segment.

    .venv/bin/python benchmarks/combine.py [--dithers 8] [--bands 4] [--points 3000] [--repeat 3]

1. Cleaning + inverse-variance combination (:func:`jwstspec.combine.combine_dithers`)
   of ``--dithers`` dithers x ``--bands`` bands of ``--points`` points each
   (synthetic spectra with single-dither artefacts), timed for all bands
   together, best of ``--repeat``; once on a shared grid (Stage 2 cubes) and
   once with every dither on its own shifted grid (resampled).  The
   quality figures of the same run are printed (artefacts caught, clean
   points flagged, robust scatter of (combined - truth) / error), and the
   same with errors 4x below the noise, cleaned with the scatter measured on
   the dithers (``ERRSCALE``) and with ``ERR`` taken at its word.
2. 1-D residual-fringe correction (:func:`jwstspec.corrections.defringe_1d`)
   of one ``--points``-point segment per MRS channel (1A, 2A, 3A, 4A) with a
   5 % fringe of the MRS period; the first call (imports, JIT) is reported
   separately, then the best of ``--repeat``.
3. Line fluxes after 1-D defringing: ``--seeds`` synthetic bands per
   channel 1-3 with five lines each (:func:`jwstspec.synthetic.spectra.mrs_line_forest`),
   corrected with one ``jwst`` fit (what the pipeline does) and with the
   line-masked refits of :func:`jwstspec.corrections.defringe_1d`; median
   and worst |line flux error| and the median residual rms.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jwstspec import combine, corrections  # noqa: E402
from jwstspec.combine import combine_dithers  # noqa: E402
from jwstspec.corrections import defringe_1d  # noqa: E402
from jwstspec.spectrum import Spectrum  # noqa: E402
from jwstspec.synthetic.spectra import dither_spectra, mrs_fringed_spectrum, mrs_line_forest  # noqa: E402


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _shifted(spectra: list[Spectrum], seed: int) -> list[Spectrum]:
    """Each dither after the first on its own grid, shifted by a fraction of a step."""
    rng = np.random.default_rng(seed)
    out = [spectra[0]]
    for s in spectra[1:]:
        step = s.wavelength[1] - s.wavelength[0]
        w = s.wavelength + rng.uniform(-0.5, 0.5) * step
        out.append(Spectrum(w, np.interp(w, s.wavelength, s.flux), s.flux_error))
    return out


def _quality(sets: list, results: list) -> str:
    caught = sum((f & h).sum() for ds, r in zip(sets, results) for f, h in zip(r.flags, ds.injected))
    injected = sum(h.sum() for ds in sets for h in ds.injected)
    false = sum((f & ~h).sum() for ds, r in zip(sets, results) for f, h in zip(r.flags, ds.injected))
    clean = sum((~h).sum() for ds in sets for h in ds.injected)
    return f"artefacts caught {caught / injected:.3%}, clean points flagged {false / clean:.3%}"


def bench_combine(n_dithers: int, n_bands: int, n_points: int, repeat: int) -> None:
    def make(error_factor: float = 1.0) -> list:
        return [dither_spectra(n_dithers, n_points, wave_range=(5.0 + b, 6.0 + b), lines=(5.2 + b, 5.5 + b, 5.8 + b),
                               seed=b, error_factor=error_factor) for b in range(n_bands)]

    sets = make()
    t_same, results = _best(lambda: [combine_dithers(ds.spectra) for ds in sets], repeat)
    shifted = [_shifted(ds.spectra, k) for k, ds in enumerate(sets)]
    t_shift, _ = _best(lambda: [combine_dithers(s) for s in shifted], repeat)
    pulls = np.concatenate([(r.combined.flux - ds.truth) / r.combined.flux_error for ds, r in zip(sets, results)])
    robust = 1.4826 * np.median(np.abs(pulls - np.median(pulls)))
    print(f"clean + combine, {n_dithers} dithers x {n_bands} bands x {n_points} points:")
    print(f"  shared grid      {t_same * 1e3:8.1f} ms  ({t_same / n_bands * 1e3:.1f} ms per band)")
    print(f"  resampled grids  {t_shift * 1e3:8.1f} ms  ({t_shift / n_bands * 1e3:.1f} ms per band)")
    print(f"  {_quality(sets, results)}, robust scatter/error {robust:.3f}")
    # errors 4x below the noise, as the ERR of resampled Stage 2 cubes: the scatter measured on the dithers
    low = make(0.25)
    scaled = [combine_dithers(ds.spectra) for ds in low]
    original = combine.error_scale
    combine.error_scale = lambda flux, err: 1.0  # ERR taken at its word
    try:
        naive = [combine_dithers(ds.spectra) for ds in low]
    finally:
        combine.error_scale = original
    print(f"  ERR 4x below the noise: {_quality(low, scaled)}, ERRSCALE "
          f"{min(r.combined.meta['ERRSCALE'] for r in scaled):.2f}-{max(r.combined.meta['ERRSCALE'] for r in scaled):.2f}; "
          f"ERR taken at its word: {_quality(low, naive)}")


def bench_defringe(n_points: int, repeat: int) -> None:
    print(f"1-D defringing, one {n_points}-point segment per channel, 5 % fringe of the MRS period:")
    for band in ("1A", "2A", "3A", "4A"):
        fs = mrs_fringed_spectrum((band,), n_points, line=False)
        t0 = time.perf_counter()
        out, messages = defringe_1d(fs.spectrum)
        first = time.perf_counter() - t0
        t_best, (out, messages) = _best(lambda: defringe_1d(fs.spectrum), repeat)
        ratio = out.flux / fs.truth
        resid = float(np.std(ratio - 1))
        status = "; ".join(messages) if messages else "ok"
        print(f"  channel {band[0]} ({band}) first call {first:6.2f} s, best {t_best:6.2f} s, "
              f"residual rms {resid:.2%} [{status}]")


def bench_defringe_lines(seeds: int) -> None:
    print(f"1-D defringing with lines: {seeds} spectra x 5 lines per band, one jwst fit vs line-masked refits:")
    for band in ("1B", "2B", "3A", "3B", "3C"):
        figures = {}
        for name, max_fits in (("one fit", 1), ("masked refits", corrections.MAX_FITS)):
            errors, rms, seconds = [], [], 0.0
            for seed in range(seeds):
                lf = mrs_line_forest(band, seed=seed)
                t0 = time.perf_counter()
                out, _ = corrections.defringe_1d(lf.spectrum, max_fits=max_fits)
                seconds += time.perf_counter() - t0
                measured, true = lf.line_fluxes(out.flux)
                errors.extend(np.abs(measured / true - 1))
                rms.append(np.std(out.flux / lf.truth - 1))
            figures[name] = (f"line flux error median {np.median(errors):6.1%} worst {np.max(errors):6.1%}, "
                             f"residual rms {np.median(rms):.2%}, {seconds / seeds:5.1f} s")
        print(f"  {band}: " + " | ".join(f"{k}: {v}" for k, v in figures.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dithers", type=int, default=8)
    parser.add_argument("--bands", type=int, default=4)
    parser.add_argument("--points", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=4, help="spectra per band in the line-flux part")
    parser.add_argument("--skip-defringe", action="store_true", help="only the combination benchmark")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    bench_combine(args.dithers, args.bands, args.points, args.repeat)
    if not args.skip_defringe:
        bench_defringe(args.points, args.repeat)
        bench_defringe_lines(args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
