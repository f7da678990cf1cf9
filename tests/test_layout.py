"""The data layout: every path comes from here."""

from __future__ import annotations

from pathlib import Path

from jwstspec.config import validate_config
from jwstspec.layout import Layout, product_name


def test_layout_from_config_with_variants(tmp_path: Path) -> None:
    cfg = validate_config({"program": "01234", "observation": "001", "instrument": "miri", "data_dir": str(tmp_path),
                           "stage1": {"variant": "v2"}, "extract": {"variant": "psf5"}})
    lay = Layout.from_config(cfg)
    assert lay.uncal_dir("001") == tmp_path / "01234" / "Obs001" / "uncal"
    assert lay.stage_dir("001", "stage1").name == "stage1-v2"
    assert lay.stage_dir("001", "stage2").name == "stage2"
    assert lay.stage_dir("001", "extract").name == "extract-psf5"
    lay.create(["001", "002"])
    for obs in ("001", "002"):
        for sub in ("uncal", "stage1-v2", "stage2", "stage3", "extract-psf5", "combined", "logs"):
            assert (tmp_path / "01234" / f"Obs{obs}" / sub).is_dir()
    assert lay.cache_dir.is_dir() and lay.cache_dir.is_relative_to(tmp_path)
    uncal = lay.uncal_dir("001") / "jw01234001001_01101_00001_mirifushort_uncal.fits"
    assert lay.rate_path("001", uncal).name == "jw01234001001_01101_00001_mirifushort_rate.fits"
    assert lay.rate_path("001", uncal, tso=True).name.endswith("_rateints.fits")
    assert lay.spectrum_path("001", "x/jw01234001001_01101_00001_mirifushort_s3d.fits", "psf").name == (
        "jw01234001001_01101_00001_mirifushort_psf_x1d.fits"
    )


def test_product_name_strips_known_suffixes() -> None:
    assert product_name("jw01234001001_01101_00001_nrs1_rate_bkgsub.fits") == "jw01234001001_01101_00001_nrs1"
    assert product_name("/a/b/jw01234-o001_t001_miri_ch1-short_s3d.fits") == "jw01234-o001_t001_miri_ch1-short"
    assert product_name("jw01234001001_01101_00001_nrs1_spec2_asn.json") == "jw01234001001_01101_00001_nrs1"


def _touch(*paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def test_stage_product_names_and_the_globs_that_find_them(tmp_path: Path) -> None:
    """Every name the flow writes is built here, and the listings find exactly what those names give."""
    from jwstspec.layout import bkgsub_name

    lay = Layout(tmp_path, "01234")
    root = "jw01234003001_03101_00001_nrs1"
    uncal = lay.uncal_dir("003") / f"{root}_uncal.fits"
    other = lay.uncal_dir("004") / "jw01234004001_03101_00001_nrs1_uncal.fits"
    _touch(uncal, other, lay.uncal_dir("003") / f".{root}_uncal.fits.tmp-1_uncal.fits", lay.uncal_dir("003") / f"{root}_rate.fits")
    assert lay.uncal_files("003") == [uncal] and lay.uncal_files("009") == []
    assert lay.placed_uncal() == [uncal, other]

    stage1 = lay.stage_dir("003", "stage1")
    assert lay.corrected_rate_path("003", uncal) == stage1 / f"{root}_ratecorr.fits"
    assert lay.corrected_rate_path("003", root, tso=True) == stage1 / f"{root}_rateintscorr.fits"
    assert lay.bkgsub_path("003", root) == stage1 / f"{root}_rate_bkgsub.fits"
    assert bkgsub_name(stage1 / f"{root}_ratecorr.fits") == f"{root}_rate_bkgsub.fits"
    assert bkgsub_name(stage1 / f"{root}_rateints.fits") == f"{root}_rateints_bkgsub.fits"
    assert lay.bkgsub_products("003", root) == []
    _touch(lay.bkgsub_path("003", root), stage1 / f"{root}_rate.fits")
    assert lay.bkgsub_products("003", root) == [lay.bkgsub_path("003", root)]
    for built in (lay.corrected_rate_path("003", root), lay.bkgsub_path("003", root), lay.stage2_cube_path("003", root)):
        assert product_name(built) == root  # the names the library reads back

    stage2 = lay.stage_dir("003", "stage2")
    products = [stage2 / f"{root}_{s}.fits" for s in ("cal", "s3d", "x1d")]
    _touch(*products, stage2 / "jw01234003001_03101_00002_nrs1_cal.fits")
    assert lay.stage2_products("003", root) == sorted(products)
    assert lay.stage2_cube_path("003", root) == products[1]
    _touch(stage2 / ".jw01234003001_03101_00002_nrs1_s3d.fits")  # an interrupted write
    assert lay.extraction_sources("003", "stage2", "ifu") == [products[1]]
    assert lay.extraction_sources("003", "stage2", "fixed_slit") == []

    spec = lay.spectrum_path("003", products[1], "aperture")
    _touch(spec, lay.stage_dir("003", "extract") / "notes.txt")
    assert lay.spectra("003") == [spec]


def test_product_kinds_by_name() -> None:
    from jwstspec.layout import extraction_suffix, is_cal, is_extraction_source

    assert extraction_suffix("ifu") == "s3d" and extraction_suffix("fixed_slit") == "s2d" and extraction_suffix("mos") == "s2d"
    assert is_extraction_source("/d/jw01_t001_miri_ch1-short_s3d.fits", "ifu")
    assert not is_extraction_source("/d/jw01_t001_miri_ch1-short_s3d.fits", "fixed_slit")
    assert is_extraction_source("jw01_nrs1_s2d.fits", "mos") and not is_extraction_source("jw01_nrs1_s2d.fits.json", "mos")
    assert is_cal("a/jw01_nrs1_cal.fits") and not is_cal("a/jw01_nrs1_calints.fits")
    assert is_cal("a/jw01_nrs1_calints.fits", tso=True) and not is_cal("a/jw01_nrs1_cal.fits", tso=True)
    assert not is_cal("a/jw01_nrs1_cal.fits.tmp")


def test_time_series_product_names(tmp_path: Path) -> None:
    """The issue's names: <product>_whitelight.ecsv/.png, <product>_speclc.fits/.ecsv/.png, in combined/."""
    from jwstspec.layout import is_x1dints

    lay = Layout(tmp_path, "01234")
    src = tmp_path / "01234/Obs001/stage3/jw01234-o001_t001_miri_x1dints.fits"
    paths = lay.timeseries_paths("001", src)
    combined = lay.stage_dir("001", "combined")
    assert {p.parent for p in paths.values()} == {combined}
    names = {k: p.name for k, p in paths.items()}
    assert names["whitelight"] == "jw01234-o001_t001_miri_whitelight.ecsv"
    assert names["whitelight_png"] == "jw01234-o001_t001_miri_whitelight.png"
    assert (names["speclc"], names["speclc_ecsv"], names["speclc_png"]) == tuple(
        f"jw01234-o001_t001_miri_speclc.{x}" for x in ("fits", "ecsv", "png"))
    assert len(set(paths.values())) == len(paths)
    assert is_x1dints(src) and not is_x1dints(paths["speclc"]) and not is_x1dints("a_x1d.fits")
    src.parent.mkdir(parents=True)
    src.write_bytes(b"x")
    (src.parent / ".tmp-jw01234-o001_t001_miri_x1dints.abc.fits").write_bytes(b"x")
    assert lay.x1dints_products("001") == [src]
