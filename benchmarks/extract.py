"""Extraction benchmark: load + extraction per method, and jwst's Extract1dStep on the same cube.

    .venv/bin/python benchmarks/extract.py [--sizes 3000x45x45 1200x35x35] [--repeat 2] [--no-jwst]

For each cube size a synthetic NIRSpec-like cube (jwstspec.synthetic.cubes)
is written to a temporary directory; each method (aperture, box, annulus,
psf) is timed from the file (read + centring + outliers + extraction +
writing), best of ``--repeat``, with its peak traced memory (tracemalloc,
which sees numpy's buffers) relative to the cube's in-memory size
(float32 SCI + ERR + uint32 DQ).  Then ``Extract1dStep`` runs on the same
file with the offline recipe of ../shared/docs/offline-jwst.md section 5.2
(serverless CRDS, a synthetic Extract1dIFUModel reference, no apcorr).
The median flux ratio of jwstspec/jwst is printed as a sanity check.
The cost of the correlated-noise estimate (``covariance`` auto vs none) is
printed for aperture and psf.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = {
    "aperture": {"radius": "4px"},
    "box": {"radius": "3px"},
    "annulus": {"radius": "4px", "annulus_radii": ("1.5px", "4px")},
    "psf": {"radius": "4px"},
}


def _extract1d_ref(path: Path, radius_arcsec: float, bkg: tuple[float, float]) -> Path:
    from stdatamodels.jwst.datamodels import Extract1dIFUModel

    wl = np.linspace(0.5, 30.0, 20).astype(np.float32)
    m = Extract1dIFUModel()
    m.data.wavelength = wl
    m.data.wavelength_units = "micron"
    m.data.radius = np.full_like(wl, radius_arcsec)
    m.data.radius_units = "arcsec"
    m.data.inner_bkg = np.full_like(wl, bkg[0])
    m.data.inner_bkg_units = "arcsec"
    m.data.outer_bkg = np.full_like(wl, bkg[1])
    m.data.outer_bkg_units = "arcsec"
    m.data.axis_ratio = np.ones_like(wl)
    m.data.axis_pa = np.zeros_like(wl)
    m.data.axis_pa_units = "degrees"
    m.meta.instrument.name = "NIRSPEC"
    m.meta.instrument.detector = "N/A"
    m.meta.reftype = "extract1d"
    m.meta.author = "jwstspec benchmark"
    m.meta.pedigree = "DUMMY"
    m.meta.description = "benchmark extract1d"
    m.meta.useafter = "2000-01-01T00:00:00"
    m.meta.region_type = "target"
    m.meta.subtract_background = True
    m.meta.method = "exact"
    m.meta.subpixels = 10
    m.save(path, all_array_storage="inline")
    return path


def bench_jwst(cube_path: Path, workdir: Path) -> tuple[float, np.ndarray]:
    crds = workdir / "crds" / "config" / "jwst"
    crds.mkdir(parents=True, exist_ok=True)
    (crds / "server_config").write_text(
        "{'observatory': 'jwst', 'last_synced': '2025-01-01 00:00:00', 'latest_context': 'jwst_0000.pmap'}")
    os.environ.update(CRDS_PATH=str(workdir / "crds"), CRDS_SERVER_URL="https://jwst-serverless-mode.stsci.edu",
                      STPIPE_DISABLE_CRDS_STEPPARS="true")
    import logging

    from jwst.extract_1d import Extract1dStep

    for name in ("stpipe", "jwst", "CRDS"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ref = _extract1d_ref(workdir / "extract1d.asdf", 0.4, (0.8, 1.1))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x1d = Extract1dStep.call(str(cube_path), override_extract1d=str(ref), override_psf="N/A",
                                 override_apcorr="N/A", apply_apcorr=False)
    seconds = time.perf_counter() - t0
    flux = np.asarray(x1d.spec[0].spec_table["FLUX"], dtype=float)
    return seconds, flux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["3000x45x45", "1200x35x35"])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-jwst", action="store_true")
    args = parser.parse_args()
    from jwstspec.extract import extract_file
    from jwstspec.synthetic.cubes import make_cube, write_s3d

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in args.sizes:
            nw, ny, nx = (int(v) for v in size.split("x"))
            cube = make_cube(nwave=nw, ny=ny, nx=nx, seed=1)
            path = write_s3d(cube, work / f"bench_{size}_s3d.fits")
            nbytes = cube.data.nbytes + cube.err.nbytes + cube.dq.nbytes
            print(f"cube {size}: {nbytes / 1e6:.0f} MB in memory (SCI+ERR+DQ)")
            fluxes = {}
            for method, opts in METHODS.items():
                best = np.inf
                for _ in range(args.repeat):  # timing without tracemalloc (it slows numpy allocation down)
                    t0 = time.perf_counter()
                    res = extract_file(path, work / f"{method}.fits", method=method, bkg_annulus=("8px", "11px"), **opts)
                    best = min(best, time.perf_counter() - t0)
                tracemalloc.start()  # one more run for the peak memory
                extract_file(path, work / f"{method}.fits", method=method, bkg_annulus=("8px", "11px"), **opts)
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                fluxes[method] = res.spectrum.flux
                print(f"  {method:9s} {best:6.2f} s   peak {peak / 1e6:6.0f} MB = {peak / nbytes:4.1f}x cube   "
                      f"replaced {res.n_replaced}")
            for method in ("aperture", "psf"):  # cost of the covariance estimate (auto) over independent voxels (none)
                best = {}
                for mode in ("none", "auto"):
                    best[mode] = np.inf
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        res = extract_file(path, work / "cov.fits", method=method, bkg_annulus=("8px", "11px"),
                                           covariance=mode, **METHODS[method])
                        best[mode] = min(best[mode], time.perf_counter() - t0)
                print(f"  covariance {method:9s} auto {best['auto']:6.2f} s, none {best['none']:6.2f} s: "
                      f"+{best['auto'] - best['none']:.2f} s per cube (ERRCOV {res.spectrum.meta['ERRCOV']:.3f})")
            if not args.no_jwst:
                seconds, flux = bench_jwst(path, work)
                ratio = np.nanmedian(fluxes["aperture"] / flux)
                print(f"  Extract1dStep {seconds:6.2f} s (aperture r=0.4\" + annulus bkg); jwstspec aperture/jwst flux "
                      f"median ratio {ratio:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
