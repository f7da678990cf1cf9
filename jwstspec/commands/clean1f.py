"""``jwstspec clean1f``: NIRSpec 1/f correction of one rate file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "Correct a NIRSpec rate/rateints file for 1/f noise (the input is never modified)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jwstspec clean1f`` arguments to ``parser``."""
    parser.add_argument("rate", help="rate or rateints file")
    parser.add_argument("--method", choices=["pipeline", "constant", "moving_median"], required=True)
    parser.add_argument("--mask", default=None, help="FITS image of the detector shape: non-zero pixels are excluded from the stripe estimate")
    parser.add_argument("--window", type=int, default=201, help="moving-median length along the columns (default 201)")
    parser.add_argument("--clip-sigma", type=float, default=3.0, help="sigma clipping of the column statistics (default 3)")
    parser.add_argument("--output", required=True, help="output file")


def run(args: argparse.Namespace) -> int:
    """Run ``jwstspec clean1f``; return the exit code."""
    from jwstspec.errors import OptionError
    from jwstspec.stages.clean1f import clean_1f

    if Path(args.output).resolve() == Path(args.rate).resolve():
        raise OptionError("--output", "must differ from the input (inputs are never modified)", args.rate)
    if args.clip_sigma <= 0:
        raise OptionError("--clip-sigma", "must be positive", args.rate)
    t0 = time.perf_counter()
    out = clean_1f(Path(args.rate), Path(args.output), method=args.method,
                   mask_path=Path(args.mask) if args.mask else None, window=args.window, clip_sigma=args.clip_sigma)
    print(f"{out}: 1/f corrected with {args.method} in {time.perf_counter() - t0:.1f} s")
    return 0
