"""The demo's generated data are checked by identity (sizes and mtimes), not content.

``build_demo`` runs with the real stamp logic; only the generator itself
(``_generate``, minutes of synthetic ramps) is replaced by one that writes a
few small files where the real one does, so each test can see whether the
data were generated again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jwstspec.synthetic import demo


@pytest.fixture
def fake_generate(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def generate(raw: Path, data: Path, crds: Path, layout: Any, n_dithers: int, name: str,
                 ifu_dithers: int = 2, ifu_detectors: tuple[str, ...] = ("NRS1",)) -> dict:
        calls.append(n_dithers)
        raw_file = raw / "miri" / "jw01234001001_03101_00001_mirifushort_uncal.fits"
        raw_file.write_bytes(b"ramp" * 100)  # written anew each time, as the real generator does
        demo._place([raw_file], layout.uncal_dir(demo.MIRI_OBS))
        return {}

    monkeypatch.setattr(demo, "_generate", generate)
    return calls


@pytest.fixture
def crds(tmp_path: Path) -> Path:
    """A CRDS cache that counts as written (build_demo then leaves it alone)."""
    path = tmp_path / "crds"
    (path / "config" / "jwst").mkdir(parents=True)
    (path / "config" / "jwst" / "server_config").write_text("{}")
    demo.references_stamp(path).write_text(f"{demo.REFERENCES_VERSION}\n")
    return path


def test_a_cache_of_an_older_reference_version_is_written_again(tmp_path: Path, crds: Path, fake_generate: list[int],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[Path] = []
    monkeypatch.setattr(demo, "write_references", lambda path: written.append(path))
    _build(tmp_path / "demo", crds)
    assert written == []  # this version's cache: left alone
    demo.references_stamp(crds).unlink()  # a cache written before the apcorr references (server_config only)
    _build(tmp_path / "demo", crds)
    assert written == [crds]


def _build(root: Path, crds: Path, n_dithers: int = 2) -> demo.Demo:
    return demo.build_demo(root, n_dithers=n_dithers, crds_path=crds, branches=("miri",))


def _uncal(root: Path) -> Path:
    return next((root / "data").rglob("*_uncal.fits"))


def test_unchanged_data_are_not_generated_again(tmp_path: Path, crds: Path, fake_generate: list[int]) -> None:
    root = tmp_path / "demo"
    _build(root, crds)
    _build(root, crds)
    assert fake_generate == [2]
    _build(root, crds, n_dithers=3)  # other options: other data
    assert fake_generate == [2, 3]


@pytest.mark.parametrize("change", ["content", "touch", "remove"])
def test_a_changed_file_is_generated_again(tmp_path: Path, crds: Path, fake_generate: list[int], change: str) -> None:
    root = tmp_path / "demo"
    _build(root, crds)
    placed = _uncal(root)
    if change == "content":
        placed.write_bytes(b"edited")
    elif change == "touch":
        st = placed.stat()
        os.utime(placed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    else:
        placed.unlink()
    _build(root, crds)
    assert fake_generate == [2, 2]
    assert _uncal(root).read_bytes() == b"ramp" * 100  # the placed file is the generator's again
    assert os.path.samefile(_uncal(root), root / "raw" / "miri" / placed.name)
    _build(root, crds)
    assert fake_generate == [2, 2]


def test_a_stamp_of_another_data_version_regenerates(tmp_path: Path, crds: Path, fake_generate: list[int],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "demo"
    _build(root, crds)
    monkeypatch.setattr(demo, "DATA_VERSION", demo.DATA_VERSION + 1)
    _build(root, crds)
    assert fake_generate == [2, 2]


def test_a_demo_made_before_the_identity_stamp_keeps_its_data(tmp_path: Path, crds: Path, fake_generate: list[int]) -> None:
    root = tmp_path / "demo"
    _build(root, crds)
    stamp = root / ".generated-miri-mrs-2"
    assert demo.stamp_matches(stamp, root.resolve(), "miri-mrs-2")
    stamp.write_text("generated\n")  # the old stamp: the files are kept, not regenerated (the cache stays valid)
    _build(root, crds)
    assert fake_generate == [2]


def test_overrides_reach_the_named_configuration_and_its_file(tmp_path: Path, crds: Path,
                                                             fake_generate: list[int]) -> None:
    from jwstspec.config import load_config

    patch = {"stage3": {"steps": {"outlier_detection": {"skip": True}}}, "extract": {"radius": "3px"}}
    built = demo.build_demo(tmp_path / "demo", crds_path=crds, branches=("miri",), overrides={"miri": patch})
    for cfg in (built.configs["miri"], load_config(built.config_files["miri"])):
        assert cfg.stage3.steps == {"outlier_detection": {"skip": True}, **demo.MRS_STAGE3_SKIPS}  # + the demo's own
        assert cfg.extract.method == "aperture"  # the rest of the table is kept
        assert cfg.extract.radius == "3px" and cfg.extract.radius != "4px"
    # options the demo left to the flow stay unset (the flow decides them, e.g. whether the nods were subtracted)
    assert "nod_subtracted" not in built.configs["miri"].extract.model_fields_set
    assert built.configs["miri"].extract.model_fields_set >= {"radius", "method"}
    assert built.configs["miri-stage3"].stage3.steps == demo.MRS_STAGE3_SKIPS  # only the named configuration
    with pytest.raises(ValueError, match="no configuration 'nirspec-fs'"):
        demo.build_demo(tmp_path / "demo", crds_path=crds, branches=("miri",), overrides={"nirspec-fs": {}})
