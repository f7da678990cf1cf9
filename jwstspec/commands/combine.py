"""``jwstspec combine``: clean and combine dither spectra, or stitch bands."""

from __future__ import annotations

import argparse
from pathlib import Path

from jwstspec.commands.options import add_option_arguments, given_options
from jwstspec.config import CombineOptions
from jwstspec.errors import OptionError

HELP = "Clean and combine dither spectra (EXTRACT1D files), or stitch bands with --stitch."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jwstspec combine`` arguments (one flag per :class:`CombineOptions` field) to ``parser``."""
    parser.add_argument("spectra", nargs="+", help="EXTRACT1D spectra (one per dither, or one per band with --stitch)")
    parser.add_argument("--stitch", action="store_true", help="stitch different bands instead of combining dithers")
    add_option_arguments(parser, CombineOptions)  # one flag per field of the model: --clip-sigma, --window, ...
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG plot")
    parser.add_argument("--output", required=True, help="output EXTRACT1D FITS file (an .ecsv is written beside it)")


def run(args: argparse.Namespace) -> int:
    """Run ``jwstspec combine``; return the exit code."""
    from astropy.io import fits

    from jwstspec.products import combine_band, stitch_bands
    from jwstspec.spectrum import read_spectrum

    options = CombineOptions.resolve(overrides=given_options(CombineOptions, args))
    out = Path(args.output)
    inputs = [Path(s) for s in args.spectra]
    if args.stitch:
        from jwstspec.errors import ConfigError

        try:
            product = stitch_bands(inputs, out, options, plot=not args.no_plot)
        except ConfigError as exc:
            if exc.field != "combine.leak_reference":
                raise
            raise OptionError("--leak-reference", f"{exc.reason} (or skip the correction with --no-spectral-leak)") from None
        notes = f" ({'; '.join(product.notes)})" if product.notes else ""
        print(f"{out}: {len(product.bands)} bands from {len(args.spectra)} files, "
              f"LEAKCORR = {'T' if product.leakcorr else 'F'}{notes}")
        return 0
    record = combine_band(inputs, out, options, plot=not args.no_plot)
    flagged = int(fits.getdata(out, "DITHERS")["FLAGGED"].sum())  # the points the cleaning left out, as written
    notes = f" ({'; '.join(record.notes)})" if record.notes else ""
    print(f"{out}: {len(read_spectrum(out))} points from {len(args.spectra)} spectra, {flagged} points flagged{notes}")
    return 0
