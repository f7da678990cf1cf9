"""NIRSpec 1/f correction on synthetic rate images with injected stripes (known truth)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.cli import main
from jwstspec.stages.clean1f import (
    clean_1f,
    destripe_constant,
    destripe_moving_median,
    running_median_columns,
    sky_mask,
)
from jwstspec.synthetic import nirspec as syn

# the sky mask runs assign_wcs through CRDS on rate files without a WCS: use the offline test cache
pytestmark = pytest.mark.usefixtures("crds_cache")


def _column_rms(values: np.ndarray, sky: np.ndarray) -> float:
    """RMS over the columns of the median over the sky pixels of each column (reference columns excluded)."""
    cols = np.nanmedian(np.where(sky, values, np.nan)[..., syn.REF_COLUMNS:-syn.REF_COLUMNS], axis=-2)
    return float(np.nanstd(cols))


def _dark() -> np.ndarray:
    return ~syn.footprint()


def _check(out: np.ndarray, rate: syn.SyntheticRate, integration: int = 0) -> None:
    """Stripes removed to <= 0.2x their RMS; source flux in the mask kept to 0.1 %; finite."""
    dark = _dark()
    injected = _column_rms(rate.stripes[integration], dark)
    assert _column_rms(out - rate.truth, dark) <= 0.2 * injected
    src = rate.source > 1.0  # the source, inside the illuminated (masked) region
    assert abs(out[src].sum() - rate.truth[src].sum()) / rate.truth[src].sum() < 1e-3
    assert np.isfinite(out).all()


@pytest.mark.parametrize("mode", ["ifu", "fs"])
def test_sky_mask_finds_the_footprint_from_the_image(mode: str) -> None:
    rate = syn.make_nirspec_rate(mode=mode, seed=1)
    usable = sky_mask(rate.data, margin=2)
    fp = syn.footprint(mode=mode)
    assert not (usable & fp).any()  # no illuminated pixel used for the stripes
    dark = ~fp[:, 4:-4]
    assert (usable[:, 4:-4] & dark).sum() / dark.sum() > 0.25  # the gaps between slices are usable (less the margin)
    # the margin really dilates: pixels right next to the footprint are excluded
    a, _b = syn.slice_rows()[0] if mode == "ifu" else syn.slit_rows()
    assert not usable[a - 1, 100] and not usable[a - 2, 100]


def test_sky_mask_faint_slices_and_pure_noise() -> None:
    """Slices as faint as the per-pixel noise are still found; an unlit image keeps nearly every pixel."""
    rng = np.random.default_rng(12)
    fp = syn.footprint()
    faint = np.where(fp, 0.05, 0.0) + rng.normal(0, 0.05, fp.shape) + syn.stripes(rng, 1, sigma=0.02)[0]
    usable = sky_mask(faint, margin=2)
    assert (usable & fp).sum() < 1e-3 * fp.sum()
    assert (usable & ~fp).sum() > 0.3 * (~fp).sum()
    assert sky_mask(rng.normal(0, 0.05, fp.shape), margin=0).mean() > 0.97


def test_sky_mask_uses_the_wcs_footprint_and_dq(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an assign_wcs WCS, jwst's slice footprint is excluded too (a faint slice the image cannot show)."""
    from jwst.clean_flicker_noise import clean_flicker_noise as cfn

    rate = syn.make_nirspec_rate(kind="background", seed=2)
    faint = np.zeros(rate.data.shape, bool)
    faint[4:8, 10:-10] = True  # rows the WCS says are a slice, with no visible light
    called = {}

    def fake_mask_ifu_slices(model: object, mask: np.ndarray) -> np.ndarray:
        called["yes"] = True
        mask[faint] = False
        return mask

    monkeypatch.setattr(cfn, "mask_ifu_slices", fake_mask_ifu_slices)
    dq = np.zeros(rate.data.shape, np.uint32)
    dq[250, 1000] = 1
    model = SimpleNamespace(data=rate.data, dq=dq, meta=SimpleNamespace(wcs=object(), exposure=SimpleNamespace(type="NRS_IFU")))
    usable = sky_mask(model, margin=1)
    assert called and not usable[faint].any() and not usable[3, 100] and usable[1, 100]
    assert not usable[250, 1000] and usable[250, 1010]
    assert sky_mask(model, margin=1, use_wcs=False)[5, 100]  # without the WCS those rows look dark


def test_sky_mask_full_frame_ifu_excludes_the_fixed_slit_band() -> None:
    rng = np.random.default_rng(11)
    data = rng.normal(0, 0.01, (2048, 2048)).astype(np.float32)
    model = SimpleNamespace(data=data, dq=None, meta=SimpleNamespace(wcs=None, exposure=SimpleNamespace(type="NRS_IFU")))
    usable = sky_mask(model, margin=0)
    assert not usable[900:1100].any() and usable[:890].mean() > 0.95 and usable[1110:].mean() > 0.95
    model.meta.exposure.type = "NRS_FIXEDSLIT"
    assert sky_mask(model, margin=0)[900:1100].mean() > 0.95


@pytest.mark.parametrize(("method", "smooth"), [("constant", False), ("moving_median", True), ("moving_median", False)])
def test_stripes_removed_source_kept(method: str, smooth: bool) -> None:
    rate = syn.make_nirspec_rate(seed=3, smooth=smooth)
    usable = sky_mask(rate.data)
    before = rate.data.copy()
    # the drift along the columns has a ~40-row correlation length: a 51-row window follows it, 201 would not
    window = 51 if smooth else 201
    out = destripe_constant(rate.data, usable, 3.0) if method == "constant" else destripe_moving_median(rate.data, usable, window)
    assert np.array_equal(rate.data, before)  # input array untouched
    _check(out, rate)


def test_constant_cannot_follow_a_drift_along_the_columns() -> None:
    """The smooth drift along y is what the moving median is for: constant leaves more of it."""
    rate = syn.make_nirspec_rate(seed=4, smooth=True)
    usable = sky_mask(rate.data)
    dark = _dark()

    def residual(out: np.ndarray) -> float:
        return float(np.std(np.where(dark, out - rate.truth, 0.0)[:, 4:-4]))

    assert residual(destripe_moving_median(rate.data, usable, 51)) < 0.7 * residual(destripe_constant(rate.data, usable))


@pytest.mark.parametrize("method", ["constant", "moving_median"])
def test_rateints_one_model_per_integration(method: str) -> None:
    rate = syn.make_nirspec_rate(nints=3, seed=5, smooth=method == "moving_median")
    usable = sky_mask(rate.data)
    fn = destripe_constant if method == "constant" else destripe_moving_median
    out = fn(rate.data, usable) if method == "constant" else fn(rate.data, usable, 51)
    assert out.shape == rate.data.shape
    for i in range(3):
        _check(out[i], rate, i)
    # a single model for all integrations would not do: the stripes differ per integration
    single = rate.data - (rate.data[0] - out[0])[None]
    assert _column_rms(single[1] - rate.truth, _dark()) > 0.5 * _column_rms(rate.stripes[1], _dark())


def test_running_median_equals_numbamisc_with_ties_and_gaps() -> None:
    from numbamisc import median_filter

    rng = np.random.default_rng(6)
    image = rng.integers(0, 6, (400, 25)).astype(float)  # many equal values
    usable = rng.random(image.shape) > 0.3
    usable[50:300, 3] = False  # windows with nothing usable
    for window in (1, 5, 51, 201):
        ours = running_median_columns(image, usable, window, fill=False)
        ref = median_filter(image, np.ones((window, 1), bool), ~usable)
        assert np.array_equal(ours, ref, equal_nan=True)
    assert np.array_equal(running_median_columns(image, usable, 4, fill=False),
                          median_filter(image, np.ones((5, 1), bool), ~usable), equal_nan=True)  # even -> next odd


def test_masked_column_windows_are_interpolated_not_blanked() -> None:
    rate = syn.make_nirspec_rate(seed=7, smooth=False)
    usable = sky_mask(rate.data)
    usable[:, 1000:1010] = False  # columns with no usable pixel at all: left unchanged
    usable[:200, 500] = False  # a column whose lower windows are entirely masked
    out = destripe_moving_median(rate.data, usable, 51)
    assert np.isfinite(out).all()
    assert np.array_equal(out[:, 1000:1010], rate.data[:, 1000:1010])
    estimate = (rate.data - out)[:, 500]
    first = 200 - 51 // 2  # the first row whose window reaches a usable pixel
    assert np.allclose(estimate[:first], estimate[first])  # the nearest estimate carried over, not blanked or zero
    assert abs(estimate[first] - rate.stripes[0][0, 500]) < 0.03 < abs(rate.stripes[0][0, 500])


def test_nan_pixels_stay_nan_finite_stay_finite() -> None:
    rate = syn.make_nirspec_rate(seed=8)
    data = rate.data.copy()
    data[10:20, 300] = np.nan
    out = destripe_moving_median(data, sky_mask(data), 201)
    assert np.isnan(out[10:20, 300]).all() or np.isfinite(out[10:20, 300]).all()  # array level: NaN in, NaN out
    assert np.isfinite(out[np.isfinite(data)]).all()


def _rate_file(tmp: Path, nints: int = 1, smooth: bool = False, seed: int = 9) -> syn.SyntheticRate:
    name = "jw01234003001_03101_00001_nrs1_rateints.fits" if nints > 1 else "jw01234003001_03101_00001_nrs1_rate.fits"
    return syn.make_nirspec_rate(tmp / name, nints=nints, smooth=smooth, seed=seed)


@pytest.mark.parametrize("method", ["pipeline", "constant", "moving_median"])
def test_clean_1f_file_keeps_metadata_and_input(tmp_path: Path, method: str) -> None:
    from stdatamodels.jwst import datamodels

    rate = _rate_file(tmp_path)
    before = rate.path.read_bytes()
    out = clean_1f(rate.path, tmp_path / "out" / f"x_{method}_ratecorr.fits", method=method)
    assert rate.path.read_bytes() == before  # never touches its input
    with datamodels.open(str(out)) as m:
        assert m.meta.exposure.type == "NRS_IFU" and m.meta.subarray.name == "ALLSLITS"
        assert m.meta.cal_step.clean_flicker_noise == "COMPLETE"
        assert m.meta.instrument.gwa_xtilt == pytest.approx(0.3)
        _check(np.asarray(m.data, float), rate)
    with fits.open(out) as hdul:
        assert {"SCI", "ERR", "DQ"} <= {h.name for h in hdul}
        assert f"method={method}" in " ".join(str(h) for h in hdul[0].header["HISTORY"])
    assert not [p for p in (tmp_path / "out").iterdir() if p.name != out.name]  # no temporary left


@pytest.mark.parametrize("method", ["pipeline", "moving_median"])
def test_clean_1f_rateints(tmp_path: Path, method: str) -> None:
    rate = _rate_file(tmp_path, nints=2, smooth=False, seed=10)
    out = clean_1f(rate.path, tmp_path / f"x_{method}_rateintscorr.fits", method=method)
    data = fits.getdata(out, "SCI")
    assert data.shape == rate.data.shape
    for i in range(2):
        _check(data[i].astype(float), rate, i)


def test_cli_with_user_mask_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stdatamodels.jwst.datamodels import ImageModel

    rate = _rate_file(tmp_path)
    mask = tmp_path / "mask.fits"
    fits.PrimaryHDU(syn.footprint().astype(np.int16)).writeto(mask)  # a plain FITS image works
    assert main(["clean1f", str(rate.path), "--method", "constant", "--mask", str(mask), "--output", str(tmp_path / "o.fits")]) == 0
    assert "o.fits" in capsys.readouterr().out
    _check(fits.getdata(tmp_path / "o.fits", "SCI").astype(float), rate)

    bad = tmp_path / "small.fits"
    ImageModel(data=np.zeros((10, 10), np.float32)).save(bad)
    cases = [
        (["--method", "constant", "--mask", str(bad)], "--mask"),
        (["--method", "moving_median", "--window", "0"], "--window"),
        (["--method", "constant", "--clip-sigma", "-1"], "--clip-sigma"),
    ]
    for extra, word in cases:
        assert main(["clean1f", str(rate.path), *extra, "--output", str(tmp_path / "p.fits")]) == 2
        err = capsys.readouterr().err
        assert word in err and len(err.strip().splitlines()) == 1
    missing = tmp_path / "none_rate.fits"
    assert main(["clean1f", str(missing), "--method", "constant", "--output", str(tmp_path / "p.fits")]) == 2
    assert "none_rate.fits" in capsys.readouterr().err
    no_sci = tmp_path / "nosci_rate.fits"
    fits.HDUList([fits.PrimaryHDU()]).writeto(no_sci)
    assert main(["clean1f", str(no_sci), "--method", "constant", "--output", str(tmp_path / "p.fits")]) == 2
    assert "nosci_rate.fits" in capsys.readouterr().err
    assert main(["clean1f", str(rate.path), "--method", "constant", "--output", str(rate.path)]) == 2
    assert not (tmp_path / "p.fits").exists()


def test_sky_mask_runs_assign_wcs_and_msaflagopen_when_the_rate_has_no_wcs(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A detector1 rate has no WCS: assign_wcs + msaflagopen run on a copy; failed-open shutters are masked."""
    from jwst.clean_flicker_noise import clean_flicker_noise as cfn
    from stdatamodels.jwst import datamodels
    from stdatamodels.jwst.datamodels import dqflags

    rate = syn.make_nirspec_rate(kind="background", seed=4)
    model = datamodels.ImageModel(rate.data.copy())
    model.dq = np.zeros(rate.data.shape, np.uint32)
    model.meta.exposure.type = "NRS_IFU"
    reference = sky_mask(model, margin=0, use_wcs=False)
    # a dark 4x20 block that the image alone calls sky: the failed-open shutter goes there
    ok = np.lib.stride_tricks.sliding_window_view(reference, (4, 20)).all(axis=(-2, -1))
    r0, c0 = np.argwhere(ok)[len(np.argwhere(ok)) // 2]
    block = (slice(r0, r0 + 4), slice(c0, c0 + 20))
    calls = {}

    def fake_post_process(m: object, input_dir: str = "", assign_wcs: bool = False, msaflagopen: bool = False,
                          flat_dq: bool = False) -> object:
        calls.update(assign_wcs=assign_wcs, msaflagopen=msaflagopen, same=m is model)
        m.meta.wcs = object()
        m.dq[block] |= dqflags.pixel["MSA_FAILED_OPEN"]
        return m

    monkeypatch.setattr(cfn, "post_process_rate", fake_post_process)
    monkeypatch.setattr(cfn, "mask_ifu_slices", lambda m, mask: mask)
    usable = sky_mask(model, margin=0)
    assert calls == {"assign_wcs": True, "msaflagopen": True, "same": False}  # on a copy: the input keeps no WCS
    assert model.meta.wcs is None and not (model.dq & dqflags.pixel["MSA_FAILED_OPEN"]).any()
    assert not usable[block].any()
    np.testing.assert_array_equal(usable[~np.isin(np.arange(usable.shape[0]), range(r0, r0 + 4))],
                                  reference[~np.isin(np.arange(usable.shape[0]), range(r0, r0 + 4))])


def test_sky_mask_falls_back_to_the_image_when_assign_wcs_cannot_run(caplog: pytest.LogCaptureFixture) -> None:
    """Offline, without NIRSpec optical-model references, the real assign_wcs fails: a warning, then the image mask."""
    from stdatamodels.jwst import datamodels

    rate = syn.make_nirspec_rate(seed=5)
    model = datamodels.ImageModel(rate.data.copy())
    model.meta.exposure.type = "NRS_IFU"
    model.meta.instrument.name = "NIRSPEC"
    with caplog.at_level("WARNING", logger="jwstspec.stages.clean1f"):
        usable = sky_mask(model, margin=2)
    assert any("assign_wcs/msaflagopen could not run" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(usable, sky_mask(model, margin=2, use_wcs=False))


def test_ifu_footprint_file_is_computed_once_per_key_and_again_when_unreadable(tmp_path: Path) -> None:
    from jwstspec.stages.clean1f import _footprint_file

    rng = np.random.default_rng(5)
    lit, other = rng.random((40, 27)) > 0.5, rng.random((40, 27)) > 0.3  # 27 columns: not a multiple of 8 bits
    calls: list[int] = []

    def compute(value: np.ndarray | None):
        return lambda: calls.append(1) or value

    first = _footprint_file(("G395H", "NRS1", 1), lit.shape, tmp_path, compute(lit))
    again = _footprint_file(("G395H", "NRS1", 1), lit.shape, tmp_path, compute(other))  # read, not computed
    assert len(calls) == 1 and again.dtype == bool
    np.testing.assert_array_equal(first, lit)
    np.testing.assert_array_equal(again, lit)
    np.testing.assert_array_equal(_footprint_file(("G395H", "NRS2", 1), lit.shape, tmp_path, compute(other)), other)
    assert len(calls) == 2  # another key: its own footprint
    for f in tmp_path.glob("*.npy"):
        f.write_bytes(b"not numpy")
    np.testing.assert_array_equal(_footprint_file(("G395H", "NRS1", 1), lit.shape, tmp_path, compute(other)), other)
    assert len(calls) == 3  # unreadable: computed and written again
    assert _footprint_file(("none",), lit.shape, tmp_path, compute(None)) is None
    assert len(list(tmp_path.glob("*.npy"))) == 2 and not list(tmp_path.glob(".tmp-*"))
    assert len(list(tmp_path.glob("*.lock"))) == 2  # none kept for the footprint that could not be made
    assert _footprint_file(("none",), lit.shape, tmp_path / "fresh", compute(None)) is None
    assert not (tmp_path / "fresh").exists()  # nothing left where nothing was stored


def test_ifu_footprint_is_computed_once_per_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A second dither (other pointing) of the same setting reuses the footprint, in this process and in others.

    That the shared footprint is jwst's own for the other pointing is checked on the real flow
    (``test_flow_nirspec_ifu.py``: the footprint the run's 1/f used against Spec2's WCS of its second dither).
    """
    from jwstspec.stages import clean1f
    from jwstspec.synthetic import nirspec_exposures as nx

    lit = np.random.default_rng(2).random((2048, 2048)) > 0.5
    calls: list[int] = []
    monkeypatch.setattr(clean1f, "_lit_from_wcs_uncached", lambda m, shape: calls.append(1) or lit.copy())
    monkeypatch.setattr(clean1f, "_IFU_FOOTPRINTS", {})
    first = nx.rate_model("NRS_IFU", grating="G395H", detector="NRS1")
    second = nx.rate_model("NRS_IFU", grating="G395H", detector="NRS1", exposure=2)
    second.meta.wcsinfo.ra_ref += 0.3 / 3600  # another dither: the telescope points elsewhere
    second.meta.wcsinfo.dec_ref -= 0.2 / 3600
    shape = first.data.shape
    np.testing.assert_array_equal(clean1f._lit_from_wcs(first, shape, tmp_path), lit)
    lit_second = clean1f._lit_from_wcs(second, shape)
    assert len(calls) == 1
    np.testing.assert_array_equal(lit_second, lit)
    lit_second[:] = False  # callers get a copy, never the cached mask
    assert clean1f._lit_from_wcs(first, shape).sum() == lit.sum()
    monkeypatch.setattr(clean1f, "_IFU_FOOTPRINTS", {})  # another worker of the run: only the directory is shared
    np.testing.assert_array_equal(clean1f._lit_from_wcs(second, shape, tmp_path), lit)
    assert len(calls) == 1
    other = first.copy()
    other.meta.instrument.detector = "NRS2"  # another detector: not the cached one
    assert clean1f._ifu_footprint_key(other, shape) != clean1f._ifu_footprint_key(second, shape)
    assert clean1f._ifu_footprint_key(first, shape) == clean1f._ifu_footprint_key(second, shape)
    clean1f._lit_from_wcs(other, shape, tmp_path)
    assert len(calls) == 2 and len(list(tmp_path.glob("ifu-*.npy"))) == 2
