"""Time-series products (jwstspec.timeseries): an injected transit is recovered from x1dints-like files.

The inputs are written in jwst 3.0's x1dints layout (one EXTRACT1D row per
integration, vector columns, ``TDB-MID``/``MJD-AVG``/``INT_NUM``/``NPIXELS``)
with a box transit whose depth rises linearly with wavelength; the products
must give back the injected depths.  The layout is checked against
stdatamodels' own ``TSOMultiSpecModel`` (it must open our test input).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from jwstspec.errors import InputFileError, OptionError
from jwstspec.layout import Layout
from jwstspec.timeseries import (
    baseline_mask,
    build_products,
    channels,
    read_x1dints,
    spectroscopic_light_curves,
    usable,
    white_light,
)

NINT, NWAVE = 40, 300
IN_TRANSIT = slice(14, 26)


def depth_of(wavelength: np.ndarray) -> np.ndarray:
    """Injected depth: 1 % at 5 um rising to 2 % at 12 um."""
    return 0.01 + 0.01 * (np.asarray(wavelength) - 5.0) / 7.0


def write_x1dints(path: Path, *, noise: float = 2e-4, drift: float = 0.0, seed: int = 1, descending: bool = True,
                  nan_points: tuple[int, ...] = (), npix_drop: tuple[tuple[int, int], ...] = (),
                  times: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A jwst 3.0-style x1dints file; returns (wavelength, true out-of-transit flux, in-transit flags)."""
    rng = np.random.default_rng(seed)
    wave = np.linspace(12.5, 4.5, NWAVE) if descending else np.linspace(4.5, 12.5, NWAVE)
    star = 0.01 * (1 + 0.5 * np.sin(wave))  # Jy, positive everywhere
    intr = np.zeros(NINT, bool)
    intr[IN_TRANSIT] = True
    t = 60300.5 + np.arange(NINT) * 30 / 86400
    trend = 1 + drift * (t - t[0]) / (t[-1] - t[0])
    flux = star[None] * trend[:, None] * (1 - depth_of(wave)[None] * intr[:, None])
    err = noise * star[None] * np.ones((NINT, 1))
    flux = flux + err * rng.standard_normal(flux.shape)
    npix = np.full((NINT, NWAVE), 12.0)
    for i, j in npix_drop:
        npix[i, j] = 11.0
        flux[i, j] *= 0.7  # a pixel missing from the sum
    for j in nan_points:
        flux[3, j] = np.nan
    order = rng.permutation(NINT)  # rows out of order: the reader sorts by INT_NUM
    table = Table()
    table["INT_NUM"] = (np.arange(1, NINT + 1))[order].astype(np.int32)
    table["MJD-AVG"] = (t - 0.0007)[order]
    table["TDB-MID"] = (t if times else np.zeros(NINT))[order]
    table["WAVELENGTH"] = np.broadcast_to(wave, (NINT, NWAVE))
    table["WAVELENGTH"].unit = "um"
    table["FLUX"] = flux[order]
    table["FLUX"].unit = "Jy"
    table["FLUX_ERROR"] = err[order]
    table["FLUX_ERROR"].unit = "Jy"
    table["DQ"] = np.zeros((NINT, NWAVE), np.uint32)
    table["NPIXELS"] = npix[order]
    hdu = fits.table_to_hdu(table)
    hdu.name = "EXTRACT1D"
    primary = fits.PrimaryHDU()
    primary.header.update({"TELESCOP": "JWST", "INSTRUME": "MIRI", "EXP_TYPE": "MIR_LRS-SLITLESS", "FILTER": "P750L"})
    fits.HDUList([primary, hdu]).writeto(path)
    return wave, star, intr


def white_truth(wave: np.ndarray, star: np.ndarray, mask: np.ndarray) -> float:
    """The white-light depth of the injected transit: the flux-weighted mean depth of the summed points."""
    return float(np.sum(star[mask] * depth_of(wave[mask])) / np.sum(star[mask]))


def test_reader_sorts_integrations_and_takes_bjd(tmp_path: Path) -> None:
    path = tmp_path / "jw01234-o001_t001_miri_p750l_x1dints.fits"
    write_x1dints(path)
    ts = read_x1dints(path)
    assert ts.time_column == "BJD_TDB"
    assert np.all(np.diff(ts.int_num) == 1) and np.all(np.diff(ts.time) > 0)
    assert ts.flux.shape == (NINT, NWAVE)
    path2 = tmp_path / "no_tdb_x1dints.fits"
    write_x1dints(path2, times=False)  # the product's own UTC column when TDB-MID is empty (as in jwst's test file)
    assert read_x1dints(path2).time_column == "MJD_UTC"


@pytest.mark.slow  # stdatamodels loads its schemas: ~10 s
def test_our_test_input_is_jwsts_x1dints_layout(tmp_path: Path) -> None:
    """stdatamodels opens the test input as a TSOMultiSpecModel: the unit tests read what Tso3 writes."""
    from stdatamodels.jwst import datamodels

    path = tmp_path / "x_x1dints.fits"
    write_x1dints(path)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["DATAMODL"] = "TSOMultiSpecModel"
    with datamodels.open(str(path)) as model:
        assert isinstance(model, datamodels.TSOMultiSpecModel)
        assert len(model.spec[0].spec_table) == NINT


def test_white_light_depth_within_5_percent_with_a_drift(tmp_path: Path) -> None:
    path = tmp_path / "t_x1dints.fits"
    wave, star, _ = write_x1dints(path, drift=0.004)
    ts = read_x1dints(path)
    lc = white_light(ts, {"baseline_integrations": [[1, 14], [27, 40]]})
    truth = white_truth(wave, star, usable(ts, lc.baseline, {}))
    assert lc.depth[0] == pytest.approx(truth, rel=0.05)
    assert abs(lc.depth[0] - truth) < 4 * lc.depth_error[0]
    assert np.allclose(lc.flux[lc.baseline, 0], 1.0, atol=5 * lc.error[lc.baseline, 0])  # the drift is divided out
    flat = white_light(ts, {"baseline_integrations": [[1, 14], [27, 40]], "baseline_order": 0})
    assert np.std(flat.flux[flat.baseline, 0]) > 3 * np.std(lc.flux[lc.baseline, 0])  # a constant leaves the drift in


def test_default_baseline_is_both_ends(tmp_path: Path) -> None:
    mask = baseline_mask(np.arange(1, 41), {})
    assert mask[:10].all() and mask[30:].all() and not mask[10:30].any()
    with pytest.raises(OptionError, match=r"\[timeseries\] baseline_integrations.*all 40 integrations"):
        baseline_mask(np.arange(1, 41), {"baseline_integrations": [[1, 40]]})
    with pytest.raises(OptionError, match="needs at least 3"):
        baseline_mask(np.arange(1, 41), {"baseline_integrations": [[1, 2]]})


@pytest.mark.parametrize("descending", [True, False])
def test_speclc_recovers_the_wavelength_dependence(tmp_path: Path, descending: bool) -> None:
    path = tmp_path / "t_x1dints.fits"
    wave, star, _ = write_x1dints(path, descending=descending)
    ts = read_x1dints(path)
    slc = spectroscopic_light_curves(ts, {"bins": 10, "baseline_integrations": [[1, 14], [27, 40]]})
    assert slc.flux.shape == (NINT, 10) and np.all(slc.npoints == NWAVE // 10)  # equal counts
    expected = depth_of(slc.wave_mid)
    assert np.allclose(slc.depth, expected, rtol=0.05)
    assert np.all(np.abs(slc.depth - expected) < 5 * slc.depth_error)
    slope = np.polyfit(slc.wave_mid, slc.depth, 1)[0]
    assert slope == pytest.approx(0.01 / 7, rel=0.1)


def test_points_not_comparable_between_integrations_are_left_out(tmp_path: Path) -> None:
    """NaN in one integration, or one pixel fewer summed (jwst's outlier detection), leaves the point out."""
    path = tmp_path / "t_x1dints.fits"
    wave, star, _ = write_x1dints(path, nan_points=(5, 6), npix_drop=((18, 100), (20, 150)))
    ts = read_x1dints(path)
    assert not ts.valid[[5, 6, 100, 150]].any() and ts.valid.sum() == NWAVE - 4
    lc = white_light(ts, {"baseline_integrations": [[1, 14], [27, 40]]})
    assert lc.npoints[0] == NWAVE - 4
    assert lc.depth[0] == pytest.approx(white_truth(wave, star, ts.valid), rel=0.05)


def test_low_snr_points_and_wavelength_range(tmp_path: Path) -> None:
    path = tmp_path / "t_x1dints.fits"
    wave, star, _ = write_x1dints(path)
    with fits.open(path, mode="update") as hdul:  # the last 50 points: no flux, only noise
        data = hdul["EXTRACT1D"].data
        data["FLUX"][:, -50:] = data["FLUX_ERROR"][:, -50:] * np.random.default_rng(3).standard_normal((NINT, 50))
    ts = read_x1dints(path)
    base = baseline_mask(ts.int_num, {})
    assert usable(ts, base, {}).sum() == NWAVE - 50
    assert usable(ts, base, {"min_snr": 0}).sum() == NWAVE
    inside = usable(ts, base, {"wavelength_range": (6.0, 8.0)})
    assert inside.any() and np.all((wave[inside] >= 6) & (wave[inside] <= 8))
    with pytest.raises(InputFileError, match=r"no wavelength point is valid .* inside \[20\.0, 21\.0\] um"):
        white_light(ts, {"wavelength_range": (20.0, 21.0)})


def test_channels_equal_counts() -> None:
    valid = np.ones(103, bool)
    valid[[0, 50]] = False
    parts = channels(valid, 4)
    sizes = [p.size for p in parts]
    assert sum(sizes) == 101 and max(sizes) - min(sizes) <= 1
    assert not any(0 in p or 50 in p for p in parts)
    assert len(channels(np.ones(3, bool), 20)) == 3


def test_reader_refuses_what_is_no_time_series(tmp_path: Path) -> None:
    one = tmp_path / "one_x1d.fits"
    hdu = fits.table_to_hdu(Table({"WAVELENGTH": np.arange(5.0), "FLUX": np.ones(5), "FLUX_ERROR": np.ones(5)}))
    hdu.name = "EXTRACT1D"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(one)
    with pytest.raises(InputFileError, match="one_x1d.fits.*not one spectrum per integration"):
        read_x1dints(one)
    with pytest.raises(InputFileError, match="not found"):
        read_x1dints(tmp_path / "missing_x1dints.fits")


def test_products_written_and_readable(tmp_path: Path) -> None:
    """Every product exists, the per-integration and mean spectra open in specutils, the tables agree."""
    import specutils

    src = tmp_path / "jw01234-o001_t001_miri_p750l-slitlessprism_x1dints.fits"
    wave, star, _ = write_x1dints(src)
    paths = Layout(tmp_path / "data", "01234").timeseries_paths("001", src)
    record = build_products(src, paths, {"bins": 8}).record()
    for kind, path in paths.items():
        assert path.is_file() and path.stat().st_size > 0, kind
    assert record["fits"] == str(paths["speclc"]) and record["nints"] == NINT and record["time_column"] == "BJD_TDB"
    assert paths["speclc"].name == "jw01234-o001_t001_miri_p750l-slitlessprism_speclc.fits"
    wl = Table.read(paths["whitelight"], format="ascii.ecsv")
    assert wl.colnames[:3] == ["BJD_TDB", "INT_NUM", "FLUX"] and "BASELINE" in wl.colnames
    assert wl["BASELINE"].sum() == 20 and wl.meta["DEPTH"] == pytest.approx(record["depth"])
    curves = Table.read(paths["speclc"], hdu="SPECLC")
    chans = Table.read(paths["speclc"], hdu="CHANNELS")
    long = Table.read(paths["speclc_ecsv"], format="ascii.ecsv")
    assert np.asarray(curves["FLUX"]).shape == (NINT, 8) and len(chans) == 8 and len(long) == NINT * 8
    assert np.allclose(np.asarray(long["FLUX"]).reshape(NINT, 8), np.asarray(curves["FLUX"]))
    spectra = specutils.SpectrumList.read(paths["spectra"], format="JWST x1d multi")
    assert len(spectra) == NINT
    mean = specutils.Spectrum.read(paths["oot_spectrum"])
    assert np.allclose(mean.spectral_axis.to_value("um"), wave)
    assert np.allclose(mean.flux.to_value("Jy"), star, rtol=1e-3)  # the mean of the baseline integrations
    assert np.allclose(spectra[IN_TRANSIT.start].flux.to_value("Jy"), star * (1 - depth_of(wave)), rtol=1e-3)
    for png in (paths["whitelight_png"], paths["speclc_png"]):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _split_x1dints(src: Path, out: Path, *, by: str, detectors: tuple[str, str] = ("NRS1", "NRS2"),
                   drop_rows: int = 0) -> None:
    """``src`` rewritten as two EXTRACT1D tables: its wavelength halves on two detectors (``by="detector"``,
    as Tso3 writes a NIRSpec G395H exposure on NRS1 and NRS2) or its integration halves on one (``by="segment"``)."""
    with fits.open(src) as hdul:
        table = Table.read(hdul["EXTRACT1D"])
        primary = hdul[0].copy()
    half = NWAVE // 2 if by == "detector" else NINT // 2
    parts = []
    for k in range(2):
        part = Table()
        rows = slice(None) if by == "detector" else slice(k * half, (k + 1) * half)
        for name in table.colnames:
            column = table[name][rows]
            if by == "detector" and np.ndim(column) == 2:
                column = column[:, :half] if k == 0 else column[:, half:]
            part[name] = column
        if k == 1 and drop_rows:
            part = part[drop_rows:]
        hdu = fits.table_to_hdu(part)
        hdu.name = "EXTRACT1D"
        hdu.header.update({"SPORDER": 1, "SLTNAME": "S1600A1",
                           "DETECTOR": detectors[k] if by == "detector" else detectors[0]})
        parts.append(hdu)
    fits.HDUList([primary, *parts]).writeto(out)


def test_two_detectors_are_one_time_series_with_channels_per_detector(tmp_path: Path) -> None:
    """NRS1 + NRS2 in one Tso3 product (jwst's tso3 rule): joined along wavelength, no channel spans both."""
    src = tmp_path / "one_x1dints.fits"
    wave, star, _ = write_x1dints(src, descending=False)
    two = tmp_path / "jw01234-o010_t001_nirspec_g395h-f290lp_x1dints.fits"
    _split_x1dints(src, two, by="detector")
    one, ts = read_x1dints(src), read_x1dints(two)
    np.testing.assert_array_equal(ts.wavelength, one.wavelength)
    np.testing.assert_array_equal(ts.flux, one.flux)
    assert ts.detectors == ["NRS1", "NRS2"] and list(ts.detector[:NWAVE // 2]) == ["NRS1"] * (NWAVE // 2)
    assert ts.meta["DETECTOR"] == "NRS1,NRS2" and one.detector is None
    options = {"bins": 5, "baseline_integrations": [[1, 14], [27, 40]]}
    slc = spectroscopic_light_curves(ts, options)
    assert list(slc.detector) == ["NRS1"] * 3 + ["NRS2"] * 2 or list(slc.detector) == ["NRS1"] * 2 + ["NRS2"] * 3
    assert np.all(slc.wave_hi[slc.detector == "NRS1"] < slc.wave_lo[slc.detector == "NRS2"].min())
    assert np.allclose(slc.depth, depth_of(slc.wave_mid), rtol=0.05)
    paths = Layout(tmp_path / "data", "01234").timeseries_paths("010", two)
    record = build_products(two, paths, options, plot=False).record()
    wl = Table.read(paths["whitelight"], format="ascii.ecsv")
    for det, points in (("NRS1", slice(0, NWAVE // 2)), ("NRS2", slice(NWAVE // 2, None))):
        assert wl.meta[f"DEPTH_{det}"] == pytest.approx(white_truth(wave[points], star[points], ts.valid[points]), rel=0.05)
        assert f"FLUX_{det}" in wl.colnames
    assert wl.meta["DEPTH"] == pytest.approx(record["depth"])
    assert list(Table.read(paths["speclc"], hdu="CHANNELS")["DETECTOR"]) == list(slc.detector)


def test_segments_of_one_detector_are_joined_and_detectors_must_agree(tmp_path: Path) -> None:
    src = tmp_path / "one_x1dints.fits"
    write_x1dints(src, descending=False)
    segmented = tmp_path / "seg_x1dints.fits"
    _split_x1dints(src, segmented, by="segment")
    ts, one = read_x1dints(segmented), read_x1dints(src)
    np.testing.assert_array_equal(ts.int_num, one.int_num)
    np.testing.assert_array_equal(ts.flux, one.flux)
    assert ts.detector is None
    short = tmp_path / "short_x1dints.fits"
    _split_x1dints(src, short, by="detector", drop_rows=5)
    with pytest.raises(InputFileError, match=r"short_x1dints.fits: EXTRACT1D of detector NRS2 holds integrations \d+-\d+ \(35\), NRS1 1-40 \(40\)"):
        read_x1dints(short)
