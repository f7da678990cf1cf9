"""NIRSpec 1/f correction on synthetic rate images with injected stripes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.cli import main
from jwstspec.stages.clean1f import clean_1f, destripe_constant, destripe_moving_median, sky_mask
from jwstspec.synthetic import nirspec as syn


def _scene(seed: int = 1, smooth: bool = True, nints: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = syn.expected_rate("science")
    if smooth:
        stripes = syn.stripes(rng, nints)
    else:  # a constant offset per column and integration
        stripes = np.repeat(rng.normal(0, syn.STRIPE_SIGMA, (nints, 1, syn.NX)), syn.NY, axis=1)
        stripes[:, :, :4] = stripes[:, :, -4:] = 0
    noise = rng.normal(0, 0.01, (nints, syn.NY, syn.NX))
    data = truth[None] + stripes + noise
    return (data[0] if nints == 1 else data), truth, stripes


def _column_rms(residual: np.ndarray, dark: np.ndarray) -> float:
    cols = np.nanmedian(np.where(dark, residual, np.nan), axis=-2)
    return float(np.nanstd(cols[..., 4:-4]))


def test_sky_mask_finds_the_footprint_from_the_image() -> None:
    data, truth, _ = _scene()
    usable = sky_mask(data, margin=2)
    fp = syn.footprint()
    assert not (usable & fp).any()  # no illuminated pixel used for the stripes
    dark = ~fp[:, 4:-4]
    assert (usable[:, 4:-4] & dark).sum() / dark.sum() > 0.25  # the gaps between slices are usable (less the margin)


@pytest.mark.parametrize(("method", "smooth"), [("constant", False), ("moving_median", True), ("moving_median", False)])
def test_stripes_removed_source_kept(method: str, smooth: bool) -> None:
    data, truth, stripes = _scene(smooth=smooth)
    usable = sky_mask(data)
    fn = destripe_constant if method == "constant" else destripe_moving_median
    out = fn(data, usable, 3.0) if method == "constant" else fn(data, usable, 201)
    dark = ~syn.footprint()
    injected = _column_rms(stripes[0], dark)
    assert _column_rms(out - truth, dark) <= 0.2 * injected
    src = truth > syn.SKY_RATE + 1  # the source, inside the illuminated (masked) region
    assert abs(out[src].sum() - truth[src].sum()) / truth[src].sum() < 1e-3
    assert np.isfinite(out).all()


def test_rateints_one_model_per_integration() -> None:
    data, truth, stripes = _scene(nints=3)
    usable = sky_mask(data)
    out = destripe_moving_median(data, usable, 201)
    dark = ~syn.footprint()
    for i in range(3):
        assert _column_rms(out[i] - truth, dark) <= 0.2 * _column_rms(stripes[i], dark)


def test_masked_column_windows_are_interpolated_not_blanked() -> None:
    data, truth, _ = _scene(smooth=False)
    usable = sky_mask(data)
    usable[:, 1000:1010] = False  # columns with no usable pixel at all
    usable[:200, 500] = False  # a column whose lower window is entirely masked
    out = destripe_moving_median(data, usable, 51)
    assert np.isfinite(out).all()


def _rate_file(tmp: Path) -> Path:
    from stdatamodels.jwst.datamodels import IFUImageModel

    data, _, _ = _scene()
    m = IFUImageModel(data=data.astype(np.float32), err=np.full(data.shape, 0.01, np.float32), dq=np.zeros(data.shape, np.uint32))
    m.meta.instrument.name, m.meta.instrument.detector = "NIRSPEC", "NRS1"
    m.meta.exposure.type = "NRS_IFU"
    m.meta.subarray.name = "ALLSLITS"
    m.meta.subarray.fastaxis, m.meta.subarray.slowaxis = 2, 1
    path = tmp / "x_rate.fits"
    m.save(path)
    return path


@pytest.mark.parametrize("method", ["pipeline", "constant", "moving_median"])
def test_clean_1f_file_keeps_metadata_and_input(tmp_path: Path, method: str) -> None:
    from stdatamodels.jwst import datamodels

    rate = _rate_file(tmp_path)
    before = rate.read_bytes()
    out = clean_1f(rate, tmp_path / f"x_{method}_ratecorr.fits", method=method)
    assert rate.read_bytes() == before  # never touches its input
    with datamodels.open(str(out)) as m:
        assert m.meta.exposure.type == "NRS_IFU" and m.meta.subarray.name == "ALLSLITS"
        assert any("clean_1f" in str(h) for h in m.history)
        dark = ~syn.footprint()
        _, truth, stripes = _scene()
        assert _column_rms(np.asarray(m.data) - truth, dark) < 0.5 * _column_rms(stripes[0], dark)


def test_cli_with_user_mask_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stdatamodels.jwst.datamodels import ImageModel

    rate = _rate_file(tmp_path)
    mask = tmp_path / "mask.fits"
    ImageModel(data=syn.footprint().astype(np.float32)).save(mask)
    assert main(["clean1f", str(rate), "--method", "constant", "--mask", str(mask), "--output", str(tmp_path / "o.fits")]) == 0
    assert (tmp_path / "o.fits").exists()
    bad = tmp_path / "small.fits"
    ImageModel(data=np.zeros((10, 10), np.float32)).save(bad)
    assert main(["clean1f", str(rate), "--method", "constant", "--mask", str(bad), "--output", str(tmp_path / "p.fits")]) == 2
    assert "--mask" in capsys.readouterr().err and not (tmp_path / "p.fits").exists()
    assert main(["clean1f", str(tmp_path / "none_rate.fits"), "--method", "constant", "--output", str(tmp_path / "q.fits")]) == 2
