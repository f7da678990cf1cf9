"""NIRSpec slits through the flow for real (issue 13): the demo's ``nirspec-fs``, ``nirspec-mos`` and ``nirspec-bots``.

One ``run_demo`` runs the three observations one after the other (one
generation, one embedded API, the tasks in this process: the ``serial``
runner; process-pool runs are the IFU/MIRI e2e tests' and the chaos test's).

* Fixed slit: a point source of known spectrum in S200A1 (G395H/F290LP,
  NRS1, SUBS200A1, 2-point nod; uncal ramps placed with the synthetic
  model's own WCS) goes through Detector1 -> nod subtraction -> the real
  ``calwebb_spec2`` -> ``calwebb_spec3`` -> jwstspec extraction of the
  primary slit -> combine; the final spectrum must give the injected flux
  back (median within 2 %) and the demo's ``demo_truth.json`` must say so.
* MOS: two sources of known spectrum, a bright and a faint one, each in its
  own 3-shutter slitlet (SUBS200A1, 3-point nod; the MSA metadata file
  beside the ramps in ``uncal/``) go through Detector1 -> nod subtraction
  -> ``calwebb_spec2`` (the metadata file staged beside its inputs) ->
  ``calwebb_spec3`` -> jwstspec extraction of every slit -> combine: one
  product per source, combined over the nods, stitched per source and
  never across sources.
* Bright-object time series: a point source in S1600A1 (``NRS_BRIGHTOBJ``,
  SUB2048, G395H on NRS1 and NRS2: one exposure per detector, the same
  integrations) dims by a known depth during a box transit: Detector1 ->
  ``calwebb_spec2`` per detector -> one ``calwebb_tso3`` of both (jwst's
  ``tso3`` rule: one product per setting, not per detector) -> jwstspec
  light curves over both detectors; the white-light depth (and each
  detector's) within 5 % of the injected one, the out-of-transit spectrum
  within 2 %.

The jwst steps no test here reads are switched off in these runs only
(:data:`OVERRIDES`): Spec2's ``extract_1d`` (jwstspec extracts from the
``s2d``; Tso3 extracts the time series from the ``calints``) and Stage 3's
``outlier_detection`` (the nods hold no outliers), and MOS Stage 3's
``extract_1d`` (the MOS spectra come from Stage 2).  The fixed-slit Stage 3
``x1d`` is still checked.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jwstspec.spectrum import read_spectrum

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

_NO_SPEC2_X1D = {"stage2": {"steps": {"extract_1d": {"skip": True}}}}
#: jwst steps whose products no test of this module reads, switched off in its runs only
OVERRIDES: dict[str, dict[str, Any]] = {
    "nirspec-fs": {**_NO_SPEC2_X1D, "stage3": {"steps": {"outlier_detection": {"skip": True}}}},
    "nirspec-mos": {**_NO_SPEC2_X1D,
                    "stage3": {"steps": {"outlier_detection": {"skip": True}, "extract_1d": {"skip": True}}}},
    "nirspec-bots": _NO_SPEC2_X1D,
}


@pytest.fixture(scope="module")
def slits_run(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo

    root = tmp_path_factory.mktemp("demo-nirspec-slits")
    result = run_demo(root, crds_path=crds_cache, branches=("nirspec-fs", "nirspec-mos", "nirspec-bots"),
                      task_runner="serial", overrides=OVERRIDES)
    print("nirspec slits seconds:", {k: round(v, 1) for k, v in result["seconds"].items()})
    return result


@pytest.fixture(scope="module")
def fs_run(slits_run: dict[str, Any]) -> dict[str, Any]:
    return slits_run


@pytest.fixture(scope="module")
def mos_run(slits_run: dict[str, Any]) -> dict[str, Any]:
    return slits_run


@pytest.fixture(scope="module")
def bots_run(slits_run: dict[str, Any]) -> dict[str, Any]:
    return slits_run


# ------------------------------------------------------------------ fixed slit
def test_fs_every_stage_ran_for_real(fs_run: dict[str, Any]) -> None:
    summary = fs_run["summaries"]["nirspec-fs"]
    assert summary["status"] == "completed"
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states[("stage1", "ran")] >= 3  # two Detector1 + the nod subtraction
    assert states[("stage2", "ran")] == 2 and states[("stage3", "ran")] == 1
    assert not [t for t in summary["tasks"] if t["state"] == "failed"]


def test_spec2_and_spec3_products_are_jwst_point_source_slits(fs_run: dict[str, Any]) -> None:
    from stdatamodels.jwst import datamodels as dm

    cfg = fs_run["demo"].configs["nirspec-fs"]
    obs = cfg.data_dir / cfg.program / f"Obs{cfg.observation}"
    s2d = sorted((obs / "stage2").glob("*_s2d.fits"))
    assert len(s2d) == 2
    with dm.open(s2d[0]) as m:
        slits = m.slits if hasattr(m, "slits") else [m]
        primary = [s for s in slits if s.name == "S200A1"] if hasattr(m, "slits") else slits
        assert primary and primary[0].meta.bunit_data == "MJy"
    assert list((obs / "stage3").glob("*_x1d.fits")), "calwebb_spec3 wrote no x1d"


def test_extraction_knows_the_flow_subtracted_the_nods(fs_run: dict[str, Any]) -> None:
    from astropy.io import fits

    cfg = fs_run["demo"].configs["nirspec-fs"]
    assert "nod_subtracted" not in cfg.extract.model_fields_set  # the flow's own knowledge, not the demo's setting
    spectra = sorted((cfg.data_dir / cfg.program / f"Obs{cfg.observation}" / "extract").glob("*_x1d.fits"))
    assert len(spectra) == 2
    for path in spectra:
        header = fits.getheader(path, "EXTRACT1D")
        assert header["NODSUB"] is True and header["NNODTRC"] >= 1, path.name


def test_fs_final_spectrum_recovers_the_injected_source(fs_run: dict[str, Any]) -> None:
    from jwstspec.synthetic.demo import fs_truth_jy

    products = {k: v for k, v in fs_run["summaries"]["nirspec-fs"]["products"].items() if k != "stitched"}
    assert len(products) == 1
    spec = read_spectrum(next(iter(products.values()))["fits"])
    assert spec.ncombined is not None and spec.ncombined.max() == 2  # both nods
    assert spec.meta["APCORR"] is True and spec.meta["APCORREF"] == "jwst_nirspec_apcorr_synth_fs.fits"
    good = np.isfinite(spec.flux) & (spec.dq == 0)
    assert good.sum() > 1000
    ratio = spec.flux[good] / fs_truth_jy(spec.wavelength[good])
    assert abs(np.median(ratio) - 1) < 0.02, np.median(ratio)


def test_demo_truth_json_is_written_beside_the_summary(fs_run: dict[str, Any]) -> None:
    path, records = fs_run["truth"]["nirspec-fs"]
    summary = fs_run["summaries"]["nirspec-fs"]
    assert path.parent == Path(summary["summary"]).parent and path.name == "demo_truth.json"
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(records))
    assert set(data) == {Path(r["fits"]).name.removesuffix(".fits") for r in summary["products"].values()}


def test_demo_truth_json_says_the_flux_is_right(fs_run: dict[str, Any]) -> None:
    _, records = fs_run["truth"]["nirspec-fs"]
    for name, record in records.items():
        assert abs(record["median_ratio"] - 1) < 0.02, name
        assert record["frac_within_3pct"] > 0.5, name


# ------------------------------------------------------------------ fixed slit and MOS from Stage 3
@pytest.fixture(scope="module")
def stage3_extraction(slits_run: dict[str, Any]) -> dict[str, Any]:
    """The fixed-slit and MOS observations extracted again from their Stage 3 products (``[extract] stage =
    "stage3"``, variant ``stage3``; Stages 1-3 are served from the cache)."""
    from flows.pipeline import run_pipeline
    from flows.runtime import embedded_prefect
    from jwstspec.config import validate_config

    out = {}
    with embedded_prefect():  # the session's shared API (not Prefect's own temporary server)
        for name in ("nirspec-fs", "nirspec-mos"):
            data = slits_run["demo"].configs[name].model_dump(mode="json")
            out[name] = run_pipeline(validate_config({**data, "extract": {**data["extract"], "stage": "stage3",
                                                                          "variant": "stage3"},
                                                      "combine": {**data["combine"], "variant": "stage3"}}))
    return out


@pytest.mark.parametrize(("name", "source", "tolerance"),
                         [("nirspec-fs", None, 0.02), ("nirspec-mos", "bright", 0.02), ("nirspec-mos", "faint", 0.05)])
def test_stage3_products_give_each_source_its_injected_flux(stage3_extraction: dict[str, Any], name: str,
                                                            source: str | None, tolerance: float) -> None:
    """jwst's Spec3 resamples the nods onto one sky grid (the synthetic nods move the pointing as the telescope
    does, so the source falls on itself and not on another nod's negative trace): one product per source,
    extracted at the injected flux, nothing from Stage 2 used."""
    from jwstspec.synthetic.demo import truth_of
    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES

    run = stage3_extraction[name]
    assert run["status"] == "completed"
    assert not [t for t in run["tasks"] if t["stage"] in ("stage1", "stage2", "stage3") and t["state"] == "ran"]
    products = {k: v for k, v in run["products"].items() if not k.startswith("stitched")}
    if name == "nirspec-mos":  # one product per source, from jwst's per-source Stage 3 s2d
        assert sorted(products) == sorted(f"g395h-f290lp_{s.slitlet_id}" for s in DEMO_SOURCES)
        src = next(s for s in DEMO_SOURCES if s.name == source)
        products = {k: v for k, v in products.items() if k.endswith(f"_{src.slitlet_id}")}
    (record,) = products.values()
    obs = Path(record["fits"]).parent.parent
    assert Path(record["fits"]).parent.name == "combined-stage3"
    extracted = sorted((obs / "extract-stage3").glob("*_x1d.fits"))  # from the Stage 3 products alone
    assert extracted and all(p.name.startswith(f"jw01234-o{obs.name[3:]}_t001_nirspec_") for p in extracted)
    spec = read_spectrum(record["fits"])
    good = np.isfinite(spec.flux) & (spec.dq == 0)
    assert good.sum() > 1000
    assert abs(np.median(spec.flux[good] / truth_of(name)(spec)[good]) - 1) < tolerance


# ------------------------------------------------------------------ MOS
def _obs(run: dict[str, Any]) -> Path:
    cfg = run["demo"].configs["nirspec-mos"]
    return cfg.data_dir / cfg.program / f"Obs{cfg.observation}"


def test_every_stage_ran_and_the_metadata_file_was_staged(mos_run: dict[str, Any]) -> None:
    summary = mos_run["summaries"]["nirspec-mos"]
    assert summary["status"] == "completed", summary.get("message")
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states[("stage1", "ran")] >= 8  # three Detector1 + the nod subtraction, per detector
    assert states[("stage2", "ran")] == 6  # three nods on NRS1 and NRS2
    assert not [t for t in summary["tasks"] if t["state"] == "failed"]
    msa = "jw01234008001_01_msa.fits"
    assert (_obs(mos_run) / "stage1" / msa).samefile(_obs(mos_run) / "uncal" / msa)


def test_one_product_per_source_stitched_per_source(mos_run: dict[str, Any]) -> None:
    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES

    products = mos_run["summaries"]["nirspec-mos"]["products"]
    slits = sorted(str(s.slitlet_id) for s in DEMO_SOURCES)
    stitched = sorted(k for k in products if k.startswith("stitched"))
    assert stitched == [f"stitched_{s}" for s in slits]  # never one stitched spectrum across the sources
    combined = sorted(k for k in products if not k.startswith("stitched"))  # per source and detector
    assert combined == sorted(f"g395h-f290lp_{d}_{s}" for d in ("nrs1", "nrs2") for s in slits), combined
    for key in combined:
        spec = read_spectrum(products[key]["fits"])
        assert spec.ncombined is not None and spec.ncombined.max() == 3  # the three nods
        assert spec.meta["APCORR"] is True and spec.meta["APCORREF"] == "jwst_nirspec_apcorr_synth_mos.fits"
    for slit in slits:  # each source's stitched spectrum: both detectors' parts of that source alone
        parts = [read_spectrum(products[f"g395h-f290lp_{d}_{slit}"]["fits"]) for d in ("nrs1", "nrs2")]
        assert np.nanmax(parts[0].wavelength) < np.nanmin(parts[1].wavelength) + 0.05  # NRS2 continues NRS1
        spec = read_spectrum(products[f"stitched_{slit}"]["fits"])
        assert spec.wavelength.min() == pytest.approx(parts[0].wavelength.min(), abs=1e-6)
        assert spec.wavelength.max() == pytest.approx(parts[1].wavelength.max(), abs=1e-6)


@pytest.mark.parametrize(("source", "tolerance"), [("bright", 0.02), ("faint", 0.05)])
def test_each_source_gets_its_injected_flux(mos_run: dict[str, Any], source: str, tolerance: float) -> None:
    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES

    src = next(s for s in DEMO_SOURCES if s.name == source)
    products = mos_run["summaries"]["nirspec-mos"]["products"]
    spec = read_spectrum(products[f"stitched_{src.slitlet_id}"]["fits"])
    good = np.isfinite(spec.flux) & (spec.dq == 0)
    assert good.sum() > 1000
    ratio = np.median(spec.flux[good] / src.truth(spec.wavelength[good]))
    assert abs(ratio - 1) < tolerance, ratio
    _, records = mos_run["truth"]["nirspec-mos"]  # demo_truth.json says the same (rounded to 5 digits)
    key = Path(products[f"stitched_{src.slitlet_id}"]["fits"]).name.removesuffix(".fits")
    assert records[key]["median_ratio"] == pytest.approx(ratio, abs=1e-5)


def test_spec2_gives_point_source_slits_in_mjy_with_the_nods_shutter(mos_run: dict[str, Any]) -> None:
    """jwst's srctype (stellarity) and photom: each source's slit is POINT in MJy, its shutter the nod's."""
    from stdatamodels.jwst import datamodels as dm

    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES

    s2d = sorted((_obs(mos_run) / "stage2").glob("*_s2d.fits"))
    assert [p.name for p in s2d] == sorted(f"jw01234008001_03101_0000{n}_{d}_s2d.fits" for d in ("nrs1", "nrs2")
                                           for n in (1, 2, 3))
    for path in s2d:
        nod = int(path.name.split("_")[2][-1])
        with dm.open(path) as model:
            slits = {int(s.name): s for s in model.slits}
            assert sorted(slits) == sorted(src.slitlet_id for src in DEMO_SOURCES)
            for src in DEMO_SOURCES:
                s = slits[src.slitlet_id]
                assert (s.source_alias, s.source_type, s.meta.bunit_data) == (src.name, "POINT", "MJy")
                assert s.shutter_state == {1: "x11", 2: "1x1", 3: "11x"}[nod]


@pytest.mark.parametrize("name", ["nirspec-fs", "nirspec-mos"])
def test_the_line_is_at_its_wavelength(slits_run: dict[str, Any], name: str) -> None:
    """The 3.60 micron line of the final spectrum (fixed slit; MOS: the bright source) within a tenth of a
    resolution element (two pixels: a shutter).

    The centre is a Gaussian fit to the spectrum minus the injected continuum (a flux-weighted mean over
    the +-0.02 micron window is pulled ~0.1 resolution element by the noise of the line-free points).
    """
    from scipy.optimize import curve_fit

    from jwstspec.synthetic.demo import fs_truth_jy
    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES

    products = slits_run["summaries"][name]["products"]
    if name == "nirspec-mos":
        src = next(s for s in DEMO_SOURCES if s.name == "bright")
        spec, truth = read_spectrum(products[f"stitched_{src.slitlet_id}"]["fits"]), src.truth
    else:
        spec, truth = read_spectrum(products["stitched"]["fits"]), fs_truth_jy
    w, f = spec.wavelength, spec.flux
    near = np.isfinite(f) & (np.abs(w - 3.60) < 0.02)
    continuum = truth(w[near]) / (1 + 2.0 * np.exp(-0.5 * ((w[near] - 3.60) / 0.003) ** 2))
    excess = f[near] - continuum

    def gaussian(x: np.ndarray, peak: float, centre: float, sigma: float) -> np.ndarray:
        return peak * np.exp(-0.5 * ((x - centre) / sigma) ** 2)

    (_, centre, _), _ = curve_fit(gaussian, w[near], excess, p0=[excess.max(), 3.60, 0.003])
    resolution_element = 2 * np.median(np.diff(w[np.isfinite(f)]))
    assert abs(centre - 3.60) < 0.1 * resolution_element, centre


# ------------------------------------------------------------------ bright-object time series
def test_bots_every_stage_ran_for_real(bots_run: dict[str, Any]) -> None:
    summary = bots_run["summaries"]["nirspec-bots"]
    assert summary["status"] == "completed"
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    # jwst's detector rule finds data on NRS1 and NRS2 (G395H); Detector1 and the 1/f correction per detector,
    # one Tso3 of both detectors, one light-curve product
    assert states == {("detector-rule", "ran"): 2, ("stage1", "ran"): 4, ("stage2", "ran"): 2, ("stage3", "ran"): 1,
                      ("combine", "ran"): 1}, states


def test_tso3_association_is_jwsts_one_product_of_both_detectors(bots_run: dict[str, Any], tmp_path: Path) -> None:
    """jwst's own tso3 rule (``Asn_Lv3TSO``) on a pool of the two exposures groups them in one product, as the flow does.

    (jwst names it ``jw01234-o010_t001_nirspec_f290lp-g395h-s1600a1-sub2048``; the flow keeps its own
    ``..._nirspec_g395h-f290lp``, a product name users already have.)"""
    from jwst.associations import AssociationPool, generate
    from jwst.associations.lib.rules_level3 import Asn_Lv3TSO
    from jwst.associations.mkpool import mkpool
    from jwst.associations.registry import AssociationRegistry

    cfg = bots_run["demo"].configs["nirspec-bots"]
    obs = cfg.data_dir / cfg.program / f"Obs{cfg.observation}"
    uncals = sorted(str(p) for p in (obs / "uncal").glob("*_uncal.fits"))
    assert [Path(u).name.split("_")[3] for u in uncals] == ["nrs1", "nrs2"]
    mkpool(uncals).write(tmp_path / "pool.csv", format="ascii", delimiter="|")  # as asn_make_pool writes it
    pool = AssociationPool.read(tmp_path / "pool.csv")
    registry = AssociationRegistry(include_default=True)
    (jwst_tso3,) = [a for a in generate(pool, registry, finalize=False) if isinstance(a, Asn_Lv3TSO)]
    (product,) = jwst_tso3.data["products"]
    assert sorted(Path(m["expname"]).name for m in product["members"]) == [
        Path(u).name.replace("_uncal", "_calints") for u in uncals]
    (asn,) = (obs / "stage3").glob("*tso3*.json")
    ours = json.loads(asn.read_text())
    (our_product,) = ours["products"]
    assert ours["asn_type"] == "tso3"
    assert sorted(Path(m["expname"]).name for m in our_product["members"]) == sorted(
        Path(m["expname"]).name for m in product["members"])


def test_spec2_gives_per_integration_products_in_jwsts_units(bots_run: dict[str, Any]) -> None:
    from stdatamodels.jwst import datamodels as dm

    from jwstspec.synthetic.demo import BOTS_NINTS

    cfg = bots_run["demo"].configs["nirspec-bots"]
    stage2 = cfg.data_dir / cfg.program / f"Obs{cfg.observation}" / "stage2"
    calints = sorted(stage2.glob("*_calints.fits"))
    assert len(calints) == 2
    for detector, path in zip(("NRS1", "NRS2"), calints, strict=True):
        with dm.open(path) as m:
            assert m.meta.instrument.detector == detector
            assert m.meta.exposure.type == "NRS_BRIGHTOBJ" and m.name == "S1600A1"
            assert m.meta.bunit_data == "MJy" and m.data.shape[0] == BOTS_NINTS
            assert m.source_type == "POINT" and m.meta.cal_step.photom == "COMPLETE"


@pytest.mark.parametrize(("name", "exposure", "bound"), [
    ("nirspec-bots", "jw01234010001_04101_00001_nrs1_rateints", 0.3),
    ("nirspec-bots", "jw01234010001_04101_00001_nrs2_rateints", 0.3),
    ("nirspec-fs", "jw01234005001_03101_00001_nrs1_rate", 0.5),
    ("nirspec-mos", "jw01234008001_03101_00001_nrs1_rate", 0.6),
    ("nirspec-mos", "jw01234008001_03101_00001_nrs2_rate", 0.6),
])
def test_1f_correction_removes_the_injected_stripes(slits_run: dict[str, Any], name: str, exposure: str,
                                                     bound: float) -> None:
    """The NIRSpec default 1/f correction runs on every slit exposure before the nods are subtracted (jwst's
    clean_flicker_noise; BOTS: one model per integration): away from the light each column's median holds the
    injected stripe before it and a fraction of it after it, in every integration.

    jwst fits each column on the rows the slits leave dark (the WCS footprint plus a margin): ~6 of SUB2048's
    32 rows beside S1600A1, ~20 of SUBS200A1's 64 beside S200A1, ~10 around the two MOS slitlets; the fewer,
    the noisier each column's estimate (measured, of the stripe before: BOTS 0.16-0.17, FS 0.46, MOS 0.48 on
    NRS1 and 0.23 on NRS2).  A subarray is read through one output and has no side reference pixels, so
    Detector1's ``refpix`` leaves these stripes whole.
    """
    from astropy.io import fits
    from scipy.ndimage import binary_dilation

    from jwstspec.synthetic.demo import NIRSPEC_STRIPE_SIGMA
    from tests.stripes import column_stripes

    cfg = slits_run["demo"].configs[name]
    assert cfg.readnoise_method == "pipeline"
    stage1 = cfg.data_dir / cfg.program / f"Obs{cfg.observation}" / "stage1"
    rate = fits.getdata(stage1 / f"{exposure}.fits", "SCI")
    with fits.open(stage1 / f"{exposure}corr.fits") as corr:
        assert corr[0].header["S_CLNFNS"] == "COMPLETE"
        corrected = corr["SCI"].data
    image = np.nanmedian(rate, axis=0) if rate.ndim == 3 else rate
    dark = ~binary_dilation(np.abs(image) > 3 * NIRSPEC_STRIPE_SIGMA, iterations=3)
    dark[:, :4], dark[:, -4:] = False, False  # the reference columns
    before, after = column_stripes(rate, dark), column_stripes(corrected, dark)
    assert before > 0.5 * NIRSPEC_STRIPE_SIGMA, before
    assert after < bound * before, (before, after)


def test_white_light_depth_within_5_percent_of_the_injected(bots_run: dict[str, Any]) -> None:
    from astropy.table import Table

    from jwstspec.synthetic.demo import BOTS_DEPTH, BOTS_NINTS, BOTS_TRANSIT

    path, records = bots_run["truth"]["nirspec-bots"]
    summary = bots_run["summaries"]["nirspec-bots"]
    assert path.parent == Path(summary["summary"]).parent and path.name == "demo_truth.json"
    data = json.loads(path.read_text())
    (name,) = data
    assert name == "jw01234-o010_t001_nirspec_g395h-f290lp_speclc"  # jwst's Tso3 product name, our product
    record = data[name]
    print(f"nirspec-bots: depth {record['depth']:.5f}, injected {record['depth_injected']}, "
          f"ratio {record['depth_ratio']}, out-of-transit flux/truth {record['median_ratio']}")
    assert record["depth_injected"] == pytest.approx(BOTS_DEPTH)
    assert abs(record["depth_ratio"] - 1) < 0.05
    assert abs(record["median_ratio"] - 1) < 0.02 and record["frac_within_3pct"] > 0.9
    # the white-light curve itself: the dip where it was injected, the rest flat
    (product,) = [v for k, v in summary["products"].items() if k.startswith("timeseries ")]
    wl = Table.read(product["whitelight"], format="ascii.ecsv")
    assert len(wl) == BOTS_NINTS and wl.colnames[0] == "BJD_TDB"
    inside = (np.arange(BOTS_NINTS) >= BOTS_TRANSIT[0]) & (np.arange(BOTS_NINTS) <= BOTS_TRANSIT[1])
    assert list(wl["BASELINE"]) == list(~inside)
    assert np.allclose(wl["FLUX"][inside], 1 - BOTS_DEPTH, atol=0.1 * BOTS_DEPTH)
    assert np.allclose(wl["FLUX"][~inside], 1.0, atol=0.1 * BOTS_DEPTH)
    # one time series over both detectors (G395H: NRS1 2.87-4.1, NRS2 4.1-5.27 um), each detector's depth right too
    assert wl.meta["DETECTOR"] == "NRS1,NRS2" and wl.meta["WAVE_LO"] < 2.9 and wl.meta["WAVE_HI"] > 5.2
    for detector in ("NRS1", "NRS2"):
        print(f"nirspec-bots {detector}: depth {wl.meta[f'DEPTH_{detector}']:.5f}")
        assert abs(wl.meta[f"DEPTH_{detector}"] / BOTS_DEPTH - 1) < 0.05, detector
    channels = Table.read(product["fits"], hdu="CHANNELS")
    assert set(channels["DETECTOR"]) == {"NRS1", "NRS2"}
