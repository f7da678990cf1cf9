"""Deployments: prefect.yaml loads with Prefect's own model, schedules are what the files say."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_prefect_yaml_validates_with_prefect_model(tmp_path: Path) -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    from jwstspec.config import validate_config

    raw = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    model = PrefectYamlModel.model_validate(raw)
    names = {d.name: d for d in model.deployments}
    assert set(names) == {"on-demand", "nightly-01272"}
    nightly = names["nightly-01272"]
    assert [s.cron for s in nightly.schedules] == ["0 3 * * *"]
    for d in model.deployments:
        assert d.entrypoint == "flows/pipeline.py:jwstspec_pipeline"
        params = dict(d.parameters["config"], data_dir=str(tmp_path))  # the example path need not exist here
        cfg = validate_config(params)
        assert cfg.program == "01272"


def test_entrypoint_loads_the_flow() -> None:
    from prefect.flows import load_flow_from_entrypoint

    f = load_flow_from_entrypoint(str(ROOT / "flows" / "pipeline.py") + ":jwstspec_pipeline")
    assert f.name == "jwstspec"
    schema = f.parameters.model_dump()
    assert "config" in schema["properties"]
    assert "PipelineConfig" in str(schema)


@pytest.fixture(scope="module")
def prefect_api() -> Any:
    from flows.runtime import embedded_prefect

    with embedded_prefect() as url:
        yield url


def test_served_deployment_registers_schedule_and_form(prefect_api: Any, tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(ROOT / "deployments"))
    from serve import build_deployment

    from jwstspec.config import template

    cfg = tmp_path / "c.toml"
    cfg.write_text(template(data_dir=str(tmp_path)))
    deployment = build_deployment(str(cfg), "30 2 * * *", "test-served")
    deployment_id = deployment.apply()

    async def read() -> Any:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            return await client.read_deployment(deployment_id)

    dep = asyncio.run(read())
    assert dep.name == "test-served"
    assert [s.schedule.cron for s in dep.schedules] == ["30 2 * * *"]
    assert dep.parameters["config"]["program"] == "01234"
    props = dep.parameter_openapi_schema["properties"]
    assert "config" in props  # the UI renders the PipelineConfig form from this schema
    definitions = dep.parameter_openapi_schema.get("definitions", {})
    assert "PipelineConfig" in definitions
    assert definitions["PipelineConfig"]["properties"]["program"]["description"].startswith("JWST program number")
