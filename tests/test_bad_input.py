"""Bad input never hurts: one line naming the field or file, exit code 2, nothing written.

Table-driven through the real command line (``jwstspec.cli.main``): each row
is a malformed configuration or a corrupt input file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.cli import main
from tests.test_config import BAD as CONFIG_ROWS

BASE = 'program = "01234"\nobservation = "001"\ninstrument = "nirspec"\nmode = "ifu"\ndata_dir = "{data}"\n'


def _toml_value(value: object) -> str:
    import tomli_w

    return tomli_w.dumps({"x": value}).split("=", 1)[1].strip()


def _render(update: dict, data: Path) -> str:
    """BASE with ``update`` applied (top-level keys replaced, tables appended)."""
    top = {"program": "01234", "observation": "001", "instrument": "nirspec", "mode": "ifu", "data_dir": str(data)}
    tables = {}
    for k, v in update.items():
        if isinstance(v, dict):
            tables[k] = v
        else:
            top[k] = v
    import tomli_w

    return tomli_w.dumps({**top, **tables})


def _snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


# Extra rows beyond the model checks of test_config.BAD: raw TOML problems.
RAW_ROWS = [
    ("program = [", "c.toml", "not valid TOML"),
    ('program = "01234"\nprogram = "01235"\n', "c.toml", "not valid TOML"),
    ("\x00\x01\x02binary", "c.toml", "not valid TOML"),
    ('program = "01234"\nobservation = "001"\ninstrument = "nirspec"\n', "data_dir", "required field is missing"),
    (BASE + "[stage1]\nreadnoise_correct = 5\n", "stage1.readnoise_correct", "not allowed"),
    (BASE + "[stage1.steps]\njump = 5\n", "stage1.steps.jump", "valid dictionary"),
    (BASE + "[extract]\nbkg_annulus = [\"10px\"]\n", "extract.bkg_annulus", "too few items"),
    (BASE + "[runtime]\nworkers = 0\n", "runtime.workers", "greater than or equal"),
    (BASE + "[download]\ningest_mode = \"teleport\"\n", "download.ingest_mode", "not allowed"),
    (BASE + "[crds]\nserver = \"x\"\n", "crds.server", "unknown key"),
]


@pytest.mark.parametrize(("update", "field", "reason"), CONFIG_ROWS, ids=[r[1] + "-" + r[2][:12] for r in CONFIG_ROWS])
def test_bad_config_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], update: dict, field: str, reason: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(_render(update, data))
    before = _snapshot(tmp_path)
    rc = main(["run", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert f"'{field}" in err and reason.lower() in err.lower(), err
    assert _snapshot(tmp_path) == before  # nothing written


@pytest.mark.parametrize(("text", "named", "reason"), RAW_ROWS, ids=[r[1] + "-" + r[2][:12] for r in RAW_ROWS])
def test_bad_toml_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str, reason: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(text.replace("{data}", str(data)))
    before = _snapshot(tmp_path)
    rc = main(["validate", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert named in err and reason.lower() in err.lower(), err
    assert _snapshot(tmp_path) == before


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: configuration file not found" in capsys.readouterr().err


def _corrupt_files(tmp: Path) -> list[tuple[Path, str]]:
    """Corrupt or foreign input files and the reason the message must give."""
    empty = tmp / "empty_uncal.fits"
    empty.write_bytes(b"")
    text = tmp / "text_uncal.fits"
    text.write_text("this is not FITS\n" * 20)
    good = fits.HDUList([fits.PrimaryHDU(header=fits.Header({"TELESCOP": "JWST", "INSTRUME": "NIRSPEC"})),
                         fits.ImageHDU(np.zeros((64, 64), np.float32), name="SCI")])
    good.writeto(tmp / "full.fits")
    raw = (tmp / "full.fits").read_bytes()
    truncated = tmp / "truncated_uncal.fits"
    truncated.write_bytes(raw[: len(raw) // 2])
    hst = tmp / "hst_uncal.fits"
    fits.PrimaryHDU(header=fits.Header({"TELESCOP": "HST"})).writeto(hst)
    return [(empty, "empty"), (text, "FITS"), (truncated, ""), (hst, "not a JWST product")]


def test_corrupt_inputs_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run whose uncal directory holds a corrupt file stops naming that file, before any stage."""
    from jwstspec.errors import InputFileError
    from jwstspec.exposures import read_exposure

    for path, reason in _corrupt_files(tmp_path):
        with pytest.raises(InputFileError) as info:
            read_exposure(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message
        assert reason in message


@pytest.mark.parametrize(("tso", "exp_type", "tsovisit", "nints", "says"), [
    (True, "NRS_FIXEDSLIT", False, 1, "tso = true, but"),
    (False, "NRS_BRIGHTOBJ", True, 200, "tso = false, but"),
])
def test_tso_mismatch_with_headers_stops_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              tso: bool, exp_type: str, tsovisit: bool, nints: int,
                                                              says: str) -> None:
    """`tso` against the exposures' TSOVISIT / EXP_TYPE / NINTS: exit 2, one line, no flow started, nothing written."""
    import os

    import tomli_w

    data = tmp_path / "data"
    uncal = data / "01234" / "Obs001" / "uncal"
    uncal.mkdir(parents=True)
    name = "jw01234001001_04101_00001_nrs1_uncal.fits"
    fits.PrimaryHDU(header=fits.Header({
        "TELESCOP": "JWST", "INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": exp_type, "PROGRAM": "01234",
        "OBSERVTN": "001", "VISIT": "001", "EXPOSURE": "1", "GRATING": "G395H", "FILTER": "F290LP",
        "TSOVISIT": tsovisit, "NINTS": nints})).writeto(uncal / name)
    cfg = tmp_path / "c.toml"
    cfg.write_text(tomli_w.dumps({"program": "01234", "observation": "001", "instrument": "nirspec", "mode": "slit",
                                  "tso": tso, "data_dir": str(data), "download": {"enabled": False}}))
    before = _snapshot(tmp_path)
    rc = main(["run", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert f"'tso': {says} {name}" in err and f"EXP_TYPE = {exp_type}, NINTS = {nints}" in err, err
    assert _snapshot(tmp_path) == before  # nothing written, not even the run's directories
    assert "PREFECT_API_URL" not in os.environ  # stopped before the embedded Prefect started
