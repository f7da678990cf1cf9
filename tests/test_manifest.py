"""Provenance (:mod:`jwstspec.manifest`): what ``manifest.json`` records, checked with hashlib and importlib."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import pytest

from jwstspec import manifest as manifest_module
from jwstspec.config import validate_config
from jwstspec.manifest import file_record, package_versions, write_manifest


def _config(tmp: Path, **extra: object) -> object:
    return validate_config({"program": "01234", "observation": "001", "instrument": "miri", "data_dir": str(tmp), **extra})


def test_manifest_records_config_inputs_outputs_tasks(tmp_path: Path) -> None:
    secret = "mast-token-0123456789abcdef"
    token = tmp_path / "token.txt"
    token.write_text(secret)
    cfg = _config(tmp_path, download={"token_file": str(token)})
    a, b = tmp_path / "a_uncal.fits", tmp_path / "b_x1d.fits"
    a.write_bytes(b"raw" * 1000)
    b.write_bytes(b"spectrum")
    tasks = [{"stage": "stage1", "task": "a", "state": "ran"}, {"stage": "extract", "task": "b", "state": "cached"}]
    out = write_manifest(tmp_path / "combined" / "manifest.json", cfg, inputs=[a, str(a)], outputs=[b, tmp_path / "gone.fits"],
                         tasks=tasks, crds_context="jwst_1234.pmap", notes=["a note"])
    text = out.read_text()
    data = json.loads(text)
    assert out == tmp_path / "combined" / "manifest.json" and [p.name for p in out.parent.iterdir()] == ["manifest.json"]
    assert data["config"] == json.loads(json.dumps(cfg.model_dump(mode="json"))) and data["config_digest"] == cfg.digest()
    assert data["inputs"] == [{"path": str(a), "size": 3000, "sha256": hashlib.sha256(a.read_bytes()).hexdigest()}]
    assert data["outputs"] == [{"path": str(b), "size": 8, "sha256": hashlib.sha256(b"spectrum").hexdigest()}]  # gone: left out
    assert data["tasks"] == tasks and data["notes"] == ["a note"] and data["crds_context"] == "jwst_1234.pmap"
    assert data["versions"]["numpy"] == version("numpy") and data["versions"]["jwst"] == version("jwst")
    assert data["created"].endswith("Z") and data["host"]
    assert secret not in text and str(token) in text  # the token file is named, its content never copied


def test_file_record_without_checksum(tmp_path: Path) -> None:
    p = tmp_path / "f.fits"
    p.write_bytes(b"12345")
    assert file_record(p, checksum=False) == {"path": str(p), "size": 5}
    assert file_record(p)["sha256"] == hashlib.sha256(b"12345").hexdigest()
    with pytest.raises(FileNotFoundError):
        file_record(tmp_path / "missing.fits")


def test_package_versions_says_what_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_module, "PACKAGES", ("astropy", "no-such-package-jwstspec-test"))
    assert package_versions() == {"astropy": version("astropy"), "no-such-package-jwstspec-test": "not installed"}
