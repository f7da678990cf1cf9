"""Stage functions offline: Tso3 on the MIRI LRS file shipped in jwst, atomic publication, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import InputFileError, StageError
from jwstspec.stages.associations import write_tso3_asn
from jwstspec.stages.pipelines import merge_steps, run_detector1, run_tso3, spec2_steps
from jwstspec.synthetic.miri_lrs import shipped_tso_file


@pytest.mark.slow
def test_tso3_on_the_shipped_miri_lrs_file(crds_cache: Path, tmp_path: Path) -> None:
    from stdatamodels.jwst import datamodels

    member = tmp_path / "jw00623026001_02101_00001_mirimage_calints.fits"
    shutil.copy(shipped_tso_file(), member)
    asn = write_tso3_asn([member], tmp_path / "tso3_asn.json", product_name="jw00623-o026_t001_miri_p750l-slitlessprism")
    out = tmp_path / "stage3"
    products = run_tso3(asn, out, log_file=tmp_path / "tso3.log")
    names = sorted(p.name for p in products)
    assert any(n.endswith("_x1dints.fits") for n in names), names
    assert any(n.endswith("_whtlt.ecsv") for n in names), names
    assert not any(p.name.startswith(".tmp-") for p in out.iterdir())  # staging directory cleaned
    x1d = next(p for p in products if p.name.endswith("_x1dints.fits"))
    with datamodels.open(str(x1d)) as m:
        flux = np.concatenate([np.asarray(s.spec_table["FLUX"]) for s in m.spec])
        assert np.isfinite(flux).any()


def test_missing_input_and_failed_step_are_clear(crds_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        run_detector1(tmp_path / "missing_uncal.fits", tmp_path)
    junk = tmp_path / "junk_uncal.fits"
    junk.write_bytes(b"SIMPLE  = T" + b" " * 2869)
    with pytest.raises(StageError) as info:
        run_detector1(junk, tmp_path / "out", log_file=tmp_path / "j.log")
    assert "detector1 of junk_uncal.fits failed" in str(info.value) and "\n" not in str(info.value)
    assert not any((tmp_path / "out").glob("*.fits"))  # nothing half-written under a product name


def test_step_settings_merge() -> None:
    assert spec2_steps("ifu", "sky", "miri") == {"cube_build": {"output_type": "multi"}, "extract_1d": {"skip": True},
                                                 "residual_fringe": {"skip": False}}
    assert spec2_steps("ifu", "sky", "miri", residual_fringe=False)["residual_fringe"] == {"skip": True}
    assert "residual_fringe" not in spec2_steps("slit", "sky", "miri")  # jwst skips it itself (MIRI MRS only)
    assert spec2_steps("ifu", "ifu", "nirspec") == {"cube_build": {"coord_system": "ifualign"}}
    merged = merge_steps({"jump": {"rejection_threshold": 4.0, "skip": False}}, {"jump": {"rejection_threshold": 5.0}})
    assert merged == {"jump": {"rejection_threshold": 5.0, "skip": False}}


@pytest.mark.parametrize("suffix", ["ratecorr", "rateintscorr", "rate_bkgsub", "ratecorr_bkgsub", "rate"])
def test_spec2_products_of_our_stage1_products_keep_jwsts_names(suffix: str, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """jwst names the products of a plain rate file ``<exposure>_cal.fits``; ours (1/f, background) must get the same."""
    from jwst.pipeline import Spec2Pipeline

    import jwstspec.stages.pipelines as pipelines

    root = "jw01234003001_03101_00001_nrs1"
    jwst = Spec2Pipeline()
    expected = jwst.make_output_path(basepath=jwst.load_as_level2_asn(f"{root}_rate.fits")["products"][0]["name"], suffix="cal")
    name = f"{root}_{suffix}.fits"
    given = pipelines.spec2_product_root(name)
    assert Spec2Pipeline(output_file=given).make_output_path(basepath=given, suffix="cal") == expected == f"{root}_cal.fits"
    if suffix != "rate":  # what jwst alone makes of our names: the suffix becomes part of the product name
        default = jwst.load_as_level2_asn(name)["products"][0]["name"]
        assert jwst.make_output_path(basepath=default, suffix="cal") == f"{root}_{suffix}_cal.fits"
    # run_spec2 hands that name to the pipeline; an association names its own product
    seen: dict = {}
    monkeypatch.setattr(pipelines, "_run", lambda *args, **kwargs: seen.update(kwargs) or [])
    (tmp_path / name).write_bytes(b"x")
    pipelines.run_spec2(tmp_path / name, tmp_path)
    assert seen == {"output_file": root}
    seen.clear()
    pipelines.run_spec2(tmp_path / f"{root}_spec2_asn.json", tmp_path)
    assert seen == {}
