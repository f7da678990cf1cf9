"""The 1-D spectrum record shared by extraction, combination and the flow.

On disk a spectrum is a FITS file whose binary-table HDU is named
``EXTRACT1D`` (the layout of the ``jwst`` ``x1d`` products, so that
``specutils.Spectrum.read`` and jdaviz read it), or an ECSV table with the
same columns.

Columns (the contract other tools rely on; extend, never rename):

============== ====== ==================================================
column         unit   meaning
============== ====== ==================================================
WAVELENGTH     um     wavelength of the slice / pixel column
FLUX           Jy     extracted flux density (background subtracted)
FLUX_ERROR     Jy     1-sigma uncertainty of ``FLUX``
BACKGROUND     Jy     background in the aperture that was subtracted
DQ                    0 = good; 64-bit flags, see :data:`DQ_FLAGS`
NPIXELS               number of (partial) pixels in the aperture
X_CENTER       pix    aperture centre used, 0-based x (columns)
Y_CENTER       pix    aperture centre used, 0-based y (rows)
REPLACED_FRAC         fraction of aperture pixels replaced by the profile
NCOMBINED             number of dithers averaged (combined spectra only)
============== ====== ==================================================

Optional columns are written only when present on the record.

``DQ`` is a 64-bit integer column of bit flags (:data:`DQ_FLAGS`): a flag
with a ``jwst`` meaning uses jwst's bit for it (``DO_NOT_USE`` = 1 for
no data, ``OUTLIER`` = 16 for dithers clipped, ``NON_SCIENCE`` = 512 for
an aperture beyond the field, ``FLUX_ESTIMATED`` = 2**28 for pixels
replaced by the profile); jwstspec's own flags (1-D defringing failed
2**32, spectral leak not corrected 2**33, user-masked range 2**34) use
bits above jwst's 32, so no bit ever means one thing here and another in
jwst (before, 2 meant "outlier replaced" here and SATURATED in jwst).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits

from jwstspec.errors import InputFileError, require_file
from jwstspec.fileio import atomic_path

if TYPE_CHECKING:
    from astropy.table import Table

EXTNAME = "EXTRACT1D"

#: Bit values of the ``DQ`` column (64-bit integer).
#:
#: Flags with a ``jwst`` meaning carry jwst's bit (``stdatamodels``
#: ``dqflags.pixel``), so a ``DQ`` read by jwst-aware tools means what they
#: expect; jwstspec's own flags, which jwst has no meaning for, use bits 32
#: and up, which jwst's 32-bit ``DQ`` never sets (all 32 of its bits are
#: assigned):
#:
#: ==================== ======= ===================== ==============================================
#: flag                 bit     jwst name             meaning here
#: ==================== ======= ===================== ==============================================
#: ``NO_DATA``          0       ``DO_NOT_USE``        no valid pixel in the aperture: FLUX is NaN
#: ``DITHER_CLIPPED``   4       ``OUTLIER``           one or more dithers clipped here (combine)
#: ``EDGE``             9       ``NON_SCIENCE``       aperture reaches beyond the valid field
#: ``OUTLIER_REPLACED`` 28      ``FLUX_ESTIMATED``    aperture pixels replaced by the profile
#: ``DEFRINGE_FAILED``  32      (jwstspec)            1-D residual-fringe correction failed here
#: ``LEAK_UNCORRECTED`` 33      (jwstspec)            spectral-leak correction not applied here
#: ``USER_MASKED``      34      (jwstspec)            inside a user-masked wavelength range
#: ==================== ======= ===================== ==============================================
#:
#: Before session 5 the bits were 1, 2, 4, ... 64 (2 = SATURATED in jwst).
DQ_FLAGS: dict[str, int] = {
    "NO_DATA": 1 << 0,
    "DITHER_CLIPPED": 1 << 4,
    "EDGE": 1 << 9,
    "OUTLIER_REPLACED": 1 << 28,
    "DEFRINGE_FAILED": 1 << 32,
    "LEAK_UNCORRECTED": 1 << 33,
    "USER_MASKED": 1 << 34,
}

#: the jwst ``dqflags.pixel`` name of each flag that has one (the test checks the bits against jwst)
JWST_DQ_NAMES: dict[str, str] = {"NO_DATA": "DO_NOT_USE", "DITHER_CLIPPED": "OUTLIER", "EDGE": "NON_SCIENCE",
                                 "OUTLIER_REPLACED": "FLUX_ESTIMATED"}

_REQUIRED = ("WAVELENGTH", "FLUX", "FLUX_ERROR")
_UNITS = {
    "WAVELENGTH": "um",
    "FLUX": "Jy",
    "FLUX_ERROR": "Jy",
    "BACKGROUND": "Jy",
    "X_CENTER": "pix",
    "Y_CENTER": "pix",
}
_OPTIONAL = ("BACKGROUND", "DQ", "NPIXELS", "X_CENTER", "Y_CENTER", "REPLACED_FRAC", "NCOMBINED", "APCORR")
_ATTR = {
    "WAVELENGTH": "wavelength",
    "FLUX": "flux",
    "FLUX_ERROR": "flux_error",
    "BACKGROUND": "background",
    "DQ": "dq",
    "NPIXELS": "npixels",
    "X_CENTER": "x_center",
    "Y_CENTER": "y_center",
    "REPLACED_FRAC": "replaced_frac",
    "NCOMBINED": "ncombined",
    "APCORR": "apcorr",
}


@dataclasses.dataclass
class Spectrum:
    """A 1-D spectrum in Jy against wavelength in micron.

    Parameters
    ----------
    wavelength, flux, flux_error : ndarray
        Required columns, all of one length.
    background, npixels, x_center, y_center, replaced_frac : ndarray, optional
        Per-point extraction diagnostics.
    dq : ndarray of int, optional
        Bit flags, see :data:`DQ_FLAGS`; zeros when not given.
    ncombined : ndarray of int, optional
        Number of dithers averaged at each point (combined spectra).
    apcorr : ndarray, optional
        Aperture correction applied to ``flux`` and ``flux_error`` (header
        ``APCORR = T``); the in-aperture flux is ``flux / apcorr``.
    meta : dict
        Header keywords (8-character FITS names, scalar values), e.g.
        ``METHOD``, ``SRCFILE``, ``BAND``, ``DETECTOR``.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    flux_error: np.ndarray
    background: np.ndarray | None = None
    dq: np.ndarray | None = None
    npixels: np.ndarray | None = None
    x_center: np.ndarray | None = None
    y_center: np.ndarray | None = None
    replaced_frac: np.ndarray | None = None
    ncombined: np.ndarray | None = None
    apcorr: np.ndarray | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.wavelength = np.asarray(self.wavelength, dtype=float)
        n = self.wavelength.shape[0]
        for column, attr in _ATTR.items():
            value = getattr(self, attr)
            if value is None:
                continue
            dtype = np.int64 if column == "DQ" else np.int32 if column == "NCOMBINED" else float
            arr = np.asarray(value, dtype=dtype)
            if arr.shape != (n,):
                raise ValueError(f"Spectrum column {column} has shape {arr.shape}, expected ({n},)")
            setattr(self, attr, arr)
        if self.dq is None:
            self.dq = np.zeros(n, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.wavelength.shape[0])

    # ------------------------------------------------------------------ tables
    def to_table(self) -> Table:
        """Return an astropy Table with the contract's columns and units."""
        from astropy.table import Table  # (imported on use: astropy.table loads asdf and its extensions)

        table = Table(meta=dict(self.meta))
        for column, attr in _ATTR.items():
            value = getattr(self, attr)
            if value is None:
                continue
            table[column] = value
            if column in _UNITS:
                table[column].unit = _UNITS[column]
        return table

    @classmethod
    def from_table(cls, table: Table, source: str | Path = "<table>") -> Spectrum:
        """Build a record from a table with the contract's columns."""
        missing = [c for c in _REQUIRED if c not in table.colnames]
        if missing:
            raise InputFileError(source, f"not an EXTRACT1D spectrum: missing column(s) {', '.join(missing)}")
        for column, unit in (("WAVELENGTH", "um"), ("FLUX", "Jy"), ("FLUX_ERROR", "Jy")):
            have = table[column].unit
            if have is not None and str(have) not in (unit, "micron") and not _convertible(have, unit):
                raise InputFileError(source, f"column {column} has unit '{have}', expected {unit}")
        kwargs: dict[str, Any] = {}
        for column, attr in _ATTR.items():
            if column in table.colnames:
                col = table[column]
                values = np.asarray(col)
                if column in _UNITS and col.unit is not None and str(col.unit) != _UNITS[column]:
                    values = _convert(col, _UNITS[column])
                kwargs[attr] = values
        meta = {str(k): v for k, v in table.meta.items() if not isinstance(v, (list, dict))}
        return cls(meta=meta, **kwargs)

    # --------------------------------------------------------------- writers
    def write_fits(self, path: str | Path, primary: Mapping[str, Any] | None = None,
                   extra_hdus: Sequence[fits.BinTableHDU | fits.ImageHDU] = ()) -> Path:
        """Write the ``EXTRACT1D`` FITS layout atomically.

        Parameters
        ----------
        path : str or Path
            Output file; written through a temporary name.
        primary : mapping, optional
            Extra primary-header keywords (``TELESCOP = 'JWST'`` is always set,
            so that ``specutils`` recognises the JWST x1d layout).
        extra_hdus : sequence of HDU
            Written after ``EXTRACT1D`` and the ASDF extension (e.g. the
            ``DITHERS`` table of a combined spectrum).
        """
        phdr = fits.Header()
        phdr["TELESCOP"] = "JWST"
        phdr["ORIGIN"] = "jwstspec"
        for key, value in (primary or {}).items():
            phdr[key] = value
        table_hdu = self._table_hdu()
        table_hdu.header.setdefault("SRCTYPE", "POINT")
        for key, value in self.meta.items():
            if key.upper() in ("EXTNAME", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS"):
                continue
            if len(key) > 8:
                table_hdu.header[f"HIERARCH {key}"] = value
            else:
                table_hdu.header[key] = value
        hdul = fits.HDUList([fits.PrimaryHDU(header=phdr), table_hdu, _asdf_hdu(self.meta), *extra_hdus])
        with atomic_path(path) as tmp:
            hdul.writeto(tmp)
        return Path(path)

    def _table_hdu(self) -> fits.BinTableHDU:
        """The ``EXTRACT1D`` columns with their units (what ``fits.table_to_hdu(self.to_table())`` gives, without astropy.table)."""
        columns = []
        for column, attr in _ATTR.items():
            value = getattr(self, attr)
            if value is None:
                continue
            arr = np.asarray(value)
            fmt = {np.dtype(np.int64): "K", np.dtype(np.int32): "J"}.get(arr.dtype, "D")
            columns.append(fits.Column(name=column, format=fmt, unit=_UNITS.get(column), array=arr))
        return _bintable(columns, EXTNAME)

    def write_ecsv(self, path: str | Path) -> Path:
        """Write the same columns as an ECSV table, atomically."""
        with atomic_path(path) as tmp:
            self.to_table().write(tmp, format="ascii.ecsv")
        return Path(path)

    def write(self, path: str | Path) -> Path:
        """Write FITS or ECSV depending on the suffix of ``path``."""
        if str(path).endswith(".ecsv"):
            return self.write_ecsv(path)
        return self.write_fits(path)


def _asdf_hdu(meta: Mapping[str, Any]) -> fits.BinTableHDU:
    """An ``ASDF`` extension like the ``jwst`` products carry (specutils looks for it).

    The tree holds plain scalars only, so it is written as ASDF's YAML
    directly: ``asdf.AsdfFile.write_to`` would first load every installed
    ASDF extension (seconds per process, most of a small extraction's time).
    ``asdf.open`` reads the result like any ASDF file.
    """
    import yaml

    def plain(v: Any) -> Any:
        return bool(v) if isinstance(v, (bool, np.bool_)) else int(v) if isinstance(v, (int, np.integer)) \
            else float(v) if isinstance(v, (float, np.floating)) else str(v)

    tree = {"meta": {str(k): plain(v) for k, v in meta.items() if isinstance(v, (str, int, float, bool, np.bool_))}}
    text = ("#ASDF 1.0.0\n#ASDF_STANDARD 1.6.0\n%YAML 1.1\n%TAG ! tag:stsci.edu:asdf/\n--- !core/asdf-1.1.0\n"
            + yaml.safe_dump(tree, sort_keys=False) + "...\n")
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    column = fits.Column(name="ASDF_METADATA", format=f"{data.size}B", array=data[None, :])
    return _bintable([column], "ASDF")


def _bintable(columns: list[fits.Column], name: str) -> fits.BinTableHDU:
    """A binary table HDU of ``columns`` (``BinTableHDU.from_columns`` without its import of astropy.table).

    astropy's ``BinTableHDU(data=...)`` imports astropy.table (and through
    it asdf) to check whether ``data`` is a Table; setting the data of an
    empty HDU does not.
    """
    hdu = fits.BinTableHDU(name=name)
    hdu.data = fits.FITS_rec.from_columns(fits.ColDefs(columns))
    return hdu


def read_spectrum(path: str | Path) -> Spectrum:
    """Read a spectrum written by :meth:`Spectrum.write` (FITS or ECSV).

    Raises
    ------
    InputFileError
        When the file is missing, empty, unreadable or lacks the columns.
    """
    from astropy.table import Table

    p = require_file(path)
    try:
        if p.suffix == ".ecsv":
            table = Table.read(p, format="ascii.ecsv")
        else:
            with fits.open(p) as hdul:
                if EXTNAME not in hdul:
                    raise InputFileError(p, f"no {EXTNAME} extension")
                table = Table.read(hdul[EXTNAME])
                structural = ("TTYPE", "TFORM", "TUNIT", "TDIM", "TNULL", "NAXIS", "XTENSION", "BITPIX", "PCOUNT", "GCOUNT", "TFIELDS", "EXTNAME")
                table.meta.update({k: v for k, v in hdul[EXTNAME].header.items() if k and not k.startswith(structural)})
    except InputFileError:
        raise
    except Exception as exc:  # corrupt/truncated file: name it, one line
        raise InputFileError(p, f"cannot be read as a spectrum ({type(exc).__name__}: {exc})") from None
    return Spectrum.from_table(table, source=p)


def _convertible(unit: Any, target: str) -> bool:
    import astropy.units as u

    try:
        u.Unit(unit).to(u.Unit(target), equivalencies=u.spectral())
        return True
    except Exception:
        return False


def _convert(col: Any, target: str) -> np.ndarray:
    import astropy.units as u

    return (np.asarray(col) * u.Unit(col.unit)).to_value(u.Unit(target), equivalencies=u.spectral())
