"""MIRI LRS slitless time series through the flow for real (issue 15 item 4, issue 16): ``demo --only miri-lrs-tso``.

A transit (box, depth 1 % at 5 um rising to 2 % at 12 um) written as uncal
ramps on the real ``SLITLESSPRISM`` subarray goes through Detector1 ->
``calwebb_spec2`` (rateints) -> ``calwebb_tso3`` -> the light curves; the
white-light depth must be the injected one within 5 % and the
out-of-transit spectrum the injected flux within 2 %.
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
def tso_run(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    root = tmp_path_factory.mktemp("demo-lrs-tso")
    with embedded_prefect():
        yield run_demo(root, crds_path=crds_cache, branches=("miri-lrs-tso",), workers=2)


def test_every_stage_ran_from_the_ramps(tso_run: dict[str, Any]) -> None:
    summary = tso_run["summaries"]["miri-lrs-tso"]
    assert summary["status"] == "completed"
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states[("stage1", "ran")] == 1 and states[("stage2", "ran")] == 1 and states[("stage3", "ran")] == 1
    assert not [t for t in summary["tasks"] if t["state"] == "failed"]
    print(f"miri-lrs-tso e2e: {tso_run['seconds']}")


def test_white_light_depth_and_flux_against_the_injected(tso_run: dict[str, Any]) -> None:
    from astropy.table import Table

    from jwstspec.synthetic.demo import LRS_TSO_NINTS

    products = tso_run["summaries"]["miri-lrs-tso"]["products"]
    (key,) = [k for k in products if k.startswith("timeseries ")]
    record = products[key]
    transit = tso_run["demo"].truth["miri-lrs-tso"]
    wl = Table.read(record["whitelight"], format="ascii.ecsv")
    assert len(wl) == LRS_TSO_NINTS and wl.colnames[0] == "BJD_TDB"
    assert np.allclose(wl["BJD_TDB"], transit.times())  # INT_TIMES of the uncal went through Detector1-Tso3
    path, records = tso_run["truth"]["miri-lrs-tso"]
    assert json.loads(Path(path).read_text()) == records
    (r,) = records.values()
    print(f"miri-lrs-tso e2e: depth {r['depth']:.5f} injected {r['depth_injected']:.5f} ratio {r['depth_ratio']:.4f}, "
          f"out-of-transit flux/truth {r['median_ratio']:.4f}")
    assert abs(r["depth_ratio"] - 1) < 0.05
    assert abs(r["median_ratio"] - 1) < 0.02
    # the injected depth law, weighted by the product's own spectrum, lies between the two anchor depths
    assert 0.010 < r["depth_injected"] < 0.020
