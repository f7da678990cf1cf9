"""``jwstspec extract``: the 1-D spectrum of one cube or slit image."""

from __future__ import annotations

import argparse

from jwstspec.commands.options import add_option_arguments, given_options
from jwstspec.config import ExtractionOptions

HELP = "Extract the 1-D spectrum of a point source from an s3d cube or s2d slit image (EXTRACT1D FITS out)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jwstspec extract`` arguments (one flag per :class:`ExtractionOptions` field) to ``parser``."""
    parser.add_argument("input", help="s3d cube (IFUCubeModel) or s2d slit image (SlitModel / MultiSlitModel)")
    add_option_arguments(parser, ExtractionOptions)  # one flag per field of the model: --method, --radius, ...
    parser.add_argument("--slit-name", help="s2d MultiSlit products: extract only this slit (default: every slit)")
    parser.add_argument("--ecsv", action="store_true", help="also write the spectrum as ECSV")
    parser.add_argument("--output", required=True, help="output EXTRACT1D FITS file")


def run(args: argparse.Namespace) -> int:
    """Extract; exit 0 when at least one spectrum was written (failed slits of a multi-slit file are warnings)."""
    import sys
    import warnings

    from jwstspec.extract import extract_file
    from jwstspec.extract.api import SlitSkippedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlitSkippedWarning)  # reported below, one line each
        result = extract_file(args.input, args.output, slit_name=args.slit_name,
                              **given_options(ExtractionOptions, args))
    for name, reason in getattr(result, "failed", []):
        print(f"jwstspec extract: warning: {args.input}: slit {name} not extracted: {reason}", file=sys.stderr)
    spectra = result.spectra or [result.spectrum]
    if args.ecsv:
        for path, spec in zip(result.paths, spectra):
            spec.write_ecsv(path.with_suffix(".ecsv"))
    returned = sum(int((spec.dq & 1 == 0).sum()) for spec in spectra)
    where = result.path if len(result.paths) == 1 else f"{len(result.paths)} slits -> {result.paths[0].parent}"
    print(f"{where}: {returned} of {result.n_slices * len(spectra)} slices returned, "
          f"{result.n_replaced} replaced voxels, {result.seconds:.2f} s")
    return 0
