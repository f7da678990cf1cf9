"""Kill/resume: SIGKILL the pipeline at random moments, rerun it, compare with an uninterrupted run.

    .venv/bin/python benchmarks/chaos.py [--kills 20] [--seed 1] [--dithers 2] [--root DIR]

A small synthetic MIRI MRS observation (``--dithers`` dithers plus a
dedicated background, the demo's generator) is processed once without
interruption: the reference.  Then, for each kill, a fresh copy of the raw
inputs is run with ``jwstspec run`` in its own process group, the whole
group (CLI, process-pool workers, embedded Prefect server) gets SIGKILL
after a random time within the reference's duration, and the run is
started again and left to finish.  After each completed rerun:

* every final product (``combined/*.fits`` and ``*.ecsv``) must equal the
  reference's: for FITS files every column of every table HDU, and the data
  of image HDUs, exactly (NaN equal to NaN); for ECSV the table columns.
  Headers and PNGs are not compared (they carry dates and paths);
* no temporary file or staging directory (``.tmp-*``) may be left anywhere
  under the data directory.

Prints one line per kill and ``N kills, M identical completions``.
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


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``jwstspec run CONFIG`` in its own process group (so a kill reaches every child)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as fh:
        return subprocess.Popen([*CLI, "run", str(config)], stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)


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


def run_and_kill(config: Path, log: Path, when: float | Callable[[], bool], timeout: float = 1800) -> bool:
    """Start a run and SIGKILL it after ``when`` seconds, or as soon as ``when()`` is true.

    Returns True when the kill hit a live run (False: it had finished first).
    """
    proc = start(config, log)
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


def final_products(data_dir: Path) -> dict[str, list[np.ndarray]]:
    """Arrays of every final product under ``combined*/`` (see the module docstring)."""
    from astropy.io import fits
    from astropy.table import Table

    out: dict[str, list[np.ndarray]] = {}
    for path in sorted(data_dir.rglob("combined*/*")):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dithers", type=int, default=2)
    parser.add_argument("--root", type=Path, default=None, help="work directory (default: a new temporary one)")
    args = parser.parse_args(argv)
    import tempfile

    root = args.root or Path(tempfile.mkdtemp(prefix="jwstspec-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
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
    print(f"reference run {duration:.0f} s, {len(reference)} final products; work directory {root}")
    rng = random.Random(args.seed)
    identical = 0
    for i in range(args.kills):
        trial = root / f"kill{i:02d}"
        cfg = fresh_copy(config, template, trial)
        when = rng.uniform(0.02, 0.98) * duration
        t1 = time.perf_counter()
        hit = run_and_kill(cfg, trial / "run.log", when)
        rc = run_to_end(cfg, trial / "run.log")
        products = final_products(trial / "data")
        diffs = differences(reference, products) if rc == 0 else [f"rerun exit code {rc}"]
        left = leftovers(trial / "data")
        ok = not diffs and not left
        identical += ok
        print(f"kill {i + 1:2d} at {when:5.1f} s ({'live' if hit else 'after the end'}): rerun exit {rc}, "
              f"{'identical' if not diffs else '; '.join(diffs[:3])}, "
              f"{len(left)} temporaries left, {time.perf_counter() - t1:.0f} s")
        if ok:
            shutil.rmtree(trial, ignore_errors=True)
    print(f"{args.kills} kills, {identical} identical completions ({time.perf_counter() - t_all:.0f} s in all)")
    return 0 if identical == args.kills else 1


if __name__ == "__main__":
    raise SystemExit(main())
