"""Kill/resume: SIGKILL the pipeline at random moments, rerun it, compare with an uninterrupted run.

    .venv/bin/python benchmarks/chaos.py [--kills 20] [--seed 1] [--dithers 2] [--root DIR]

A small synthetic MIRI MRS observation (``--dithers`` dithers plus a
dedicated background, the demo's generator; every stage runs: Detector1 ->
Spec2 with a background association -> Spec3 -> extraction -> combine ->
stitch) is generated once and processed once without interruption: the
reference.  Then, for each kill, a fresh copy of the raw inputs is run with
``jwstspec run`` (``python -m jwstspec.cli``) in its own process group; the
whole group (CLI, process-pool workers, embedded Prefect server) gets
SIGKILL after a random time, uniform within the reference's duration, and
the run is started again on the same data directory and left to finish.
A fresh copy per kill (rather than one data directory killed again and
again) makes every kill land on a run that still has all of its work
ahead, so the kill moments cover the whole run uniformly.

Checked for each kill:

* right after the kill, every file under a final name (no ``.tmp-``
  prefix) is whole: FITS structure complete (:func:`jwstspec.fitscheck.check_fits`,
  every HDU's data present), JSON/TOML/ECSV parse;
* the rerun exits 0;
* every final product equals the reference's exactly (NaN equal to NaN,
  same dtype and shape): ``combined*/*.fits`` (every column of every table
  HDU, including the ``DITHERS`` table, and the data of image HDUs),
  ``combined*/*.ecsv`` (every column) and the per-dither spectra
  ``extract*/*.fits`` (same as FITS above).  Headers, PNGs, ``summary.md``
  and ``manifest.json`` are not compared (they carry dates, paths and
  timings);
* no temporary file or staging directory (``.tmp-*``) is left anywhere
  under the data directory.

Prints one line per kill and ``N kills, M identical completions``.  The
Prefect database of the runs lives under the work directory
(``PREFECT_HOME``), not in the user's ``~/.prefect``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jwstspec.fileio import TMP_PREFIX  # noqa: E402

CLI = [sys.executable, "-m", "jwstspec.cli"]


def prepare(root: Path, n_dithers: int = 2, crds_path: Path | None = None) -> tuple[Path, Path]:
    """Generate the observation once; return (config file, data directory holding only the raw inputs)."""
    from jwstspec.synthetic.demo import build_demo

    demo = build_demo(root, n_dithers=n_dithers, branches=("miri",), crds_path=crds_path, workers=2)
    return demo.config_files["miri"], demo.data_dir


def fresh_copy(config: Path, template: Path, target: Path, overrides: dict | None = None) -> Path:
    """Copy the raw inputs into ``target`` and write a config pointing at it; return the config path.

    ``overrides``: top-level config entries replaced (validated again).
    """
    from jwstspec.config import load_config, save_config, validate_config

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(template, target / "data", symlinks=True)
    raw = load_config(config).model_dump(mode="json")
    raw.update({"data_dir": str(target / "data"), **(overrides or {})})
    return save_config(validate_config(raw), target / "config.toml")


def cli_env() -> dict[str, str]:
    """Environment of a ``jwstspec run`` subprocess."""
    # a loaded machine (or the first start on a new PREFECT_HOME, which migrates the database) can
    # take longer than Prefect's default 20 s to bring up the embedded API
    return {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", **os.environ, "PYTHONUNBUFFERED": "1"}


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``jwstspec run CONFIG`` in its own process group (so a kill reaches every child)."""
    with open(log, "ab") as fh:
        return subprocess.Popen([*CLI, "run", str(config)], stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, env=cli_env())


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group and reap the leader."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_to_end(config: Path, log: Path, timeout: float = 1800) -> int:
    proc = start(config, log)
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            kill(proc)


def kill_when(proc: subprocess.Popen[bytes], when: float | Callable[[], bool], timeout: float = 1800) -> bool:
    """SIGKILL the process group of ``proc`` after ``when`` seconds, or as soon as ``when()`` is true.

    Returns True when the kill hit a live run (False: it had ended first, or
    ``timeout`` passed; the group is killed then too).
    """
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < timeout:
        due = (time.monotonic() - t0 >= when) if isinstance(when, (int, float)) else when()
        if due:
            kill(proc)
            return True
        time.sleep(0.05)
    if proc.poll() is None:
        kill(proc)
    return False


def run_and_kill(config: Path, log: Path, when: float | Callable[[], bool], timeout: float = 1800) -> bool:
    """Start a run and SIGKILL it after ``when`` seconds, or as soon as ``when()`` is true (see :func:`kill_when`)."""
    return kill_when(start(config, log), when, timeout)


def final_products(data_dir: Path) -> dict[str, list[np.ndarray]]:
    """Arrays of every final product under ``combined*/`` (see the module docstring)."""
    from astropy.io import fits
    from astropy.table import Table

    out: dict[str, list[np.ndarray]] = {}
    paths = sorted(data_dir.rglob("combined*/*")) + sorted(data_dir.rglob("extract*/*.fits"))
    for path in paths:
        if path.name.startswith(TMP_PREFIX):
            continue
        if path.suffix == ".fits":
            arrays = []
            with fits.open(path) as hdul:
                for hdu in hdul:
                    if isinstance(hdu, fits.BinTableHDU):
                        arrays += [np.asarray(hdu.data[name]) for name in hdu.columns.names]
                    elif hdu.data is not None:
                        arrays.append(np.asarray(hdu.data))
            out[str(path.relative_to(data_dir))] = arrays
        elif path.suffix == ".ecsv":
            table = Table.read(path, format="ascii.ecsv")
            out[str(path.relative_to(data_dir))] = [np.asarray(table[c]) for c in table.colnames]
    return out


def differences(reference: dict[str, list[np.ndarray]], other: dict[str, list[np.ndarray]]) -> list[str]:
    """What differs between two :func:`final_products` (empty: identical)."""
    diffs = []
    for name in sorted(set(reference) | set(other)):
        if name not in other or name not in reference:
            diffs.append(f"{name}: {'missing' if name not in other else 'extra'}")
            continue
        a, b = reference[name], other[name]
        if len(a) != len(b) or not all(_equal(x, y) for x, y in zip(a, b)):
            diffs.append(f"{name}: values differ")
    return diffs


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def leftovers(data_dir: Path) -> list[Path]:
    """Temporary files or staging directories anywhere under ``data_dir``."""
    return sorted(p for p in data_dir.rglob(TMP_PREFIX + "*"))


def half_written(data_dir: Path) -> list[str]:
    """Files under a final name that are not whole (see the module docstring); empty: all whole."""
    import json
    import tomllib

    from astropy.table import Table

    from jwstspec.fitscheck import check_fits

    bad = []
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or any(part.startswith(TMP_PREFIX) for part in path.relative_to(data_dir).parts):
            continue
        try:
            if path.suffix == ".fits":
                check_fits(path, telescope=None)
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".toml":
                tomllib.loads(path.read_text())
            elif path.suffix == ".ecsv":
                Table.read(path, format="ascii.ecsv")
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
            bad.append(f"{path.relative_to(data_dir)}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return bad


#: products that mark how far a run got, in pipeline order
_PHASES = (("rate", "stage1/*_rate.fits"), ("cal", "stage2/*_cal.fits"), ("s3d3", "stage3/*_s3d.fits"),
           ("x1d", "extract/*_x1d.fits"), ("comb", "combined/*_combined_x1d.fits"), ("stitch", "combined/*_stitched_x1d.fits"))


def phase(data_dir: Path) -> str:
    """How many products of each kind exist (e.g. ``rate 4 cal 1``): where a kill landed."""
    counts = [(name, sum(1 for p in data_dir.rglob(pattern) if not p.name.startswith(TMP_PREFIX)))
              for name, pattern in _PHASES]
    return " ".join(f"{name} {n}" for name, n in counts if n) or "nothing yet"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dithers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=None, help="work directory (default: a new temporary one)")
    args = parser.parse_args(argv)
    import tempfile

    root = (args.root or Path(tempfile.mkdtemp(prefix="jwstspec-chaos-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(root / "prefect-home")  # the runs' Prefect database, not ~/.prefect
    os.environ.pop("PREFECT_API_URL", None)  # every run starts its own embedded API, as a user's would
    t_all = time.perf_counter()
    config, template = prepare(root / "gen", args.dithers)
    ref_cfg = fresh_copy(config, template, root / "reference")
    t0 = time.perf_counter()
    rc = run_to_end(ref_cfg, root / "reference.log")
    duration = time.perf_counter() - t0
    if rc != 0:
        print(f"reference run failed (exit {rc}); see {root / 'reference.log'}")
        return 1
    reference = final_products(root / "reference" / "data")
    print(f"reference run {duration:.0f} s, {len(reference)} final products compared; work directory {root}")
    print(f"{'kill':>4} {'at s':>6} {'state':>5}  {'products present at the kill':<38} {'whole':>5} {'rerun':>5} "
          f"{'result':<10} {'tmp':>3} {'s':>5}")
    rng = random.Random(args.seed)
    identical = live = 0
    for i in range(args.kills):
        trial = root / f"kill{i:02d}"
        cfg = fresh_copy(config, template, trial)
        data = trial / "data"
        when = rng.uniform(0.0, 1.0) * duration
        t1 = time.perf_counter()
        hit = run_and_kill(cfg, trial / "run.log", when)
        live += hit
        at_kill = phase(data)
        broken = half_written(data)
        rc = run_to_end(cfg, trial / "run.log")
        diffs = differences(reference, final_products(data)) if rc == 0 else [f"rerun exit code {rc}"]
        left = leftovers(data)
        ok = not diffs and not left and not broken
        identical += ok
        print(f"{i + 1:4d} {when:6.1f} {'live' if hit else 'done':>5}  {at_kill:<38} {'yes' if not broken else 'NO':>5} "
              f"{rc:5d} {'identical' if not diffs else 'DIFFERENT':<10} {len(left):3d} {time.perf_counter() - t1:5.0f}")
        for line in [*broken, *diffs, *map(str, left)][:10]:
            print(f"       {line}")
        if ok:
            shutil.rmtree(trial, ignore_errors=True)
        else:
            print(f"       kept for inspection: {trial}")
    print(f"{args.kills} kills ({live} of a live run), {identical} identical completions "
          f"(reference run {duration:.0f} s, {time.perf_counter() - t_all:.0f} s in all)")
    return 0 if identical == args.kills else 1


if __name__ == "__main__":
    raise SystemExit(main())
