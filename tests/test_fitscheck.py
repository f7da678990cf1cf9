"""Cheap validity checks of JWST FITS files: structure, truncation, telescope, checksums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.errors import InputFileError
from jwstspec.fitscheck import check_fits, hdu_spans, verify_checksums


def _product(path: Path, checksum: bool = True, **keys: object) -> Path:
    primary = fits.PrimaryHDU(header=fits.Header({"TELESCOP": "JWST", "INSTRUME": "MIRI", **keys}))
    sci = fits.ImageHDU(np.arange(3000, dtype=">f4").reshape(30, 100), name="SCI")
    table = fits.BinTableHDU.from_columns(  # a heap (PCOUNT > 0)
        [fits.Column(name="V", format="PJ()", array=np.array([np.arange(5), np.arange(700)], dtype=object))], name="TAB")
    fits.HDUList([primary, sci, table]).writeto(path, checksum=checksum)
    return path


def test_spans_match_astropy(tmp_path: Path) -> None:
    path = _product(tmp_path / "a_uncal.fits")
    spans = hdu_spans(path)
    with fits.open(path) as hdul:
        truth = [hdul.fileinfo(i) for i in range(len(hdul))]
    assert [(s.header_offset, s.data_offset, s.data_length) for s in spans] == [
        (t["hdrLoc"], t["datLoc"], t["datSpan"]) for t in truth]
    assert spans[-1].end == path.stat().st_size
    assert check_fits(path)["INSTRUME"] == "MIRI"


def _cut(n: int):
    def corrupt(p: Path) -> None:
        p.write_bytes(p.read_bytes()[:n])
    return corrupt


def _replace(old: bytes, new: bytes):
    def corrupt(p: Path) -> None:
        p.write_bytes(p.read_bytes().replace(old, new, 1))
    return corrupt


CORRUPT = [
    ("empty", lambda p: p.write_bytes(b""), "file is empty"),
    ("text", lambda p: p.write_text("SIMPLE = T\nnot really FITS\n"), "not a FITS file"),
    ("html error page", lambda p: p.write_bytes(b"<html>502 Bad Gateway</html>" * 200), "not a FITS file"),
    ("cut in the primary header", _cut(1000), "truncated FITS file"),
    ("cut in an extension header", _cut(2880 + 1000), "truncated FITS file"),
    ("cut in the SCI data", _cut(2 * 2880 + 5000), "SCI incomplete"),
    ("cut in the table heap", _cut(-2780), "TAB incomplete"),
    ("no END card", _replace(b"END" + b" " * 77, b"COMMENT" + b" " * 73), "has no END card"),
    ("other telescope", _replace(b"'JWST    '", b"'HST     '"), "not a JWST product (TELESCOP is HST)"),
    ("no telescope", _replace(b"TELESCOP= 'JWST    '", b"COMMENT   'JWST    '"), "TELESCOP is missing"),
]


@pytest.mark.parametrize(("label", "corrupt", "message"), CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_files_give_one_line_naming_the_file(tmp_path: Path, label: str, corrupt, message: str) -> None:
    path = _product(tmp_path / "jw01234001001_02101_00001_mirifushort_uncal.fits")
    corrupt(path)
    with pytest.raises(InputFileError) as info:
        check_fits(path)
    text = str(info.value)
    assert text.startswith(str(path) + ": ") and message in text and "\n" not in text


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        check_fits(tmp_path / "nope_uncal.fits")


def test_lenient_on_missing_final_padding_and_trailing_bytes(tmp_path: Path) -> None:
    path = _product(tmp_path / "a.fits", checksum=False)
    data = path.read_bytes()
    spans = hdu_spans(path)
    heap_end = spans[-1].data_offset + 8 * 2 + 4 * 705  # descriptors (2 x 8 bytes) + heap (705 int32)
    path.write_bytes(data[:heap_end])  # data complete, padding gone
    assert len(hdu_spans(path)) == 3
    path.write_bytes(data + b"\0" * 100)  # junk after the last HDU
    assert len(hdu_spans(path)) == 3
    assert check_fits(path, telescope=None)


def test_checksums_detect_a_flipped_bit(tmp_path: Path) -> None:
    path = _product(tmp_path / "a.fits")
    assert verify_checksums(path) == 3
    good = path.read_bytes()
    spans = hdu_spans(path)
    for where, name in ((spans[1].data_offset + 7, "SCI"), (spans[0].header_offset + 200, "PRIMARY"), (spans[2].data_offset + 40, "TAB")):
        bad = bytearray(good)
        bad[where] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(InputFileError, match=f"checksum mismatch in {name}"):
            verify_checksums(path)
    plain = _product(tmp_path / "plain.fits", checksum=False)
    assert verify_checksums(plain) == 0  # nothing to verify


def test_datasum_only(tmp_path: Path) -> None:
    path = _product(tmp_path / "a.fits")
    raw = path.read_bytes().replace(b"CHECKSUM=", b"COMMENT  ")  # keep DATASUM only
    path.write_bytes(raw)
    assert verify_checksums(path) == 3
    with fits.open(path) as hdul:
        datasum = hdul[1].header["DATASUM"]
    wrong = str(int(datasum) ^ 1).rjust(len(datasum)).encode()
    path.write_bytes(raw.replace(f"'{datasum}'".encode(), b"'" + wrong + b"'", 1))
    with pytest.raises(InputFileError, match="data checksum mismatch in SCI"):
        verify_checksums(path)
