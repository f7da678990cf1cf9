"""``[extract] slits`` (``--slits``): which slits of a fixed-slit product are extracted (issue 13, item 3).

Default: the primary slit named in the header (``FXD_SLIT``) of a
fixed-slit exposure; every slit of another slit product (MOS).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import InputFileError, OptionError
from jwstspec.extract import extract_file
from jwstspec.spectrum import read_spectrum
from tests.test_extract_slit_failures import _fill


def _product(path: Path, exp_type: str, primary: str | None = "S200A1") -> tuple[Path, dict[str, np.ndarray]]:
    """A MultiSlit s2d with S200A1 and S400A1, a different flux in each (Jy per pixel truths by slit)."""
    from stdatamodels.jwst.datamodels import MultiSlitModel

    m = MultiSlitModel()
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    m.meta.exposure.type = exp_type
    if primary:
        m.meta.instrument.fixed_slit = primary
    truths = {}
    for i, (name, scale) in enumerate((("S200A1", 1.0), ("S400A1", 3.0))):
        m.slits.append(m.slits.item())
        truths[name] = _fill(m.slits[i], name, i) * scale
        m.slits[i].data = (m.slits[i].data * scale).astype(np.float32)
    m.save(path)
    return path, truths


def _total(path: Path) -> float:
    return float(np.median(read_spectrum(path).flux))


OPTS = {"radius": "4px", "background": False, "covariance": "none", "method": "aperture"}


def test_fixed_slit_default_is_the_primary_slit_of_the_header(tmp_path):
    path, truths = _product(tmp_path / "fs_s2d.fits", "NRS_FIXEDSLIT")
    res = extract_file(path, tmp_path / "x1d.fits", **OPTS)
    assert [p.name for p in res.paths] == ["x1d.fits"]  # one slit: no slit suffix
    assert _total(res.paths[0]) == pytest.approx(truths["S200A1"].sum(axis=0).mean(), rel=0.01)


def test_slits_option_extracts_the_named_slits(tmp_path):
    path, truths = _product(tmp_path / "fs_s2d.fits", "NRS_FIXEDSLIT")
    res = extract_file(path, tmp_path / "x1d.fits", {"slits": ["S400A1", "S200A1"]}, **OPTS)
    names = sorted(p.name for p in res.paths)
    assert names == ["x1d_S200A1.fits", "x1d_S400A1.fits"]
    s400 = tmp_path / "x1d_S400A1.fits"
    assert _total(s400) == pytest.approx(truths["S400A1"].sum(axis=0).mean(), rel=0.01)


def test_other_slit_products_keep_every_slit(tmp_path):
    path, _ = _product(tmp_path / "mos_s2d.fits", "NRS_MSASPEC", primary=None)
    res = extract_file(path, tmp_path / "x1d.fits", **OPTS)
    assert len(res.paths) == 2


def test_an_absent_slit_is_a_one_line_error_naming_option_file_and_slit(tmp_path):
    path, _ = _product(tmp_path / "fs_s2d.fits", "NRS_FIXEDSLIT")
    with pytest.raises(OptionError, match=r"fs_s2d.fits: option --slits: no slit named S1600A1"):
        extract_file(path, tmp_path / "x1d.fits", slits=["S200A1", "S1600A1"], **OPTS)
    with pytest.raises(InputFileError, match="no slit named 'S1600A1'"):
        extract_file(path, tmp_path / "x1d.fits", {"slits": ["S1600A1"]}, **OPTS)


def test_cli_takes_slits(tmp_path):
    from jwstspec.cli import main

    path, _ = _product(tmp_path / "fs_s2d.fits", "NRS_FIXEDSLIT")
    out = tmp_path / "cli_x1d.fits"
    code = main(["extract", str(path), "--slits", "S200A1", "S400A1", "--method", "aperture", "--radius", "4px",
                 "--no-background", "--covariance", "none", "--output", str(out)])
    assert code == 0
    assert (tmp_path / "cli_x1d_S400A1.fits").exists() and (tmp_path / "cli_x1d_S200A1.fits").exists()
