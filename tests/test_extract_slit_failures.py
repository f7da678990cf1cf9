"""One bad slit never sinks the rest (issue 14 item 6): every slit that can be extracted is, the others are listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from jwstspec.cli import main
from jwstspec.extract import extract_file
from jwstspec.extract.api import SlitSkippedWarning
from jwstspec.spectrum import read_spectrum

NW, NC = 200, 21
PIX_SR = (0.1 / 206264.806) ** 2


def _fill(s, name: str, seed: int, *, empty: bool = False, unit: str = "MJy") -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = np.linspace(1.0, 5.0, NW)
    edges = np.arange(NC + 1) - 0.5
    prof = 0.5 * np.diff(erf((edges - 10.0) / np.sqrt(2)))
    jy = prof[:, None] * np.full(NW, 3e-6)[None]  # Jy per pixel, (NC, NW)
    noise = np.full(jy.shape, 1e-9 * 1e-6, np.float32)
    data = (jy * 1e-6 + rng.normal(size=jy.shape) * noise).astype(np.float32)  # MJy
    if empty:
        data[:] = np.nan
    s.data, s.err, s.dq = data, noise, np.zeros(data.shape, np.uint32)
    s.wavelength = np.broadcast_to(w[None], data.shape).astype(np.float32).copy()
    s.name = name
    s.meta.bunit_data = unit
    s.meta.bunit_err = unit
    s.meta.photometry.pixelarea_steradians = PIX_SR
    s.meta.wcsinfo.dispersion_direction = 1
    return jy


@pytest.fixture(scope="module")
def three_slits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """S1 good, S2 empty (all NaN), S3 good but in DN/s (an uncalibrated slit)."""
    from stdatamodels.jwst.datamodels import MultiSlitModel

    m = MultiSlitModel()
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    truths = []
    for i, (name, empty, unit) in enumerate((("S1", False, "MJy"), ("S2", True, "MJy"), ("S3", False, "DN/s"))):
        m.slits.append(m.slits.item())
        truths.append(_fill(m.slits[i], name, i, empty=empty, unit=unit))
    path = tmp_path_factory.mktemp("multi") / "three_s2d.fits"
    m.save(path)
    return path, truths


def test_multislit_with_an_empty_slit_extracts_the_others(three_slits, tmp_path: Path) -> None:
    path, truths = three_slits
    with pytest.warns(SlitSkippedWarning, match="slit S2 not extracted") as seen:
        res = extract_file(path, tmp_path / "x1d.fits", radius="3px", background=False, covariance="none")
    assert any("slit S3 not extracted" in str(w.message) and "DN/s" in str(w.message) for w in seen)
    assert [p.name for p in res.paths] == ["x1d_S1.fits"]
    assert [name for name, _ in res.failed] == ["S2", "S3"]
    assert "finite" in res.failed[0][1]
    spec = read_spectrum(res.paths[0])
    truth = truths[0][7:14].sum(axis=0)  # rows 7..13: the 3px aperture about row 10
    assert abs(np.median(spec.flux / truth) - 1) < 0.01


def test_cli_exit_codes_and_one_warning_line_per_failed_slit(three_slits, tmp_path: Path, capsys) -> None:
    path, _ = three_slits
    code = main(["extract", str(path), "--output", str(tmp_path / "c.fits"), "--no-background", "--covariance", "none"])
    err = capsys.readouterr().err
    assert code == 0
    lines = [ln for ln in err.splitlines() if "not extracted" in ln]
    assert len(lines) == 2 and "slit S2" in lines[0] and "slit S3" in lines[1]
    assert (tmp_path / "c_S1.fits").exists()
    # only the bad slits: nothing written, exit 3 (a processing failure), every slit named on one line
    for name in ("S2", "S3"):
        assert main(["extract", str(path), "--output", str(tmp_path / "n.fits"), "--slit-name", name]) == 2
    capsys.readouterr()


def test_no_slit_extracted_exits_3(tmp_path: Path, capsys) -> None:
    from stdatamodels.jwst.datamodels import MultiSlitModel

    m = MultiSlitModel()
    for i, name in enumerate(("A", "B")):
        m.slits.append(m.slits.item())
        _fill(m.slits[i], name, i, empty=True)
    path = tmp_path / "empty_s2d.fits"
    m.save(path)
    assert main(["extract", str(path), "--output", str(tmp_path / "e.fits")]) == 3
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("jwstspec")]  # (in-process: other loggers)
    assert len(err) == 1 and "no slit extracted" in err[0] and "A:" in err[0] and "B:" in err[0]
    assert not list(tmp_path.glob("e_*.fits")) and not (tmp_path / "e.fits").exists()
