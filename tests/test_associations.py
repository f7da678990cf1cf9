"""Level-2 and level-3 association files load with jwst and name the right members."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jwstspec.errors import InputFileError
from jwstspec.stages.associations import write_spec2_asn, write_spec3_asn, write_tso3_asn
from jwstspec.synthetic import nirspec as syn


def _rate(directory: Path, name: str, kind: str = "science", nints: int = 1) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    r = syn.make_nirspec_rate(directory / name, kind=kind, nints=nints, shape=(32, 64), stripe_sigma=0.0)
    assert r.path is not None
    return r.path


def test_spec2_asn_science_and_backgrounds(tmp_path: Path) -> None:
    from jwst.associations import load_asn
    from jwst.pipeline import Spec2Pipeline

    sci = _rate(tmp_path, "jw01234003001_03101_00001_nrs1_rate.fits")
    bkgs = [_rate(tmp_path / "bkg", f"jw01234004001_03101_0000{i}_nrs1_rate.fits", "background") for i in (1, 2)]
    asn = write_spec2_asn(sci, bkgs, tmp_path / "jw01234003001_03101_00001_nrs1_spec2_asn.json")
    with open(asn) as fh:
        data = load_asn(fh)
    assert data["asn_type"] == "spec2" and data["program"] == "01234"
    product = data["products"][0]
    assert product["name"] == "jw01234003001_03101_00001_nrs1"
    assert [m["exptype"] for m in product["members"]] == ["science", "background", "background"]
    assert product["members"][0]["expname"] == sci.name  # beside the asn: by name
    assert [Path(m["expname"]) for m in product["members"][1:]] == [b.resolve() for b in bkgs]
    level2 = Spec2Pipeline().load_as_level2_asn(str(asn))
    assert [m["exptype"] for m in level2["products"][0]["members"]] == ["science", "background", "background"]
    named = write_spec2_asn(sci, [], tmp_path / "other_asn.json", product_name="custom")
    assert json.loads(named.read_text())["products"][0]["name"] == "custom"


def test_spec3_and_tso3_asn(tmp_path: Path) -> None:
    from jwst.associations import load_asn
    from jwst.pipeline import Spec3Pipeline

    l3 = tmp_path / "l3"
    cals = [_rate(l3, f"jw01234003001_03101_0000{i}_nrs1_cal.fits") for i in (1, 2)]
    bkg = _rate(tmp_path / "b", "jw01234004001_03101_00001_nrs1_x1d.fits", "background")
    name = "jw01234-o003_t001_nirspec_g395h-f290lp"
    asn = write_spec3_asn(cals, l3 / "spec3_asn.json", product_name=name, backgrounds=[bkg])
    with open(asn) as fh:
        data = load_asn(fh)
    assert data["asn_type"] == "spec3" and data["program"] == "01234"
    members = data["products"][0]["members"]
    assert data["products"][0]["name"] == name
    assert [(m["expname"], m["exptype"]) for m in members] == [(c.name, "science") for c in cals] + [(str(bkg.resolve()), "background")]
    assert Spec3Pipeline().load_as_level3_asn(str(asn))["products"][0]["name"] == name

    ints = [_rate(l3, f"jw01234005001_04101_0000{i}_nrs1_calints.fits", nints=2) for i in (1, 2)]
    tso = write_tso3_asn(ints, l3 / "tso3_asn.json", product_name="jw01234-o005_t001_nirspec_clear-prism")
    with open(tso) as fh:
        data = load_asn(fh)
    assert data["asn_type"] == "tso3"
    assert [m["expname"] for m in data["products"][0]["members"]] == [p.name for p in ints]


def test_missing_member_is_refused_nothing_written(tmp_path: Path) -> None:
    sci = _rate(tmp_path, "a_rate.fits")
    with pytest.raises(InputFileError, match="missing_rate.fits"):
        write_spec2_asn(sci, [tmp_path / "missing_rate.fits"], tmp_path / "z_asn.json")
    with pytest.raises(InputFileError, match="not found"):
        write_spec3_asn([tmp_path / "nope_cal.fits"], tmp_path / "y_asn.json", product_name="p")
    assert not list(tmp_path.glob("*asn.json"))
