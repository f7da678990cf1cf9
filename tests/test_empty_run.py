"""No silent empty runs: stages that ran and wrote no final product fail (exit 3) with the reason.

Through the real command line (``jwstspec.cli.main``) and a real Prefect
API on loopback; the inputs are header-only exposures, so no pipeline runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.cli import main

NAME = "jw01234001001_03101_00001_nrs1"


@pytest.fixture(scope="module")
def prefect_api() -> Any:
    from flows.runtime import embedded_prefect

    with embedded_prefect() as url:
        yield url


def _header(**extra: Any) -> fits.Header:
    h = fits.Header({"TELESCOP": "JWST", "INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_IFU",
                     "PROGRAM": "01234", "OBSERVTN": "001", "VISIT": "001", "EXPOSURE": "1",
                     "GRATING": "G395H", "FILTER": "F290LP"})
    h.update(extra)
    return h


def _program(tmp: Path, stages: list[str] | None = None) -> Path:
    """A data directory with one header-only NIRSpec IFU uncal exposure, and its configuration."""
    import tomli_w

    data = tmp / "data"
    uncal = data / "01234" / "Obs001" / "uncal"
    uncal.mkdir(parents=True)
    fits.PrimaryHDU(header=_header()).writeto(uncal / f"{NAME}_uncal.fits")
    cfg = {"program": "01234", "observation": "001", "instrument": "nirspec", "mode": "ifu", "data_dir": str(data),
           "download": {"enabled": False},
           "crds": {"server_url": "https://jwst-serverless-mode.stsci.edu", "context": "jwst_0000.pmap"},
           "runtime": {"task_runner": "thread", "workers": 1}}
    if stages:
        cfg["stages"] = stages
    path = tmp / "run.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's error: one line (stderr also carries the run's log records)."""
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("jwstspec run: error:")]
    assert len(lines) == 1, lines
    return lines[0]


def _last_flow_run_state() -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    async def read() -> str:
        async with get_client() as client:
            runs = await client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
            return runs[0].state.type.value

    return asyncio.run(read())


def test_no_extractable_product_exits_3_with_the_reason(prefect_api: Any, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _program(tmp_path, stages=["extract", "combine"])
    rc = main(["run", str(cfg)])
    err = _error_line(capsys)
    assert rc == 3, err
    assert "no extractable product found: no *_s3d.fits from 1 science exposure" in err, err
    summary = tmp_path / "data" / "01234" / "Obs001" / "combined" / "summary.md"
    assert "**FAILED**: no extractable product found" in summary.read_text()
    assert str(summary) in err
    assert _last_flow_run_state() == "FAILED"


def test_every_extraction_failed_exits_3(prefect_api: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _program(tmp_path, stages=["extract", "combine"])
    stage2 = tmp_path / "data" / "01234" / "Obs001" / "stage2"
    stage2.mkdir(parents=True)
    # a cube the extraction cannot read: the header of an s3d, an image where the cube should be
    fits.HDUList([fits.PrimaryHDU(header=_header()), fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")]).writeto(
        stage2 / f"{NAME}_s3d.fits")
    rc = main(["run", str(cfg)])
    err = _error_line(capsys)
    assert rc == 3, err
    assert "every extraction failed (1 of 1); first:" in err, err
    assert _last_flow_run_state() == "FAILED"


def test_scheduled_run_without_new_data_succeeds(prefect_api: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _program(tmp_path)
    next((tmp_path / "data" / "01234" / "Obs001" / "uncal").glob("*.fits")).unlink()
    rc = main(["run", str(cfg)])
    out = capsys.readouterr().out
    assert rc == 0 and "no new data" in out, out
    assert _last_flow_run_state() == "COMPLETED"


def test_no_product_because_every_exposure_was_ruled_out_names_the_skips(tmp_path: Path) -> None:
    """When jwst's detector rule (or the selection) leaves nothing, the reason names the skipped exposures."""
    from flows.pipeline import empty_run_reason
    from jwstspec.config import load_config
    from jwstspec.exposures import Selection
    from jwstspec.layout import Layout
    from jwstspec.plan import RunPlan

    config = load_config(_program(tmp_path, stages=["stage2", "extract", "combine"]))
    skipped = [(tmp_path / f"jw01234001001_03101_0000{k}_nrs2_uncal.fits", "No IFU slices fell on the NRS2 detector")
               for k in (1, 2, 3, 4)]
    plan = RunPlan(Selection({}, []), {}, skipped)
    reason = empty_run_reason(config, Layout.from_config(config), plan, {}, {})
    assert reason is not None
    assert "no extractable product found: no *_s3d.fits from 0 science exposure(s)" in reason
    assert "4 exposure(s) skipped: jw01234001001_03101_00001_nrs2_uncal.fits: No IFU slices fell on the NRS2" in reason
    assert reason.endswith("(+1 more)")
    assert empty_run_reason(config, Layout.from_config(config), RunPlan(Selection({}, []), {}, []), {}, {}).endswith(
        "exposure(s) in " + str(Layout.from_config(config).stage_dir("001", "stage2")))
