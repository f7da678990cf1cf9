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
