"""MIRI LRS slitless time series: the product shipped inside ``jwst`` and its extract1d reference.

``jwst`` ships one real-format TSO product (pre-flight test data, not sky):
a MIRI LRS slitless ``CubeModel`` of 10 integrations with a full gwcs.
jwstspec uses it to test ``calwebb_tso3`` offline; the only reference
``Tso3Pipeline`` needs beyond N/A is an ``extract1d`` JSON file, registered
here in the local CRDS cache.
"""

from __future__ import annotations

import json
from pathlib import Path

from jwstspec.fileio import atomic_write_text
from jwstspec.synthetic.crds_cache import RefEntry, reference_dir


def shipped_tso_file() -> Path:
    """Path of the MIRI LRS slitless ``calints``-like file inside the installed ``jwst``."""
    import jwst

    return Path(jwst.__file__).parent / "stpipe" / "tests" / "data" / "miri_data.fits"


def write_lrs_references(crds_path: Path) -> list[RefEntry]:
    """Write the LRS slitless extract1d reference (JSON); return the entry to register."""
    ref = {
        "reftype": "EXTRACT1D",
        "instrument": "MIRI",
        "telescope": "JWST",
        "exp_type": "MIR_LRS-SLITLESS",
        "pedigree": "DUMMY",
        "useafter": "2000-01-01T00:00:00",
        "author": "jwstspec.synthetic",
        "description": "Boxcar of 11 columns around the LRS slitless trace (jwstspec tests)",
        "apertures": [{"id": "ANY", "region_type": "target", "disp_axis": 2, "xstart": 30, "xstop": 41,
                       "use_source_posn": False, "bkg_order": 0}],
    }
    name = "jwst_miri_extract1d_synth_lrs_slitless.json"
    atomic_write_text(reference_dir(Path(crds_path), "MIRI") / name, json.dumps(ref, indent=2) + "\n")
    return [RefEntry("MIRI", "extract1d", name, {"META.EXPOSURE.TYPE": "MIR_LRS-SLITLESS"})]
