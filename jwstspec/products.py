"""Final products of a run: one combined spectrum per band, one stitched spectrum.

The two functions here are what the flow's combine tasks call.  They chain
the library pieces in the order the science needs:

* :func:`combine_band`: clean and average one band's dither spectra
  (:mod:`jwstspec.combine`), then, for MIRI MRS when asked, the 1-D
  residual-fringe correction (:mod:`jwstspec.corrections`); FITS + ECSV +
  plot.
* :func:`stitch_bands`: for MIRI MRS, the spectral-leak correction of
  channel 3A with channel 1B (skipped with a logged reason when either is
  missing), then all bands stitched into one spectrum.

Both take and return paths (a small record of them), never arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jwstspec.config import CombineOptions
from jwstspec.spectrum import read_spectrum

log = logging.getLogger("jwstspec.products")


def _record(fits_path: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"fits": str(fits_path)}
    ecsv = fits_path.with_suffix(".ecsv")
    if ecsv.exists():
        rec["ecsv"] = str(ecsv)
    png = fits_path.with_suffix(".png")
    if png.exists():
        rec["png"] = str(png)
    from jwstspec.combine import combined_plot_path

    png_combined = combined_plot_path(png)
    if png_combined.exists():
        rec["png_combined"] = str(png_combined)
    rec.update(extra or {})
    return rec


def combine_band(
    spectra: Sequence[Path],
    output: Path,
    options: CombineOptions | Mapping[str, Any] | None = None,
    *,
    plot: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Combine one band's dither spectra into ``output`` (+ ECSV, PNG), defringed when asked.

    The 1-D residual-fringe correction is applied to the combined spectrum
    before anything is written, so the FITS, ECSV and both plots show the
    same (corrected) spectrum.

    Parameters
    ----------
    spectra : sequence of Path
        One ``EXTRACT1D`` spectrum per dither.
    output : Path
        The combined FITS file.
    options : CombineOptions or mapping, optional
        The ``[combine]`` options (used here: ``window_half``,
        ``clip_sigma``, ``mask_ranges``, ``rescale_errors``, ``defringe``);
        default: the model's defaults.
    plot : bool
        Also draw the PNG plots.
    **overrides
        Fields of :class:`~jwstspec.config.CombineOptions` replacing those of ``options``.

    Returns
    -------
    dict
        ``{"fits", "ecsv", "png", "png_combined", "notes", "n_inputs"}``.
    """
    from jwstspec.combine import combine_files

    o = CombineOptions.resolve(options, overrides)
    output = Path(output)
    correct = None
    if o.defringe:
        from jwstspec.corrections import defringe_1d

        correct = defringe_1d
    result = combine_files(
        [Path(s) for s in spectra],
        output,
        window_half=o.window_half,
        clip_sigma=o.clip_sigma,
        mask_ranges=[tuple(r) for r in o.mask_ranges],
        rescale_errors=o.rescale_errors,
        plot=output.with_suffix(".png") if plot else None,
        ecsv=True,
        correct=correct,
    )
    notes = list(result.notes)
    for m in notes:
        log.warning("%s: %s", output.name, m)
    return _record(output, {"notes": notes, "n_inputs": len(spectra)})


def group_by_slit(spectra: Sequence[Path]) -> dict[str, list[Path]]:
    """Split one band's extracted spectra by slit (``SLITNAME``; ``""`` for cubes and single slits).

    A MultiSlit (MOS, several fixed slits) product gives one spectrum per
    slit, and each slit holds a different source: only spectra of the same
    slit are dithers of one another.
    """
    groups: dict[str, list[Path]] = {}
    for p in spectra:
        slit = str(read_spectrum(Path(p)).meta.get("SLITNAME", "") or "")
        groups.setdefault(slit, []).append(Path(p))
    return groups


def _band_of(path: Path) -> str:
    from jwstspec.plan import product_band

    spec = read_spectrum(path)
    band = str(spec.meta.get("BAND_KEY", "")) or product_band(path)
    return band.lower()


def stitch_bands(
    spectra: Sequence[Path],
    output: Path,
    options: CombineOptions | Mapping[str, Any] | None = None,
    *,
    plot: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Spectral-leak correction (MIRI MRS) and stitching of all bands into ``output``.

    Parameters
    ----------
    spectra : sequence of Path
        One combined spectrum per band.
    output : Path
        The stitched FITS file (+ ECSV, PNG).
    options : CombineOptions or mapping, optional
        The ``[combine]`` options (used here: ``scale_bands``,
        ``spectral_leak``, ``leak_reference``); default: the model's defaults.
    plot : bool
        Also draw the PNG plot.
    **overrides
        Fields of :class:`~jwstspec.config.CombineOptions` replacing those of ``options``.
    """
    from jwstspec.combine import stitch_files

    o = CombineOptions.resolve(options, overrides)
    output = Path(output)
    inputs = [Path(s) for s in spectra]
    notes: list[str] = []
    extra: dict[str, Any] = {}
    if o.spectral_leak:
        inputs, leak_notes, corrected = _apply_spectral_leak(inputs, str(o.leak_reference) if o.leak_reference else None)
        notes += leak_notes
        if corrected is not None:
            extra["leak_corrected"] = str(corrected)
    stitch_files(inputs, output, scale=o.scale_bands, plot=output.with_suffix(".png") if plot else None, ecsv=True)
    return _record(output, {"notes": notes, "n_inputs": len(inputs), **extra})


def _apply_spectral_leak(inputs: list[Path], leak_reference: str | None) -> tuple[list[Path], list[str], Path | None]:
    """Correct 3A with 1B into a new ``*_leakcorr`` file that replaces 3A among the inputs.

    The combined 3A file itself is never modified (a rerun must not correct twice).
    """
    by_band = {}
    for p in inputs:
        name = p.name.lower()
        for key in ("ch1-medium", "ch3-short"):
            if key in name:
                by_band[key] = p
    if "ch1-medium" not in by_band or "ch3-short" not in by_band:
        missing = [k for k in ("ch1-medium (1B)", "ch3-short (3A)") if k.split(" ")[0] not in by_band]
        note = f"spectral leak correction skipped: no {' and no '.join(missing)} spectrum in this run"
        log.info(note)
        return inputs, [note], None
    from jwstspec.corrections import load_leak_table, spectral_leak

    table = load_leak_table(leak_reference)
    corrected = spectral_leak(read_spectrum(by_band["ch1-medium"]), read_spectrum(by_band["ch3-short"]), table)
    src = by_band["ch3-short"]
    out = src.with_name(src.name.replace("_combined_x1d", "_leakcorr_x1d"))
    if out == src:  # never write over the input: a rerun would correct twice
        out = src.with_name(f"{src.stem}_leakcorr{src.suffix}")
    corrected.write_ecsv(out.with_suffix(".ecsv"))
    corrected.write_fits(out)  # last: the product the cache checks
    return [out if p == src else p for p in inputs], ["spectral leak: channel 3A corrected with channel 1B"], out
