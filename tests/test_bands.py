"""Band identity from headers (jwstspec.bands): keys, MRS channel split, wavelength order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.bands import (
    BandError,
    band_key,
    channel_parts,
    increasing,
    is_mrs,
    mrs_letter_name,
    split_channels,
)
from jwstspec.spectrum import Spectrum

MRS = {"INSTRUME": "MIRI", "EXP_TYPE": "MIR_MRS"}


def two_channel(setting: str = "MEDIUM", channel: str = "12", reverse: bool = False) -> Spectrum:
    w = np.concatenate([np.linspace(5.66, 6.63, 100), np.linspace(8.67, 10.13, 120)])
    f = np.concatenate([np.full(100, 1.0), np.full(120, 2.0)])
    if reverse:
        w, f = w[::-1], f[::-1]
    return Spectrum(w, f, 0.01 * f, dq=np.arange(w.size), meta={**MRS, "CHANNEL": channel, "BAND": setting})


def test_band_keys_from_headers() -> None:
    assert band_key({**MRS, "CHANNEL": "1", "BAND": "SHORT"}) == "ch1-short"
    assert band_key({**MRS, "CHANNEL": "34", "BAND": "LONG"}) == "ch34-long"
    assert band_key({"INSTRUME": "MIRI", "FILTER": "P750L"}) == "p750l"
    assert band_key({"INSTRUME": "NIRSPEC", "GRATING": "G395H", "FILTER": "F290LP", "DETECTOR": "NRS2"}) == "g395h-f290lp_nrs2"
    assert band_key({"BAND_KEY": "ch3-short"}) == "ch3-short" and is_mrs({"BAND_KEY": "ch3-short"})
    assert band_key({}, "stem") == "stem" and not is_mrs({"INSTRUME": "NIRSPEC"})
    assert mrs_letter_name("ch1-medium") == "1B" and mrs_letter_name("ch4-long") == "4C"


def test_split_two_channel_spectrum_into_sub_bands() -> None:
    for reverse in (False, True):  # any wavelength order
        parts = split_channels(two_channel(reverse=reverse))
        assert list(parts) == ["ch1-medium", "ch2-medium"]
        one, two = parts.values()
        assert np.all(np.diff(one.wavelength) > 0) and np.all(np.diff(two.wavelength) > 0)
        assert (one.flux == 1.0).all() and (two.flux == 2.0).all() and len(one) == 100 and len(two) == 120
        assert (one.meta["CHANNEL"], one.meta["BAND"], one.meta["BAND_KEY"]) == ("1", "MEDIUM", "ch1-medium")
        assert two.meta["CHANNEL"] == "2"
        assert sorted(np.concatenate([one.dq, two.dq]).tolist()) == list(range(220))  # every row once


def test_header_and_wavelengths_must_agree() -> None:
    with pytest.raises(BandError, match="channel 1.*CHANNEL = '34'"):
        channel_parts(two_channel(channel="34"), "x.fits")
    # one-channel header: taken as it is, no split
    single = Spectrum(np.linspace(11.55, 13.47, 50), np.ones(50), np.ones(50), meta={**MRS, "CHANNEL": "3", "BAND": "SHORT"})
    assert list(split_channels(single)) == ["ch3-short"]


def test_non_mrs_spectrum_is_kept_whole_and_sorted() -> None:
    w = np.linspace(12.0, 5.0, 80)  # MIRI LRS runs long to short
    s = Spectrum(w, w.copy(), np.ones(80), meta={"INSTRUME": "MIRI", "FILTER": "P750L"})
    (key, out), = split_channels(s).items()
    assert key == "p750l" and np.all(np.diff(out.wavelength) > 0)
    np.testing.assert_array_equal(out.flux, out.wavelength)  # columns moved together
    assert increasing(out) is out


def test_product_band_reads_the_header_not_the_name(tmp_path: Path) -> None:
    from jwstspec.plan import product_band

    path = two_channel().write_fits(tmp_path / "jw01234_ch3-long_x1d.fits")  # a misleading name
    assert product_band(path) == "ch12-medium"


def test_mrs_ranges_are_jwsts_cubepar_values() -> None:
    from jwstspec.bands import MRS_RANGES
    from tests.test_combine_stitch import jwst_mrs_band_edges

    assert MRS_RANGES == jwst_mrs_band_edges()


def test_two_channel_grid_through_the_gap_is_cut_between_the_channels() -> None:
    w = np.arange(4.89, 8.78, 0.002)  # cube_build's multi-channel grid: no jump, NaN in the gap
    f = np.where((w > 5.75) & (w < 7.49), np.nan, 1.0)
    s = Spectrum(w, f, np.ones(w.size), meta={**MRS, "CHANNEL": "12", "BAND": "SHORT"})
    one, two = split_channels(s).values()
    assert one.wavelength.max() < 6.62 <= two.wavelength.min()  # halfway between 1A and 2A and len(one) + len(two) == w.size
    assert one.meta["BAND_KEY"] == "ch1-short" and two.meta["BAND_KEY"] == "ch2-short"
    # data reaching channel 3 in a CHANNEL '12' spectrum: refused
    w3 = np.concatenate([w, np.arange(11.6, 13.4, 0.003)])
    bad = Spectrum(w3, np.ones(w3.size), np.ones(w3.size), meta={**MRS, "CHANNEL": "12", "BAND": "SHORT"})
    with pytest.raises(BandError, match="channel 3"):
        split_channels(bad)
