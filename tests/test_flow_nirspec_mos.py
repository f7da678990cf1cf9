"""NIRSpec MOS through the flow for real (issue 13, item 3): the demo's ``nirspec-mos`` observation.

Two sources of known spectrum, a bright and a faint one, each in its own
3-shutter slitlet (G395H/F290LP, NRS1, SUBS200A1, 3-point nod; uncal ramps
placed with the synthetic model's WCS, the MSA metadata file beside them in
``uncal/``) go through Detector1 -> nod subtraction -> the real
``calwebb_spec2`` (the metadata file staged beside its inputs) ->
``calwebb_spec3`` -> jwstspec extraction of every slit -> combine: one
product per source, combined over the nods, stitched per source and never
across sources.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jwstspec.spectrum import read_spectrum

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def mos_run(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    root = tmp_path_factory.mktemp("demo-mos")
    with embedded_prefect():
        yield run_demo(root, crds_path=crds_cache, branches=("nirspec-mos",), workers=2)


def _obs(run: dict[str, Any]) -> Path:
    cfg = run["demo"].configs["nirspec-mos"]
    return cfg.data_dir / cfg.program / f"Obs{cfg.observation}"


def test_every_stage_ran_and_the_metadata_file_was_staged(mos_run: dict[str, Any]) -> None:
    summary = mos_run["summaries"]["nirspec-mos"]
    assert summary["status"] == "completed", summary.get("message")
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states[("stage1", "ran")] >= 4  # three Detector1 + the nod subtraction
    assert states[("stage2", "ran")] == 3
    assert not [t for t in summary["tasks"] if t["state"] == "failed"]
    msa = "jw01234008001_01_msa.fits"
    assert (_obs(mos_run) / "stage1" / msa).samefile(_obs(mos_run) / "uncal" / msa)


def test_one_product_per_source_stitched_per_source(mos_run: dict[str, Any]) -> None:
    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES

    products = mos_run["summaries"]["nirspec-mos"]["products"]
    slits = sorted(str(s.slitlet_id) for s in DEMO_SOURCES)
    stitched = sorted(k for k in products if k.startswith("stitched"))
    assert stitched == [f"stitched_{s}" for s in slits]  # never one stitched spectrum across the sources
    combined = sorted(k for k in products if not k.startswith("stitched"))
    assert len(combined) == len(slits) and all(k.endswith(f"_{s}") for k, s in zip(combined, slits, strict=True))
    for key in combined:
        spec = read_spectrum(products[key]["fits"])
        assert spec.ncombined is not None and spec.ncombined.max() == 3  # the three nods
        assert spec.meta["APCORR"] is True and spec.meta["APCORREF"] == "jwst_nirspec_apcorr_synth_mos.fits"


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
    assert len(s2d) == 3
    for nod, path in enumerate(s2d, start=1):
        with dm.open(path) as model:
            slits = {int(s.name): s for s in model.slits}
            assert sorted(slits) == sorted(src.slitlet_id for src in DEMO_SOURCES)
            for src in DEMO_SOURCES:
                s = slits[src.slitlet_id]
                assert (s.source_alias, s.source_type, s.meta.bunit_data) == (src.name, "POINT", "MJy")
                assert s.shutter_state == {1: "x11", 2: "1x1", 3: "11x"}[nod]


def test_the_bright_sources_line_is_at_its_wavelength(mos_run: dict[str, Any]) -> None:
    """The 3.60 micron line of the final spectrum within a tenth of a resolution element (two pixels: a shutter).

    The centre is a Gaussian fit to the spectrum minus the injected continuum (a flux-weighted mean over
    the +-0.02 micron window is pulled ~0.1 resolution element by the noise of the line-free points).
    """
    from scipy.optimize import curve_fit

    from jwstspec.synthetic.nirspec_mos import DEMO_SOURCES

    src = next(s for s in DEMO_SOURCES if s.name == "bright")
    spec = read_spectrum(mos_run["summaries"]["nirspec-mos"]["products"][f"stitched_{src.slitlet_id}"]["fits"])
    w, f = spec.wavelength, spec.flux
    near = np.isfinite(f) & (np.abs(w - 3.60) < 0.02)
    continuum = src.truth(w[near]) / (1 + 2.0 * np.exp(-0.5 * ((w[near] - 3.60) / 0.003) ** 2))
    excess = f[near] - continuum

    def gaussian(x: np.ndarray, peak: float, centre: float, sigma: float) -> np.ndarray:
        return peak * np.exp(-0.5 * ((x - centre) / sigma) ** 2)

    (_, centre, _), _ = curve_fit(gaussian, w[near], excess, p0=[excess.max(), 3.60, 0.003])
    resolution_element = 2 * np.median(np.diff(w[np.isfinite(f)]))
    assert abs(centre - 3.60) < 0.1 * resolution_element, centre
