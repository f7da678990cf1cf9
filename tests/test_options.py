"""Option sets: one model gives the configuration keys, the command-line flags and the library's options."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from pydantic import Field

from jwstspec.commands import combine as combine_command
from jwstspec.commands import extract as extract_command
from jwstspec.commands.options import add_option_arguments, given_options, option_fields
from jwstspec.config import CombineOptions, ExtractionOptions, OptionSet
from jwstspec.errors import OptionError
from jwstspec.length import Length


def _parse(command, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize(("command", "model", "argv"), [
    (extract_command, ExtractionOptions, ["in_s3d.fits", "--output", "o.fits"]),
    (combine_command, CombineOptions, ["a.fits", "b.fits", "--output", "o.fits"]),
])
def test_no_flags_means_the_configuration_defaults(command, model, argv) -> None:
    args = _parse(command, argv)
    assert given_options(model, args) == {}  # nothing the user did not write
    assert model.resolve(overrides=given_options(model, args)) == model()
    assert ExtractionOptions().method == "psf"  # one default for the config, the CLI and extract_file


def test_every_option_is_a_flag() -> None:
    for command, model in ((extract_command, ExtractionOptions), (combine_command, CombineOptions)):
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        flags = {s for a in parser._actions for s in a.option_strings}
        for field in option_fields(model):
            assert model.flag(field) in flags, (model.__name__, field)
        for field in model.run_only:  # where the flow puts products: not an option of one file
            assert field not in option_fields(model)
        if model is ExtractionOptions:
            assert "--bkg-clip-sigma" in flags  # had no flag before the flags came from the model


def test_historical_extract_command_line() -> None:
    """The flags, their number of values and meanings are contracts of ``jwstspec extract``."""
    args = _parse(extract_command, [
        "c_s3d.fits", "--method", "annulus", "--radius", "0.3", "--annulus-radii", "2px", "4px",
        "--bkg-annulus", "8px", "11px", "--window", "4", "--center", "3", "4.5", "--center-offset", "0.5", "-1",
        "--no-background", "--clip-sigma", "3", "--bkg-clip-sigma", "2.5", "--slit-name", "S200A1",
        "--save-cleaned", "--covariance", "none", "--output", "o.fits"])
    opts = ExtractionOptions.resolve(overrides=given_options(ExtractionOptions, args))
    assert opts.method == "annulus" and opts.radius == Length(0.3, "arcsec") and opts.window == 4
    assert opts.annulus_radii == (Length(2, "px"), Length(4, "px")) and opts.bkg_annulus == (Length(8, "px"), Length(11, "px"))
    assert opts.center == (3.0, 4.5) and opts.center_offset == (0.5, -1.0)
    assert opts.background is False and opts.clip_sigma == 3.0 and opts.bkg_clip_sigma == 2.5
    assert opts.save_cleaned is True and opts.covariance == "none"
    assert args.slit_name == "S200A1" and args.output == "o.fits"  # command-line-only arguments stay
    args = _parse(extract_command, ["c.fits", "--method", "psf", "--fit-background", "--center-radec", "10", "-60",
                                    "--output", "o.fits"])
    opts = ExtractionOptions.resolve(overrides=given_options(ExtractionOptions, args))
    assert opts.fit_background is True and opts.center_radec == (10.0, -60.0)


def test_historical_combine_command_line() -> None:
    args = _parse(combine_command, ["a.fits", "b.fits", "--clip-sigma", "4", "--window", "7", "--mask-range", "5", "6",
                                    "--mask-range", "7.5", "8", "--rescale-errors", "--stitch", "--scale",
                                    "--no-spectral-leak", "--no-plot", "--output", "o.fits"])
    opts = CombineOptions.resolve(overrides=given_options(CombineOptions, args))
    assert opts.clip_sigma == 4.0 and opts.window_half == 7 and opts.mask_ranges == [(5.0, 6.0), (7.5, 8.0)]
    assert opts.rescale_errors and opts.scale_bands and not opts.spectral_leak
    assert args.stitch and args.no_plot and args.spectra == ["a.fits", "b.fits"]


class _Grown(ExtractionOptions):
    """The model as other work extends it: new fields, no command-line code."""

    nod_subtracted: bool = Field(False, description="The image is a nod difference.")
    spectral_leak: bool = Field(True, description="Correct the leak.")
    apcorr: Literal["auto", "none"] = Field("auto", description="Aperture correction.")
    slits: list[str] = Field(default_factory=list, description="Slits to extract.")
    trace_width: Length | None = Field(None, description="Width of the trace.")
    nod_pattern: bool | None = Field(None, description="Nod subtraction (default: from the headers).")


def test_a_new_field_is_a_flag_without_code() -> None:
    parser = argparse.ArgumentParser()
    add_option_arguments(parser, _Grown)
    args = parser.parse_args(["--nod-subtracted", "--no-spectral-leak", "--apcorr", "none", "--slits", "S1", "S2",
                              "--radius", "2px", "--no-nod-pattern"])
    opts = _Grown.resolve(overrides=given_options(_Grown, args))
    assert opts.nod_subtracted is True and opts.spectral_leak is False and opts.apcorr == "none"
    assert opts.nod_pattern is False and _Grown.resolve(overrides={}).nod_pattern is None
    assert _Grown.resolve(overrides=given_options(_Grown, parser.parse_args(["--nod-pattern"]))).nod_pattern is True
    assert opts.slits == ["S1", "S2"] and opts.radius == Length(2, "px")
    with pytest.raises(SystemExit):  # choices come from the Literal
        parser.parse_args(["--apcorr", "maybe"])
    assert "--apcorr {auto,none}" in parser.format_help()  # and --help lists them
    assert "--spectral-leak" not in parser.format_help() and "--no-nod-subtracted" not in parser.format_help()


def test_a_field_without_command_line_form_is_refused_loudly() -> None:
    class Odd(OptionSet):
        section = "odd"
        table: dict[str, float] = Field(default_factory=dict, description="no flag for this")

    with pytest.raises(TypeError, match="table"):
        add_option_arguments(argparse.ArgumentParser(), Odd)


def test_errors_name_what_the_user_wrote() -> None:
    """A flag or keyword is named as a flag, a configuration value as its ``[section] key``."""
    with pytest.raises(OptionError, match=r"x_s3d.fits: option --clip-sigma: must be positive"):
        ExtractionOptions.resolve(overrides={"clip_sigma": 0}, path="x_s3d.fits")
    with pytest.raises(OptionError, match=r"^\[extract\] radius: 'bogus' is not a length"):
        ExtractionOptions.resolve({"radius": "bogus"})
    section = ExtractionOptions(method="aperture")
    with pytest.raises(OptionError, match=r"option --fit-background: .*needs method 'psf'"):
        ExtractionOptions.resolve(section, {"fit_background": True})
    with pytest.raises(OptionError, match=r"\[extract\] annulus_radii: method 'annulus' needs"):
        ExtractionOptions.resolve({"method": "annulus"})
    with pytest.raises(OptionError, match=r"option --window: must be at least 1"):
        CombineOptions.resolve(overrides={"window_half": 0})
    with pytest.raises(TypeError, match="radus"):
        ExtractionOptions.resolve(overrides={"radus": "3px"})


def test_library_options_round_trip_without_run_fields() -> None:
    section = ExtractionOptions(variant="v1", stage="stage3", radius=0.4, center=(1.0, 2.0))
    dump = section.library_options()
    assert "variant" not in dump and "stage" not in dump and dump["radius"] == 0.4
    again = ExtractionOptions.resolve(dump)
    assert again.radius == section.radius and again.center == section.center and again.option_name("radius") == "[extract] radius"
    assert ExtractionOptions.resolve(section) is section


def test_extraction_errors_name_the_flag_or_the_key(tmp_path: Path) -> None:
    """The same bad radius through keywords (CLI, Python) and through a configuration section (the flow)."""
    from jwstspec.extract import extract_file
    from jwstspec.synthetic.cubes import make_cube, write_s3d

    path = write_s3d(make_cube(nwave=40, ny=15, nx=15, seed=3), tmp_path / "small_s3d.fits")
    with pytest.raises(OptionError) as flag:
        extract_file(path, tmp_path / "a.fits", radius="9px", background=False)
    with pytest.raises(OptionError) as key:
        extract_file(path, tmp_path / "b.fits", ExtractionOptions(radius="9px", background=False).library_options())
    assert "option --radius: region of radius 9 px" in str(flag.value) and "small_s3d.fits" in str(flag.value)
    assert "[extract] radius: region of radius 9 px" in str(key.value) and "--radius" not in str(key.value)
    assert not list(tmp_path.glob("[ab].fits"))


def test_bkg_clip_sigma_reaches_the_extraction(tmp_path: Path) -> None:
    """The option that had no flag: the CLI value equals the keyword's and changes the background estimate."""
    from jwstspec.cli import main
    from jwstspec.extract import extract_file
    from jwstspec.spectrum import read_spectrum
    from jwstspec.synthetic.cubes import make_cube, write_s3d

    path = write_s3d(make_cube(nwave=60, ny=21, nx=21, seed=5), tmp_path / "bk_s3d.fits")
    common = ["--method", "aperture", "--radius", "3px", "--bkg-annulus", "5px", "9px"]
    assert main(["extract", str(path), *common, "--bkg-clip-sigma", "0.5", "--output", str(tmp_path / "cli.fits")]) == 0
    lib = extract_file(path, tmp_path / "lib.fits", method="aperture", radius="3px", bkg_annulus=("5px", "9px"),
                       bkg_clip_sigma=0.5).spectrum
    default = extract_file(path, tmp_path / "def.fits", method="aperture", radius="3px", bkg_annulus=("5px", "9px")).spectrum
    cli = read_spectrum(tmp_path / "cli.fits")
    np.testing.assert_array_equal(cli.background, lib.background)
    assert np.any(cli.background != default.background)


@pytest.mark.parametrize(("argv", "flag", "reason"), [
    (["extract", "x_s3d.fits", "--center", "1", "2", "--center-radec", "3", "4"], "--center-radec", "one fixed centre"),
    (["extract", "x_s3d.fits", "--method", "box", "--fit-background"], "--fit-background", "method 'psf'"),
    (["extract", "x_s3d.fits", "--window", "0"], "--window", "at least 1"),
    (["combine", "a.fits", "b.fits", "--mask-range", "6", "5"], "--mask-range", "lower bound"),
    (["combine", "a.fits", "--clip-sigma", "-1"], "--clip-sigma", "positive"),
])
def test_cli_refuses_bad_values_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv, flag, reason) -> None:
    """Checked by the model before any file is read: exit 2, one line naming the flag."""
    from jwstspec.cli import main

    assert main([*argv, "--output", str(tmp_path / "o.fits")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"option {flag}:" in err and reason in err, err
    assert not list(tmp_path.iterdir())
