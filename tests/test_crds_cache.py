"""The hand-written local CRDS cache (jwstspec.synthetic.crds_cache).

CRDS reads its configuration once per process, so the look-up behaviour is
checked in a subprocess with its own CRDS_PATH; the file-level behaviour
(merging, idempotence, errors) is checked in-process without any look-up.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import InputFileError, OptionError
from jwstspec.synthetic.crds_cache import (
    RefEntry,
    crds_environment,
    known_reftypes,
    reference_dir,
    registered_entries,
    write_crds_cache,
)


def _touch_ref(crds: Path, instrument: str, name: str) -> str:
    (reference_dir(crds, instrument) / name).write_bytes(b"not a real reference")
    return name


def _read_mapping(path: Path) -> dict:
    """Parse a CRDS mapping file the simple way (header dict + selector text)."""
    text = path.read_text()
    header_src = text.split("selector")[0].split("=", 1)[1]
    return {"header": ast.literal_eval(header_src.strip()), "text": text}


def test_layout_merge_and_idempotence(tmp_path: Path) -> None:
    crds = tmp_path / "crds"
    a = _touch_ref(crds, "MIRI", "jwst_miri_gain_a.fits")
    b = _touch_ref(crds, "MIRI", "jwst_miri_gain_b.fits")
    n = _touch_ref(crds, "NIRSPEC", "jwst_nirspec_mask_a.fits")
    write_crds_cache(crds, [RefEntry("MIRI", "gain", a, {"META.INSTRUMENT.DETECTOR": "MIRIFUSHORT"})])
    # a second writer adds entries; the first one must survive
    write_crds_cache(crds, [RefEntry("MIRI", "gain", b, {"META.INSTRUMENT.DETECTOR": "MIRIFULONG"}),
                            RefEntry("NIRSPEC", "mask", n, {})])
    maps = crds / "mappings" / "jwst"
    assert (crds / "references" / "jwst" / "miri").is_dir()
    pmap = _read_mapping(maps / "jwst_0000.pmap")
    assert pmap["header"]["mapping"] == "PIPELINE"
    assert "jwst_miri_0000.imap" in pmap["text"] and "jwst_nirspec_0000.imap" in pmap["text"]
    rmap = _read_mapping(maps / "jwst_miri_gain_0000.rmap")["text"]
    assert a in rmap and b in rmap
    imap = _read_mapping(maps / "jwst_miri_0000.imap")["text"]
    # every reftype a jwst step can ask for is listed; unregistered ones are N/A
    for rt in known_reftypes():
        assert repr(rt) in imap
    assert "'rscd' : 'N/A'" in imap and "'gain' : 'jwst_miri_gain_0000.rmap'" in imap
    cfg = ast.literal_eval((crds / "config" / "jwst" / "server_config").read_text())
    assert cfg["latest_context"] == "jwst_0000.pmap" and cfg["bad_files_list"] == []
    before = {p.name: p.read_text() for p in maps.iterdir()}
    # idempotent: re-registering the same entries changes nothing
    write_crds_cache(crds, [RefEntry("MIRI", "gain", a, {"META.INSTRUMENT.DETECTOR": "MIRIFUSHORT"})])
    assert {p.name: p.read_text() for p in maps.iterdir()} == before
    assert len(registered_entries(crds)) == 3
    assert not [p for p in crds.rglob(".tmp-*")]


def test_replacing_an_entry_and_errors(tmp_path: Path) -> None:
    crds = tmp_path / "crds"
    a = _touch_ref(crds, "MIRI", "old.fits")
    b = _touch_ref(crds, "MIRI", "new.fits")
    match = {"META.INSTRUMENT.DETECTOR": "MIRIFUSHORT"}
    write_crds_cache(crds, [RefEntry("MIRI", "flat", a, match)])
    write_crds_cache(crds, [RefEntry("MIRI", "flat", b, match)])
    rmap = (crds / "mappings" / "jwst" / "jwst_miri_flat_0000.rmap").read_text()
    assert "new.fits" in rmap and "old.fits" not in rmap
    with pytest.raises(InputFileError, match="missing.fits"):
        write_crds_cache(crds, [RefEntry("MIRI", "dark", "missing.fits", {})])
    with pytest.raises(OptionError, match="context"):
        write_crds_cache(crds, [], context="latest")


def test_environment(tmp_path: Path) -> None:
    env = crds_environment(tmp_path, "jwst_0007.pmap")
    assert env["CRDS_PATH"] == str(tmp_path.resolve())
    assert env["CRDS_SERVER_URL"] == "https://jwst-serverless-mode.stsci.edu"
    assert env["STPIPE_DISABLE_CRDS_STEPPARS"] == "true"
    assert env["CRDS_IGNORE_MAPPING_CHECKSUM"] == "1"
    assert env["CRDS_CONTEXT"] == "jwst_0007.pmap" and env["CRDS_OBSERVATORY"] == "jwst"
    assert "CRDS_CONTEXT" not in crds_environment(tmp_path)


def test_known_reftypes_cover_every_pipeline() -> None:
    from jwst.pipeline import (
        Detector1Pipeline,
        Spec2Pipeline,
        Spec3Pipeline,
        Tso3Pipeline,
    )

    wanted: set[str] = set()
    for cls in (Detector1Pipeline, Spec2Pipeline, Spec3Pipeline, Tso3Pipeline):
        p = cls()
        wanted.update(p.reference_file_types)
        for name in cls.step_defs:
            wanted.update(getattr(p, name).reference_file_types)
    assert wanted <= set(known_reftypes())
    assert {"gain", "rscd", "emicorr", "msaoper", "cubepar", "mrsptcorr", "sirskernel"} <= set(known_reftypes())


LOOKUP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    from jwstspec.synthetic.crds_cache import RefEntry, activate, reference_dir, write_crds_cache
    crds = Path(sys.argv[1])
    activate(crds)
    from stdatamodels.jwst.datamodels import GainModel, ImageModel
    for name in ("g_short.fits", "g_long.fits"):
        g = GainModel(data=np.full((4, 4), 3.0, np.float32))
        g.meta.instrument.name = "MIRI"
        g.meta.reftype, g.meta.author, g.meta.pedigree = "GAIN", "test", "DUMMY"
        g.meta.description, g.meta.useafter = "test", "2000-01-01T00:00:00"
        g.save(reference_dir(crds, "MIRI") / name)
    write_crds_cache(crds, [RefEntry("MIRI", "gain", "g_short.fits",
                                     {"META.INSTRUMENT.DETECTOR": "MIRIFUSHORT", "META.INSTRUMENT.BAND": "SHORT|MEDIUM"})])
    write_crds_cache(crds, [RefEntry("MIRI", "gain", "g_long.fits", {"META.INSTRUMENT.DETECTOR": "MIRIFULONG"})])
    from stpipe import crds_client
    from jwst.stpipe import Step

    def params(instrument, detector, band, exp_type):
        m = ImageModel((4, 4))
        m.meta.instrument.name, m.meta.instrument.detector = instrument, detector
        if band:
            m.meta.instrument.band = band
        m.meta.exposure.type = exp_type
        m.meta.observation.date, m.meta.observation.time = "2024-01-01", "00:00:00"
        return m.get_crds_parameters()

    out = {}
    types = ["gain", "readnoise", "rscd", "cubepar", "msaoper"]
    out["short"] = crds_client.get_multiple_reference_paths(params("MIRI", "MIRIFUSHORT", "SHORT", "MIR_MRS"), types, "jwst")
    out["long"] = crds_client.get_multiple_reference_paths(params("MIRI", "MIRIFULONG", "LONG", "MIR_MRS"), types, "jwst")
    out["nomatch"] = crds_client.get_multiple_reference_paths(params("MIRI", "MIRIFUSHORT", "LONG", "MIR_MRS"), types, "jwst")
    out["nirspec"] = crds_client.get_multiple_reference_paths(params("NIRSPEC", "NRS1", None, "NRS_IFU"), types, "jwst")
    try:
        crds_client.get_multiple_reference_paths(params("MIRI", "MIRIFUSHORT", "SHORT", "MIR_MRS"), ["notatype"], "jwst")
        out["unknown"] = "no error"
    except Exception as exc:
        out["unknown"] = type(exc).__name__
    print("RESULT" + json.dumps(out))
    """
)


def test_lookups_resolve_locally(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    proc = subprocess.run([sys.executable, "-c", LOOKUP_SCRIPT, str(tmp_path / "crds")], check=False, capture_output=True,
                          text=True, env=env, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[0][len("RESULT"):])
    assert out["short"]["gain"].endswith("references/jwst/miri/g_short.fits")
    assert out["long"]["gain"].endswith("references/jwst/miri/g_long.fits")
    # no matching row, registered-nowhere types and the other instrument: N/A, never an error
    assert out["nomatch"]["gain"] == "N/A"
    for key in ("short", "long", "nomatch", "nirspec"):
        assert {out[key][t] for t in ("readnoise", "rscd", "cubepar", "msaoper")} == {"N/A"}
    assert out["nirspec"]["gain"] == "N/A"
    assert out["unknown"] == "CrdsLookupError"
    assert np.all([Path(out[k]["gain"]).exists() for k in ("short", "long")])
