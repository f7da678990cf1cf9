"""Header-driven selection and grouping rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.errors import ConfigError, InputFileError
from jwstspec.exposures import check_compatible, match_backgrounds, read_exposure, select_exposures


def make(tmp: Path, name: str, **keys) -> Path:
    header = fits.Header()
    defaults = dict(TELESCOP="JWST", INSTRUME="NIRSPEC", DETECTOR="NRS1", EXP_TYPE="NRS_IFU", PROGRAM="01234",
                    OBSERVTN="001", VISIT="001", EXPOSURE="1", GRATING="G395H", FILTER="F290LP", SUBARRAY="FULL",
                    READPATT="NRSRAPID", PATT_NUM=1, GWA_XTIL=0.3, GWA_YTIL=0.13)
    defaults.update(keys)
    for k, v in defaults.items():
        if v is not None:
            header[k] = v
    path = tmp / name
    fits.PrimaryHDU(header=header).writeto(path)
    return path


def test_skip_ta_and_imaging_and_leave_the_detector_rule_to_jwst(tmp_path: Path) -> None:
    """NRS2 exposures stay in the selection: which detector holds data is jwst's rule, applied by the flow
    (``jwstspec.stages.detector_rule``, tests/test_detector_rule.py), not a table here."""
    files = [
        make(tmp_path, "a_nrs1_uncal.fits"),
        make(tmp_path, "a_nrs2_uncal.fits", DETECTOR="NRS2"),  # H grating: kept
        make(tmp_path, "ta_uncal.fits", EXP_TYPE="NRS_WATA"),
        make(tmp_path, "img_uncal.fits", EXP_TYPE="NRS_IMAGE"),
        make(tmp_path, "m_nrs2_uncal.fits", DETECTOR="NRS2", GRATING="G235M", FILTER="F170LP"),  # IFU M on NRS2
        make(tmp_path, "m_nrs1_uncal.fits", GRATING="G235M", FILTER="F170LP"),
        make(tmp_path, "prism_nrs2_uncal.fits", DETECTOR="NRS2", GRATING="PRISM", FILTER="CLEAR"),
    ]
    sel = select_exposures(files, instrument="nirspec", program="01234")
    assert sorted(sel.groups) == ["g235m-f170lp_nrs1", "g235m-f170lp_nrs2", "g395h-f290lp_nrs1", "g395h-f290lp_nrs2",
                                  "prism-clear_nrs2"]
    reasons = {p.name: r for p, r in sel.skipped}
    assert set(reasons) == {"ta_uncal.fits", "img_uncal.fits"}
    assert "target-acquisition" in reasons["ta_uncal.fits"]


def test_fixed_slit_m_grating_keeps_nrs2(tmp_path: Path) -> None:
    f = make(tmp_path, "fs_uncal.fits", DETECTOR="NRS2", GRATING="G235M", FILTER="F170LP", EXP_TYPE="NRS_FIXEDSLIT")
    assert select_exposures([f]).groups.keys() == {"g235m-f170lp_nrs2"}


def test_miri_mrs_grouping_by_channel_band_detector(tmp_path: Path) -> None:
    kw = dict(INSTRUME="MIRI", EXP_TYPE="MIR_MRS", GRATING=None, FILTER=None)
    files = [
        make(tmp_path, f"d{i}_{det}_{band}_uncal.fits", DETECTOR=det, CHANNEL=ch, BAND=band, PATT_NUM=i, **kw)
        for i in (2, 1)
        for det, ch in (("MIRIFUSHORT", "12"), ("MIRIFULONG", "34"))
        for band in ("SHORT", "LONG")
    ]
    sel = select_exposures(files, instrument="miri")
    assert sorted(sel.groups) == ["12long_mirifushort", "12short_mirifushort", "34long_mirifulong", "34short_mirifulong"]
    assert [e.patt_num for e in sel.groups["12short_mirifushort"]] == [1, 2]  # sorted by dither position


def test_wrong_program_or_instrument_is_an_error(tmp_path: Path) -> None:
    f = make(tmp_path, "x_uncal.fits", PROGRAM="09999")
    with pytest.raises(InputFileError, match="PROGRAM is 09999"):
        select_exposures([f], program="01234")
    with pytest.raises(InputFileError, match="INSTRUME is NIRSPEC"):
        select_exposures([f], instrument="miri")


@pytest.mark.parametrize("content", [b"", b"not a fits file at all" * 10])
def test_unreadable_files_name_the_file(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "bad_uncal.fits"
    f.write_bytes(content)
    with pytest.raises(InputFileError) as info:
        read_exposure(f)
    assert str(f) in str(info.value)


def test_non_jwst_file(tmp_path: Path) -> None:
    f = make(tmp_path, "hst_uncal.fits", TELESCOP="HST")
    with pytest.raises(InputFileError, match="not a JWST product"):
        read_exposure(f)


def test_background_matching_and_compatibility(tmp_path: Path) -> None:
    sci = select_exposures([make(tmp_path, "s_uncal.fits")]).groups
    bkg = select_exposures([make(tmp_path, "b_uncal.fits", OBSERVTN="002")]).groups
    assert [e.path.name for e in match_backgrounds(sci, bkg)["g395h-f290lp_nrs1"]] == ["b_uncal.fits"]
    other = select_exposures([make(tmp_path, "o_uncal.fits", OBSERVTN="002", GRATING="G140H", FILTER="F100LP")]).groups
    with pytest.raises(ConfigError, match="no background exposure for science group g395h-f290lp_nrs1"):
        match_backgrounds(sci, other)
    sub = read_exposure(make(tmp_path, "sub_uncal.fits", SUBARRAY="SUB512"))
    with pytest.raises(InputFileError, match="subarray SUB512 differs"):
        check_compatible(sci["g395h-f290lp_nrs1"][0], sub)
    assert np.isclose(sci["g395h-f290lp_nrs1"][0].gwa_xtilt, 0.3)


@pytest.mark.parametrize("tsovisit", [True, False])
def test_time_series_rule_is_jwsts_on_the_shipped_tso_product(tmp_path: Path, tsovisit: bool) -> None:
    """Header rule vs jwst's is_tso on the datamodel of the same real-format file (MIRI LRS slitless, 10 ints)."""
    import shutil

    from jwst.lib.pipe_utils import is_tso
    from stdatamodels.jwst import datamodels

    from jwstspec.exposures import is_time_series
    from jwstspec.synthetic.miri_lrs import shipped_tso_file

    path = tmp_path / "jw00623026001_03102_00001_mirimage_calints.fits"
    shutil.copy(shipped_tso_file(), path)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["TSOVISIT"] = tsovisit
    with datamodels.open(str(path)) as model:
        expected = is_tso(model)
    assert expected is tsovisit  # MIR_LRS-SLITLESS is a time series only through TSOVISIT
    assert is_time_series(read_exposure(path)) is expected


def test_tso_setting_checked_against_headers_both_ways(tmp_path: Path) -> None:
    from jwstspec.exposures import check_time_series

    bots = read_exposure(make(tmp_path, "bots_uncal.fits", EXP_TYPE="NRS_BRIGHTOBJ", TSOVISIT=True, NINTS=500,
                              GRATING="G395H", SUBARRAY="SUB2048"))
    slit = read_exposure(make(tmp_path, "fs_uncal.fits", EXP_TYPE="NRS_FIXEDSLIT", TSOVISIT=False, NINTS=1))
    one_int = read_exposure(make(tmp_path, "bots1_uncal.fits", EXP_TYPE="NRS_BRIGHTOBJ", NINTS=1))
    check_time_series([bots], tso=True)
    check_time_series([slit, one_int], tso=False)  # a single integration is no time series (jwst's rule)
    with pytest.raises(ConfigError) as info:
        check_time_series([slit], tso=True)
    assert str(info.value) == ("config field 'tso': tso = true, but fs_uncal.fits is not a time series "
                               "(TSOVISIT = F, EXP_TYPE = NRS_FIXEDSLIT, NINTS = 1); set tso = false")
    with pytest.raises(ConfigError, match=r"tso = false, but bots_uncal.fits is a time series \(TSOVISIT = T, "
                                          r"EXP_TYPE = NRS_BRIGHTOBJ, NINTS = 500\); set tso = true"):
        check_time_series([slit, bots], tso=False)
