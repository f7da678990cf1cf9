"""Kill -9 and resume at fixed points of a real run (benchmarks/chaos.py does it at random moments).

End to end: one small synthetic MIRI MRS observation (1 dither, one
exposure, no background; Detector1 without jump -> Spec2 with an EMSM cube
-> extraction -> combine -> stitch, a one-worker process pool) runs once
uninterrupted (the reference).  Every command talks to the test process's
embedded API (``PREFECT_API_URL``), as to a user's own server.
While the reference runs Detector1, a second ``jwstspec run`` on the same
data must stop at the run lock (exit 5).  A second copy is started and its
whole process group gets SIGKILL while Spec2 has its staging directory open
(Detector1's rate file published); the rerun is killed as soon as the extracted
spectrum is published; the next one as soon as combine has published its
first file (before the stitched spectrum); a last run finishes.  After
every kill no file under a final name may be half-written; at the end the
final products must equal the reference's and no temporary file or staging
directory may be left.  Kill moments are chosen by watching for files, not
by sleeps.

Unit level: the clean-up of stale temporaries leaves alone what a live
writer (another run) has in flight, and removes it once that writer is
killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.chaos import (
    CLI,
    cli_env,
    differences,
    final_products,
    fresh_copy,
    half_written,
    kill,
    leftovers,
    prepare,
    run_and_kill,
    run_to_end,
    start,
)
from jwstspec.fileio import TMP_PREFIX, atomic_path, remove_stale_temporaries


def _appears(directory: Path, pattern: str):
    def check() -> bool:
        return any(not p.name.startswith(TMP_PREFIX) for p in directory.rglob(pattern))

    return check


def _staging_in(directory: Path, stages: str = "stage[123]"):
    def check() -> bool:
        return any(p.is_dir() for p in directory.glob(f"*/Obs*/{stages}/{TMP_PREFIX}*"))

    return check


@pytest.fixture
def one_api() -> Iterator[None]:
    """The test process's embedded API, for every ``jwstspec run`` below (``PREFECT_API_URL`` in their environment).

    The kills are about files and processes: each command starting its own API (a new database for each
    data directory, 10-20 CPU-s a start, six starts) adds time and no kill point.  The API is not in the
    commands' process groups, so it outlives their kills as a user's own server would.
    """
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    with embedded_prefect():
        yield


@pytest.mark.e2e
def test_kill_during_spec2_extraction_combine_then_finish(tmp_path: Path, crds_cache: Path, one_api: None) -> None:
    config, template = prepare(tmp_path / "gen", n_dithers=1, crds_path=crds_cache)
    # The kills are about files and processes, not science: they land in Spec2, extraction and combine.
    # Stage 3 and the 2-D residual-fringe step add time, not kill points; Detector1's jump step and
    # cube_build's drizzle (~60 % of the Spec2 time) are swapped for the cheap jump-free ramp and the
    # EMSM cube (same products, same staging); one pool worker is still a child process the kill reaches.
    small = {"background_observation": None, "stages": ["download", "stage1", "stage2", "extract", "combine"],
             "stage1": {"bkg_subtract": "none", "steps": {"jump": {"skip": True}}},
             "stage2": {"residual_fringe": False, "steps": {"cube_build": {"weighting": "emsm"}}},
             "runtime": {"task_runner": "process", "workers": 1}}
    ref_cfg = fresh_copy(config, template, tmp_path / "reference", small)
    ref_data, ref_log = tmp_path / "reference" / "data", tmp_path / "reference.log"

    # The reference run.  While it holds the lock and stages Detector1's products, a second run on the
    # same data directory must refuse to start (exit 5) and disturb nothing: the reference must then
    # finish, whole, without temporaries, and equal the killed-and-resumed run below.
    ref = start(ref_cfg, ref_log)
    try:
        assert _wait(_staging_in(ref_data, "stage1"), ref, timeout=600), ref_log.read_text()[-3000:]
        second = subprocess.run([*CLI, "run", str(ref_cfg)], capture_output=True, text=True, env=cli_env(), timeout=600)
        assert second.returncode == 5, second.stderr[-3000:]
        assert "being processed" in second.stderr
        assert ref.poll() is None, "the reference run ended before the second run reached the lock"
        assert ref.wait(timeout=1800) == 0, ref_log.read_text()[-3000:]
    finally:
        if ref.poll() is None:
            kill(ref)
    assert half_written(ref_data) == [] and leftovers(ref_data) == []
    reference = final_products(ref_data)
    assert any(name.endswith("_stitched_x1d.fits") for name in reference)
    assert any(name.endswith("_combined_x1d.ecsv") for name in reference)
    # the one dither's two-channel Stage 2 cube (ch1 + ch2 SHORT) gives one spectrum per channel
    assert sorted(name.rsplit("_", 2)[-2] for name in reference if "/extract/" in name) == ["ch1-short", "ch2-short"]

    cfg = fresh_copy(config, template, tmp_path / "trial", small)
    data = tmp_path / "trial" / "data"
    log = tmp_path / "trial" / "run.log"
    left_by_kills = []

    # kill 1: Detector1 has published the rate file, Spec2 runs (its staging directory is open)
    assert run_and_kill(cfg, log, _staging_in(data, "stage2"), timeout=900)
    assert half_written(data) == []
    assert list(data.rglob("stage1/*_rate.fits")) and not list(data.rglob("extract/*_x1d.fits"))
    left_by_kills.append(leftovers(data))

    # kill 2, in the rerun: the first spectrum is published, combine has not run
    assert run_and_kill(cfg, log, _appears(data, "extract/*_x1d.fits"), timeout=900)
    assert half_written(data) == []
    assert not list(data.rglob("combined/*_combined_x1d.*"))
    left_by_kills.append(leftovers(data))

    # kill 3: combine has published its first file (the ECSV, written before the FITS); no stitch yet
    assert run_and_kill(cfg, log, _appears(data, "combined/*_combined_x1d.ecsv"), timeout=900)
    assert half_written(data) == []
    assert not list(data.rglob("combined/*_stitched_x1d.fits"))
    left_by_kills.append(leftovers(data))

    assert run_to_end(cfg, log) == 0, log.read_text()[-3000:]
    assert any(left_by_kills), "no kill left a temporary behind: the clean-up was not exercised"
    assert half_written(data) == []
    assert differences(reference, final_products(data)) == []
    assert leftovers(data) == []


def _wait(condition, proc: subprocess.Popen, timeout: float) -> bool:
    """Poll ``condition`` until it holds (True) or ``proc`` ends / ``timeout`` passes (False)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.05)
    return False


_WRITER = """
import sys, time
from pathlib import Path
from jwstspec.stages.pipelines import staging_dir
with staging_dir(Path(sys.argv[1])) as staged:
    (staged / "x_cal.fits").write_bytes(b"in flight")
    print(staged, flush=True)
    time.sleep(600)
"""


def test_cleanup_spares_live_writers_and_removes_killed_ones(tmp_path: Path) -> None:
    shared = tmp_path / "Obs002" / "stage1"  # e.g. a background observation two runs share
    own = tmp_path / "Obs001" / "stage1"
    own.mkdir(parents=True)
    stale = own / f"{TMP_PREFIX}x_rate.abc123.fits"  # left by a killed run
    stale.write_bytes(b"partial")

    # a live writer in another process (another run) with a staging directory in `shared`
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(shared)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True, cwd=Path(__file__).resolve().parents[1])
    try:
        staged = Path(writer.stdout.readline().strip())
        assert staged.is_dir() and staged.parent == shared
        # and one in this process: an atomic write in progress in `shared`
        with atomic_path(shared / "y_rate.fits") as tmp:
            tmp.write_bytes(b"half")
            assert remove_stale_temporaries(tmp_path) == [stale]
            assert tmp.exists() and (staged / "x_cal.fits").exists()
        assert (shared / "y_rate.fits").read_bytes() == b"half"
        assert remove_stale_temporaries(tmp_path) == []  # the other writer still lives
        assert staged.exists()
    finally:
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait()
    # killed: the kernel dropped its lock, so its staging directory is stale now
    assert remove_stale_temporaries(tmp_path) == [staged]
    assert leftovers(tmp_path) == []
