"""Final products of a run: one combined spectrum per band (and slit), one stitched spectrum per source.

The two functions here are what the flow's combine tasks call.  They chain
the library pieces in the order the science needs:

* :func:`combine_band`: clean and average one band's dither spectra
  (:mod:`jwstspec.combine`), then, for MIRI MRS when asked, the 1-D
  residual-fringe correction (:mod:`jwstspec.corrections`); FITS + ECSV +
  plot.
* :func:`stitch_bands`: for MIRI MRS, the spectral-leak correction of
  channel 3A with channel 1B (skipped with a logged reason when either is
  missing), then all bands stitched into one spectrum.
* :func:`combinations`, :func:`stitch_groups`: which spectra make one
  product: per band and slit; several slits (MOS) are several sources,
  each stitched on its own and never with another.

Both take paths and return a typed record of the files written
(:class:`BandProduct`, :class:`StitchProduct`; ``.record()`` gives the
dict the flow's tasks return), never arrays.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jwstspec.config import CombineOptions
from jwstspec.spectrum import read_spectrum

log = logging.getLogger("jwstspec.products")


@dataclasses.dataclass
class BandProduct:
    """The files of one combined band and what happened.

    Attributes
    ----------
    fits : str
        The combined spectrum (the product the flow's cache checks).
    ecsv, png, png_combined : str or None
        The ECSV copy, the dithers' plot and the combined spectrum's plot, when written.
    notes : list of str
        Warnings for the run summary.
    n_inputs : int
        Number of input spectra.
    """

    fits: str
    ecsv: str | None = None
    png: str | None = None
    png_combined: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    n_inputs: int = 0

    @classmethod
    def of(cls, fits_path: Path, **fields: Any) -> Any:
        """The record of ``fits_path`` with the ECSV and plots found beside it."""
        from jwstspec.combine import combined_plot_path

        fits_path = Path(fits_path)
        found = {}
        for name, path in (("ecsv", fits_path.with_suffix(".ecsv")), ("png", fits_path.with_suffix(".png")),
                           ("png_combined", combined_plot_path(fits_path.with_suffix(".png")))):
            if path.exists():
                found[name] = str(path)
        return cls(fits=str(fits_path), **found, **fields)

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields that are set (what the flow's tasks return and cache)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclasses.dataclass
class StitchProduct(BandProduct):
    """The files of the stitched spectrum and what happened.

    Attributes
    ----------
    bands : list of str
        Sub-bands stitched, in order of wavelength.
    overlaps : list of str
        Each overlap and the band kept there.
    leakcorr : bool
        Whether channel 3A was corrected for the 1B spectral leak (``LEAKCORR``).
    leak_corrected : str or None
        The corrected 3A spectrum written beside the inputs.
    """

    bands: list[str] = dataclasses.field(default_factory=list)
    overlaps: list[str] = dataclasses.field(default_factory=list)
    leakcorr: bool = False
    leak_corrected: str | None = None


def combine_band(
    spectra: Sequence[Path],
    output: Path,
    options: CombineOptions | Mapping[str, Any] | None = None,
    *,
    plot: bool = True,
    **overrides: Any,
) -> BandProduct:
    """Combine one band's dither spectra into ``output`` (+ ECSV, PNG), defringed when asked.

    The 1-D residual-fringe correction (``defringe``; None, the default,
    corrects MIRI MRS spectra, read from their header) is applied to the
    combined spectrum before anything is written, so the FITS, ECSV and both
    plots show the same (corrected) spectrum; the header says whether it was
    (``DEFRINGE = T/F``).

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
    BandProduct
    """
    import functools

    from jwstspec.combine import combine_files
    from jwstspec.corrections import apply_defringe

    o = CombineOptions.resolve(options, overrides)
    output = Path(output)
    correct = functools.partial(apply_defringe, enabled=o.defringe)  # header DEFRINGE = T/F either way
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
    return BandProduct.of(output, notes=notes, n_inputs=len(spectra))


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


@dataclasses.dataclass(frozen=True)
class Combination:
    """One combined product: the band (grating and detector, or MIRI band) and the slit (source) it holds."""

    band: str
    slit: str
    spectra: tuple[Path, ...]


def combinations(groups: Mapping[str, Mapping[str, Sequence[Path]]]) -> dict[str, Combination]:
    """``{product key: Combination}`` from ``{band: {slit: spectra}}`` (:func:`group_by_slit` per band).

    The key is the band, with the slit appended (``<band>_<slit>``) as soon as
    any band of the observation holds several slits (MOS: one slitlet per
    source): every product of a source then names it, also in a band where
    only that source landed (e.g. on one detector only).
    """
    several = any(len([s for s in slits if s]) > 1 for slits in groups.values())
    out: dict[str, Combination] = {}
    for band, slits in sorted(groups.items()):
        for slit, spectra in sorted(slits.items()):
            key = f"{band}_{slit}" if slit and several else band
            out[key] = Combination(band, slit, tuple(Path(p) for p in spectra))
    return out


def stitch_groups(products: Mapping[str, Combination]) -> dict[str, list[str]]:
    """``{stitched key: [product keys]}``: each source's bands are stitched together, never two sources.

    One slit (or cubes): ``{"stitched": [every key]}``; several slits:
    ``stitched_<slit>`` per slit.
    """
    by_slit: dict[str, list[str]] = {}
    for key, comb in sorted(products.items()):
        by_slit.setdefault(comb.slit, []).append(key)
    if len(by_slit) <= 1:
        return {"stitched": sorted(products)} if products else {}
    return {f"stitched_{slit}" if slit else "stitched": keys for slit, keys in sorted(by_slit.items())}


def group_by_band(spectra: Sequence[Path], default: str) -> dict[str, list[Path]]:
    """Split extracted spectra by MIRI MRS sub-band, read from their headers (``CHANNEL``, ``BAND``).

    The extraction of a two-channel Stage 2 cube (band ``ch12-medium``)
    gives one spectrum per channel: these are combined per sub-band
    (``ch1-medium``, ``ch2-medium``).  Spectra that are not MIRI MRS, or
    whose header names no sub-band, stay under ``default`` (the band of
    the product they were extracted from).
    """
    from jwstspec.bands import band_key, is_mrs

    groups: dict[str, list[Path]] = {}
    for p in spectra:
        meta = read_spectrum(Path(p)).meta
        key = band_key(meta, default) if is_mrs(meta) else default
        groups.setdefault(key, []).append(Path(p))
    return groups


def stitch_bands(
    spectra: Sequence[Path],
    output: Path,
    options: CombineOptions | Mapping[str, Any] | None = None,
    *,
    plot: bool = True,
    **overrides: Any,
) -> StitchProduct:
    """Spectral-leak correction (MIRI MRS) and stitching of all bands into ``output`` (+ ECSV, PNG).

    The inputs are cut into their sub-bands from their headers (one file per
    sub-band or the two-channel files of Stage 2 alike, whatever their
    names: :func:`jwstspec.combine.read_bands`).  With ``spectral_leak`` and
    MIRI MRS input, channel 3A (``ch3-short``) is corrected with channel 1B
    (``ch1-medium``) before stitching (:func:`_leak_correct`).  The stitched
    header gets ``LEAKCORR`` (T when 3A was corrected) and, when it was,
    ``LEAKREF`` (the table's file).

    Parameters
    ----------
    spectra : sequence of Path
        One combined spectrum per band (or per two-channel file).
    output : Path
        The stitched FITS file (+ ECSV, PNG).
    options : CombineOptions or mapping, optional
        The ``[combine]`` options (used here: ``scale_bands``,
        ``spectral_leak``, ``leak_reference``); default: the model's defaults.
    plot : bool
        Also draw the PNG plot.
    **overrides
        Fields of :class:`~jwstspec.config.CombineOptions` replacing those of ``options``.

    Returns
    -------
    StitchProduct
    """
    from jwstspec.combine import read_bands, stitch_result, write_stitched

    o = CombineOptions.resolve(options, overrides)
    output = Path(output)
    bands, sources = read_bands([Path(s) for s in spectra])
    notes: list[str] = []
    leak_table = ""
    corrected_path: Path | None = None
    if o.spectral_leak:
        bands, leak_notes, corrected_path, leak_table = _leak_correct(bands, sources, str(o.leak_reference) if o.leak_reference else None)
        notes += leak_notes
    result = stitch_result(bands, scale=o.scale_bands)
    notes += result.notes
    result.spectrum.meta["LEAKCORR"] = corrected_path is not None
    if leak_table:
        result.spectrum.meta["LEAKREF"] = leak_table
    write_stitched(result, output, plot=output.with_suffix(".png") if plot else None, ecsv=True)
    for m in notes:
        log.info("%s: %s", output.name, m)
    return StitchProduct.of(output, notes=notes, n_inputs=len(spectra), bands=result.bands,
                            overlaps=[str(ov) for ov in result.overlaps], leakcorr=corrected_path is not None,
                            leak_corrected=str(corrected_path) if corrected_path else None)


#: Band keys of the spectral-leak pair: the leaking channel 1B and the corrected channel 3A.
LEAK_SOURCE, LEAK_TARGET = "ch1-medium", "ch3-short"


def _leak_correct(bands: dict[str, Any], sources: dict[str, Path],
                  leak_reference: str | None) -> tuple[dict[str, Any], list[str], Path | None, str]:
    """Correct 3A with 1B (found by their band keys) and write the corrected 3A beside its input.

    Returns the bands with 3A replaced, notes, the corrected file (None when
    nothing was corrected) and the table's file name.  The input file is
    never modified (a rerun must not correct twice): the corrected 3A goes
    to ``*_leakcorr_x1d.fits`` (``<stem>_ch3-short_leakcorr`` when the input
    held two channels).
    """
    from jwstspec.bands import is_mrs

    if not any(is_mrs(s.meta) for s in bands.values()):
        return bands, ["spectral leak correction not applicable: no MIRI MRS band"], None, ""
    missing = [f"{k} ({n})" for k, n in ((LEAK_SOURCE, "1B"), (LEAK_TARGET, "3A")) if k not in bands]
    if missing:
        note = f"spectral leak correction skipped: no {' and no '.join(missing)} spectrum in this run"
        log.info(note)
        return bands, [note], None, ""
    from jwstspec.corrections import load_leak_table, spectral_leak
    from jwstspec.layout import leakcorr_path

    table = load_leak_table(leak_reference)
    corrected = spectral_leak(bands[LEAK_SOURCE], bands[LEAK_TARGET], table)
    src = sources[LEAK_TARGET]
    shared = sum(1 for p in sources.values() if p == src) > 1
    out = leakcorr_path(src, LEAK_TARGET, shared)  # never the input itself: a rerun would correct twice
    corrected.write_ecsv(out.with_suffix(".ecsv"))
    corrected.write_fits(out)  # last: the product the cache checks
    return ({**bands, LEAK_TARGET: corrected}, ["spectral leak: channel 3A corrected with channel 1B"], out,
            Path(table.source).name)
