"""``jwstspec extract`` as a whole process (issue 14 item 7): a 31x1500 slit image and a 3000x45x45 cube.

    .venv/bin/python benchmarks/cli_extract.py [--old-tree /path/to/old/checkout] [--repeat 3] [--pycache DIR]

Writes the two products to a temporary directory, then runs
``python -m jwstspec.cli extract <product> --output ...`` as a
subprocess, ``--repeat`` times each, with ``PYTHONPATH`` set to this
checkout ("new") and, with ``--old-tree``, to another checkout ("old"),
and prints the best and median wall time of each and the best and median
CPU time (user + system of the process: on a busy machine the wall time
mostly measures the other processes), with the load average after each case.  The start-up of a
Python process here is dominated by compiling the imported modules when
no bytecode can be cached (``PYTHONDONTWRITEBYTECODE=1`` and a read-only
or never-compiled environment): ``--pycache DIR`` sets
``PYTHONPYCACHEPREFIX`` so compiled modules are cached in DIR between
runs (first run warms it and is not counted), which is what an ordinary
installation does.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_products(directory: Path) -> dict[str, Path]:
    """The 31x1500 slit image (SlitModel, MJy/sr, no source position) and a 3000x45x45 s3d cube."""
    from stdatamodels.jwst.datamodels import SlitModel

    from jwstspec.synthetic.cubes import make_cube, write_s3d

    rng = np.random.default_rng(0)
    nc, nw = 31, 1500
    rows = np.arange(nc)[:, None]
    data = (100 * np.exp(-0.5 * ((rows - 15.3) / 1.0) ** 2) * np.ones(nw)[None] + rng.normal(size=(nc, nw)) + 5.0)
    m = SlitModel()
    m.data = data.astype(np.float32)
    m.err = np.ones((nc, nw), np.float32)
    m.dq = np.zeros((nc, nw), np.uint32)
    m.wavelength = np.broadcast_to(np.linspace(1, 5, nw)[None], (nc, nw)).astype(np.float32).copy()
    m.name = "S200A1"
    m.meta.bunit_data = m.meta.bunit_err = "MJy/sr"
    m.meta.photometry.pixelarea_steradians = (0.1 / 206264.806) ** 2
    m.meta.wcsinfo.dispersion_direction = 1
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    slit = directory / "slit_31x1500_s2d.fits"
    m.save(slit)
    cube = write_s3d(make_cube(nwave=3000, ny=45, nx=45, seed=1), directory / "cube_3000x45x45_s3d.fits")
    return {"slit 31x1500": slit, "cube 3000x45x45": cube}


def run_once(tree: Path, product: Path, output: Path, env_extra: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one ``jwstspec extract`` process."""
    env = {**os.environ, "PYTHONPATH": str(tree), **env_extra}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd = the tree: ``python -m`` puts the working directory first on sys.path, before PYTHONPATH
    proc = subprocess.run([sys.executable, "-m", "jwstspec.cli", "extract", str(product), "--output", str(output)],
                          env=env, capture_output=True, text=True, check=False, cwd=str(tree))
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: extract failed on {product.name}: {proc.stderr.strip().splitlines()[-1:]}")
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def check_tree(tree: Path, env_extra: dict[str, str]) -> None:
    """Fail unless a process started as :func:`run_once` starts it imports jwstspec from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), **env_extra}
    out = subprocess.run([sys.executable, "-c", "import jwstspec; print(jwstspec.__file__)"], env=env, cwd=str(tree),
                         capture_output=True, text=True, check=True).stdout.strip()
    if not Path(out).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{tree}: the process imported jwstspec from {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-tree", type=Path, help="another checkout to time as 'old'")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pycache", type=Path, help="PYTHONPYCACHEPREFIX: cache compiled modules here")
    args = ap.parse_args()
    env_extra: dict[str, str] = {}
    if args.pycache:
        env_extra["PYTHONPYCACHEPREFIX"] = str(args.pycache)
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    trees = {"new": ROOT, **({"old": args.old_tree.resolve()} if args.old_tree else {})}
    for tree in trees.values():
        check_tree(tree, env_extra)
    with tempfile.TemporaryDirectory() as tmp:
        products = write_products(Path(tmp))
        print(f"load average at start: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})")
        for label, product in products.items():
            for name, tree in trees.items():
                out = Path(tmp) / f"{name}_x1d.fits"
                if args.pycache:
                    run_once(tree, product, out, env_extra)  # warm the bytecode cache
                runs = [run_once(tree, product, out, env_extra) for _ in range(args.repeat)]
                wall, cpu = [w for w, _ in runs], [c for _, c in runs]
                print(f"{label:16s} {name:4s} wall best {min(wall):6.2f} s median {statistics.median(wall):6.2f} s | "
                      f"CPU best {min(cpu):6.2f} s median {statistics.median(cpu):6.2f} s  "
                      f"({args.repeat} runs{', bytecode cached' if args.pycache else ''}; load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
