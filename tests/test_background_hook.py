"""The Spec2 bkg_subtract post-hook that adds the backgrounds' variance (``stages/background_hook.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from stdatamodels.jwst.datamodels import ImageModel

from jwstspec.stages.background_hook import BackgroundVarianceHook, spec2_background_steps


def _asn(tmp_path: Path, members: list[tuple[str, str]]) -> Path:
    path = tmp_path / "jw01234001001_03101_00001_mirifushort_spec2_asn.json"
    path.write_text(json.dumps({"asn_type": "spec2", "products": [
        {"name": "x", "members": [{"expname": n, "exptype": t} for n, t in members]}]}))
    return path


def test_steps_only_for_an_association_with_background_members(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with_bkg = _asn(tmp_path, [("sci_rate.fits", "science"), ("bkg_rate.fits", "background"),
                               ("sub/../other_rate.fits", "background")])
    (hook,) = spec2_background_steps(with_bkg)["bkg_subtract"]["post_hooks"]
    assert isinstance(hook, BackgroundVarianceHook)
    assert hook.backgrounds == [str((tmp_path / n).resolve()) for n in ("bkg_rate.fits", "other_rate.fits")]  # absolute
    assert spec2_background_steps(_asn(tmp_path, [("sci_rate.fits", "science"), ("imp_rate.fits", "imprint")])) == {}
    assert spec2_background_steps(tmp_path / "sci_rate.fits") == {}  # a single exposure
    assert spec2_background_steps(tmp_path / "missing_spec2_asn.json") == {}


def _rate(path: Path, sigma: float) -> Path:
    shape = (8, 8)
    m = ImageModel(data=np.zeros(shape, np.float32), err=np.full(shape, sigma, np.float32),
                   var_poisson=np.full(shape, 0.25 * sigma**2, np.float32),
                   var_rnoise=np.full(shape, 0.75 * sigma**2, np.float32))
    m.save(path)
    return path


def test_hook_adds_the_variance_only_after_a_subtraction(tmp_path: Path) -> None:
    bkgs = [str(_rate(tmp_path / f"b{i}_rate.fits", 2.0)) for i in range(2)]
    hook = BackgroundVarianceHook(backgrounds=bkgs)
    science = ImageModel(tmp_path / "b0_rate.fits")
    science.meta.cal_step.bkg_subtract = "COMPLETE"
    out = hook.process(science)
    np.testing.assert_allclose(out.err, np.sqrt(4.0 + 4.0 / 2))  # the science's plus the mean of two's
    np.testing.assert_allclose(out.var_poisson, 0.25 * 6.0)
    np.testing.assert_allclose(out.var_rnoise, 0.75 * 6.0)
    skipped = ImageModel(tmp_path / "b1_rate.fits")
    skipped.meta.cal_step.bkg_subtract = "SKIPPED"  # jwst skips on a grating-tilt mismatch: nothing subtracted
    np.testing.assert_allclose(hook.process(skipped).err, 2.0)
