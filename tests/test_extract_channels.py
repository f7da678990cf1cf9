"""Per-channel spectra from two-channel MRS cubes (jwstspec.extract.channels), on synthetic s3d files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import InputFileError
from jwstspec.extract import extract_file, read_cube
from jwstspec.extract.channels import channel_output_path, split_cube
from jwstspec.spectrum import read_spectrum
from jwstspec.synthetic.cubes import make_cube, write_s3d

#: 1B and 2B (MEDIUM on MIRIFUSHORT), the gap between the channels as a Stage 2 "multi" cube has it
WAVE_1B_2B = np.concatenate([np.linspace(5.66, 6.63, 120), np.linspace(8.67, 10.13, 150)])


def two_channel_cube(path: Path, channel: str = "12") -> tuple[Path, object]:
    cube = make_cube(wavelength=WAVE_1B_2B, ny=15, nx=15, snr=500.0)
    return write_s3d(cube, path, instrument="MIRI", detector="MIRIFUSHORT", channel=channel, band="MEDIUM"), cube


def test_two_channel_cube_gives_one_spectrum_per_channel(tmp_path: Path) -> None:
    # the file name says nothing (or something wrong) about the band: the header decides
    path, cube = two_channel_cube(tmp_path / "whatever_ch3-long_s3d.fits")
    assert read_cube(path).meta["CHANNEL"] == "12"
    out = tmp_path / "whatever_aperture_x1d.fits"
    result = extract_file(path, out, radius="3px", background=False, apcorr="none", save_cleaned=True)
    assert result.paths == [tmp_path / "whatever_aperture_ch1-medium_x1d.fits",
                            tmp_path / "whatever_aperture_ch2-medium_x1d.fits"]
    assert not out.exists()
    for path_k, channel, planes in zip(result.paths, "12", (slice(0, 120), slice(120, 270))):
        spec = read_spectrum(path_k)
        assert (spec.meta["CHANNEL"], spec.meta["BAND"], spec.meta["BAND_KEY"]) == (channel, "MEDIUM", f"ch{channel}-medium")
        np.testing.assert_allclose(spec.wavelength, WAVE_1B_2B[planes], rtol=1e-6)
        # injected source x the Gaussian PSF's fraction inside the 3 px aperture
        sigma = cube.psf_sigma_px[planes]
        truth = cube.truth_jy[planes] * (1 - np.exp(-9 / (2 * sigma**2)))
        assert abs(np.nanmedian(spec.flux / truth) - 1) < 0.01
    # the cleaned copy of the whole cube has both channels
    cleaned = read_cube(tmp_path / "whatever_aperture_cleaned_s3d.fits")
    assert cleaned.flux.shape == cube.data.shape


def test_one_channel_cube_is_extracted_whole(tmp_path: Path) -> None:
    cube = make_cube(wavelength=np.linspace(4.9, 5.74, 120), ny=15, nx=15)
    path = write_s3d(cube, tmp_path / "c_s3d.fits", instrument="MIRI", detector="MIRIFUSHORT", channel="1", band="SHORT")
    out = tmp_path / "c_x1d.fits"
    result = extract_file(path, out, radius="3px", background=False, apcorr="none")
    assert result.paths == [out] and read_spectrum(out).meta["BAND_KEY"] == "ch1-short"


def test_channels_the_header_does_not_list_are_an_input_error(tmp_path: Path) -> None:
    path, _ = two_channel_cube(tmp_path / "bad_s3d.fits", channel="34")
    with pytest.raises(InputFileError, match="bad_s3d.fits.*channel 1.*CHANNEL = '34'"):
        split_cube(read_cube(path))


def test_channel_output_path() -> None:
    assert channel_output_path(Path("a/x_psf_x1d.fits"), "ch2-long") == Path("a/x_psf_ch2-long_x1d.fits")
    assert channel_output_path(Path("a/x.fits"), "ch2-long") == Path("a/x_ch2-long.fits")


def test_grid_through_the_gap_with_empty_planes(tmp_path: Path) -> None:
    """cube_build's multi-channel grid runs through the gap between the channels: those planes are empty."""
    w = np.arange(5.65, 10.14, 0.004)
    cube = make_cube(wavelength=w, ny=15, nx=15, snr=500.0)
    gap = (w > 6.64) & (w < 8.65)
    cube.data[gap] = np.nan
    path = write_s3d(cube, tmp_path / "g_s3d.fits", instrument="MIRI", detector="MIRIFUSHORT", channel="12", band="MEDIUM")
    parts = split_cube(read_cube(path))
    assert [p.meta["BAND_KEY"] for p in parts] == ["ch1-medium", "ch2-medium"]
    np.testing.assert_allclose(parts[0].wavelength, w[(w >= 5.65) & (w <= 6.64)], rtol=1e-6)
    np.testing.assert_allclose(parts[1].wavelength, w[(w >= 8.65)], rtol=1e-6)
    result = extract_file(path, tmp_path / "g_x1d.fits", radius="3px", background=False, apcorr="none")
    assert [len(s) for s in result.spectra] == [p.wavelength.size for p in parts]
    assert all(np.isfinite(s.flux).all() for s in result.spectra)
