"""``jwstspec extract``: the 1-D spectrum of one cube or slit image."""

from __future__ import annotations

import argparse

from jwstspec.errors import OptionError

HELP = "Extract the 1-D spectrum of a point source from an s3d cube or s2d slit image (EXTRACT1D FITS out)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="s3d cube (IFUCubeModel) or s2d slit image (SlitModel / MultiSlitModel)")
    parser.add_argument("--method", choices=["aperture", "box", "annulus", "psf"], default="aperture")
    parser.add_argument("--radius", default="3px", help="aperture radius: arcsec, or pixels with a px suffix (default 3px)")
    parser.add_argument("--annulus-radii", nargs=2, metavar=("RIN", "ROUT"), help="annular extraction region (method annulus)")
    parser.add_argument("--bkg-annulus", nargs=2, metavar=("RIN", "ROUT"), default=None,
                        help="background annulus (IFU, default 10px 12px) or distances of the side regions from the "
                             "trace (slit; default: the slit's rows outside the extraction region plus a margin)")
    parser.add_argument("--window", type=int, default=10, help="half-width in slices of the empirical-profile window")
    centre = parser.add_mutually_exclusive_group()
    centre.add_argument("--center", nargs=2, type=float, metavar=("X", "Y"), help="fixed centre, 0-based pixels")
    centre.add_argument("--center-radec", nargs=2, type=float, metavar=("RA", "DEC"), help="fixed centre, degrees")
    parser.add_argument("--center-offset", nargs=2, type=float, metavar=("DX", "DY"), help="offset from the centroid, pixels")
    parser.add_argument("--no-background", action="store_true", help="do not subtract a background")
    parser.add_argument("--fit-background", action="store_true",
                        help="psf: fit a constant background with the PSF in each slice")
    parser.add_argument("--clip-sigma", type=float, default=5.0, help="outlier threshold")
    parser.add_argument("--slit-name", help="s2d MultiSlit products: extract only this slit (default: every slit)")
    parser.add_argument("--save-cleaned", action="store_true",
                        help="s3d only: also write the cube with its replaced voxels filled (<output stem>_cleaned_s3d.fits)")
    parser.add_argument("--covariance", choices=["auto", "none"], default="auto",
                        help="auto inflates the errors by the measured spatial noise correlation (s3d: between spaxels, "
                             "s2d: along the slit; header ERRCOV); none treats pixels as independent, as jwst does (default auto)")
    nod = parser.add_mutually_exclusive_group()
    nod.add_argument("--nod-subtracted", dest="nod_subtracted", action="store_true", default=None,
                     help="slit images: the image is nod-subtracted (negative traces kept out of the background; "
                          "default: detected from the headers)")
    nod.add_argument("--not-nod-subtracted", dest="nod_subtracted", action="store_false",
                     help="slit images: the image is not nod-subtracted, whatever the headers say")
    parser.add_argument("--ecsv", action="store_true", help="also write the spectrum as ECSV")
    parser.add_argument("--output", required=True, help="output EXTRACT1D FITS file")


def run(args: argparse.Namespace) -> int:
    """Extract; exit 0 when at least one spectrum was written (failed slits of a multi-slit file are warnings)."""
    import sys
    import warnings

    from jwstspec.extract import extract_file
    from jwstspec.extract.api import SlitSkippedWarning

    if args.window < 1:
        raise OptionError("--window", "must be at least 1", args.input)
    if args.clip_sigma <= 0:
        raise OptionError("--clip-sigma", "must be positive", args.input)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlitSkippedWarning)  # reported below, one line each
        result = _extract(extract_file, args)
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


def _extract(extract_file, args: argparse.Namespace):  # noqa: ANN001, ANN202
    return extract_file(
        args.input,
        args.output,
        method=args.method,
        radius=args.radius,
        annulus_radii=tuple(args.annulus_radii) if args.annulus_radii else None,
        bkg_annulus=tuple(args.bkg_annulus) if args.bkg_annulus else None,
        nod_subtracted=getattr(args, "nod_subtracted", None),
        background=not args.no_background,
        window=args.window,
        clip_sigma=args.clip_sigma,
        center=tuple(args.center) if args.center else None,
        center_radec=tuple(args.center_radec) if args.center_radec else None,
        center_offset=tuple(args.center_offset) if args.center_offset else None,
        slit_name=getattr(args, "slit_name", None),
        save_cleaned=args.save_cleaned,
        fit_background=args.fit_background,
        covariance=getattr(args, "covariance", "auto"),
    )
