"""``jwstspec demo``: a synthetic observation processed end to end."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from jwstspec.errors import OptionError

HELP = ("Generate synthetic observations (MIRI MRS, NIRSpec IFU, ...) with a known injected spectrum, run them end to "
        "end with an embedded Prefect and check the final spectra against the truth.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jwstspec demo`` arguments to ``parser``."""
    parser.add_argument("--output", default="jwstspec-demo", help="output directory (default: ./jwstspec-demo)")
    from jwstspec.synthetic.demo import DEFAULT_OBSERVATIONS, OBSERVATIONS

    parser.add_argument("--only", metavar="NAME[,NAME]", default=None,
                        help=f"run only these observations ({', '.join(OBSERVATIONS)}; "
                             f"default: {', '.join(DEFAULT_OBSERVATIONS)})")
    parser.add_argument("--dithers", type=int, default=2,
                        help="MIRI MRS dither positions (default 2, the MRS 2-point pattern; 4 for the 4-point one)")
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
    from jwstspec.synthetic.demo import (
        DEFAULT_DEMO_IFU_DETECTORS,
        DEFAULT_DEMO_IFU_DITHERS,
        IFU_DETECTORS,
        IFU_DITHERS,
        parse_only,
    )

    observations = parse_only(args.only)  # an unknown name: one line, exit 2, before anything is written
    out = Path(args.output)
    if args.clean and out.exists():
        shutil.rmtree(out)
    from flows.demo import run_demo
    from jwstspec.synthetic.truth import format_records

    t0 = time.perf_counter()
    result = run_demo(out, n_dithers=args.dithers, task_runner=args.task_runner, workers=args.workers, verbose=args.verbose,
                      branches=observations,
                      # the default demo observes the NIRSpec IFU at one dither on NRS1 (its time budget), --only
                      # at both dithers on both detectors
                      ifu_dithers=DEFAULT_DEMO_IFU_DITHERS if args.only is None else len(IFU_DITHERS),
                      ifu_detectors=DEFAULT_DEMO_IFU_DETECTORS if args.only is None else IFU_DETECTORS)
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
        if name in result.get("truth", {}):
            path, records = result["truth"][name]
            print(f"    against the injected truth ({path}):")
            for line in format_records(records):
                print(f"      {line}")
    return 0
