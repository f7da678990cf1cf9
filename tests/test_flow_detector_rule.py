"""The detector rule in the flow (issue 13): an exposure jwst finds no data on is not sent to Spec2.

A NIRSpec IFU observation in G140M/F100LP on NRS1 and NRS2, entering at
Stage 2 (rate files placed with the synthetic model's metadata): jwst's
``assign_wcs`` puts no IFU slice on NRS2 for a medium-resolution grating,
so the flow skips the NRS2 exposure with jwst's reason in the run summary
and the NRS1 exposure goes through the real ``calwebb_spec2`` (only
``assign_wcs`` kept, to stay fast).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: every Spec2 step after assign_wcs that would run on this IFU exposure
SKIP = ("msa_flagging", "imprint_subtract", "bkg_subtract", "srctype", "flat_field", "pathloss", "photom",
        "pixel_replace", "cube_build", "extract_1d")


@pytest.fixture(scope="module")
def rule_run(crds_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import time

    from flows.pipeline import run_pipeline
    from flows.runtime import configure_environment, embedded_prefect
    from jwstspec.config import validate_config
    from jwstspec.layout import Layout
    from jwstspec.synthetic import nirspec_exposures as nx

    configure_environment()
    data = tmp_path_factory.mktemp("rule") / "data"
    layout = Layout(data, "01234")
    files = {}
    for det in ("NRS1", "NRS2"):
        model = nx.rate_model("NRS_IFU", grating="G140M", detector=det, observation="006")
        uncal = layout.uncal_dir("006") / f"jw01234006001_03101_00001_{det.lower()}_uncal.fits"
        rate = layout.rate_path("006", uncal)
        for path in (uncal, rate):  # the uncal stand-in carries the same headers (what the plan and the rule read)
            path.parent.mkdir(parents=True, exist_ok=True)
            model.save(path)
        files[det] = uncal
    cfg = {"program": "01234", "observation": "006", "instrument": "nirspec", "mode": "ifu", "data_dir": str(data),
           "stages": ["stage2"], "download": {"enabled": False},
           "crds": {"path": str(crds_cache), "server_url": "https://jwst-serverless-mode.stsci.edu", "context": "jwst_0000.pmap"},
           "stage1": {"readnoise_correct": "none", "bkg_subtract": "none"},
           "stage2": {"steps": {step: {"skip": True} for step in SKIP}},
           "runtime": {"task_runner": "thread", "workers": 2}}
    t0 = time.perf_counter()
    with embedded_prefect():
        result = run_pipeline(validate_config(cfg))
    print(f"detector rule flow: {time.perf_counter() - t0:.1f} s")
    return {"result": result, "files": files, "layout": layout}


def test_nrs2_is_not_sent_to_spec2_and_nrs1_goes_on(rule_run: dict[str, Any]) -> None:
    result = rule_run["result"]
    assert result.status == "completed"
    states = Counter((t["stage"], t["task"], t["state"]) for t in result.tasks)
    nrs1, nrs2 = (rule_run["files"][d].name.removesuffix("_uncal.fits") for d in ("NRS1", "NRS2"))
    assert states == {("detector-rule", nrs1, "ran"): 1, ("detector-rule", nrs2, "ran"): 1,
                      ("stage2", nrs1, "ran"): 1}, states
    stage2 = rule_run["layout"].stage_dir("006", "stage2")
    assert [p.name for p in stage2.glob("*_cal.fits")] == [f"{nrs1}_cal.fits"]


def test_the_summary_names_the_skipped_exposure_and_jwsts_reason(rule_run: dict[str, Any]) -> None:
    summary = Path(rule_run["result"].summary).read_text()
    name = rule_run["files"]["NRS2"].name
    assert "## Skipped exposures" in summary
    assert (f"* {name}: no data on detector NRS2: No IFU slices fall on detector NRS2 (jwst assign_wcs)"
            in summary.splitlines())
