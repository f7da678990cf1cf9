"""Band identity of spectra and products, read from their own headers (never from file names).

Band keys (the names of the combined products, ``<...>_<key>_combined_x1d.fits``):

* MIRI MRS: ``ch<C>-<short|medium|long>`` per sub-band (``ch1-short`` = 1A
  ... ``ch4-long`` = 4C).  A Stage 2 cube or spectrum holds the two channels
  of one detector and grating setting (header ``CHANNEL = '12'``,
  ``BAND = 'MEDIUM'``): its key is ``ch12-medium`` and
  :func:`split_channels` cuts it into its sub-bands.
* MIRI LRS: the filter (``p750l``).
* NIRSpec: ``<grating>-<filter>``, with ``_<detector>`` for one detector
  (Stage 2 products).

A spectrum carries its identity in its header: ``INSTRUME``, ``EXP_TYPE``,
``CHANNEL``, ``BAND`` (as ``jwst`` writes them in the cube or slit image it
was extracted from) and ``BAND_KEY`` (the key above).  Spectra made
elsewhere may carry ``BAND_KEY`` alone.

Which points of a two-channel spectrum belong to which channel comes from
its wavelengths: the spectrum is split where the wavelength jumps (the gap
between the channels of one grating setting) and each segment's channel is
found from its median wavelength (:func:`mrs_channel`), checked against the
header's ``CHANNEL``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from jwstspec.spectrum import Spectrum

#: MRS grating settings in order, and the letter of each sub-band (1A, 1B, 1C ...).
MRS_SETTINGS: tuple[str, ...] = ("short", "medium", "long")
MRS_LETTERS: dict[str, str] = {"short": "A", "medium": "B", "long": "C"}

#: Upper wavelength limits (µm) used to assign a segment to MRS channels 1, 2, 3 (else 4),
#: applied to the segment's median wavelength (channel edges overlap, medians do not).
CHANNEL_LIMITS: tuple[float, float, float] = (7.6, 11.65, 17.8)

#: A wavelength step this many times the median step (or a step backwards) separates two segments.
GAP_FACTOR = 20.0

#: Nominal wavelength range (µm) of each MRS sub-band: ``WAVEMIN``/``WAVEMAX`` of the
#: ``cubepar`` reference that ``cube_build`` reads (the values of jwst's own cube_build
#: tests and of our synthetic CRDS cache).  Used only to cut a multi-channel cube or
#: spectrum between its channels (the channels of one grating setting never overlap).
MRS_RANGES: dict[str, tuple[float, float]] = {
    "ch1-short": (4.89, 5.75), "ch1-medium": (5.65, 6.64), "ch1-long": (6.52, 7.66),
    "ch2-short": (7.49, 8.78), "ch2-medium": (8.65, 10.14), "ch2-long": (10.00, 11.7),
    "ch3-short": (11.53, 13.48), "ch3-medium": (13.37, 15.63), "ch3-long": (15.44, 18.05),
    "ch4-short": (17.66, 20.92), "ch4-medium": (20.54, 24.40), "ch4-long": (23.95, 28.45),
}

_KEY = re.compile(r"^ch([1-4]+)-(short|medium|long)$")
_NAMED = re.compile(r"ch[1-4]+-(short|medium|long)")


class BandError(ValueError):
    """A spectrum's header and wavelengths do not agree on its band."""


def mrs_key(channel: str | int, setting: str) -> str:
    """``("1", "MEDIUM")`` -> ``"ch1-medium"``."""
    return f"ch{channel}-{str(setting).strip().lower()}"


def mrs_letter_name(key: str) -> str:
    """``"ch1-medium"`` -> ``"1B"`` (the usual MRS sub-band name); other keys unchanged."""
    m = _KEY.match(key)
    if not m or len(m.group(1)) != 1:
        return key
    return f"{m.group(1)}{MRS_LETTERS[m.group(2)]}"


def parse_mrs_key(key: str) -> tuple[str, str] | None:
    """``"ch12-medium"`` -> ``("12", "medium")``; None when ``key`` is not an MRS key."""
    m = _KEY.match(str(key).strip().lower())
    return (m.group(1), m.group(2)) if m else None


def _text(meta: Mapping[str, Any], key: str) -> str:
    value = meta.get(key, "")
    return "" if value is None else str(value).strip()


def is_mrs(meta: Mapping[str, Any]) -> bool:
    """Whether a header describes MIRI MRS data (``EXP_TYPE``, or ``CHANNEL`` + ``BAND``, or an MRS ``BAND_KEY``)."""
    if _text(meta, "EXP_TYPE").upper() == "MIR_MRS":
        return True
    if parse_mrs_key(_text(meta, "BAND_KEY")):
        return True
    return (_text(meta, "INSTRUME").upper() == "MIRI" and _text(meta, "CHANNEL").isdigit()
            and _text(meta, "BAND").lower() in MRS_SETTINGS)


def band_key(meta: Mapping[str, Any], name_hint: str = "") -> str:
    """The band key of a header (a product's primary header or a spectrum's ``EXTRACT1D`` header).

    Parameters
    ----------
    meta : mapping
        Header keywords.
    name_hint : str
        Returned when the header says nothing about the band (e.g. the
        stem of a spectrum written by another tool).

    Returns
    -------
    str
        See the module docstring; ``ch12-medium`` for a two-channel MRS product.
    """
    if is_mrs(meta):
        channel, setting = _text(meta, "CHANNEL"), _text(meta, "BAND").lower()
        if channel.isdigit() and setting in MRS_SETTINGS:
            return mrs_key(channel, setting)
        named = _NAMED.search(name_hint.lower())  # BAND = MULTIPLE: jwst names each Stage 3 cube by its band
        if named and not _text(meta, "BAND_KEY"):
            return named.group(0)
    explicit = _text(meta, "BAND_KEY").lower()
    if explicit:
        return explicit
    instrument = _text(meta, "INSTRUME").upper()
    if instrument == "MIRI":
        return (_text(meta, "FILTER") or "p750l").lower()
    if instrument == "NIRSPEC":
        setting = f"{_text(meta, 'GRATING')}-{_text(meta, 'FILTER')}".lower()
        detector = _text(meta, "DETECTOR").lower()
        return f"{setting}_{detector}" if detector in ("nrs1", "nrs2") else setting
    return name_hint.lower()


def mrs_channel(wavelength: np.ndarray) -> int:
    """MRS channel (1-4) of a one-channel wavelength segment (µm), from its median."""
    w = np.asarray(wavelength, dtype=float)
    med = float(np.nanmedian(w))
    for ch, limit in enumerate(CHANNEL_LIMITS, start=1):
        if med < limit:
            return ch
    return 4


def channel_segments(wavelength: np.ndarray) -> list[slice]:
    """Index slices of the one-channel segments of a spectrum.

    A new segment starts where the wavelength steps back or jumps by more
    than ``GAP_FACTOR`` times the median step (the gap between the two
    channels of a Stage 2 MRS spectrum).
    """
    w = np.asarray(wavelength, dtype=float)
    if w.size < 2:
        return [slice(0, w.size)]
    step = np.diff(w)
    finite = np.isfinite(step)
    med = float(np.median(np.abs(step[finite]))) if finite.any() else 0.0
    breaks = np.flatnonzero(finite & ((step <= 0) | (step > GAP_FACTOR * med))) + 1
    edges = [0, *breaks.tolist(), w.size]
    return [slice(a, b) for a, b in itertools.pairwise(edges) if b > a]


def increasing(spectrum: Spectrum) -> Spectrum:
    """The spectrum with every column in order of increasing wavelength (NaN wavelengths last).

    Returns the record itself when it is already in order (MIRI LRS slit
    spectra run from long to short wavelengths).
    """
    w = spectrum.wavelength
    finite = np.isfinite(w)
    if np.all(np.diff(w[finite]) >= 0) and finite[: int(finite.sum())].all():
        return spectrum
    order = np.argsort(np.where(finite, w, np.inf), kind="stable")
    return _take(spectrum, order, dict(spectrum.meta))


def _take(spectrum: Spectrum, index: np.ndarray, meta: dict[str, Any]) -> Spectrum:
    """A new record with the rows ``index`` of every column."""
    columns = {f.name: getattr(spectrum, f.name) for f in dataclasses.fields(spectrum) if f.name != "meta"}
    return Spectrum(**{k: (None if v is None else np.asarray(v)[index]) for k, v in columns.items()}, meta=meta)


@dataclasses.dataclass(frozen=True)
class ChannelPart:
    """One channel of an MRS spectrum: its rows (in increasing wavelength) and channel number."""

    index: np.ndarray
    channel: int


def _cut_by_ranges(w: np.ndarray, order: np.ndarray, channels: str, setting: str) -> list[ChannelPart]:
    """Rows of each listed channel of one grating setting: cut halfway between neighbouring channels' ranges.

    Stage 2 cubes of ``cube_build`` put the two channels on one wavelength
    grid that runs through the gap between them (NaN planes there), so the
    cut cannot rely on a jump in the grid.
    """
    chans = sorted(set(channels))
    cuts = [0.5 * (MRS_RANGES[mrs_key(a, setting)][1] + MRS_RANGES[mrs_key(b, setting)][0])
            for a, b in itertools.pairwise(chans)]
    which = np.searchsorted(np.asarray(cuts), w[order])
    return [ChannelPart(order[which == i], int(c)) for i, c in enumerate(chans) if (which == i).any()]


def channel_parts(spectrum: Spectrum, label: str = "spectrum") -> list[ChannelPart]:
    """The rows of each MRS channel of ``spectrum`` (any wavelength order), from its header and wavelengths.

    A one-channel header (``CHANNEL = '3'``) gives one part with that
    channel.  A multi-channel header (``'12'``) with its grating setting
    (``BAND``): the wavelengths are cut halfway between the channels'
    nominal ranges (:data:`MRS_RANGES`), after checking that the data
    (finite flux) do not reach a channel the header does not list.  No
    usable header: the spectrum, sorted by wavelength, is cut at its
    wavelength gaps (:func:`channel_segments`) and each segment's channel
    found from its median wavelength; segments of one channel are joined.

    Raises
    ------
    BandError
        A segment's wavelengths belong to a channel the header does not list.
    """
    w = spectrum.wavelength
    finite = np.flatnonzero(np.isfinite(w))
    order = finite[np.argsort(w[finite], kind="stable")]
    header = _text(spectrum.meta, "CHANNEL")
    if not header:
        parsed = parse_mrs_key(_text(spectrum.meta, "BAND_KEY"))
        header = parsed[0] if parsed else ""
    if len(header) == 1 and header.isdigit():
        return [ChannelPart(order, int(header))]
    setting = _text(spectrum.meta, "BAND").lower()
    ranged = header.isdigit() and setting in MRS_SETTINGS and set(header) <= set("1234")
    data = order[np.isfinite(spectrum.flux[order])] if ranged else order
    parts: dict[int, list[np.ndarray]] = {}
    for seg in channel_segments(w[data]):
        rows = data[seg]
        ch = mrs_channel(w[rows])
        if header and str(ch) not in header:
            raise BandError(f"{label}: the points at {w[rows][0]:.3f}-{w[rows][-1]:.3f} um are channel {ch}, "
                            f"which the header's CHANNEL = '{header}' does not list")
        parts.setdefault(ch, []).append(rows)
    if ranged:
        return _cut_by_ranges(w, order, header, setting)
    return [ChannelPart(np.concatenate(v), ch) for ch, v in sorted(parts.items())]


def split_channels(spectrum: Spectrum, label: str = "spectrum") -> dict[str, Spectrum]:
    """One spectrum per MRS sub-band, in increasing wavelength, keyed ``ch<C>-<setting>``.

    Each part gets ``CHANNEL`` (one digit), ``BAND`` (the grating setting)
    and ``BAND_KEY`` in its header.  A spectrum that is not MIRI MRS, or
    whose grating setting the header does not give, is returned whole
    (sorted) under :func:`band_key` of its header (``label`` when the
    header says nothing).

    Raises
    ------
    BandError
        See :func:`channel_parts`.
    """
    meta = spectrum.meta
    setting = _text(meta, "BAND").lower()
    parsed = parse_mrs_key(_text(meta, "BAND_KEY"))
    if setting not in MRS_SETTINGS and parsed:
        setting = parsed[1]
    if not is_mrs(meta) or setting not in MRS_SETTINGS:
        return {band_key(meta, label): increasing(spectrum)}
    out: dict[str, Spectrum] = {}
    for part in channel_parts(spectrum, label):
        key = mrs_key(part.channel, setting)
        sub_meta = {**meta, "CHANNEL": str(part.channel), "BAND": setting.upper(), "BAND_KEY": key}
        out[key] = _take(spectrum, part.index, sub_meta)
    return out
