"""Ingest of local products: checks, grouping, link/copy/move, idempotence, sources untouched."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.errors import InputFileError, OptionError
from jwstspec.fileio import TMP_PREFIX, sha256sum
from jwstspec.ingest import ingest_files

NAME = "jw01234{obs}001_02101_0000{n}_mirifushort_{suffix}.fits"


def _product(d: Path, obs: str = "001", n: int = 1, suffix: str = "uncal", **keys: object) -> Path:
    h = fits.Header({"TELESCOP": "JWST", "INSTRUME": "MIRI", "PROGRAM": "01234", "OBSERVTN": obs, **keys})
    d.mkdir(parents=True, exist_ok=True)
    path = d / NAME.format(obs=obs, n=n, suffix=suffix)
    fits.HDUList([fits.PrimaryHDU(header=h), fits.ImageHDU(np.full((4, 50), n, ">i2"), name="SCI")]).writeto(path)
    return path


def _state(paths: list[Path]) -> list[tuple[str, int, float]]:
    return [(sha256sum(p), p.stat().st_size, p.stat().st_mtime) for p in paths]


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TMP_PREFIX)]


def test_link_groups_by_observation_and_is_idempotent(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    files = [_product(src / "a", "001", 1), _product(src / "a", "001", 2), _product(src / "b", "002", 1),
             _product(src, "001", 1, "rate"), _product(src, "002", 1, "x1d")]
    (src / "notes.txt").write_text("ignored")
    (src / "jw01234001001_02101_00001_mirifushort_uncal.jpg").write_text("ignored")
    before = _state(files)
    dest = tmp_path / "data" / "01234"
    res = ingest_files([src], dest, program="01234", instrument="miri")
    rel = sorted(p.relative_to(dest).as_posix() for p in res.paths)
    assert rel == sorted([f"Obs001/uncal/{files[0].name}", f"Obs001/uncal/{files[1].name}", f"Obs002/uncal/{files[2].name}",
                          f"Obs001/stage1/{files[3].name}", f"Obs002/stage2/{files[4].name}"])
    assert sorted(res.observations) == ["001", "002"] and len(res.observations["001"]) == 3
    assert res.placed == 5 and res.already_present == 0
    for f in files:  # hard links: the same inode, no copy
        assert os.path.samefile(f, next(p for p in res.paths if p.name == f.name))
    again = ingest_files([src], dest, program="01234", instrument="miri")
    assert (again.placed, again.already_present) == (0, 5)
    assert _state(files) == before and not _temporaries(tmp_path)


def test_destination_callable_observation_filter_and_suffixes(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    a, b = _product(src, "001"), _product(src, "003")
    _product(src, "001", 1, "cal")
    res = ingest_files([src], tmp_path / "unused", program="1234", instrument="MIRI", observations=["3"],
                       suffixes=["uncal"], destination=lambda obs, name: tmp_path / "lay" / f"o{obs}" / name)
    assert res.paths == [tmp_path / "lay" / "o003" / b.name]
    assert not (tmp_path / "unused").exists() and a.exists()


def test_copy_is_independent_and_move_removes_the_source(tmp_path: Path) -> None:
    a = _product(tmp_path / "in")
    before = _state([a])
    copied = ingest_files([a], tmp_path / "c", program="01234", instrument="miri", mode="copy").paths[0]
    assert not os.path.samefile(copied, a) and sha256sum(copied) == sha256sum(a) and _state([a]) == before
    assert ingest_files([a], tmp_path / "c", program="01234", instrument="miri", mode="copy").already_present == 1
    moved = ingest_files([a], tmp_path / "m", program="01234", instrument="miri", mode="move").paths[0]
    assert not a.exists() and sha256sum(moved) == before[0][0]
    assert not _temporaries(tmp_path)


def test_symlink_fallback_across_file_systems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    a = _product(tmp_path / "in")

    def cross_device(src: object, dst: object) -> None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", cross_device)
    with caplog.at_level(logging.INFO, logger="jwstspec.ingest"):
        out = ingest_files([a], tmp_path / "d", program="01234", instrument="miri").paths[0]
    assert out.is_symlink() and os.readlink(out) == str(a.resolve()) and os.path.samefile(out, a)
    assert "symbolic link instead" in caplog.text and "1 by symlink" in caplog.text
    assert ingest_files([a], tmp_path / "d", program="01234", instrument="miri").already_present == 1


def _cut_data(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-2700])  # 180 of the 400 SCI data bytes left


BAD = [
    ("wrong program", {"PROGRAM": "09999"}, None, "PROGRAM is 09999, the configuration says 01234"),
    ("wrong instrument", {"INSTRUME": "NIRSPEC"}, None, "INSTRUME is NIRSPEC, the configuration says MIRI"),
    ("no instrument", {"INSTRUME": ""}, None, "INSTRUME is missing"),
    ("other telescope", {"TELESCOP": "HST"}, None, "not a JWST product (TELESCOP is HST)"),
    ("no observation", {"OBSERVTN": ""}, None, "header keyword OBSERVTN is missing"),
    ("no program", {"PROGRAM": ""}, None, "header keyword PROGRAM is missing"),
    ("truncated", {}, _cut_data, "truncated FITS file"),
    ("empty", {}, lambda p: p.write_bytes(b""), "file is empty"),
    ("not FITS", {}, lambda p: p.write_text("hello"), "not a FITS file"),
]


@pytest.mark.parametrize(("label", "keys", "corrupt", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_files_are_refused_and_nothing_is_placed(tmp_path: Path, label: str, keys: dict, corrupt, message: str) -> None:
    src = tmp_path / "mine"
    _product(src, "001", 1)
    bad = _product(src, "001", 2, **keys)
    if corrupt:
        corrupt(bad)
    with pytest.raises(InputFileError) as info:
        ingest_files([src], tmp_path / "data", program="01234", instrument="miri")
    text = str(info.value)
    assert text == f"{bad}: {message}" or (text.startswith(f"{bad}: ") and message in text)
    assert "\n" not in text and not (tmp_path / "data").exists()


def test_source_problems(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file or directory"):
        ingest_files([tmp_path / "nope"], tmp_path / "d", program="01234", instrument="miri")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(InputFileError, match="no JWST product file"):
        ingest_files([tmp_path / "emptydir"], tmp_path / "d", program="01234", instrument="miri")
    a, b = _product(tmp_path / "x"), _product(tmp_path / "y")
    with pytest.raises(InputFileError, match="another file of the same name"):
        ingest_files([tmp_path / "x", tmp_path / "y"], tmp_path / "d", program="01234", instrument="miri")
    with pytest.raises(OptionError, match="ingest_mode"):
        ingest_files([a], tmp_path / "d", program="01234", instrument="miri", mode="hardlink")  # type: ignore[arg-type]
    assert not (tmp_path / "d").exists() and a.exists() and b.exists()


def test_flow_ingest_in_move_mode_survives_a_rerun(tmp_path: Path) -> None:
    """The flow's ingest task: uncal files go to the layout; a rerun after a move finds them there."""
    from flows.tasks import ingest_task

    src = tmp_path / "src"
    a, b = _product(src, n=1), _product(src, n=2)
    _product(src, n=3, suffix="rate")  # not an input of the flow: left where it is
    first = ingest_task.fn([str(src)], "01234", "miri", "move", str(tmp_path / "data"))
    assert [Path(p).name for p in first] == [a.name, b.name]
    assert all("/Obs001/uncal/" in p for p in first) and not a.exists() and not b.exists()
    again = ingest_task.fn([str(src)], "01234", "miri", "move", str(tmp_path / "data"))
    assert again == first
    with pytest.raises(InputFileError, match="no JWST product"):  # nothing anywhere: still an error
        ingest_task.fn([str(src)], "01234", "miri", "move", str(tmp_path / "empty"))
