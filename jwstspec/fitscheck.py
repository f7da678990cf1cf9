"""Cheap validity checks of JWST product files (FITS), before any real work.

:func:`check_fits` reads only the headers and seeks over the data, so it
costs a few kilobytes of I/O however large the file is.  It catches the
problems users meet in practice, each as a one-line
:class:`jwstspec.errors.InputFileError` naming the file:

* the file is missing or empty;
* it is not a FITS file (no ``SIMPLE`` card, unreadable header);
* it is not a JWST product (primary ``TELESCOP`` is not ``JWST``);
* it is truncated: the size implied by every HDU's ``NAXISn``, ``BITPIX``,
  ``PCOUNT`` and ``GCOUNT`` is larger than the file.

:func:`verify_checksums` additionally verifies the FITS ``CHECKSUM`` (or,
without it, ``DATASUM``) keywords of every HDU, streaming the file in
chunks (ones' complement sum of 32-bit words, FITS checksum convention);
MAST products carry these keywords, so this detects a corrupted transfer.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
from astropy.io import fits

from jwstspec.errors import InputFileError, require_file

BLOCK = 2880
CARD = 80
_CHUNK = BLOCK * 364  # about 1 MB, a multiple of 4 bytes and of the FITS block


@dataclasses.dataclass(frozen=True)
class HduSpan:
    """Where one HDU lies in the file: header start, data start, padded data length."""

    header_offset: int
    data_offset: int
    data_length: int
    header: fits.Header

    @property
    def end(self) -> int:
        """Byte offset just past this HDU's padded data."""
        return self.data_offset + self.data_length


def _read_header(fh, path: Path, offset: int, first: bool) -> tuple[fits.Header, int] | None:
    """Header starting at ``offset`` and its length in bytes, or None at a clean end of file."""
    fh.seek(offset)
    blocks = []
    while True:
        block = fh.read(BLOCK)
        if not block:
            if blocks:
                raise InputFileError(path, f"truncated FITS file: header at byte {offset} has no END card")
            return None
        if not blocks:
            start = block[:8]
            if first and start != b"SIMPLE  ":
                raise InputFileError(path, "not a FITS file (no SIMPLE card)")
            if not first and start != b"XTENSION":
                return None  # trailing bytes after the last HDU are ignored (as astropy does)
        elif block[:8] == b"XTENSION":
            raise InputFileError(path, f"invalid FITS file: header at byte {offset} has no END card")
        if len(block) < BLOCK:
            raise InputFileError(path, f"truncated FITS file: incomplete header block at byte {offset}")
        blocks.append(block)
        if any(block[i : i + 8] == b"END     " for i in range(0, BLOCK, CARD)):
            break
    raw = b"".join(blocks)
    try:
        text = raw.decode("ascii")
        header = fits.Header.fromstring(text)
    except Exception as exc:  # astropy/unicode parsing details never reach the user
        raise InputFileError(path, f"unreadable FITS header at byte {offset} ({type(exc).__name__})") from None
    return header, len(raw)


def _data_length(header: fits.Header, path: Path) -> tuple[int, int]:
    """Data size implied by a header, and padded to whole blocks (FITS standard 4.4.1)."""
    try:
        naxis = int(header.get("NAXIS", 0))
        bitpix = int(header["BITPIX"])
        pcount = int(header.get("PCOUNT", 0))
        gcount = int(header.get("GCOUNT", 1))
        dims = [int(header[f"NAXIS{i}"]) for i in range(1, naxis + 1)]
    except (KeyError, ValueError, TypeError) as exc:
        raise InputFileError(path, f"invalid FITS header (keyword {exc})") from None
    if naxis == 0:
        return 0, 0
    if header.get("SIMPLE") is True and header.get("GROUPS") is True and dims and dims[0] == 0:
        dims = dims[1:]  # random groups: NAXIS1 = 0
    nbytes = abs(bitpix) // 8 * gcount * (pcount + math.prod(dims))
    return nbytes, -(-nbytes // BLOCK) * BLOCK


def hdu_spans(path: str | Path) -> list[HduSpan]:
    """Headers and byte ranges of every HDU, reading only the headers.

    Raises
    ------
    InputFileError
        Missing, empty, not FITS, unreadable header, or truncated data.
    """
    path = require_file(path)
    size = path.stat().st_size
    spans: list[HduSpan] = []
    with open(path, "rb") as fh:
        offset = 0
        while offset < size:
            got = _read_header(fh, path, offset, first=not spans)
            if got is None:
                break
            header, hlen = got
            nbytes, padded = _data_length(header, path)
            span = HduSpan(offset, offset + hlen, padded, header)
            if span.data_offset + nbytes > size:
                name = header.get("EXTNAME", "PRIMARY" if not spans else f"HDU {len(spans)}")
                raise InputFileError(path, f"truncated FITS file: {size} bytes, the headers imply {span.data_offset + nbytes} ({name} incomplete)")
            spans.append(span)
            offset = span.end
    return spans


def check_fits(path: str | Path, *, telescope: str | None = "JWST") -> fits.Header:
    """Check that ``path`` is a complete FITS file of ``telescope``; return its primary header.

    Parameters
    ----------
    path : str or Path
        The file.
    telescope : str or None
        Required value of the primary ``TELESCOP`` keyword (None: any).

    Returns
    -------
    astropy.io.fits.Header
        The primary header.

    Raises
    ------
    InputFileError
        One line naming the file: missing, empty, not FITS, truncated, or
        not from ``telescope``.
    """
    spans = hdu_spans(path)
    primary = spans[0].header
    if telescope is not None:
        have = str(primary.get("TELESCOP", "")).strip()
        if have.upper() != telescope.upper():
            shown = have or "missing"
            raise InputFileError(path, f"not a {telescope} product (TELESCOP is {shown})")
    return primary


def _ones_complement_sum(fh, start: int, length: int) -> int:
    """FITS ones' complement sum of the 32-bit big-endian words in a byte range."""
    fh.seek(start)
    total = 0
    remaining = length
    while remaining > 0:
        buf = fh.read(min(_CHUNK, remaining))
        if not buf:
            break
        remaining -= len(buf)
        if len(buf) % 4:
            buf += b"\0" * (4 - len(buf) % 4)
        total += int(np.frombuffer(buf, dtype=">u4").sum(dtype=np.uint64))
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def verify_checksums(path: str | Path) -> int:
    """Verify the FITS ``CHECKSUM``/``DATASUM`` keywords of every HDU.

    Returns
    -------
    int
        How many HDUs carried a checksum that was verified (0: the file has
        none, nothing could be checked).

    Raises
    ------
    InputFileError
        The file is not a complete FITS file, or a checksum does not match
        (the message names the HDU).
    """
    spans = hdu_spans(path)
    verified = 0
    with open(path, "rb") as fh:
        for i, span in enumerate(spans):
            name = span.header.get("EXTNAME", "PRIMARY" if i == 0 else f"HDU {i}")
            if "CHECKSUM" in span.header:
                total = _ones_complement_sum(fh, span.header_offset, span.end - span.header_offset)
                if total != 0xFFFFFFFF:
                    raise InputFileError(path, f"checksum mismatch in {name} (corrupted file)")
                verified += 1
            elif "DATASUM" in span.header:
                datasum = str(span.header["DATASUM"]).strip()
                if datasum.isdigit() and int(datasum) != _ones_complement_sum(fh, span.data_offset, span.data_length):
                    raise InputFileError(path, f"data checksum mismatch in {name} (corrupted file)")
                verified += 1
    return verified
