"""Provenance: ``manifest.json`` beside the outputs of every run.

It records the validated configuration (secrets never appear in it: the
MAST token is not part of the configuration, only the name of its file),
the versions of the packages that shaped the products, the CRDS context
in force, each input file with its size and checksum, each output with its
checksum, and each task's final state (ran, cached, failed).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from jwstspec.config import PipelineConfig
from jwstspec.fileio import atomic_write_text, sha256sum

PACKAGES: tuple[str, ...] = ("jwstspec", "jwst", "stcal", "stdatamodels", "stpipe", "crds", "prefect", "numpy", "astropy", "photutils")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages listed in :data:`PACKAGES`."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_record(path: str | Path, checksum: bool = True) -> dict[str, Any]:
    """Name, size and (streamed) SHA-256 of one file."""
    p = Path(path)
    st = p.stat()
    record: dict[str, Any] = {"path": str(p), "size": st.st_size}
    if checksum:
        record["sha256"] = sha256sum(p)
    return record


def write_manifest(
    path: str | Path,
    config: PipelineConfig,
    *,
    inputs: Iterable[str | Path],
    outputs: Iterable[str | Path],
    tasks: Iterable[Mapping[str, Any]],
    crds_context: str,
    crds_context_source: str = "",
    notes: Iterable[str] = (),
) -> Path:
    """Write ``manifest.json`` atomically and return its path.

    ``crds_context`` is the context the run resolved at its start and used
    for every reference; ``crds_context_source`` says where it came from
    (pinned, server, local cache).
    """
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "config": config.model_dump(mode="json"),
        "config_digest": config.digest(),
        "versions": package_versions(),
        "crds_context": crds_context,
        "crds_context_source": crds_context_source,
        "inputs": [file_record(p) for p in sorted(set(map(str, inputs))) if Path(p).is_file()],
        "outputs": [file_record(p) for p in sorted(set(map(str, outputs))) if Path(p).is_file()],
        "tasks": list(tasks),
        "notes": list(notes),
    }
    return atomic_write_text(path, json.dumps(manifest, indent=2, default=str) + "\n")
