"""``jwstspec combine``: clean and combine dither spectra, or stitch bands."""

from __future__ import annotations

import argparse
from pathlib import Path

from jwstspec.errors import OptionError

HELP = "Clean and combine dither spectra (EXTRACT1D files), or stitch bands with --stitch."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spectra", nargs="+", help="EXTRACT1D spectra (one per dither, or one per band with --stitch)")
    parser.add_argument("--clip-sigma", type=float, default=5.0, help="flagging threshold (default 5)")
    parser.add_argument("--window", type=int, default=10, help="half-width of the running median (default 10)")
    parser.add_argument("--mask-range", nargs=2, type=float, action="append", default=[], metavar=("LO", "HI"),
                        help="wavelength range (um) to mask in every dither (repeatable)")
    parser.add_argument("--rescale-errors", action="store_true",
                        help="multiply the combined errors by the dithers' measured excess scatter (ERRSCALE)")
    parser.add_argument("--stitch", action="store_true", help="stitch different bands instead of combining dithers")
    parser.add_argument("--scale", action="store_true", help="with --stitch: scale each band to its neighbour")
    from jwstspec.config import CombineOptions

    # the option definitions (default, description) live in the model

    fields = CombineOptions.model_fields
    parser.add_argument("--no-spectral-leak", dest="spectral_leak", action="store_false",
                        default=fields["spectral_leak"].default,
                        help=f"with --stitch: skip this correction ({fields['spectral_leak'].description} "
                             "Applied by default to MIRI MRS input; 1B and 3A found from the spectra's headers.)")
    parser.add_argument("--leak-reference", default=None, metavar="FILE",
                        help=f"with --stitch: {fields['leak_reference'].description}")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    parser.add_argument("--output", required=True, help="output EXTRACT1D FITS file (an .ecsv is written beside it)")


def run(args: argparse.Namespace) -> int:
    from jwstspec.combine import combine_files

    if args.clip_sigma <= 0:
        raise OptionError("--clip-sigma", "must be positive")
    if args.window < 1:
        raise OptionError("--window", "must be at least 1")
    for lo, hi in args.mask_range:
        if not lo < hi:
            raise OptionError("--mask-range", f"{lo} {hi}: lower bound must be below upper bound")
    out = Path(args.output)
    plot = None if args.no_plot else out.with_suffix(".png")
    if args.stitch:
        from jwstspec.errors import ConfigError
        from jwstspec.products import stitch_bands

        try:
            product = stitch_bands([Path(s) for s in args.spectra], out, scale=args.scale,
                                   spectral_leak=args.spectral_leak, leak_reference=args.leak_reference,
                                   plot=plot is not None)
        except ConfigError as exc:
            if exc.field != "combine.leak_reference":
                raise
            raise OptionError("--leak-reference", f"{exc.reason} (or skip the correction with --no-spectral-leak)") from None
        notes = f" ({'; '.join(product.notes)})" if product.notes else ""
        print(f"{out}: {len(product.bands)} bands from {len(args.spectra)} files, "
              f"LEAKCORR = {'T' if product.leakcorr else 'F'}{notes}")
        return 0
    result = combine_files([Path(s) for s in args.spectra], out, window_half=args.window, clip_sigma=args.clip_sigma,
                           mask_ranges=[tuple(r) for r in args.mask_range], plot=plot,
                           rescale_errors=args.rescale_errors)
    flagged = sum(int(f.sum()) for f in result.flags)
    notes = f" ({'; '.join(result.notes)})" if result.notes else ""
    print(f"{out}: {len(result.combined)} points from {len(args.spectra)} spectra, {flagged} points flagged{notes}")
    return 0
