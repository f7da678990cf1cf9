"""NIRSpec bright-object time series through the flow for real (issue 13): the demo's ``nirspec-bots`` observation.

A point source of known spectrum in S1600A1 (``NRS_BRIGHTOBJ``, G395H/F290LP,
NRS1, SUB2048; uncal ramps placed with the synthetic model's own WCS) dims
by a known depth during a box transit.  It goes through the real Detector1
-> ``calwebb_spec2`` -> ``calwebb_tso3`` -> jwstspec light curves, and the
demo's ``demo_truth.json`` must give the white-light depth back within 5 %
(``depth_ratio``) and the out-of-transit spectrum within 2 %.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def bots_run(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    root = tmp_path_factory.mktemp("demo-bots")
    with embedded_prefect():
        result = run_demo(root, crds_path=crds_cache, branches=("nirspec-bots",), workers=2)
    print("nirspec-bots seconds:", {k: round(v, 1) for k, v in result["seconds"].items()})
    return result


def test_every_stage_ran_for_real(bots_run: dict[str, Any]) -> None:
    summary = bots_run["summaries"]["nirspec-bots"]
    assert summary["status"] == "completed"
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states == {("detector-rule", "ran"): 1, ("stage1", "ran"): 1, ("stage2", "ran"): 1, ("stage3", "ran"): 1,
                      ("combine", "ran"): 1}, states  # jwst's detector rule finds data on NRS1: it goes on


def test_spec2_gives_per_integration_products_in_jwsts_units(bots_run: dict[str, Any]) -> None:
    from stdatamodels.jwst import datamodels as dm

    from jwstspec.synthetic.demo import BOTS_NINTS

    cfg = bots_run["demo"].configs["nirspec-bots"]
    stage2 = cfg.data_dir / cfg.program / f"Obs{cfg.observation}" / "stage2"
    (calints,) = stage2.glob("*_calints.fits")
    with dm.open(calints) as m:
        assert m.meta.exposure.type == "NRS_BRIGHTOBJ" and m.name == "S1600A1"
        assert m.meta.bunit_data == "MJy" and m.data.shape[0] == BOTS_NINTS


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
