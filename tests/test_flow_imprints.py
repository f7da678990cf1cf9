"""The flow's rule for NIRSpec imprint (leakcal) exposures (issue 13, item 3): never dithers.

A small NIRSpec IFU program (ALLSLITS uncal ramps of
:mod:`jwstspec.synthetic.nirspec`: two science dithers, one imprint
exposure with ``IS_IMPRT``, one background observation) runs through the
real flow and the real Detector1 up to the end of Stage 1, where the flow
writes each exposure's level-2 association.  jwst's own association
loader reads those back: the imprint went through Detector1, is an
``imprint`` member of every science association, and is never a science
member nor an exposure of its own in Stage 2.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits

pytestmark = pytest.mark.slow

SCIENCE = [f"jw01234003001_03101_0000{k}_nrs1" for k in (1, 2)]
IMPRINT = "jw01234003001_03103_00001_nrs1"
BACKGROUND = "jw01234004001_03101_00001_nrs1"


@pytest.fixture(scope="module")
def program(crds_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from flows.pipeline import run_pipeline
    from flows.runtime import configure_environment, embedded_prefect
    from jwstspec.config import validate_config
    from jwstspec.synthetic.nirspec import make_nirspec_ifu_uncal

    configure_environment()
    data = tmp_path_factory.mktemp("imprints") / "data"
    uncal = {obs: data / "01234" / f"Obs{obs}" / "uncal" for obs in ("003", "004")}
    for d in uncal.values():
        d.mkdir(parents=True)
    for k, name in enumerate(SCIENCE, start=1):
        make_nirspec_ifu_uncal(uncal["003"] / f"{name}_uncal.fits", kind="science", nod=k, observation="003")
    # the leakcal: no source, taken at dither position 1 of the science observation
    imprint = make_nirspec_ifu_uncal(uncal["003"] / f"{IMPRINT}_uncal.fits", kind="background", nod=1, observation="003")
    with fits.open(imprint, mode="update") as hdul:
        hdul[0].header["IS_IMPRT"] = True
        hdul[0].header["BKGDTARG"] = False
    make_nirspec_ifu_uncal(uncal["004"] / f"{BACKGROUND}_uncal.fits", kind="background", nod=1, observation="004")
    base = {"program": "01234", "observation": "003", "background_observation": "004", "instrument": "nirspec",
            "mode": "ifu", "data_dir": str(data), "stages": ["stage1"], "download": {"enabled": False},
            "crds": {"path": str(crds_cache), "server_url": "https://jwst-serverless-mode.stsci.edu",
                     "context": "jwst_0000.pmap"},
            "runtime": {"task_runner": "thread", "workers": 1}}
    runs = {}
    with embedded_prefect():
        for method in ("asn", "none", "pixel"):
            config = validate_config({**base, "stage1": {"bkg_subtract": method, "readnoise_correct": "none"}})
            asns = data / "01234" / "Obs003" / "stage1"
            for old in asns.glob("*_spec2_asn.json"):
                old.unlink()
            result = run_pipeline(config)
            runs[method] = {"result": result, "asns": {p.name: _members(p) for p in asns.glob("*_spec2_asn.json")},
                            "level2": {p.name: _level2_types(p) for p in asns.glob("*_spec2_asn.json")}}
    return runs


def _members(asn: Path) -> list[tuple[str, str]]:
    """(file name, exptype) of each member, as jwst's association loader reads them."""
    from jwst.associations import load_asn

    with open(asn) as fh:
        product = load_asn(fh)["products"][0]
    return [(Path(m["expname"]).name, m["exptype"]) for m in product["members"]]


def _level2_types(asn: Path) -> Counter[str]:
    """What calwebb_spec2 itself makes of the association: member types."""
    from jwst.pipeline import Spec2Pipeline

    level2 = Spec2Pipeline().load_as_level2_asn(str(asn))
    return Counter(m["exptype"] for m in level2["products"][0]["members"])


def test_imprint_goes_through_stage1_but_is_no_dither(program: dict[str, Any]) -> None:
    result = program["asn"]["result"]
    assert result["status"] == "completed"
    ran = Counter(t["task"] for t in result["tasks"] if t["stage"] == "stage1")
    assert ran[IMPRINT] >= 1  # Detector1 of the imprint (its label in the run's records)
    assert sorted(program["asn"]["asns"]) == sorted(f"{n}_spec2_asn.json" for n in SCIENCE)  # no asn of its own


@pytest.mark.parametrize("method", ["asn", "none"])
def test_every_science_association_holds_the_imprint_as_imprint_member(program: dict[str, Any], method: str) -> None:
    asns = program[method]["asns"]
    assert sorted(asns) == sorted(f"{n}_spec2_asn.json" for n in SCIENCE)
    for name in SCIENCE:
        members = asns[f"{name}_spec2_asn.json"]
        science = [m for m, t in members if t == "science"]
        assert len(science) == 1 and science[0].startswith(name)
        assert [m.startswith(IMPRINT) for m, t in members if t == "imprint"] == [True]
        assert [m.startswith(BACKGROUND) for m, t in members if t == "background"] == ([True] if method == "asn" else [])
        # what calwebb_spec2 itself makes of the association: one science exposure, the imprint apart
        types = program[method]["level2"][f"{name}_spec2_asn.json"]
        assert types["science"] == 1 and types["imprint"] == 1


def test_pixel_background_says_the_imprint_cancels(program: dict[str, Any]) -> None:
    result = program["pixel"]["result"]
    assert result["status"] == "completed"
    assert not program["pixel"]["asns"]  # the bkg-subtracted rates go to Spec2 directly
    assert any("imprint exposures not subtracted" in n for n in result["notes"])
    summary = Path(result["summary"]).read_text()
    assert "imprint exposures not subtracted" in summary
