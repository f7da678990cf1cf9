"""The configuration model: valid and invalid cases, template, save/load."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from jwstspec.config import (
    RESEARCH_CODE_NAMES,
    PipelineConfig,
    config_to_toml,
    load_config,
    parse_length,
    save_config,
    template,
    validate_config,
)
from jwstspec.errors import ConfigError, InputFileError


@pytest.fixture
def base(tmp_path: Path) -> dict:
    return {"program": "01234", "observation": "001", "instrument": "nirspec", "mode": "ifu", "data_dir": str(tmp_path)}


def test_minimal_config_defaults(base: dict) -> None:
    cfg = validate_config(base)
    assert cfg.readnoise_method == "pipeline"
    assert cfg.stages == ["download", "stage1", "stage2", "stage3", "extract", "combine"]
    assert cfg.extract.method == "psf" and cfg.extract.bkg_annulus is None  # IFU 10-12 px, slits: the rows off the trace
    miri = validate_config({**base, "instrument": "miri"})
    assert miri.readnoise_method == "none"


def test_residual_fringe_defaults_on_for_miri_mrs_only(base: dict) -> None:
    """Both residual-fringe corrections run by default for MIRI MRS (as the research code), never elsewhere."""
    from flows.pipeline import _combine_options
    from jwstspec.stages.pipelines import spec2_steps

    def stage2_steps(cfg: PipelineConfig) -> dict:
        return spec2_steps(cfg.mode, cfg.stage2.cube_align, cfg.instrument, residual_fringe=cfg.residual_fringe_on)

    mrs = validate_config({**base, "instrument": "miri"})
    assert mrs.stage2.residual_fringe is None and mrs.combine.defringe is None  # "default", saved as such
    assert mrs.residual_fringe_on and mrs.defringe_on
    assert stage2_steps(mrs)["residual_fringe"] == {"skip": False}
    assert _combine_options(mrs)["defringe"] is True
    for other in ({**base}, {**base, "instrument": "miri", "mode": "slit"}, {**base, "instrument": "miri", "mode": "slitless"},
                  {**base, "mode": "slit"}):
        cfg = validate_config(other)
        assert not cfg.residual_fringe_on and not cfg.defringe_on, other
        assert "residual_fringe" not in stage2_steps(cfg)
        assert _combine_options(cfg)["defringe"] is False
    off = validate_config({**base, "instrument": "miri", "stage2": {"residual_fringe": False}, "combine": {"defringe": False}})
    assert not off.residual_fringe_on and not off.defringe_on
    assert stage2_steps(off)["residual_fringe"] == {"skip": True}
    assert _combine_options(off)["defringe"] is False
    # the jwst step parameter alone still switches it (configs written before the option)
    by_step = validate_config({**base, "instrument": "miri", "stage2": {"steps": {"residual_fringe": {"skip": True}}}})
    assert not by_step.residual_fringe_on
    agree = validate_config({**base, "instrument": "miri", "stage2": {"residual_fringe": True,
                                                                      "steps": {"residual_fringe": {"skip": False}}}})
    assert agree.residual_fringe_on


def test_numbers_are_zero_padded_from_integers(base: dict) -> None:
    cfg = validate_config({**base, "program": 1272, "observation": 6, "background_observation": 7})
    assert (cfg.program, cfg.observation, cfg.background_observation) == ("01272", "006", "007")


def test_research_code_alias_nsclean(base: dict) -> None:
    cfg = validate_config({**base, "stage1": {"readnoise_correct": "nsclean"}})
    assert cfg.stage1.readnoise_correct == "pipeline"


def test_step_overrides_checked_against_jwst(base: dict) -> None:
    cfg = validate_config({**base, "stage1": {"steps": {"jump": {"rejection_threshold": 5.0}}}})
    assert cfg.stage1.steps["jump"]["rejection_threshold"] == 5.0
    with pytest.raises(ConfigError, match=r"stage1\.steps.*'jumpp' is not a step"):
        validate_config({**base, "stage1": {"steps": {"jumpp": {"rejection_threshold": 5.0}}}})
    with pytest.raises(ConfigError, match="not a parameter of the jump step"):
        validate_config({**base, "stage1": {"steps": {"jump": {"rejection_treshold": 5.0}}}})


BAD = [
    ({"program": "1234"}, "program", "five-digit"),
    ({"program": "012345"}, "program", "five-digit"),
    ({"observation": "1"}, "observation", "three-digit"),
    ({"observation": ""}, "observation", "three-digit"),
    ({"instrument": "nircam"}, "instrument", "not allowed"),
    ({"mode": "imaging"}, "mode", "not allowed"),
    ({"colour": "red"}, "colour", "unknown key"),
    ({"data_dir": "/nonexistent/jwstspec"}, "data_dir", "does not exist"),
    ({"tso": "maybe"}, "tso", "boolean"),
    ({"stage1": {"bkg_subtract": "asn"}}, "stage1.bkg_subtract", "needs background_observation"),
    ({"stage1": {"bkg_subtract": "sky"}}, "stage1.bkg_subtract", "not allowed"),
    ({"stage1": {"readnoise_window": 1}}, "stage1.readnoise_window", "greater than or equal"),
    ({"instrument": "miri", "stage1": {"readnoise_correct": "moving_median"}}, "stage1.readnoise_correct", "MIRI"),
    ({"mode": "slitless"}, "mode", "no slitless"),
    ({"tso": True}, "tso", "not time series"),
    ({"mode": "slit", "stage2": {"cube_align": "ifu"}}, "stage2.cube_align", "only IFU"),
    ({"mode": "slit", "extract": {"method": "box"}}, "extract.method", "IFU cubes"),
    ({"extract": {"method": "annulus"}}, "extract.annulus_radii", "needs annulus_radii"),
    ({"extract": {"method": "aperture", "fit_background": True}}, "extract.fit_background", "needs method 'psf'"),
    ({"mode": "slit", "extract": {"save_cleaned": True}}, "extract.save_cleaned", "IFU cubes only"),
    ({"extract": {"radius": "three"}}, "extract.radius", "not a length"),
    ({"extract": {"radius": -1}}, "extract.radius", "positive"),
    ({"extract": {"bkg_annulus": ["12px", "10px"]}}, "extract.bkg_annulus", "smaller than outer"),
    ({"extract": {"center": [1, 2], "center_radec": [3, 4]}}, "extract.center_radec", "not both"),
    ({"extract": {"window": 0}}, "extract.window", "greater than or equal"),
    ({"extract": {"stage": "stage4"}}, "extract.stage", "not allowed"),
    ({"combine": {"mask_ranges": [[5.0, 4.0]]}}, "combine.mask_ranges", "lower bound"),
    ({"combine": {"defringe": True}}, "combine.defringe", "MIRI MRS only"),
    ({"stage2": {"residual_fringe": True}}, "stage2.residual_fringe", "MIRI MRS only"),
    ({"instrument": "miri", "stage2": {"residual_fringe": False, "steps": {"residual_fringe": {"skip": False}}}},
     "stage2.residual_fringe", "contradicts"),
    ({"crds": {"context": "latest"}}, "crds.context", "CRDS context"),
    ({"runtime": {"task_runner": "mpi"}}, "runtime.task_runner", "not allowed"),
    ({"runtime": {"force": ["stage9"]}}, "runtime.force", "not allowed"),
    ({"stages": []}, "stages", "no stage"),
    ({"stages": ["stage1", "stage1"]}, "stages", "twice"),
    ({"stage1": {"variant": "a/b"}}, "stage1.variant", "directory name"),
    ({"download": {"token_file": "/nonexistent/token"}}, "download.token_file", "not a file"),
]


@pytest.mark.parametrize(("update", "field", "reason"), BAD, ids=[b[1] + "-" + b[2][:12] for b in BAD])
def test_invalid_configs_name_field_and_reason(base: dict, update: dict, field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config({**base, **update})
    message = str(info.value)
    assert "\n" not in message
    assert info.value.field == field or info.value.field.startswith(field + "."), message
    assert reason.lower() in message.lower(), message


def test_template_is_valid_and_lists_every_option(tmp_path: Path) -> None:
    text = template(data_dir=str(tmp_path))
    cfg = validate_config(tomllib.loads(text))
    assert isinstance(cfg, PipelineConfig)
    for section in ("download", "crds", "stage1", "stage2", "stage3", "extract", "combine", "timeseries", "runtime"):
        assert f"[{section}]" in text
        for name in getattr(PipelineConfig, "model_fields")[section].annotation.model_fields:
            assert name in text, f"{section}.{name} missing from template"


def test_time_series_options_as_the_issue_spells_them(base: dict, tmp_path: Path) -> None:
    """``[tso] bins = 12`` (a table: TOML cannot hold it beside ``tso = true``) means tso = true and [timeseries] bins."""
    slitless = {**base, "instrument": "miri", "mode": "slitless"}
    path = tmp_path / "run.toml"
    import tomli_w

    path.write_text(tomli_w.dumps({**slitless, "tso": {"bins": 12, "baseline_integrations": [[1, 50], [151, 200]]}}))
    cfg = load_config(path)
    assert cfg.tso is True and cfg.timeseries.bins == 12 and cfg.timeseries.baseline_integrations == [(1, 50), (151, 200)]
    assert validate_config({**slitless, "tso": {"enabled": False}}).tso is False
    plain = validate_config({**slitless, "tso": True, "timeseries": {"bins": 12}})
    assert plain.timeseries.bins == 12 and validate_config({**slitless, "tso": True}).timeseries.bins == 20
    again = load_config(save_config(cfg, tmp_path / "saved.toml"))  # saved as tso = true + [timeseries]
    assert again == cfg
    for bad, field in (({"bins": 0}, "timeseries.bins"), ({"baseline_integrations": [[5, 2]]}, "timeseries.baseline_integrations"),
                       ({"wavelength_range": [12.0, 5.0]}, "timeseries.wavelength_range")):
        with pytest.raises(ConfigError) as info:
            validate_config({**slitless, "tso": True, "timeseries": bad})
        assert info.value.field.startswith(field), str(info.value)


def test_every_research_option_has_a_home() -> None:
    example = Path(__file__).parents[2] / "shared/reference/jwstspec-original/example_run_jwstspec.py"
    if not example.exists():
        pytest.skip("reference code not beside the checkout")
    import re

    names = set(re.findall(r"^([a-z_0-9]+)\s*=", example.read_text(), flags=re.M)) - {"params"}
    names -= {f"run_{s}" for s in ("stage0", "stage1", "stage2", "stage3", "extract", "combine")}
    missing = names - set(RESEARCH_CODE_NAMES)
    assert not missing, missing


def test_save_and_reload_roundtrip(base: dict, tmp_path: Path) -> None:
    cfg = validate_config({**base, "stage1": {"steps": {"jump": {"rejection_threshold": 5.0}}}, "extract": {"radius": 0.5}})
    path = save_config(cfg, tmp_path / "out" / "config.toml")
    again = load_config(path)
    assert again == cfg
    assert "rejection_threshold = 5.0" in config_to_toml(cfg)


def test_load_config_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("program = [")
    with pytest.raises(InputFileError, match="not valid TOML"):
        load_config(bad)


def test_relative_data_dir_resolved_against_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    f = tmp_path / "c.toml"
    f.write_text('program = "01234"\nobservation = "001"\ninstrument = "miri"\ndata_dir = "data"\n')
    assert load_config(f).data_dir == (tmp_path / "data").resolve()


@pytest.mark.parametrize(("value", "expected"), [(0.3, (0.3, "arcsec")), ("3px", (3.0, "px")), ("0.5", (0.5, "arcsec")), ("2 pix", (2.0, "px"))])
def test_parse_length(value, expected) -> None:
    assert parse_length(value) == expected


def test_json_schema_for_prefect_form() -> None:
    schema = PipelineConfig.model_json_schema()
    assert set(schema["required"]) == {"program", "observation", "instrument", "data_dir"}
    assert "description" in schema["properties"]["program"]


def test_step_table_is_kept_per_jwst_version_and_equals_jwst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Configurations are checked against a kept table of jwst's steps (no jwst import on a rerun)."""
    import json

    from jwstspec.config import jwst_pipeline_steps, pipeline_steps, steps_table_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    pipeline_steps.cache_clear()
    try:
        assert pipeline_steps("spec2") == jwst_pipeline_steps("spec2")  # written from jwst itself
        path = steps_table_path()
        assert path.parent == tmp_path / "jwstspec" and "jwst-" in path.name
        table = json.loads(path.read_text())
        assert set(table) == {"detector1", "spec2", "spec3", "tso3"}
        table["spec2"]["made_up_step"] = ["skip"]
        path.write_text(json.dumps(table))
        pipeline_steps.cache_clear()
        assert "made_up_step" in pipeline_steps("spec2")  # read from the table, not from jwst
        path.write_text("{not json")
        pipeline_steps.cache_clear()
        assert pipeline_steps("detector1") == jwst_pipeline_steps("detector1")  # unreadable: asked of jwst again
        assert "made_up_step" not in json.loads(path.read_text())["spec2"]
    finally:
        pipeline_steps.cache_clear()
