"""Pixel and nod background subtraction, tilt check, association members."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import InputFileError
from jwstspec.stages.associations import write_spec2_asn, write_spec3_asn
from jwstspec.stages.background import nod_subtract, pair_nods, subtract_pixel_background, tilts_match
from jwstspec.synthetic import nirspec as syn


def _rate(tmp: Path, name: str, kind: str, nod: int, seed: int, tilt: float = 0.3, subarray: str = "ALLSLITS") -> Path:
    from stdatamodels.jwst.datamodels import IFUImageModel

    rng = np.random.default_rng(seed)
    data = syn.expected_rate(kind) + rng.normal(0, 0.02, (syn.NY, syn.NX))
    if kind == "science" and nod == 2:  # the source sits in another slice at the second nod
        data = syn.expected_rate("background") + np.roll(syn.expected_rate("science") - syn.expected_rate("background"), 40, axis=0) + rng.normal(0, 0.02, data.shape)
    m = IFUImageModel(data=data.astype(np.float32), err=np.full(data.shape, 0.02, np.float32), dq=np.zeros(data.shape, np.uint32))
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    m.meta.instrument.gwa_xtilt, m.meta.instrument.gwa_ytilt = tilt, 0.13
    m.meta.exposure.type, m.meta.exposure.readpatt = "NRS_IFU", "NRSRAPID"
    m.meta.subarray.name = subarray
    m.meta.subarray.xstart, m.meta.subarray.ystart, m.meta.subarray.xsize, m.meta.subarray.ysize = 1, 897, syn.NX, syn.NY
    m.meta.dither.position_number = nod
    path = tmp / f"{name}_rate.fits"
    m.save(path)
    return path


def test_pixel_background_recovers_source(tmp_path: Path) -> None:
    from stdatamodels.jwst import datamodels

    sci = _rate(tmp_path, "s1", "science", 1, 1)
    bkgs = [_rate(tmp_path, f"b{i}", "background", 1, 10 + i) for i in range(2)]
    before = sci.read_bytes()
    out = subtract_pixel_background(sci, bkgs, tmp_path / "s1_rate_bkgsub.fits")
    assert sci.read_bytes() == before
    src = syn.expected_rate("science") - syn.expected_rate("background")
    with datamodels.open(str(out)) as m:
        resid = np.asarray(m.data) - src
        sky = syn.footprint() & (src < 1e-3)
        assert abs(resid[sky].mean()) < resid[sky].std() / np.sqrt(sky.sum()) * 5 + 1e-3
        sel = src > 1
        assert abs(np.asarray(m.data)[sel].sum() / src[sel].sum() - 1) < 1e-3


def test_nod_subtraction_pairs_any_number_of_nods(tmp_path: Path) -> None:
    from stdatamodels.jwst import datamodels

    nods = [_rate(tmp_path, f"n{i}", "science", i, 20 + i) for i in (1, 2)]
    pairs = pair_nods(nods)
    assert pairs[nods[0]] == [nods[1]] and pairs[nods[1]] == [nods[0]]
    outs = nod_subtract(nods, tmp_path)
    assert [p.name for p in outs] == ["n1_rate_bkgsub.fits", "n2_rate_bkgsub.fits"]
    src = syn.expected_rate("science") - syn.expected_rate("background")
    with datamodels.open(str(outs[0])) as m:
        sel = src > 1
        assert abs(np.asarray(m.data)[sel].sum() / src[sel].sum() - 1) < 0.01  # positive source kept
    with pytest.raises(InputFileError, match="two or more nod positions"):
        pair_nods([nods[0]])


def test_tilt_check_and_mismatched_subarray(tmp_path: Path) -> None:
    a = _rate(tmp_path, "a", "science", 1, 1)
    b = _rate(tmp_path, "b", "background", 1, 2)
    c = _rate(tmp_path, "c", "background", 1, 3, tilt=0.31)
    assert tilts_match(a, b)
    assert not tilts_match(a, c)
    d = _rate(tmp_path, "d", "background", 1, 4, subarray="SUB512")
    with pytest.raises(InputFileError, match="SUBARRAY"):
        subtract_pixel_background(a, [d], tmp_path / "x.fits")
    assert not (tmp_path / "x.fits").exists()


def test_associations_load_with_jwst(tmp_path: Path) -> None:
    from jwst.associations import load_asn

    sci = _rate(tmp_path, "jw01234003001_03101_00001_nrs1", "science", 1, 1)
    bkg_dir = tmp_path / "bkg"
    bkg_dir.mkdir()
    bkg = _rate(bkg_dir, "jw01234004001_03101_00001_nrs1", "background", 1, 2)
    asn = write_spec2_asn(sci, [bkg], tmp_path / "x_spec2_asn.json")
    with open(asn) as fh:
        data = load_asn(fh)
    members = data["products"][0]["members"]
    assert [m["exptype"] for m in members] == ["science", "background"]
    assert members[0]["expname"] == sci.name and Path(members[1]["expname"]).is_absolute()
    assert json.loads(asn.read_text())["asn_type"] == "spec2"
    asn3 = write_spec3_asn([sci], tmp_path / "l3" / "y_spec3_asn.json", product_name="jw01234-o003_t001_nirspec_g395h-f290lp")
    with open(asn3) as fh:
        assert load_asn(fh)["products"][0]["name"] == "jw01234-o003_t001_nirspec_g395h-f290lp"
    with pytest.raises(InputFileError, match="not found"):
        write_spec2_asn(tmp_path / "missing_rate.fits", [], tmp_path / "z.json")
