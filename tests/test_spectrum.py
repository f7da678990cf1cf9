"""The Spectrum record and its EXTRACT1D FITS / ECSV formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.errors import InputFileError
from jwstspec.spectrum import EXTNAME, Spectrum, read_spectrum


def _spec(n: int = 50) -> Spectrum:
    w = np.linspace(5.0, 6.0, n)
    return Spectrum(w, 1e-3 * w, 1e-5 * np.ones(n), background=np.zeros(n), npixels=np.full(n, 28.3),
                    x_center=np.full(n, 10.2), y_center=np.full(n, 11.7), meta={"METHOD": "psf", "SRCFILE": "x_s3d.fits"})


@pytest.mark.parametrize("suffix", [".fits", ".ecsv"])
def test_roundtrip(tmp_path: Path, suffix: str) -> None:
    s = _spec()
    path = s.write(tmp_path / f"s{suffix}")
    back = read_spectrum(path)
    np.testing.assert_allclose(back.flux, s.flux)
    np.testing.assert_allclose(back.x_center, s.x_center)
    assert back.meta["METHOD"] == "psf"
    assert back.dq.dtype == np.int64 and not back.dq.any()


def test_fits_layout_and_specutils(tmp_path: Path) -> None:
    path = _spec().write_fits(tmp_path / "s_x1d.fits")
    with fits.open(path) as hdul:
        assert hdul[0].header["TELESCOP"] == "JWST"
        cols = hdul[EXTNAME].columns
        assert cols["WAVELENGTH"].unit == "um" and cols["FLUX"].unit == "Jy" and cols["FLUX_ERROR"].unit == "Jy"
    from specutils import Spectrum as SU

    sp = SU.read(path)
    assert sp.spectral_axis.unit == "um" and sp.flux.unit == "Jy"
    np.testing.assert_allclose(sp.flux.value, _spec().flux)


def test_bad_spectrum_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        read_spectrum(tmp_path / "missing.fits")
    empty = tmp_path / "empty.fits"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        read_spectrum(empty)
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"SIMPLE  =  garbage" * 50)
    with pytest.raises(InputFileError, match="junk.fits"):
        read_spectrum(junk)
    nocol = tmp_path / "nocol.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("X", "E", array=np.ones(3))], name=EXTNAME)]).writeto(nocol)
    with pytest.raises(InputFileError, match="missing column"):
        read_spectrum(nocol)


def test_shape_mismatch_rejected() -> None:
    with pytest.raises(ValueError, match="FLUX_ERROR"):
        Spectrum(np.arange(3.0), np.ones(3), np.ones(4))


def test_dq_bits_mean_what_jwst_means_or_are_outside_jwsts_32_bits() -> None:
    """jwst's own dqflags are the oracle: a flag with a jwst name has jwst's bit; the others use no jwst bit."""
    from stdatamodels.jwst.datamodels import dqflags

    from jwstspec.spectrum import DQ_FLAGS, JWST_DQ_NAMES

    jwst_bits = {int(v) for v in dqflags.pixel.values()}
    for name, value in DQ_FLAGS.items():
        assert value > 0 and value & (value - 1) == 0, name  # one bit each
        if name in JWST_DQ_NAMES:
            assert value == dqflags.pixel[JWST_DQ_NAMES[name]], name
        else:
            assert value >= 1 << 32 and value not in jwst_bits, name
    assert len(set(DQ_FLAGS.values())) == len(DQ_FLAGS)
    assert dqflags.pixel["SATURATED"] not in DQ_FLAGS.values()  # the old OUTLIER_REPLACED = 2


@pytest.mark.parametrize("suffix", [".fits", ".ecsv"])
def test_high_dq_bits_survive_the_files(tmp_path: Path, suffix: str) -> None:
    from jwstspec.spectrum import DQ_FLAGS

    dq = np.array([0, DQ_FLAGS["USER_MASKED"] | DQ_FLAGS["NO_DATA"], DQ_FLAGS["LEAK_UNCORRECTED"], DQ_FLAGS["OUTLIER_REPLACED"]])
    spec = Spectrum(np.linspace(5, 6, 4), np.ones(4), np.ones(4), dq=dq)
    path = tmp_path / f"s{suffix}"
    spec.write_fits(path) if suffix == ".fits" else spec.write_ecsv(path)
    back = read_spectrum(path)
    np.testing.assert_array_equal(back.dq, dq)
    if suffix == ".fits":
        with fits.open(path) as hdul:
            assert hdul[EXTNAME].columns["DQ"].format == "K"  # 64-bit integers on disk


def test_asdf_block_is_read_by_asdf(tmp_path: Path) -> None:
    """The ASDF extension is written as plain ASDF YAML (no extension loading): asdf reads it back."""
    import io

    import asdf
    from astropy.io import fits

    from jwstspec.spectrum import _asdf_hdu

    hdu = _asdf_hdu({"METHOD": "psf", "RADIUS": np.float64(3.5), "NODSUB": True, "WINDOW": 10, "SKIP": [1]})
    with asdf.open(io.BytesIO(hdu.data[0][0].tobytes())) as af:
        assert dict(af.tree["meta"]) == {"METHOD": "psf", "RADIUS": 3.5, "NODSUB": True, "WINDOW": 10}
    assert isinstance(hdu, fits.BinTableHDU) and hdu.name == "ASDF"
