"""The demo's check of its final spectra against the injected truth (jwstspec.synthetic.truth, demo --only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import OptionError
from jwstspec.spectrum import Spectrum
from jwstspec.synthetic import demo as sd
from jwstspec.synthetic import truth as st


def _truth(spec):
    return 1e-3 * (spec.wavelength / 4.0) ** 0.5


def _write(path: Path, factor: np.ndarray, dq: np.ndarray | None = None) -> Path:
    w = np.linspace(3.0, 5.0, 200)
    flux = 1e-3 * (w / 4.0) ** 0.5 * factor
    return Spectrum(w, flux, np.full_like(w, 1e-5), dq=dq).write(path)


def test_record_measures_the_injected_scale(tmp_path):
    path = _write(tmp_path / "a.fits", np.full(200, 1.012))
    r = st.truth_record(path, _truth)
    assert r["median_ratio"] == pytest.approx(1.012, abs=1e-5)
    assert r["frac_within_3pct"] == 1.0 and r["npoints"] == 200


def test_record_counts_points_outside_3_percent_and_skips_flagged_points(tmp_path):
    factor = np.where(np.arange(200) % 4 == 0, 1.10, 1.0)  # a quarter of the points 10 % high
    dq = np.zeros(200, np.int64)
    dq[:20] = 1  # DO_NOT_USE: never compared
    r = st.truth_record(_write(tmp_path / "b.fits", factor, dq), _truth)
    assert r["npoints"] == 180
    assert r["frac_within_3pct"] == pytest.approx(np.mean(factor[20:] == 1.0))
    assert r["median_ratio"] == pytest.approx(1.0)


def test_record_without_comparable_points_says_so(tmp_path):
    r = st.truth_record(_write(tmp_path / "c.fits", np.ones(200)), lambda s: np.full(len(s), np.nan))
    assert r["median_ratio"] is None and r["npoints"] == 0
    assert "no point" in st.format_records({"c": r})[0]


def test_truth_file_is_keyed_by_final_product_name(tmp_path):
    a = _write(tmp_path / "jw01234-o005_s200a1.fits", np.full(200, 0.99))
    records = st.truth_records({"g395h": {"fits": str(a)}, "stitched": {"fits": None}}, _truth)
    path = st.write_truth_file(tmp_path / "combined" / "demo_truth.json", records)
    data = json.loads(path.read_text())
    assert list(data) == ["jw01234-o005_s200a1"]
    assert data["jw01234-o005_s200a1"]["median_ratio"] == pytest.approx(0.99)
    assert "0.9900" in st.format_records(data)[0]


def test_only_names_the_observations_in_the_demo_order():
    assert sd.parse_only(None) == sd.DEFAULT_OBSERVATIONS
    assert sd.parse_only("nirspec-ifu,miri-mrs") == ("miri-mrs", "nirspec-ifu")
    assert sd._observations(("miri",)) == ("miri-mrs",)  # the older branch names still work
    with pytest.raises(OptionError, match=r"option --only: unknown observation 'nirspec-foo'.*known: miri-mrs"):
        sd.parse_only("miri-mrs,nirspec-foo")


def test_ifu_dither_count_is_checked_before_anything_is_written(tmp_path):
    from jwstspec.layout import Layout

    layout = Layout(tmp_path / "data", sd.PROGRAM)
    for bad in (0, len(sd.IFU_DITHERS) + 1):
        with pytest.raises(OptionError, match=rf"ifu_dithers: {bad} must be 1..{len(sd.IFU_DITHERS)}"):
            sd._nirspec_ifu(tmp_path / "raw", layout, bad)
    assert not any(tmp_path.rglob("*.fits"))
    assert 1 <= sd.DEFAULT_DEMO_IFU_DITHERS < len(sd.IFU_DITHERS)  # the default demo's one cut, --only observes all


@pytest.mark.parametrize("detectors", [(), ("NRS3",), ("NRS1", "MIRIFUSHORT")])
def test_ifu_detectors_are_checked_before_anything_is_written(tmp_path, detectors):
    from jwstspec.layout import Layout

    layout = Layout(tmp_path / "data", sd.PROGRAM)
    with pytest.raises(OptionError, match=r"ifu_detectors: .*must be some of NRS1, NRS2"):
        sd._nirspec_ifu(tmp_path / "raw", layout, 1, detectors)
    assert not any(tmp_path.rglob("*.fits"))
    assert set(sd.DEFAULT_DEMO_IFU_DETECTORS) < set(sd.IFU_DETECTORS)  # the default demo's other cut


def test_a_smaller_ifu_observation_removes_the_files_of_a_larger_one(tmp_path):
    """Files of dithers and detectors beyond the observation asked for (left by an earlier demo in the same
    directory) go, raw and placed copies, so the flow finds exactly that observation."""
    from jwstspec.layout import Layout

    layout = Layout(tmp_path / "data", sd.PROGRAM)
    every = [(obs, name) for det in sd.IFU_DETECTORS for obs, name in sd._ifu_exposure_names(det)]
    assert len(every) == len(set(every)) == len(sd.IFU_DETECTORS) * (len(sd.IFU_DITHERS) + 2)
    for obs, name in every:
        for directory in (tmp_path / "raw" / "nirspec", layout.uncal_dir(obs)):
            directory.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(b"ramp")
    kept = set(sd._ifu_exposure_names("NRS1", 1))

    def no_writing(*args, **kwargs):
        raise AssertionError("stops before writing")

    import jwstspec.synthetic.nirspec_exposures as nx

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nx, "ifu_uncal", no_writing)
        mp.setattr(nx, "msa_leak_rate", lambda: None)
        with pytest.raises(AssertionError, match="stops before writing"):
            sd._nirspec_ifu(tmp_path / "raw", layout, 1, ("NRS1",))
    for obs, name in every:
        present = [(d / name).exists() for d in (tmp_path / "raw" / "nirspec", layout.uncal_dir(obs))]
        assert present == [(obs, name) in kept] * 2, name


def test_demo_cli_refuses_an_unknown_observation_in_one_line(tmp_path, capsys):
    from jwstspec.cli import main

    code = main(["demo", "--only", "bogus", "--output", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--only" in err[0] and "bogus" in err[0]
    assert not (tmp_path / "d").exists()


def test_every_demo_configuration_has_a_truth():
    for names in sd.OBSERVATIONS.values():
        for name in names:
            assert callable(sd.truth_of(name))
    with pytest.raises(ValueError, match="no truth"):
        sd.truth_of("bogus")


def test_stitched_product_takes_the_truth_of_its_bands(tmp_path):
    """A truth that needs a band's own header (MIRI: RADIUS x PIXSCALE) still applies to the stitched spectrum."""
    def truth(spec):  # the band's scale is in its header only
        return np.full(len(spec), float(spec.meta["SCALE"]))

    a = Spectrum(np.linspace(3, 4, 50), np.full(50, 2.0), np.ones(50), meta={"SCALE": 2.0}).write(tmp_path / "a.fits")
    b = Spectrum(np.linspace(4.01, 5, 50), np.full(50, 3.0), np.ones(50), meta={"SCALE": 3.0}).write(tmp_path / "b.fits")
    w = np.concatenate([np.linspace(3, 4, 50), np.linspace(4.01, 5, 50)])
    flux = np.concatenate([np.full(50, 2.0), np.full(50, 3.3)])  # the second band 10 % high
    s = Spectrum(w, flux, np.ones(100)).write(tmp_path / "stitched.fits")
    records = st.truth_records({"a": {"fits": str(a)}, "b": {"fits": str(b)}, "stitched": {"fits": str(s)}}, truth)
    assert records["stitched"]["npoints"] == 100
    assert records["stitched"]["frac_within_3pct"] == pytest.approx(0.5)
    assert records["a"]["median_ratio"] == pytest.approx(1.0)


def test_timeseries_record_gives_the_depth_ratio(tmp_path):
    """A time-series product: white-light depth over the depth law weighted by its own out-of-transit spectrum."""
    from astropy.table import Table

    from jwstspec.synthetic.miri_lrs import TransitTruth
    from jwstspec.synthetic.miri_lrs_model import aperture_fraction, source_spectrum_jy

    w = np.linspace(14.0, 5.0, 300)  # long to short, as the LRS products run
    flux = 1.01 * sd.LRS_TSO_SCALE * source_spectrum_jy(w) * aperture_fraction(0.0, 6.0, w)
    oot = Spectrum(w, flux, np.full_like(w, 1e-6)).write(tmp_path / "oot_x1d.fits")
    wl = Table({"BJD_TDB": [1.0, 2.0], "FLUX": [1.0, 0.99]})
    wl.meta.update({"WAVE_LO": 6.0, "WAVE_HI": 12.0})
    wl.write(tmp_path / "wl.ecsv", format="ascii.ecsv")
    transit = TransitTruth(4, (False, True, True, False), 0.010, 0.020)
    inside = (w >= 6.0) & (w <= 12.0)
    injected = np.sum(flux[inside] * transit.depth(w[inside])) / np.sum(flux[inside])
    record = {"oot_spectrum": str(oot), "whitelight": str(tmp_path / "wl.ecsv"), "depth": 0.97 * injected}
    r = sd.timeseries_truth_record(record, transit)
    assert r["depth_ratio"] == pytest.approx(0.97, abs=1e-4)
    assert 0.0114 < r["depth_injected"] < 0.0200  # the law's values at 6 and 12 um bound it
    assert r["median_ratio"] == pytest.approx(1.01, abs=1e-4)
    assert any("depth/injected 0.97" in line for line in st.format_records({"x": r}))


def test_the_bots_observation_is_named_and_its_baseline_leaves_out_the_grey_transit():
    assert sd.parse_only("nirspec-bots") == ("nirspec-bots",)
    first, last = sd.BOTS_TRANSIT
    inside = set(range(first + 1, last + 2))  # 1-based integration numbers
    baseline = {i for lo, hi in sd.bots_baseline() for i in range(lo, hi + 1)}
    assert baseline == set(range(1, sd.BOTS_NINTS + 1)) - inside
    transit = sd.bots_transit()
    assert [i + 1 for i, t in enumerate(transit.in_transit) if t] == sorted(inside)
    assert transit.depth(np.array([2.9, 5.2])) == pytest.approx([sd.BOTS_DEPTH] * 2)  # grey


def test_mos_truth_is_the_source_of_the_spectrums_slit():
    """The demo's MOS truth follows the slit (one source per slitlet), never one truth for every product."""
    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES

    w = np.linspace(3.0, 4.0, 20)
    for src in DEMO_SOURCES:
        spec = Spectrum(w, np.ones_like(w), np.ones_like(w), meta={"SLITNAME": str(src.slitlet_id)})
        assert np.array_equal(sd.truth_of("nirspec-mos")(spec), src.truth(w))
    with pytest.raises(KeyError, match="no synthetic MOS source in slitlet '9'"):
        sd.truth_of("nirspec-mos")(Spectrum(w, w, w, meta={"SLITNAME": "9"}))
    assert sd.parse_only("nirspec-mos") == ("nirspec-mos",)
