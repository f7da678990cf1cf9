"""End to end: a realistic MIRI MRS program, all twelve sub-bands, through the flow (issue #15 item 5).

The demo's ``miri-mrs-full`` observation: SHORT, MEDIUM and LONG on both
detectors (six exposures, each with its background exposure), a 5 %
residual fringe on every exposure and the 1B -> 3A spectral leak, through
the real Detector1 -> Spec2 (``asn`` background, jwst's 2-D
``residual_fringe`` by default) -> extraction of the two-channel Stage 2
cubes, cut per sub-band -> combine (1-D defringe by default) -> spectral
leak -> stitching.  What only this test shows: every sub-band from real
two-channel cubes reaches the stitched spectrum, each at the injected flux,
the leak corrected from the bands' own metadata and the fringe removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jwstspec.bands import MRS_RANGES, mrs_key
from jwstspec.spectrum import read_spectrum

pytestmark = pytest.mark.e2e

#: what no test here reads, skipped in this run only: Detector1's jump (no cosmic rays in the synthetic ramps) and
#: Stage 3 (the spectra come from the Stage 2 cubes; the Stage 3 path of MRS is test_flow_e2e.py's)
#: jwst's EMSM cubes in Stage 2 (drizzle was ~25 of each Spec2's ~55 CPU-s; the apcorr model holds for both)
OVERRIDES = {"miri-full": {"stages": ["stage1", "stage2", "extract", "combine"],
                           "stage1": {"steps": {"jump": {"skip": True}}},
                           "stage2": {"steps": {"cube_build": {"weighting": "emsm"}}}}}


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    root = tmp_path_factory.mktemp("mrs-program")
    with embedded_prefect():
        result = run_demo(root, crds_path=crds_cache, workers=2, branches=("miri-mrs-full",), overrides=OVERRIDES)
    summary = result["summaries"]["miri-full"]
    assert summary["status"] == "completed", summary
    return result


def _toy_bands() -> dict[str, Any]:
    """``{band key: toy channel}`` of the twelve sub-bands the program observes."""
    from jwstspec.synthetic import miri_mrs as mm

    return {mrs_key(c.channel, band): c for det in mm.DETECTOR_CHANNELS for band in mm.SETTINGS
            for c in mm.mrs_channels(det, band)}


def _products(program: dict[str, Any]) -> dict[str, Any]:
    return program["summaries"]["miri-full"]["products"]


def test_every_sub_band_recovers_the_injected_source(program: dict[str, Any]) -> None:
    """Twelve combined sub-bands, cut from six two-channel Stage 2 cubes, each within 2 % of the injected source."""
    from jwstspec.synthetic.demo import truth_of

    bands = {k: v for k, v in _products(program).items() if k != "stitched"}
    assert sorted(bands) == sorted(_toy_bands()), sorted(bands)
    truth = truth_of("miri-full")
    for key, record in bands.items():
        spec = read_spectrum(record["fits"])
        assert mrs_key(spec.meta["CHANNEL"], spec.meta["BAND"]) == key  # band identity from the header
        assert spec.meta["APCORR"] is True and spec.meta["DEFRINGE"] is True, key
        good = np.isfinite(spec.flux) & (spec.dq == 0)
        assert good.sum() > 300, key
        ratio = np.median(spec.flux[good] / truth(spec)[good])
        assert abs(ratio - 1) < 0.02, (key, ratio)
    records = program["truth"]["miri-full"][1]
    assert len(records) == 13 and all(abs(r["median_ratio"] - 1) < 0.02 for r in records.values()), records


def test_stitched_spectrum_covers_every_sub_band(program: dict[str, Any]) -> None:
    """4.9-27.9 um with no hole but the real gaps between the toy's sub-bands; the header lists every overlap."""
    spec = read_spectrum(_products(program)["stitched"]["fits"])
    w = np.asarray(spec.wavelength, float)
    ok = np.isfinite(spec.flux)
    assert np.all(np.diff(w) > 0)
    toy = _toy_bands()
    for key, ch in toy.items():
        lo, hi = sorted((ch.wmin, ch.wmax))
        inside = (w > lo) & (w < hi)
        assert inside.sum() > 300 and ok[inside].mean() > 0.99, (key, ok[inside].mean())
        assert MRS_RANGES[key][0] <= lo and hi <= MRS_RANGES[key][1]
    # every step of the grid wider than 5 local steps lies outside every sub-band (a real gap)
    step = np.diff(w[ok])
    holes = np.flatnonzero(step > 5 * np.median(step))
    for i in holes:
        a, b = w[ok][i], w[ok][i + 1]
        assert not any(min(c.wmin, c.wmax) < (a + b) / 2 < max(c.wmin, c.wmax) for c in toy.values()), (a, b)
    assert w[ok].min() < 4.95 and w[ok].max() > 27.8
    assert spec.meta["BANDS"].split(",") == sorted(toy, key=lambda k: min(toy[k].wmin, toy[k].wmax))
    assert spec.meta["NOVERLAP"] == 11 and spec.meta["OVERLAPS"].count(";") == 10


def test_the_1b_leak_is_corrected_in_3a_from_the_band_metadata(program: dict[str, Any]) -> None:
    """3A carries ~1.8 % of leaked 1B light at 12.2 um; the stitched spectrum has it removed (LEAKCORR = T)."""
    from jwstspec.synthetic import miri_mrs as mm

    products = _products(program)
    stitched = read_spectrum(products["stitched"]["fits"])
    band3a = read_spectrum(products["ch3-short"]["fits"])
    assert stitched.meta["LEAKCORR"] is True and "mrsptcorr" in stitched.meta["LEAKREF"]

    def excess(spec: Any) -> float:
        w = np.asarray(spec.wavelength, float)
        near = (np.abs(w - mm.LEAK_CENTRE_UM) < mm.LEAK_SIGMA_UM) & np.isfinite(spec.flux)
        return float(np.median(spec.flux[near] / mm.source_spectrum_jy(w[near])) - 1)

    injected = float(mm.leak_fraction(np.array([mm.LEAK_CENTRE_UM]))[0] * mm.source_spectrum_jy(mm.LEAK_CENTRE_UM / 2)
                     / mm.source_spectrum_jy(mm.LEAK_CENTRE_UM))
    assert excess(band3a) - excess(stitched) == pytest.approx(0.9 * injected, rel=0.25)  # 0.9: the mean over +-sigma
    assert abs(excess(stitched)) < 0.005


def test_residual_fringes_are_removed(program: dict[str, Any]) -> None:
    """The exposures carry a 5 % fringe; jwst's 2-D residual_fringe (Stage 2) and the 1-D defringe leave < 0.5 %.

    Measured (drizzled cubes, 4 px): 0.4-0.8 % after the 2-D step (the per-exposure spectra), <= 0.1 % after both.
    """
    from astropy.io import fits

    from jwstspec.synthetic.demo import truth_of
    from jwstspec.synthetic.spectra import fringe_amplitude

    config = program["demo"].configs["miri-full"]
    cals = sorted((config.data_dir / config.program / f"Obs{config.observation}" / "stage2").glob("*_cal.fits"))
    assert len(cals) == 6
    assert {fits.getval(cal, "DETECTOR") for cal in cals} == {"MIRIFUSHORT", "MIRIFULONG"}
    assert {fits.getval(cal, "S_RESFRI") for cal in cals} == {"COMPLETE"}  # the MRS default, on both detectors
    truth = truth_of("miri-full")
    extracted = sorted((cals[0].parent.parent / "extract").glob("*_x1d.fits"))
    assert len(extracted) == 12
    for path in extracted:  # after the 2-D step alone
        spec = read_spectrum(path)
        ok = np.isfinite(spec.flux) & (spec.dq == 0)
        assert fringe_amplitude(spec.wavelength[ok], spec.flux[ok] / truth(spec)[ok]) < 0.015, path.name
    for key, record in _products(program).items():
        if key == "stitched":
            continue
        spec = read_spectrum(record["fits"])
        ok = np.isfinite(spec.flux) & (spec.dq == 0)
        amp = fringe_amplitude(spec.wavelength[ok], spec.flux[ok] / truth(spec)[ok])
        assert amp < 0.005, (key, amp)
