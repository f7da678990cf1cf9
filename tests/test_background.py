"""Pixel and nod background subtraction and the grating-wheel tilt check, on synthetic rates with known truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwstspec.errors import InputFileError
from jwstspec.stages.background import (
    BACKGROUND_STEP_TILT_TOLERANCE,
    nod_subtract,
    pair_nods,
    subtract_pixel_background,
    tilts_match,
)
from jwstspec.synthetic import nirspec as syn

NOISE = 0.02


def _rate(tmp: Path, name: str, *, kind: str = "science", nod: int = 1, seed: int = 0, mode: str = "ifu",
          nints: int = 1, **kw: object) -> Path:
    """A stripe-free synthetic rate (background tests do not need 1/f stripes)."""
    suffix = "rateints" if nints > 1 else "rate"
    r = syn.make_nirspec_rate(tmp / f"{name}_{suffix}.fits", kind=kind, nod=nod, seed=seed, mode=mode, nints=nints,
                              noise=NOISE, stripe_sigma=0.0, **kw)  # type: ignore[arg-type]
    assert r.path is not None
    return r.path


def _expstart(path: Path, value: float) -> None:
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["EXPSTART"] = value


def _sky_residual_ok(resid: np.ndarray, region: np.ndarray) -> None:
    """Mean residual over the region within 1 sigma of the mean (its standard error)."""
    values = resid[region]
    assert abs(values.mean()) <= values.std() / np.sqrt(values.size)


def test_pixel_background_recovers_source(tmp_path: Path) -> None:
    from stdatamodels.jwst import datamodels

    sci = _rate(tmp_path, "s1", seed=1)
    bkgs = [_rate(tmp_path, f"b{i}", kind="background", seed=10 + i) for i in range(3)]
    before = sci.read_bytes()
    out = subtract_pixel_background(sci, bkgs, tmp_path / "s1_rate_bkgsub.fits")
    assert sci.read_bytes() == before
    src = syn.expected_rate("science") - syn.expected_rate("background")
    with datamodels.open(str(out)) as m:
        assert m.meta.cal_step.bkg_subtract == "COMPLETE"
        data = np.asarray(m.data, float)
    sky = syn.footprint() & (src < 1e-3)
    _sky_residual_ok(data - src, sky)  # the sky is gone
    assert abs(data[sky].mean()) < 0.01 * syn.SKY_RATE
    sel = src > 1
    assert abs(data[sel].sum() / src[sel].sum() - 1) < 1e-3  # the source is kept
    with fits.open(out) as hdul:
        assert "b0_rate.fits" in " ".join(str(h) for h in hdul[0].header["HISTORY"])


def test_pixel_background_rateints(tmp_path: Path) -> None:
    sci = _rate(tmp_path, "s", seed=2, nints=3)
    bkg = _rate(tmp_path, "b", kind="background", seed=3, nints=3)
    out = subtract_pixel_background(sci, [bkg], tmp_path / "s_rateints_bkgsub.fits")
    data = fits.getdata(out, "SCI").astype(float)
    src = syn.expected_rate("science") - syn.expected_rate("background")
    assert data.shape == (3, syn.NY, syn.NX)
    for i in range(3):
        assert abs(data[i][src > 1].sum() / src[src > 1].sum() - 1) < 2e-3
        assert abs((data[i] - src)[syn.footprint() & (src < 1e-3)].mean()) < 1e-3


@pytest.mark.parametrize("mode", ["ifu", "fs"])
def test_two_point_nod_subtraction(tmp_path: Path, mode: str) -> None:
    from stdatamodels.jwst import datamodels

    nods = [_rate(tmp_path, f"n{i}", nod=i, seed=20 + i, mode=mode) for i in (1, 2)]
    pairs = pair_nods(nods)
    assert pairs[nods[0]] == [nods[1]] and pairs[nods[1]] == [nods[0]]
    outs = nod_subtract(nods, tmp_path / "out")
    assert [p.name for p in outs] == ["n1_rate_bkgsub.fits", "n2_rate_bkgsub.fits"]
    sky = syn.expected_rate("background", mode=mode)
    for nod, out in zip((1, 2), outs):
        src = syn.expected_rate("science", nod=nod, mode=mode) - sky
        other = syn.expected_rate("science", nod=3 - nod, mode=mode) - sky
        with datamodels.open(str(out)) as m:
            data = np.asarray(m.data, float)
        sel = src > 1
        assert abs(data[sel].sum() / src[sel].sum() - 1) < 0.01  # positive source kept
        region = syn.footprint(mode=mode) & (src < 1e-3) & (other < 1e-3)
        _sky_residual_ok(data - src + other, region)  # sky gone, negative image of the other nod elsewhere


def test_three_point_nods_two_cycles(tmp_path: Path) -> None:
    """1,2,3,1,2,3 in time order: each exposure minus the other two of its own cycle."""
    paths = []
    for k, nod in enumerate([1, 2, 3, 1, 2, 3]):
        p = _rate(tmp_path, f"e{k}", nod=nod, seed=40 + k, mode="fs")
        _expstart(p, 60000.0 + k)
        paths.append(p)
    pairs = pair_nods(paths)
    assert pairs[paths[0]] == [paths[1], paths[2]]
    assert pairs[paths[4]] == [paths[3], paths[5]]
    outs = nod_subtract(paths, tmp_path / "out")
    sky = syn.expected_rate("background", mode="fs")
    data = fits.getdata(outs[4], "SCI").astype(float)
    src = syn.expected_rate("science", nod=2, mode="fs") - sky
    others = [syn.expected_rate("science", nod=n, mode="fs") - sky for n in (1, 3)]
    assert np.allclose(data, src - 0.5 * (others[0] + others[1]), atol=8 * NOISE)
    with fits.open(outs[4]) as hdul:
        history = " ".join(str(h) for h in hdul[0].header["HISTORY"])
    assert "e3_rate.fits" in history and "e5_rate.fits" in history and "e0_rate" not in history


def test_pair_nods_from_headers_and_unpairable() -> None:
    headers = [fits.Header({"FILENAME": f"x{i}_rate.fits", "PATT_NUM": n, "EXPSTART": 1.0 + i})
               for i, n in enumerate([1, 1, 2, 2])]  # two exposures per nod position: one cycle
    pairs = pair_nods(headers)
    assert pairs[Path("x0_rate.fits")] == [Path("x2_rate.fits"), Path("x3_rate.fits")]
    assert pairs[Path("x3_rate.fits")] == [Path("x0_rate.fits"), Path("x1_rate.fits")]
    trailing = [fits.Header({"PATT_NUM": n, "EXPSTART": float(i)}) for i, n in enumerate([1, 2, 1])]
    assert pair_nods(trailing)[2] == [1]  # an incomplete last cycle joins the previous one
    with pytest.raises(InputFileError, match="two or more nod positions"):
        pair_nods([fits.Header({"PATT_NUM": 1, "EXPSTART": float(i)}) for i in range(3)])
    with pytest.raises(InputFileError, match="PATT_NUM"):
        pair_nods([fits.Header({"EXPSTART": 1.0}), fits.Header({"PATT_NUM": 2})])


def test_tilt_check(tmp_path: Path) -> None:
    a = _rate(tmp_path, "a", seed=1)
    same = _rate(tmp_path, "b", kind="background", seed=2)
    close = _rate(tmp_path, "c", kind="background", seed=3, gwa_tilt=(0.3 + 0.5 * BACKGROUND_STEP_TILT_TOLERANCE, 0.13))
    off = _rate(tmp_path, "d", kind="background", seed=4, gwa_tilt=(0.3, 0.13 + 1e-5))
    assert tilts_match(a, same) and tilts_match(a, close)
    assert not tilts_match(a, off)  # BackgroundStep would skip the subtraction of this one
    assert tilts_match(a, off, tol=1e-4)
    with fits.open(off, mode="update") as hdul:
        del hdul[0].header["GWA_YTIL"]
    with pytest.raises(InputFileError, match="GWA_XTIL/GWA_YTIL"):
        tilts_match(a, off)


@pytest.mark.parametrize(("kw", "word"), [({"subarray_name": "SUB2048"}, "SUBARRAY"), ({"readpatt": "NRS"}, "READPATT")])
def test_mismatched_background_is_refused_nothing_written(tmp_path: Path, kw: dict, word: str) -> None:
    a = _rate(tmp_path, "a", seed=1)
    d = _rate(tmp_path, "d", kind="background", seed=4, **kw)
    with pytest.raises(InputFileError, match=word) as err:
        subtract_pixel_background(a, [d], tmp_path / "x.fits")
    assert "d_rate.fits" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "x.fits").exists()
    with pytest.raises(InputFileError, match=word):  # nod subtraction checks every pair before writing
        nod_subtract([a, _rate(tmp_path, "e", nod=2, seed=5, **kw)], tmp_path / "nods")
    assert not (tmp_path / "nods").exists() or not list((tmp_path / "nods").iterdir())
    with pytest.raises(InputFileError, match="no background"):
        subtract_pixel_background(a, [], tmp_path / "x.fits")


def test_background_method_falls_back_to_pixel_on_tilt_mismatch(tmp_path: Path) -> None:
    """The decision the flow takes per group: asn kept on matched tilts, pixel (with a reason) otherwise."""
    from jwstspec.stages.background import background_method

    sci = _rate(tmp_path, "s", seed=11)
    matched = _rate(tmp_path, "m", kind="background", seed=12)
    tilted = _rate(tmp_path, "t", kind="background", seed=13, gwa_tilt=(0.3 + 1e-6, 0.13))
    assert background_method("asn", "nirspec", [sci], [matched]) == ("asn", None)
    use, why = background_method("asn", "nirspec", [sci], [matched, tilted])
    assert use == "pixel" and why is not None
    assert tilted.name in why and sci.name in why and "pixel" in why
    # only NIRSpec asn is checked; a looser tolerance accepts the pair
    assert background_method("asn", "miri", [sci], [tilted]) == ("asn", None)
    assert background_method("pixel", "nirspec", [sci], [tilted]) == ("pixel", None)
    assert background_method("asn", "nirspec", [sci], [tilted], tol=1e-4) == ("asn", None)


def _with_variances(path: Path, poisson_share: float = 0.3) -> Path:
    """Give a synthetic rate VAR_POISSON and VAR_RNOISE that make up its ERR (as Detector1's rates have)."""
    from stdatamodels.jwst import datamodels

    with datamodels.open(str(path)) as m:
        var = np.asarray(m.err, float) ** 2
        m.var_poisson = (poisson_share * var).astype(np.float32)
        m.var_rnoise = ((1 - poisson_share) * var).astype(np.float32)
        m.save(str(path))
    return path


@pytest.mark.parametrize("n_backgrounds", [1, 2])
def test_background_variance_is_added_to_err_and_variances(tmp_path: Path, n_backgrounds: int) -> None:
    """jwst's background_sub leaves ERR as it was (jwst#8723): injected white noise of known sigma in the
    science and each background, the subtracted image's residual over its ERR must have unit scatter."""
    from stdatamodels.jwst import datamodels

    sci = _with_variances(_rate(tmp_path, "s1", seed=1))
    bkgs = [_with_variances(_rate(tmp_path, f"b{i}", kind="background", seed=10 + i)) for i in range(n_backgrounds)]
    out = subtract_pixel_background(sci, bkgs, tmp_path / "s1_rate_bkgsub.fits")
    src = syn.expected_rate("science") - syn.expected_rate("background")
    with datamodels.open(str(out)) as m:
        z = ((np.asarray(m.data, float) - src) / m.err)[syn.footprint()]
        expected = NOISE**2 * (1 + 1 / n_backgrounds)  # the science's variance plus that of the mean background
        assert np.allclose(m.err**2, expected, rtol=1e-5)
        assert np.allclose(m.var_poisson, 0.3 * expected, rtol=1e-5)
        assert np.allclose(m.var_rnoise, 0.7 * expected, rtol=1e-5)
    assert z.size > 10_000 and abs(z.std() - 1) < 0.02, z.std()  # was sqrt(1 + 1/n): 1.41 / 1.22
    history = "".join(str(line) for line in fits.getheader(out)["HISTORY"])  # long entries come split
    assert "their variance added" in history


def test_nod_subtraction_errors_match_the_scatter(tmp_path: Path) -> None:
    from stdatamodels.jwst import datamodels

    nods = [_rate(tmp_path, f"n{i}", nod=i, seed=20 + i) for i in (1, 2)]
    sky = syn.expected_rate("background")
    for nod, out in zip((1, 2), nod_subtract(nods, tmp_path / "out")):
        truth = (syn.expected_rate("science", nod=nod) - sky) - (syn.expected_rate("science", nod=3 - nod) - sky)
        with datamodels.open(str(out)) as m:
            z = ((np.asarray(m.data, float) - truth) / m.err)[syn.footprint()]
        assert abs(z.std() - 1) < 0.02, z.std()


def test_rateints_background_variance_is_that_of_the_integrations_mean(tmp_path: Path) -> None:
    from jwstspec.stages.background import mean_background_variance

    bkg = _rate(tmp_path, "b", kind="background", seed=3, nints=4)
    assert np.allclose(mean_background_variance([bkg])["err"], NOISE**2 / 4)
    assert np.allclose(mean_background_variance([bkg, bkg])["err"], NOISE**2 / 8)
    assert "var_poisson" not in mean_background_variance([bkg])  # a file without it: left out
