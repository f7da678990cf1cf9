"""Flow benchmarks: demo first run vs cached rerun, serial vs concurrent, Prefect overhead, orchestration scale.

    .venv/bin/python benchmarks/flow.py [--part demo|concurrency|scale|all] [--sizes 50 200 500]
                                        [--exposures 1 2 4] [--repeat 1]

* demo: wall time of the demo's three flows, first run (including worker
  start) and a cached rerun in the same process, each flow separately.
* concurrency: Detector1 (the real pipeline, full-frame MIRI) on 1, 2, 4
  exposures with a 1-worker process pool ("serial") and a 2-worker pool
  ("concurrent").  Each case runs twice: "cold" with a new pool (what one
  ``jwstspec run`` sees: worker start included) and "warm" with the pool of
  the previous run (processing only).  Stage times and Prefect's overhead
  per task come from the task runs' own timestamps (Prefect API):
  stage time = time in the Running state; overhead per task = the gap the
  one serial worker spends between the end of one task's function and the
  start of the next (cache key, state changes, result persistence, the
  hand-off through the pool), i.e. (last end - first start - sum of stage
  times) / (tasks - 1) in the warm serial run.
  Before and after the runs, the machine's own ceiling: the speed-up of two
  processes over one on pure-Python CPU work (2.0 on two free cores).
* scale: the flow's full task graph for N exposures x 4 bands with every
  stage's work replaced by a trivial function (this benchmark only):
  orchestration seconds per task and peak memory, N = 50 ... 500.

Every line is printed with the 1/5/15-minute load averages at that moment:
the machine has 2 cores and is shared, so figures taken with a load above
2 understate the concurrent speed-up.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def bench_demo(root: Path) -> dict[str, float]:
    from flows.demo import run_demo
    from flows.pipeline import run_pipeline

    print(f"demo: start ({_load()})", flush=True)
    t0 = time.perf_counter()
    result = run_demo(root / "demo")
    first = time.perf_counter() - t0
    gen = result["seconds"]["generate"]
    flows = first - gen
    per_flow = ", ".join(f"{name} {result['seconds'][name]:.1f} s" for name in result["demo"].configs)
    print(f"demo: first run {first:.1f} s (generate {gen:.1f} s, flows {flows:.1f} s: {per_flow}) ({_load()})", flush=True)
    t1 = time.perf_counter()
    cached_flows = []
    for name, config in result["demo"].configs.items():
        t = time.perf_counter()
        summary = run_pipeline(config)
        cached_flows.append(f"{name} {time.perf_counter() - t:.2f} s")
        ran = [t for t in summary["tasks"] if t["state"] != "cached" and t["stage"] != "download"]
        assert not ran, ran
    cached = time.perf_counter() - t1
    print(f"demo: cached rerun {cached:.1f} s ({', '.join(cached_flows)}) = {100 * cached / flows:.1f} % of the first "
          f"flow runs ({_load()})", flush=True)
    return {"first": first, "flows": flows, "cached": cached}


def _task_runs(flow_run_id: str, name: str) -> list[Any]:
    """Task runs of one flow run whose name starts with ``name``, from the Prefect API."""
    from uuid import UUID

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])))
    return sorted((r for r in runs if r.name.startswith(name) and r.start_time and r.end_time), key=lambda r: r.start_time)


def _timing(summary: dict[str, Any], wall: float) -> dict[str, float]:
    runs = _task_runs(summary["flow_run_id"], "detector1")
    stage = [r.total_run_time.total_seconds() for r in runs]
    out = {"wall": wall, "n": len(runs), "stage_mean": sum(stage) / max(len(stage), 1), "stage_sum": sum(stage)}
    if len(runs) > 1:
        span = (runs[-1].end_time - runs[0].start_time).total_seconds()
        out["overhead"] = (span - sum(stage)) / (len(runs) - 1)
    return out


def _burn(n: int = 30_000_000) -> float:
    t0 = time.perf_counter()
    s = 0
    for i in range(n):
        s += i * i
    return time.perf_counter() - t0


def machine_ceiling() -> float:
    """Speed-up of 2 processes over 1 on pure-Python CPU work, now: what the machine itself allows.

    The target (>= 1.8x for 4 exposures on 2 cores) assumes two free cores;
    on a shared machine this says how much of them a second process gets.
    """
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as ex:
        list(ex.map(_burn, [1000, 1000]))  # both workers started
        t0 = time.perf_counter()
        for _ in range(2):
            ex.submit(_burn).result()
        serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(ex.map(_burn, [30_000_000] * 2))
        concurrent = time.perf_counter() - t0
    ceiling = serial / concurrent
    print(f"machine: 2 CPU-bound processes vs 1: serial {serial:.1f} s, concurrent {concurrent:.1f} s, "
          f"ceiling {ceiling:.2f}x ({_load()})", flush=True)
    return ceiling


def bench_concurrency(root: Path, exposures: list[int], repeat: int = 1) -> None:
    from flows.pipeline import run_pipeline
    from flows.runtime import close_warm_pool
    from jwstspec.config import validate_config
    from jwstspec.synthetic.demo import build_demo

    demo = build_demo(root / "conc", n_dithers=max(4, max(exposures)))
    base = demo.configs["miri"].model_dump()
    raw = demo.root / "raw" / "miri"
    results: dict[tuple[int, str, str], list[dict[str, float]]] = {}
    ceilings = [machine_ceiling()]
    for rep in range(repeat):
        for n in exposures:
            sel = root / f"raw-{n}"
            sel.mkdir(exist_ok=True)
            for p in sorted(raw.glob(f"jw{base['program']}{base['observation']}*_uncal.fits"))[:n]:
                if not (sel / p.name).exists():
                    os.link(p, sel / p.name)
            for runner, workers in (("serial", 1), ("concurrent", 2)):
                close_warm_pool()  # the "cold" run starts its workers
                for pool in ("cold", "warm"):
                    data = root / f"conc-{rep}-{n}-{runner}-{pool}"
                    data.mkdir()
                    cfg = validate_config({**base, "data_dir": str(data), "background_observation": None,
                                           "stages": ["download", "stage1"],
                                           "stage1": {"bkg_subtract": "none"},
                                           "download": {"enabled": False, "ingest_from": [str(sel)]},
                                           "runtime": {"task_runner": "process", "workers": workers, "cache": False}})
                    t0 = time.perf_counter()
                    summary = run_pipeline(cfg)
                    wall = time.perf_counter() - t0
                    assert summary["status"] == "completed"
                    timing = _timing(summary, wall)
                    results.setdefault((n, runner, pool), []).append(timing)
                    if workers > 1:  # tasks overlap: the gaps between them are no overhead
                        timing.pop("overhead", None)
                    extra = f", Prefect overhead {timing['overhead']:.2f} s/task" if "overhead" in timing else ""
                    print(f"concurrency: {n} exposure(s), {runner} ({workers} worker), {pool} pool: {wall:.1f} s, "
                          f"Detector1 {timing['stage_mean']:.1f} s/exposure{extra} ({_load()})", flush=True)
        ceilings.append(machine_ceiling())
    close_warm_pool()
    print(f"machine: ceiling {min(ceilings):.2f}x - {max(ceilings):.2f}x during the runs below")
    for n in exposures:
        for pool in ("cold", "warm"):
            s = min(r["wall"] for r in results[(n, "serial", pool)])
            c = min(r["wall"] for r in results[(n, "concurrent", pool)])
            print(f"concurrency: {n} exposure(s), {pool} pool: serial {s:.1f} s, concurrent {c:.1f} s, "
                  f"speed-up {s / c:.2f}x (best of {repeat})")
    serial = [r for n in exposures for r in results[(n, "serial", "warm")] if "overhead" in r]
    if serial:
        best = min(serial, key=lambda r: r["overhead"])
        print(f"overhead: Prefect {best['overhead']:.2f} s per task vs Detector1 {best['stage_mean']:.1f} s per task = "
              f"{100 * best['overhead'] / best['stage_mean']:.1f} % ({best['n']} tasks, warm serial pool)")


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

    def fake_extract(source, output, options=None, **kw):
        w = np.linspace(5, 6, 10)
        Spectrum(w, np.ones(10), np.ones(10)).write_fits(output)

        class R:
            path = Path(output)
            paths = [Path(output)]

        return R()

    def fake_combine(spectra, output, options=None, **kw):
        from jwstspec.products import BandProduct

        touch(Path(output))
        return BandProduct(fits=str(output))

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
                               # the stages are no-ops: a pinned context, no CRDS server or cache asked
                               "crds": {"server_url": "https://jwst-serverless-mode.stsci.edu", "context": "jwst_0000.pmap"},
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
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500], help="scale: exposures")
    parser.add_argument("--exposures", type=int, nargs="+", default=[1, 2, 4], help="concurrency: exposures")
    parser.add_argument("--repeat", type=int, default=1, help="concurrency: repetitions (the best is reported)")
    args = parser.parse_args()
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    with tempfile.TemporaryDirectory(prefix="jwstspec-bench-") as tmp, embedded_prefect():
        root = Path(tmp)
        if args.part in ("demo", "all"):
            bench_demo(root)
        if args.part in ("concurrency", "all"):
            bench_concurrency(root, args.exposures, args.repeat)
        if args.part in ("scale", "all"):
            bench_scale(root, args.sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
