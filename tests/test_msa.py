"""MSA metadata files of NIRSpec MOS exposures: ingest with the exposures, staging beside the Stage 2 input.

The staging is checked against jwst itself: ``AssignWcsStep`` resolves
``MSAMETFL`` with ``Step.make_input_path`` against the directory of its
input, and that is where :func:`jwstspec.msa.stage_metadata` must put it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.errors import InputFileError
from jwstspec.fileio import TMP_PREFIX
from jwstspec.ingest import ingest_files
from jwstspec.msa import check_metadata_file, metadata_name, stage_metadata

MSA = "jw01234005001_01_msa.fits"


def _exposure(d: Path, n: int, msa: str | None = MSA, suffix: str = "uncal") -> Path:
    h = fits.Header({"TELESCOP": "JWST", "INSTRUME": "NIRSPEC", "PROGRAM": "01234", "OBSERVTN": "005",
                     "EXP_TYPE": "NRS_MSASPEC" if msa else "NRS_FIXEDSLIT", **({"MSAMETFL": msa} if msa else {})})
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"jw01234005001_03101_0000{n}_nrs1_{suffix}.fits"
    fits.HDUList([fits.PrimaryHDU(header=h), fits.ImageHDU(np.full((4, 50), n, ">i2"), name="SCI")]).writeto(path)
    return path


def _msa_file(d: Path, name: str = MSA, tables: tuple[str, ...] = ("SHUTTER_INFO", "SOURCE_INFO")) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    hdus = [fits.PrimaryHDU()]  # real metadata files need not carry TELESCOP
    hdus += [fits.BinTableHDU.from_columns([fits.Column("slitlet_id", "I", array=[1, 1, 1])], name=t) for t in tables]
    fits.HDUList(hdus).writeto(d / name)
    return d / name


def test_metadata_name_and_check(tmp_path: Path) -> None:
    assert metadata_name(_exposure(tmp_path, 1)) == MSA
    assert metadata_name(_exposure(tmp_path / "fs", 1, msa=None)) is None
    check_metadata_file(_msa_file(tmp_path / "ok"))
    with pytest.raises(InputFileError, match="not an MSA metadata file: no SOURCE_INFO extension"):
        check_metadata_file(_msa_file(tmp_path / "bad", tables=("SHUTTER_INFO",)))
    with pytest.raises(InputFileError, match=r"MSAMETFL is '../x_msa.fits', not a file name"):
        metadata_name(_exposure(tmp_path / "odd", 1, msa="../x_msa.fits"))


def test_ingest_brings_the_metadata_file_beside_its_exposures(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    exps = [_exposure(src / "raw", n) for n in (1, 2, 3)]
    msa = _msa_file(src / "aux")  # elsewhere in the given directory: found by name
    dest = tmp_path / "data"
    res = ingest_files([src], dest, program="01234", instrument="nirspec", suffixes=["uncal"],
                       destination=lambda obs, name: dest / f"Obs{obs}" / "uncal" / name)
    uncal = dest / "Obs005" / "uncal"
    assert sorted(p.name for p in uncal.iterdir()) == sorted([e.name for e in exps] + [MSA])
    assert os.path.samefile(uncal / MSA, msa) and uncal / MSA in res.paths
    assert ingest_files([src], dest, program="01234", instrument="nirspec", suffixes=["uncal"],
                        destination=lambda obs, name: dest / f"Obs{obs}" / "uncal" / name).placed == 0
    # named explicitly as a file, and moved: the shared metadata file is linked, the exposures moved
    out = tmp_path / "moved"
    ingest_files([*exps, msa], out, program="01234", instrument="nirspec", mode="move")
    assert sorted(p.name for p in (out / "Obs005" / "uncal").iterdir()) == sorted([e.name for e in exps] + [MSA])
    assert msa.exists() and not any(e.exists() for e in exps)


def test_ingest_without_the_metadata_file_is_refused_naming_exposure_and_file(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    exp = _exposure(src, 1)
    _exposure(src, 2, msa=None)
    with pytest.raises(InputFileError) as info:
        ingest_files([src], tmp_path / "data", program="01234", instrument="nirspec")
    text = str(info.value)
    assert text.startswith(f"{exp}: its MSA metadata file {MSA} (MSAMETFL) is missing") and "\n" not in text
    assert not (tmp_path / "data").exists()
    _msa_file(src, tables=("SHUTTER_INFO",))  # present but not a metadata file: refused by name
    with pytest.raises(InputFileError, match=f"{MSA}: not an MSA metadata file"):
        ingest_files([src], tmp_path / "data", program="01234", instrument="nirspec")
    assert not (tmp_path / "data").exists()


def test_stage_metadata_puts_it_where_jwst_assign_wcs_looks(tmp_path: Path) -> None:
    from jwst.assign_wcs import AssignWcsStep

    uncal = tmp_path / "Obs005" / "uncal"
    exps = [_exposure(uncal, n) for n in (1, 2)]
    _msa_file(uncal)
    stage1 = tmp_path / "Obs005" / "stage1"
    rate = _exposure(stage1, 1, suffix="rate")
    staged = stage_metadata(exps, stage1)
    assert staged == [stage1 / MSA] and os.path.samefile(staged[0], uncal / MSA)
    assert stage_metadata(exps, stage1) == staged  # again: nothing changes
    assert not [p for p in stage1.iterdir() if p.name.startswith(TMP_PREFIX)]
    # jwst's own rule for where MSAMETFL is opened: the directory of the Stage 2 input (rate or association)
    step = AssignWcsStep()
    step._set_input_dir(str(rate))
    assert Path(step.make_input_path(metadata_name(rate))) == staged[0]
    step._set_input_dir(str(stage1 / "x_spec2_asn.json"))
    assert Path(step.make_input_path(metadata_name(rate))) == staged[0]


def test_stage_metadata_missing_is_one_line_before_anything_is_staged(tmp_path: Path) -> None:
    uncal = tmp_path / "uncal"
    exp = _exposure(uncal, 1)
    with pytest.raises(InputFileError) as info:
        stage_metadata([exp, _exposure(uncal, 2, msa=None)], tmp_path / "stage1", [tmp_path / "download"])
    assert str(info.value) == (f"{exp}: its MSA metadata file {MSA} (MSAMETFL) is missing: "
                               f"not in {uncal}, {tmp_path / 'download'}")
    assert not (tmp_path / "stage1").exists()
    _msa_file(tmp_path / "download")  # found in a search directory
    assert stage_metadata([exp], tmp_path / "stage1", [tmp_path / "download"]) == [tmp_path / "stage1" / MSA]


def _mos_program(tmp: Path, with_msa: bool, stages: tuple[str, ...] = ("stage1", "stage2")) -> tuple[Path, Path]:
    """A data directory with one header-only NIRSpec MOS uncal exposure (and its metadata file), and a configuration."""
    import tomli_w

    data = tmp / "data"
    uncal = data / "01234" / "Obs005" / "uncal"
    h = fits.Header({"TELESCOP": "JWST", "INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_MSASPEC",
                     "PROGRAM": "01234", "OBSERVTN": "005", "VISIT": "001", "EXPOSURE": "1", "GRATING": "G395H",
                     "FILTER": "F290LP", "MSAMETFL": MSA})
    uncal.mkdir(parents=True)
    exp = uncal / "jw01234005001_03101_00001_nrs1_uncal.fits"
    fits.PrimaryHDU(header=h).writeto(exp)
    if with_msa:
        _msa_file(uncal)
    cfg = {"program": "01234", "observation": "005", "instrument": "nirspec", "mode": "slit", "data_dir": str(data),
           "stages": list(stages), "download": {"enabled": False},
           "crds": {"server_url": "https://jwst-serverless-mode.stsci.edu", "context": "jwst_0000.pmap"},
           "runtime": {"task_runner": "thread", "workers": 1}}
    path = tmp / "run.toml"
    path.write_text(tomli_w.dumps(cfg))
    return path, exp


@pytest.fixture(scope="module")
def prefect_api() -> object:
    from flows.runtime import embedded_prefect

    with embedded_prefect() as url:
        yield url


def test_flow_refuses_a_mos_exposure_without_its_metadata_file_before_any_stage(prefect_api: object, tmp_path: Path,
                                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from jwstspec.cli import main

    cfg, exp = _mos_program(tmp_path, with_msa=False)
    rc = main(["run", str(cfg)])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("jwstspec run: error:")]
    assert rc == InputFileError.exit_code and len(lines) == 1, lines
    assert f"{exp}: its MSA metadata file {MSA} (MSAMETFL) is missing" in lines[0]
    stage1 = tmp_path / "data" / "01234" / "Obs005" / "stage1"
    assert not list(stage1.glob("*.fits")) and not list((tmp_path / "data" / "01234" / "Obs005" / "logs").glob("*stage1*"))


def test_flow_stages_the_metadata_file_beside_the_stage2_inputs(prefect_api: object, crds_cache: Path,
                                                                tmp_path: Path) -> None:
    from jwstspec.cli import main

    cfg, _exp = _mos_program(tmp_path, with_msa=True, stages=("stage2",))
    rc = main(["run", str(cfg)])  # Spec2 finds no rate file (no Stage 1 ran); the metadata file is staged before it
    assert rc == InputFileError.exit_code
    stage1 = tmp_path / "data" / "01234" / "Obs005" / "stage1"
    assert os.path.samefile(stage1 / MSA, tmp_path / "data" / "01234" / "Obs005" / "uncal" / MSA)


def test_an_exposure_that_does_not_need_its_metadata_file_is_not_refused(tmp_path: Path) -> None:
    """jwst needs MSAMETFL for NRS_MSASPEC (and MSA lamps) only: a fixed-slit exposure naming a missing file passes."""
    from jwstspec.msa import requires_metadata

    fs = _exposure(tmp_path / "uncal", 1)
    with fits.open(fs, mode="update") as hdul:
        hdul[0].header["EXP_TYPE"] = "NRS_FIXEDSLIT"
    assert not requires_metadata(fs) and requires_metadata(_exposure(tmp_path / "mos", 1))
    assert stage_metadata([fs], tmp_path / "stage1") == []
    res = ingest_files([tmp_path / "uncal"], tmp_path / "data", program="01234", instrument="nirspec")
    assert [p.name for p in res.paths] == [fs.name]
