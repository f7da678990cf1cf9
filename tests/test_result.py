"""The flow's return value (:class:`flows.result.RunResult`) reads like the dict it replaced."""

from __future__ import annotations

import json

import pytest

from flows.result import RunResult


def test_reads_like_a_dict_and_dumps_to_json() -> None:
    tasks = [{"stage": "stage1", "task": "jw01", "state": "ran"}]
    result = RunResult(status="completed", summary="/d/summary.md", products={"ch1-short": {"fits": "/d/a.fits"}},
                       tasks=tasks, notes=["n"], flow_run_id="id", artifact_keys=["k"])
    assert result["status"] == "completed" and result["tasks"] is tasks and result.get("summary") == "/d/summary.md"
    assert result.get("absent", "-") == "-" and "products" in result and "absent" not in result
    assert set(result) == {"status", "message", "summary", "products", "tasks", "notes", "flow_run_id", "artifact_keys",
                           "crds_context", "failed_slits"}
    assert json.loads(json.dumps(result.to_dict()))["products"]["ch1-short"]["fits"] == "/d/a.fits"
    with pytest.raises(KeyError):
        result["absent"]


def test_no_data_result_and_status_checked() -> None:
    empty = RunResult(status="no data", message="no new data: none")
    assert empty["products"] == {} and empty["tasks"] == [] and empty.get("summary") is None
    assert RunResult(status="no data").products is not empty.products  # no shared default
    with pytest.raises(ValueError, match="RunResult.status"):
        RunResult(status="done")
