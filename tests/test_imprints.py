"""NIRSpec imprint (leakcal) exposures: Spec2 ``imprint`` members, never dithers (issue 13, item 3).

The rule is read from the headers (``IS_IMPRT``); jwst's own association
loader and ``Spec2Pipeline.load_as_level2_asn`` are the oracle for the
association.
"""

from __future__ import annotations

from pathlib import Path

from jwstspec.exposures import select_exposures
from jwstspec.stages.associations import write_spec2_asn
from tests.test_associations import _rate
from tests.test_exposures import make

IFU = {"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_IFU", "DETECTOR": "NRS1", "GRATING": "G395H", "FILTER": "F290LP"}


def test_imprint_exposures_are_never_dithers(tmp_path: Path) -> None:
    dithers = [make(tmp_path, f"jw01234003001_03101_0000{i}_nrs1_uncal.fits", PATT_NUM=i, EXPOSURE=str(i), **IFU)
               for i in (1, 2)]
    imprint = make(tmp_path, "jw01234003001_03103_00001_nrs1_uncal.fits", PATT_NUM=1, IS_IMPRT=True, **IFU)
    nrs2 = make(tmp_path, "jw01234003001_03101_00001_nrs2_uncal.fits", PATT_NUM=1, **{**IFU, "DETECTOR": "NRS2"})
    sel = select_exposures([*dithers, imprint, nrs2], instrument="NIRSPEC", mode="ifu")
    assert [e.path for e in sel.groups["g395h-f290lp_nrs1"]] == dithers  # the imprint is no dither
    assert imprint not in [e.path for e in sel.exposures]
    assert [e.path for e in sel.imprints["g395h-f290lp_nrs1"]] == [imprint]
    for exp in sel.groups["g395h-f290lp_nrs1"]:
        assert [e.path for e in sel.imprints_for(exp)] == [imprint]
    assert sel.imprints_for(sel.groups["g395h-f290lp_nrs2"][0]) == []  # another detector's imprint never applies


def test_an_imprint_without_science_is_skipped_with_the_reason(tmp_path: Path) -> None:
    sci = make(tmp_path, "jw01234003001_03101_00001_nrs1_uncal.fits", PATT_NUM=1, **IFU)
    lone = make(tmp_path, "jw01234003001_03103_00001_nrs2_uncal.fits", IS_IMPRT=True, **{**IFU, "DETECTOR": "NRS2"})
    sel = select_exposures([sci, lone], instrument="NIRSPEC", mode="ifu")
    assert [e.path for e in sel.exposures] == [sci] and not sel.imprints
    assert [(p, "IS_IMPRT" in why) for p, why in sel.skipped] == [(lone, True)]


def test_spec2_asn_carries_imprints_as_imprint_members(tmp_path: Path) -> None:
    from jwst.associations import load_asn
    from jwst.pipeline import Spec2Pipeline

    sci = _rate(tmp_path, "jw01234003001_03101_00001_nrs1_rate.fits")
    bkg = _rate(tmp_path / "bkg", "jw01234004001_03101_00001_nrs1_rate.fits", "background")
    imp = _rate(tmp_path, "jw01234003001_03103_00001_nrs1_rate.fits")
    asn = write_spec2_asn(sci, [bkg], tmp_path / "spec2_asn.json", imprints=[imp])
    with open(asn) as fh:
        product = load_asn(fh)["products"][0]
    assert [m["exptype"] for m in product["members"]] == ["science", "background", "imprint"]
    level2 = Spec2Pipeline().load_as_level2_asn(str(asn))
    members = level2["products"][0]["members"]
    assert [m["exptype"] for m in members] == ["science", "background", "imprint"]
    assert sum(m["exptype"] == "science" for m in members) == 1


def test_stage1_takes_imprints_once_and_they_stay_out_of_the_science(tmp_path: Path) -> None:
    """``RunPlan.all_exposures`` (what the flow's Stage 1 runs Detector1 on) holds the imprint; the dithers do not."""
    from jwstspec.plan import RunPlan

    dithers = [make(tmp_path, f"jw01234003001_03101_0000{i}_nrs1_uncal.fits", PATT_NUM=i, EXPOSURE=str(i), **IFU)
               for i in (1, 2)]
    imprint = make(tmp_path, "jw01234003001_03103_00001_nrs1_uncal.fits", PATT_NUM=1, IS_IMPRT=True, **IFU)
    bkg = make(tmp_path, "jw01234004001_03101_00001_nrs1_uncal.fits", PATT_NUM=1, OBSERVTN="004", **IFU)
    sel = select_exposures([*dithers, imprint], instrument="NIRSPEC", mode="ifu")
    background = select_exposures([bkg], instrument="NIRSPEC", mode="ifu").groups
    plan = RunPlan(sel, background, [])
    assert [e.path for e in plan.all_exposures] == [*dithers, imprint, bkg]
    assert [e.path for e in plan.science.exposures] == dithers
