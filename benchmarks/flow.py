"""Flow benchmarks: demo first run vs cached rerun, serial vs concurrent, orchestration scale.

    .venv/bin/python benchmarks/flow.py [--part demo|concurrency|scale|all] [--sizes 50 200 500]

* demo: wall time of the demo flow (both branches) first run and cached rerun.
* concurrency: Detector1 on 1, 2, 4 MIRI exposures, serially (one worker) and
  concurrently (process pool, 2 workers); Prefect overhead per task =
  (flow wall time - sum of task run times) / tasks.
* scale: the flow's full task graph for N exposures x 4 bands with every
  stage's work replaced by a trivial function (this benchmark only):
  orchestration seconds per task and peak memory, N = 50 ... 500.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_demo(root: Path) -> dict[str, float]:
    from flows.pipeline import run_pipeline
    from jwstspec.synthetic.demo import run_demo

    t0 = time.perf_counter()
    result = run_demo(root / "demo")
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    for config in result["demo"].configs.values():
        run_pipeline(config)
    cached = time.perf_counter() - t1
    gen = result["seconds"]["generate"]
    print(f"demo: first run {first:.1f} s (generate {gen:.1f} s, flows {first - gen:.1f} s); "
          f"cached rerun {cached:.1f} s = {100 * cached / (first - gen):.1f} % of the first flow runs")
    return {"first": first, "cached": cached}


def bench_concurrency(root: Path) -> None:
    from flows.pipeline import run_pipeline
    from jwstspec.config import validate_config
    from jwstspec.synthetic.demo import build_demo

    demo = build_demo(root / "conc", n_dithers=4)
    base = demo.configs["miri"].model_dump()
    for n in (1, 2, 4):
        times = {}
        for runner, workers in (("serial", 1), ("process", 2)):  # serial: a 1-worker process pool (same overheads)
            data = root / f"conc-{n}-{runner}"
            data.mkdir()
            raw = demo.root / "raw" / "miri"
            sel = root / f"raw-{n}"
            sel.mkdir(exist_ok=True)
            for p in sorted(raw.glob(f"jw{base['program']}{base['observation']}*_uncal.fits"))[:n]:
                if not (sel / p.name).exists():
                    os.link(p, sel / p.name)
            cfg = validate_config({**base, "data_dir": str(data), "background_observation": None,
                                   "stages": ["download", "stage1"],
                                   "stage1": {"bkg_subtract": "none"},
                                   "download": {"enabled": False, "ingest_from": [str(sel)]},
                                   "runtime": {"task_runner": "process", "workers": workers, "cache": False}})
            t0 = time.perf_counter()
            summary = run_pipeline(cfg)
            times[runner] = time.perf_counter() - t0
            assert summary["status"] == "completed"
        print(f"concurrency: {n} exposure(s) Detector1: 1 worker {times['serial']:.1f} s, "
              f"2 workers {times['process']:.1f} s, speed-up {times['serial'] / times['process']:.2f}x")


def bench_scale(root: Path, sizes: list[int]) -> None:
    """Full task graph with trivial stage functions (patched in this process; thread runner)."""
    import numpy as np
    from astropy.io import fits

    import jwstspec.products
    import jwstspec.stages.pipelines as pl
    from flows.pipeline import run_pipeline
    from jwstspec import extract
    from jwstspec.config import validate_config
    from jwstspec.spectrum import Spectrum

    def touch(path: Path, header: fits.Header | None = None) -> Path:
        fits.PrimaryHDU(header=header).writeto(path, overwrite=True)
        return path

    def det1(uncal, output_dir, **kw):
        h = fits.getheader(uncal)
        return touch(Path(output_dir) / Path(uncal).name.replace("_uncal", "_rate"), h)

    def spec2(inp, output_dir, **kw):
        h = fits.getheader(inp)
        name = Path(inp).name.replace("_rate.fits", "")
        return [touch(Path(output_dir) / f"{name}_cal.fits", h), touch(Path(output_dir) / f"{name}_s3d.fits", h)]

    def spec3(asn, output_dir, **kw):
        return [touch(Path(output_dir) / (Path(asn).name.replace("_spec3_asn.json", "") + "_s3d.fits"))]

    def fake_extract(source, output, **kw):
        w = np.linspace(5, 6, 10)
        Spectrum(w, np.ones(10), np.ones(10)).write_fits(output)

        class R:
            path = Path(output)
            paths = [Path(output)]

        return R()

    def fake_combine(spectra, output, **kw):
        touch(Path(output))
        return {"fits": str(output)}

    pl.run_detector1, pl.run_spec2, pl.run_spec3 = det1, spec2, spec3
    extract.extract_file = fake_extract
    jwstspec.products.combine_band = fake_combine
    jwstspec.products.stitch_bands = fake_combine
    from jwstspec.stages import associations

    def fake_asn(members, output, **kw):
        Path(output).write_text("{}")
        return Path(output)

    associations.write_spec3_asn = fake_asn

    for n in sizes:
        data = root / f"scale-{n}"
        raw = root / f"scale-raw-{n}"
        raw.mkdir(parents=True)
        data.mkdir()
        bands = ["SHORT", "MEDIUM", "LONG", "SHORT"]
        dets = ["MIRIFUSHORT", "MIRIFUSHORT", "MIRIFUSHORT", "MIRIFULONG"]
        for i in range(n):
            b = i % 4
            h = fits.Header({"TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": dets[b], "EXP_TYPE": "MIR_MRS",
                             "PROGRAM": "01234", "OBSERVTN": "001", "VISIT": "001", "EXPOSURE": str(i + 1),
                             "CHANNEL": "12" if b < 3 else "34", "BAND": bands[b], "PATT_NUM": i // 4 + 1})
            touch(raw / f"jw01234001001_01101_{i + 1:05d}_{dets[b].lower()}_uncal.fits", h)
        cfg = validate_config({"program": "01234", "observation": "001", "instrument": "miri", "data_dir": str(data),
                               "download": {"enabled": False, "ingest_from": [str(raw)]},
                               "stage1": {"bkg_subtract": "none"}, "extract": {"method": "aperture"},
                               "runtime": {"task_runner": "thread", "workers": 8}})
        t0 = time.perf_counter()
        summary = run_pipeline(cfg)
        wall = time.perf_counter() - t0
        ntasks = len(summary["tasks"])
        print(f"scale: {n} exposures x 4 bands: {ntasks} tasks in {wall:.1f} s = {wall / ntasks:.3f} s/task; "
              f"peak RSS {_rss_mb():.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["demo", "concurrency", "scale", "all"], default="all")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    args = parser.parse_args()
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    with tempfile.TemporaryDirectory(prefix="jwstspec-bench-") as tmp, embedded_prefect():
        root = Path(tmp)
        if args.part in ("demo", "all"):
            bench_demo(root)
        if args.part in ("concurrency", "all"):
            bench_concurrency(root)
        if args.part in ("scale", "all"):
            bench_scale(root, args.sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
