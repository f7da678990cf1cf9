"""What a run has to do (:mod:`jwstspec.plan`), from small synthetic headers (no pipeline, no Prefect)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits

from jwstspec.config import validate_config
from jwstspec.errors import ConfigError, InputFileError
from jwstspec.layout import Layout
from jwstspec.plan import RunPlan, plan_run, product_band

NIRSPEC = dict(TELESCOP="JWST", INSTRUME="NIRSPEC", DETECTOR="NRS1", EXP_TYPE="NRS_IFU", PROGRAM="01234", VISIT="001",
               GRATING="G395H", FILTER="F290LP", SUBARRAY="FULL", READPATT="NRSRAPID")


def _header_file(path: Path, **keys: Any) -> Path:
    header = fits.Header()
    for k, v in keys.items():
        if v is not None:
            header[k] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(header=header).writeto(path)
    return path


def _uncal(layout: Layout, obs: str, exposure: int, detector: str = "nrs1", **keys: Any) -> Path:
    name = f"jw01234{obs}001_03101_{exposure:05d}_{detector}_uncal.fits"
    return _header_file(layout.uncal_dir(obs) / name, **{**NIRSPEC, "OBSERVTN": obs, "EXPOSURE": str(exposure),
                                                          "PATT_NUM": exposure, "DETECTOR": detector.upper(), **keys})


def _config(tmp: Path, **extra: Any) -> Any:
    return validate_config({"program": "01234", "observation": "001", "instrument": "nirspec", "data_dir": str(tmp), **extra})


def _names(exposures: list[Any]) -> list[str]:
    return [e.path.name for e in exposures]


def test_science_and_dedicated_background(tmp_path: Path) -> None:
    cfg = _config(tmp_path, background_observation="002", stage1={"bkg_subtract": "pixel"})
    layout = Layout.from_config(cfg)
    sci = [_uncal(layout, "001", i) for i in (2, 1)] + [_uncal(layout, "001", 1, "nrs2")]
    ta = _uncal(layout, "001", 3, EXP_TYPE="NRS_WATA")
    _header_file(layout.uncal_dir("001") / ".partial_uncal.fits", **NIRSPEC)  # an interrupted download: ignored
    bkg = [_uncal(layout, "002", 1), _uncal(layout, "002", 1, "nrs2")]

    plan = plan_run(cfg, layout)
    assert isinstance(plan, RunPlan) and not plan.is_empty
    assert list(plan.groups) == ["g395h-f290lp_nrs1", "g395h-f290lp_nrs2"]
    assert _names(plan.groups["g395h-f290lp_nrs1"]) == [sci[1].name, sci[0].name]  # dither order
    assert {k: _names(v) for k, v in plan.background.items()} == {"g395h-f290lp_nrs1": [bkg[0].name],
                                                                  "g395h-f290lp_nrs2": [bkg[1].name]}
    assert [(p.name, "target-acquisition" in why) for p, why in plan.skipped] == [(ta.name, True)]
    assert sorted(_names(plan.all_exposures)) == sorted(p.name for p in sci + bkg)


def test_nod_subtraction_uses_the_science_groups_once(tmp_path: Path) -> None:
    cfg = _config(tmp_path, background_observation="001", stage1={"bkg_subtract": "pixel"})
    layout = Layout.from_config(cfg)
    nods = [_uncal(layout, "001", i) for i in (1, 2)]
    plan = plan_run(cfg, layout)
    assert {k: _names(v) for k, v in plan.background.items()} == {"g395h-f290lp_nrs1": [p.name for p in nods]}
    assert _names(plan.all_exposures) == [p.name for p in nods]  # each exposure once


def test_no_background_when_subtraction_is_off(tmp_path: Path) -> None:
    cfg = _config(tmp_path, background_observation="002", stage1={"bkg_subtract": "none"})
    layout = Layout.from_config(cfg)
    _uncal(layout, "001", 1)
    _uncal(layout, "002", 1, SUBARRAY="SUBS200A1")  # would be incompatible: never read
    plan = plan_run(cfg, layout)
    assert plan.background == {} and len(plan.all_exposures) == 1


def test_empty_observation_is_an_empty_plan(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    layout = Layout.from_config(cfg)
    assert plan_run(cfg, layout).is_empty  # no uncal directory at all
    _uncal(layout, "001", 1, EXP_TYPE="NRS_IMAGE")
    plan = plan_run(cfg, layout)
    assert plan.is_empty and plan.all_exposures == [] and len(plan.skipped) == 1


def test_missing_background_group_names_the_option(tmp_path: Path) -> None:
    cfg = _config(tmp_path, background_observation="002", stage1={"bkg_subtract": "pixel"})
    layout = Layout.from_config(cfg)
    _uncal(layout, "001", 1)
    _uncal(layout, "001", 1, "nrs2")
    _uncal(layout, "002", 1)
    with pytest.raises(ConfigError, match="background_observation.*g395h-f290lp_nrs2"):
        plan_run(cfg, layout)


@pytest.mark.parametrize(("science", "background", "match"), [
    ({}, {"SUBARRAY": "SUBS200A1"}, "subarray"),
    ({"PROGRAM": "04321"}, {}, "PROGRAM is 04321"),
    ({"INSTRUME": "MIRI"}, {}, "INSTRUME is MIRI"),
])
def test_files_that_do_not_belong_are_errors_naming_the_file(tmp_path: Path, science: dict[str, Any],
                                                             background: dict[str, Any], match: str) -> None:
    cfg = _config(tmp_path, background_observation="002", stage1={"bkg_subtract": "pixel"})
    layout = Layout.from_config(cfg)
    _uncal(layout, "001", 1, **science)
    _uncal(layout, "002", 1, **background)
    with pytest.raises(InputFileError, match=match):
        plan_run(cfg, layout)


def test_product_band_from_headers(tmp_path: Path) -> None:
    mrs = dict(TELESCOP="JWST", INSTRUME="MIRI", EXP_TYPE="MIR_MRS")
    x1d = _header_file(tmp_path / "jw01234001001_03101_00001_mirifushort_x1d.fits", **mrs, CHANNEL="12", BAND="SHORT")
    cube = _header_file(tmp_path / "jw01234-o001_t001_miri_ch2-medium_s3d.fits", **mrs, CHANNEL="12", BAND="MULTIPLE")
    lrs = _header_file(tmp_path / "jw01234001001_lrs_x1d.fits", TELESCOP="JWST", INSTRUME="MIRI", EXP_TYPE="MIR_LRS-FIXEDSLIT",
                       FILTER="P750L")
    nrs = {k: v for k, v in NIRSPEC.items() if k != "DETECTOR"}
    stage2 = _header_file(tmp_path / "jw01234001001_03101_00001_nrs2_s3d.fits", **nrs, DETECTOR="NRS2")
    stage3 = _header_file(tmp_path / "jw01234-o001_t001_nirspec_g395h-f290lp_s3d.fits", **nrs, DETECTOR="MULTIPLE")
    stage3_one = _header_file(tmp_path / "jw01234-o001_t001_nirspec_g395h-f290lp_nrs1_s3d.fits", **nrs, DETECTOR="NRS1")
    assert product_band(x1d) == "ch12-short"
    assert product_band(cube) == "ch2-medium"  # a cube per channel/band: the file name says which
    assert product_band(lrs) == "p750l"
    assert product_band(stage2) == "g395h-f290lp_nrs2"
    assert product_band(stage3) == "g395h-f290lp" and product_band(stage3_one) == "g395h-f290lp"


@pytest.mark.slow  # a real jwst pipeline/step: not in make test-fast
def test_exposures_jwst_finds_no_data_on_leave_the_plan_with_the_reason(tmp_path: Path, crds_cache: Path) -> None:
    """G140M IFU: jwst's assign_wcs rule puts no slice on NRS2, so the NRS2 science and background exposures go;
    NRS1 stays (the flow's detector rule: jwst decides, the plan records it)."""
    from jwstspec.plan import without_exposures
    from jwstspec.stages.detector_rule import no_data_reason

    cfg = _config(tmp_path, background_observation="002", stage1={"bkg_subtract": "pixel"})
    layout = Layout.from_config(cfg)
    g140m = {"GRATING": "G140M", "FILTER": "F100LP", "DATE-OBS": "2024-01-01", "TIME-OBS": "00:00:00"}  # CRDS matches on the date
    sci = [_uncal(layout, "001", 1, **g140m), _uncal(layout, "001", 1, "nrs2", **g140m)]
    bkg = [_uncal(layout, "002", 1, **g140m), _uncal(layout, "002", 1, "nrs2", **g140m)]
    plan = plan_run(cfg, layout)
    reasons = {e.path: no_data_reason(e.path) for e in plan.all_exposures}
    assert {p.name: bool(r) for p, r in reasons.items()} == {sci[0].name: False, sci[1].name: True,
                                                            bkg[0].name: False, bkg[1].name: True}
    kept = without_exposures(plan, {p: r for p, r in reasons.items() if r})
    assert list(kept.groups) == ["g140m-f100lp_nrs1"] and list(kept.background) == ["g140m-f100lp_nrs1"]
    assert sorted(_names(kept.all_exposures)) == sorted([sci[0].name, bkg[0].name])
    assert {p.name for p, _ in kept.skipped} == {sci[1].name, bkg[1].name}
    assert all(why == "no data on detector NRS2: No IFU slices fall on detector NRS2 (jwst assign_wcs)"
               for _, why in kept.skipped)
    assert without_exposures(plan, {}) is plan
