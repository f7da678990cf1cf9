"""``jwstspec demo``: a synthetic observation processed end to end."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from jwstspec.errors import OptionError

HELP = "Generate a synthetic MIRI MRS + NIRSpec IFU program and run it end to end with an embedded Prefect."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jwstspec demo`` arguments to ``parser``."""
    parser.add_argument("--output", default="jwstspec-demo", help="output directory (default: ./jwstspec-demo)")
    parser.add_argument("--dithers", type=int, default=4, help="MIRI MRS dither positions (default 4)")
    parser.add_argument("--task-runner", choices=["process", "thread", "dask", "serial"], default="process")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--clean", action="store_true", help="delete the output directory first (no cache reuse)")
    parser.add_argument("--verbose", action="store_true",
                        help="show the jwst pipelines' detail (each step's parameters and references) on the console "
                             "and in the Prefect run log (always in the per-exposure log files)")


def run(args: argparse.Namespace) -> int:
    """Run ``jwstspec demo``; return the exit code."""
    if args.dithers < 1:
        raise OptionError("--dithers", "must be at least 1")
    out = Path(args.output)
    if args.clean and out.exists():
        shutil.rmtree(out)
    from flows.demo import run_demo

    t0 = time.perf_counter()
    result = run_demo(out, n_dithers=args.dithers, task_runner=args.task_runner, workers=args.workers, verbose=args.verbose)
    demo = result["demo"]
    print()
    print(f"jwstspec demo finished in {time.perf_counter() - t0:.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in result['seconds'].items())})")
    for name, summary in result["summaries"].items():
        combined = Path(summary.get("summary", demo.data_dir)).parent
        print(f"  {name}: final spectra, plots, manifest and summary in {combined}/")
        for band, record in (summary.get("products") or {}).items():
            if isinstance(record, dict) and record.get("fits"):
                print(f"    {band:>22}: {record['fits']}")
        print(f"    run summary: {summary.get('summary')}")
    return 0
