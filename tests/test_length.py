"""The typed extraction length: parsed once, converted to pixels, saved as written."""

from __future__ import annotations

import tomllib

import pytest

from jwstspec.config import ExtractionOptions, config_to_toml, validate_config
from jwstspec.length import Length


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [(0.3, 0.3, "arcsec"), (2, 2.0, "arcsec"), ("0.3", 0.3, "arcsec"), ("0.3arcsec", 0.3, "arcsec"),
     ('0.3"', 0.3, "arcsec"), ("3px", 3.0, "px"), ("2.5 pix", 2.5, "px"), ("1e1px", 10.0, "px")],
)
def test_parse(text, value, unit) -> None:
    length = Length.parse(text)
    assert (length.value, length.unit) == (value, unit)
    assert length.raw == text  # kept as written


@pytest.mark.parametrize("text", ["bogus", "3parsec", "-1px", 0, -0.2, "0px", True, "px", ""])
def test_parse_refuses(text) -> None:
    with pytest.raises(ValueError, match="length|positive"):
        Length.parse(text)


def test_pixels_and_equality() -> None:
    assert Length.parse("3px").pixels(0.1) == 3.0
    assert Length.parse(0.3).pixels(0.1) == pytest.approx(3.0)
    assert Length.parse("3 px") == Length.parse("3px") == Length(3.0, "px")  # the spelling is not the value
    assert Length(3.0, "px").raw == "3px" and Length(0.25, "arcsec").raw == 0.25
    assert Length.parse("3 px") == "3px" and Length(0.3, "arcsec") == 0.3 and Length(0.3, "arcsec") != "0.3px"
    assert Length(3.0, "px") != "bogus" and len({Length.parse("3px"), Length.parse("3 pix")}) == 1


def test_config_fields_are_lengths_saved_as_written(tmp_path) -> None:
    opts = ExtractionOptions(radius=0.25, bkg_annulus=("1.0arcsec", "14px"), method="annulus",
                             annulus_radii=("2px", "4 pix"))
    assert opts.radius == Length(0.25, "arcsec")
    assert opts.bkg_annulus == (Length(1.0, "arcsec"), Length(14.0, "px"))
    assert ExtractionOptions().radius == Length(3.0, "px")  # the default is a Length too
    dump = opts.model_dump(mode="json")
    assert dump["radius"] == 0.25 and dump["bkg_annulus"] == ["1.0arcsec", "14px"]
    assert dump["annulus_radii"] == ["2px", "4 pix"]
    assert ExtractionOptions.model_validate(dump) == opts
    # a whole configuration: saved TOML reads back into the same model
    cfg = validate_config({"program": "01234", "observation": "001", "instrument": "miri", "data_dir": str(tmp_path),
                           "extract": {"radius": "2px", "bkg_annulus": [0.5, 0.9]}})
    back = validate_config(tomllib.loads(config_to_toml(cfg)))
    assert back == cfg and back.extract.bkg_annulus[0] == Length(0.5, "arcsec")


def test_json_schema_takes_number_or_text() -> None:
    props = ExtractionOptions.model_json_schema()["properties"]
    assert props["radius"]["anyOf"] == [{"type": "number"}, {"type": "string"}]
    assert props["radius"]["default"] == "3px"
