"""NIRSpec fixed slit through the flow for real (issue 13, item 3): the demo's ``nirspec-fs`` observation.

A point source of known spectrum in S200A1 (G395H/F290LP, NRS1, SUBS200A1,
2-point nod; uncal ramps placed with the synthetic model's own WCS) goes
through Detector1 -> nod subtraction -> the real ``calwebb_spec2`` ->
``calwebb_spec3`` -> jwstspec extraction of the primary slit -> combine;
the final spectrum must give the injected flux back (median within 2 %)
and the demo's ``demo_truth.json`` must say so.
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


@pytest.fixture(scope="module")
def fs_run(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    root = tmp_path_factory.mktemp("demo-fs")
    with embedded_prefect():
        yield run_demo(root, crds_path=crds_cache, branches=("nirspec-fs",), workers=2)


def test_every_stage_ran_for_real(fs_run: dict[str, Any]) -> None:
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


def test_final_spectrum_recovers_the_injected_source(fs_run: dict[str, Any]) -> None:
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
