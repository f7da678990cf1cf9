"""Failed slits in the flow's run summary (issue 14 item 6), at the flow-helper level (no pipeline run).

The extract task keeps the slits a multi-slit product could not extract;
the flow lists them (and slit products whose extraction failed as a whole)
in ``summary.md``, the Prefect summary artifact and the returned
:class:`flows.result.RunResult`, and carries on when at least one spectrum
was written.  Cubes keep their behaviour: one failed cube fails the run.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from flows import artifacts
from flows.cache import file_paths
from flows.pipeline import _collect_spectra, extraction_record, failed_slits
from flows.result import RunResult
from flows.submit import Done
from flows.tasks import extract_task
from jwstspec.errors import EmptyRunError, StageError
from tests.test_extract_slit_failures import three_slits  # noqa: F401 - the fixture (S1 good, S2 empty, S3 in DN/s)


class Failed(Done):
    """A finished extraction task that raised (what a failed Prefect future's result() does)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(None)
        self.exc = exc

    def result(self, *args, **kwargs):
        raise self.exc


@pytest.fixture(scope="module")
def record(three_slits, tmp_path_factory):  # noqa: F811 - the imported fixture
    path, _ = three_slits
    out = tmp_path_factory.mktemp("flow-extract") / "three_x1d.fits"
    with pytest.warns(UserWarning, match="not extracted"):
        return extract_task.fn(str(path), str(out), {"radius": "3px", "background": False, "covariance": "none"})


def test_extract_task_keeps_the_failed_slits(record) -> None:
    paths, source, failed = extraction_record(record)
    assert source == "three_s2d.fits" and [Path(p).name for p in paths] == ["three_x1d_S1.fits"]
    assert [name for name, _ in failed] == ["S2", "S3"] and "DN/s" in failed[1][1]
    assert [Path(p).name for p in file_paths(record)] == ["three_x1d_S1.fits"]  # the reasons are never "paths"
    assert extraction_record(["/d/a_x1d.fits"]) == (["/d/a_x1d.fits"], "", [])  # a record cached before


def test_slit_failures_listed_and_the_run_carries_on(record) -> None:
    whole = StageError("/d/other_s2d.fits: no slit extracted (S7: SCI is not a 2-D image with finite values)")
    spectra = {"g395h": [Done(record), Failed(whole)]}
    assert [Path(p).name for p in _collect_spectra(spectra, slits=True)["g395h"]] == ["three_x1d_S1.fits"]
    failed = failed_slits(spectra)
    assert [(f["product"], f["slit"]) for f in failed] == [("three_s2d.fits", "S2"), ("three_s2d.fits", "S3"), ("", "*")]
    assert "other_s2d.fits: no slit extracted" in failed[2]["reason"]
    with pytest.raises(StageError, match="other_s2d"):  # cubes: one failed cube still fails the run, as before
        _collect_spectra(spectra, slits=False)
    with pytest.raises(EmptyRunError, match="every extraction failed"):  # nothing written: a failed run
        _collect_spectra({"g395h": [Failed(whole)]}, slits=True)
    assert failed_slits({"ch1": [Failed(whole)]}, slits=False) == []


def test_summary_md_artifact_and_result_list_them(record, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(artifacts, "create_markdown_artifact", lambda markdown, **_: shown.append(markdown))
    monkeypatch.setattr(artifacts, "create_table_artifact", lambda **_: None)
    config = types.SimpleNamespace(program="1234", observation="005", instrument="nirspec", mode="fs", tso=False,
                                   digest=lambda: "abc")
    layout = types.SimpleNamespace(stage_dir=lambda obs, stage: tmp_path)
    run = types.SimpleNamespace(config=config, layout=layout, records=[], t0=0.0,
                                progress=types.SimpleNamespace(logger=types.SimpleNamespace(info=lambda *a: None)))
    plan = types.SimpleNamespace(science=types.SimpleNamespace(exposures=[]), groups={}, background={}, skipped=[],
                                 all_exposures=[])
    failed = failed_slits({"g395h": [Done(record)]})
    path = artifacts.summary(run, plan, {}, [], failed_slits=failed)
    text = path.read_text()
    assert "## Failed slits (2 not extracted)" in text
    assert "* `three_s2d.fits` slit S2: SCI is not a 2-D image with finite values" in text
    assert "slit S3:" in text and "DN/s" in text
    assert shown and "slit S2" in shown[0]  # the Prefect summary artifact is the same text
    assert "Failed slits" not in artifacts.summary(run, plan, {}, []).read_text()
    result = RunResult(status="completed", failed_slits=failed)
    assert result["failed_slits"][0] == {"product": "three_s2d.fits", "slit": "S2", "reason": failed[0]["reason"]}
    assert RunResult(status="completed").failed_slits == []
