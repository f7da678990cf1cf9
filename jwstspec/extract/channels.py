"""One spectrum per MRS channel from multi-channel cubes.

A Stage 2 MIRI MRS cube (``cube_build`` with ``output_type = "multi"``)
holds the two channels of one detector and grating setting, e.g. 1B + 2B
(header ``CHANNEL = '12'``, ``BAND = 'MEDIUM'``), on one wavelength axis
that runs through the gap between the channels (empty planes there, or a
jump in a tabular axis).  :func:`split_cube` cuts it into one cube per
channel (views, no copy) from the cube's own header and wavelengths
(:func:`jwstspec.bands.channel_parts`), never its file name, and leaves
the empty planes of the gap out; :func:`extract_channels` extracts each
and writes one spectrum per channel, ``<output stem>_<band key>_x1d.fits``
(band keys ``ch1-medium``, ``ch2-medium`` ...), each with ``CHANNEL``,
``BAND`` and ``BAND_KEY`` in its header.  A one-channel cube (Stage 3
``band`` cubes, NIRSpec) is extracted whole to ``output``, with
``BAND_KEY`` added to its header.

Every channel is extracted on its own (centroid track, empirical profile
window and noise correlation do not reach across the gap).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.bands import BandError, band_key, channel_parts, is_mrs, mrs_key
from jwstspec.errors import InputFileError
from jwstspec.extract.reading import Cube
from jwstspec.spectrum import Spectrum

__all__ = ["channel_output_path", "extract_channels", "split_cube"]


def _planes(index: np.ndarray) -> slice | np.ndarray:
    """A slice when the planes are contiguous and increasing (a view of the cube), else the index."""
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


def split_cube(cube: Cube) -> list[Cube]:
    """One cube per MRS channel of ``cube`` (a list of one for any other cube).

    Each part carries ``CHANNEL`` (one digit), ``BAND`` and ``BAND_KEY`` in
    its ``meta``.

    Raises
    ------
    InputFileError
        The header's ``CHANNEL`` and the wavelengths disagree (names the file).
    """
    return [part for part, _ in _split(cube)]


def _split(cube: Cube) -> list[tuple[Cube, slice | np.ndarray]]:
    """The parts of :func:`split_cube` with the planes of ``cube`` each one holds."""
    meta = dict(cube.meta)
    if not is_mrs(meta):
        return [(dataclasses.replace(cube, meta={**meta, "BAND_KEY": band_key(meta, cube.path.stem)}), slice(None))]
    # a plane "has data" when one voxel is finite: the channels' data decide, not the grid through the gap
    has_data = np.isfinite(cube.flux).any(axis=(1, 2))
    probe = Spectrum(cube.wavelength, np.where(has_data, 1.0, np.nan), np.ones(cube.wavelength.size), meta=meta)
    try:
        parts = channel_parts(probe, cube.path.name)
    except BandError as exc:
        raise InputFileError(cube.path, str(exc).split(": ", 1)[-1]) from None
    setting = str(meta.get("BAND", "")).strip().lower()
    out = []
    for part in parts:
        index = np.sort(part.index)
        filled = index[has_data[index]]
        if filled.size == 0:  # a channel with no data at all: nothing to extract
            continue
        index = index[(index >= filled[0]) & (index <= filled[-1])]  # without the empty planes of the gap
        key = mrs_key(part.channel, setting) if setting else band_key(meta, cube.path.stem)
        k = _planes(index)
        sub_meta = {**meta, "CHANNEL": str(part.channel), "BAND_KEY": key}
        out.append((dataclasses.replace(cube, flux=cube.flux[k], err=cube.err[k], dq=cube.dq[k],
                                        wavelength=cube.wavelength[k], meta=sub_meta), k))
    return out


def channel_output_path(output: Path, key: str) -> Path:
    """``x_aperture_x1d.fits`` + ``ch1-medium`` -> ``x_aperture_ch1-medium_x1d.fits``."""
    stem = output.stem
    if stem.endswith("_x1d"):
        return output.with_name(f"{stem.removesuffix('_x1d')}_{key}_x1d{output.suffix}")
    return output.with_name(f"{stem}_{key}{output.suffix}")


@dataclasses.dataclass
class ChannelOutput:
    """What the extraction of one channel gave."""

    path: Path
    spectrum: Spectrum
    n_replaced: int
    cleaned: Any  # (box, replaced, model) for ``save_cleaned``
    planes: slice | np.ndarray


def extract_channels(cube: Cube, output: Path, t0: float,
                     extract: Callable[[Cube], tuple[Spectrum, int, Any]], *, save_cleaned: bool = False) -> Any:
    """Extract every channel of ``cube`` with ``extract`` and write one spectrum per channel.

    Parameters
    ----------
    cube : Cube
        As read by :func:`jwstspec.extract.reading.read_cube`.
    output : Path
        The spectrum path of a one-channel cube; per-channel files are
        named by :func:`channel_output_path`.
    t0 : float
        ``time.perf_counter()`` at the start of the extraction.
    extract : callable
        ``extract(cube) -> (spectrum, n_replaced, cleaned)``, the one-cube extraction.
    save_cleaned : bool
        Also write the cleaned copy of the whole cube (every channel's replaced voxels).

    Returns
    -------
    ExtractResult
        ``paths``: one per channel, in order of wavelength.
    """
    from jwstspec.extract.api import ExtractResult, write_cleaned_cube
    from jwstspec.layout import cleaned_cube_path

    parts = _split(cube)
    done: list[ChannelOutput] = []
    for part, planes in parts:  # every channel extracted before anything is written
        spec, n_rep, cleaned = extract(part)
        key = str(part.meta["BAND_KEY"])
        target = output if len(parts) == 1 else channel_output_path(output, key)
        done.append(ChannelOutput(target, spec, n_rep, cleaned, planes))
    if save_cleaned:
        source = cube.path
        target = cleaned_cube_path(output)
        for item in done:  # each channel's replaced voxels patched in turn into one copy of the cube
            write_cleaned_cube(source, target, *item.cleaned, planes=item.planes)
            source = target
    paths = [item.spectrum.write_fits(item.path) for item in done]
    spectra = [item.spectrum for item in done]
    return ExtractResult(paths[0], paths, len(spectra[0]), sum(item.n_replaced for item in done),
                         time.perf_counter() - t0, spectra[0], spectra)
