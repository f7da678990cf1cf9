"""Kill -9 and resume at fixed points of a real run (benchmarks/chaos.py does it at random moments).

One small synthetic MIRI MRS observation (1 dither, no background) runs once
uninterrupted (the reference). A second copy is started and the whole
process group gets SIGKILL as soon as Detector1 has published its first
rate file; the rerun is killed as soon as the first extracted spectrum is
published; a third run finishes. Its final products must equal the
reference's and no temporary file or staging directory may be left.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos import differences, final_products, fresh_copy, leftovers, prepare, run_and_kill, run_to_end

pytestmark = pytest.mark.slow


def _appears(directory: Path, pattern: str):
    def check() -> bool:
        return any(not p.name.startswith(".tmp-") for p in directory.rglob(pattern))

    return check


def test_kill_during_detector1_then_extraction_then_finish(tmp_path: Path, crds_cache: Path) -> None:
    config, template = prepare(tmp_path / "gen", n_dithers=1, crds_path=crds_cache)
    small = {"background_observation": None, "stage1": {"bkg_subtract": "none"}}
    ref_cfg = fresh_copy(config, template, tmp_path / "reference", small)
    assert run_to_end(ref_cfg, tmp_path / "reference.log") == 0, (tmp_path / "reference.log").read_text()[-3000:]
    reference = final_products(tmp_path / "reference" / "data")
    assert any(name.endswith("_stitched_x1d.fits") for name in reference)

    cfg = fresh_copy(config, template, tmp_path / "trial", small)
    data = tmp_path / "trial" / "data"
    log = tmp_path / "trial" / "run.log"
    # kill 1: the first rate file is published, the other exposures are still in Detector1
    assert run_and_kill(cfg, log, _appears(data, "stage1/*_rate.fits"), timeout=900)
    assert not list(data.rglob("extract/*_x1d.fits"))
    # kill 2, in the rerun: the first spectrum is published, combine has not run
    assert run_and_kill(cfg, log, _appears(data, "extract/*_x1d.fits"), timeout=900)
    assert not list(data.rglob("combined/*_stitched_x1d.fits"))
    assert run_to_end(cfg, log) == 0, log.read_text()[-3000:]
    assert differences(reference, final_products(data)) == []
    assert leftovers(data) == []
