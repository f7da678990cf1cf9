"""Stitching: chained scaling, overlap record, DQ/NCOMBINED carried over."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from jwstspec.combine import stitch, stitch_files
from jwstspec.spectrum import DQ_FLAGS, Spectrum, read_spectrum


def band(lo: float, hi: float, level: float, n: int = 200) -> Spectrum:
    w = np.linspace(lo, hi, n)
    dq = np.zeros(n, int)
    dq[n // 2] = DQ_FLAGS["DITHER_CLIPPED"]
    return Spectrum(w, np.full(n, level), np.full(n, 0.01 * level), dq=dq, ncombined=np.full(n, 4))


def test_chained_scaling_ties_every_band_to_the_first(tmp_path: Path) -> None:
    bands = {"b": band(5.9, 7.0, 2.0), "a": band(5.0, 6.0, 1.0), "c": band(6.9, 8.0, 3.0)}
    st = stitch(bands, scale=True)
    assert np.all(np.diff(st.wavelength) > 0)
    np.testing.assert_allclose(st.flux, 1.0)  # c scaled to b's *scaled* flux, not to b's own
    np.testing.assert_allclose(st.flux_error, 0.01)
    assert st.meta["BANDS"] == "a,b,c" and "c scaled by 0.3333" in st.meta["SCALING"]
    assert (st.ncombined == 4).all() and (st.dq == DQ_FLAGS["DITHER_CLIPPED"]).sum() == 3
    unscaled = stitch(bands)
    assert set(np.unique(unscaled.flux)) == {1.0, 2.0, 3.0} and "SCALING" not in unscaled.meta
    gap = stitch({"a": band(5.0, 6.0, 1.0), "z": band(9.0, 10.0, 5.0)}, scale=True)
    assert "z not scaled" in gap.meta["SCALING"] and gap.flux.max() == 5.0
    paths = [s.write_fits(tmp_path / f"{k}_x1d.fits") for k, s in bands.items()]
    out = tmp_path / "st_x1d.fits"
    stitch_files(paths, out, scale=True, plot=tmp_path / "st.png")
    back = read_spectrum(out)
    assert back.meta["OVERLAP"].startswith("shorter") and back.meta["SCALED"]
    assert (tmp_path / "st.png").stat().st_size > 5000


# ----------------------------------------------------------------------------- all twelve MRS sub-bands
def jwst_mrs_band_edges() -> dict[str, tuple[float, float]]:
    """The MRS sub-band wavelength ranges (µm) of jwst's own cube-parameter table.

    jwst defines the sub-band ranges only in the CRDS ``cubepar`` reference
    (``WAVEMIN``/``WAVEMAX`` per channel and band, read by
    ``jwst.cube_build.cube_build_io_util.read_cube_pars``); the installed
    jwst 3.0 carries a copy of that table in its cube_build tests
    (``test_miri_cubepars.py``), read here from jwst's source.  Our
    synthetic CRDS cache writes the same values.
    """
    import ast
    import importlib.util

    spec = importlib.util.find_spec("jwst.cube_build")
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations))) / "tests" / "test_miri_cubepars.py"
    tree = ast.parse(source.read_text())
    values: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "miri_cube_pars":
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)
                        and stmt.targets[0].id in ("channel", "subchannel", "wmin", "wmax")):
                    values.setdefault(stmt.targets[0].id, ast.literal_eval(stmt.value.args[0]))
    edges = {f"ch{c}-{b.lower()}": (lo, hi)
             for c, b, lo, hi in zip(values["channel"], values["subchannel"], values["wmin"], values["wmax"])}
    assert len(edges) == 12
    return edges


def truth_jy(w: np.ndarray) -> np.ndarray:
    """Injected source: rising continuum with narrow lines."""
    lines = sum(a * np.exp(-0.5 * ((w - c) / (0.0015 * c)) ** 2) for c, a in ((6.1, 0.3), (12.8, 0.2), (21.0, 0.4)))
    return 0.05 * (w / 5.0) ** 1.5 + lines


STEPS = {"1": 0.001, "2": 0.002, "3": 0.003, "4": 0.006}  # the cubepar SPECTRALSTEP of each channel


def mrs_band(key: str, lo: float, hi: float, *, leak_rows: object = None, ch1b: Spectrum | None = None) -> Spectrum:
    """One sub-band on its channel's grid, NaN in the first and last two planes as at real cube edges."""
    channel, setting = key[2], key.split("-")[1]
    w = np.arange(lo, hi + 1e-9, STEPS[channel])
    f = truth_jy(w)
    if leak_rows is not None and ch1b is not None:  # 1B's second order in 3A where the table is defined
        tw = np.asarray(leak_rows["wavelength"], float)
        inside = (w >= tw[0]) & (w <= tw[-1])
        f = f + np.where(inside, np.interp(w, tw, np.asarray(leak_rows["frac_leak"], float))
                         * np.interp(w / 2, ch1b.wavelength, ch1b.flux), 0.0)
    f[:2] = f[-2:] = np.nan
    meta = {"INSTRUME": "MIRI", "EXP_TYPE": "MIR_MRS", "CHANNEL": channel, "BAND": setting.upper()}
    return Spectrum(w, f, 0.01 * np.abs(f), meta=meta)


def twelve_bands(leak: bool = True) -> dict[str, Spectrum]:
    from jwstspec.synthetic.spectra import leak_table_rows

    edges = jwst_mrs_band_edges()
    out = {k: mrs_band(k, *edges[k]) for k in edges}
    if leak:
        out["ch3-short"] = mrs_band("ch3-short", *edges["ch3-short"], leak_rows=leak_table_rows(), ch1b=out["ch1-medium"])
    return out


def two_channel_files(bands: dict[str, Spectrum]) -> dict[str, Spectrum]:
    """The six Stage 2 spectra: channels 1+2 and 3+4 of each grating setting in one spectrum (CHANNEL '12'/'34')."""
    out = {}
    for pair in ("12", "34"):
        for setting in ("short", "medium", "long"):
            a, b = bands[f"ch{pair[0]}-{setting}"], bands[f"ch{pair[1]}-{setting}"]
            meta = {**a.meta, "CHANNEL": pair}
            out[f"ch{pair}-{setting}"] = Spectrum(np.concatenate([a.wavelength, b.wavelength]),
                                                  np.concatenate([a.flux, b.flux]),
                                                  np.concatenate([a.flux_error, b.flux_error]), meta=meta)
    return out


def largest_hole(st: Spectrum) -> float:
    w = st.wavelength[np.isfinite(st.flux)]
    return float(np.diff(w).max())


def check_full_coverage(st: Spectrum) -> None:
    edges = jwst_mrs_band_edges()
    assert st.meta["BANDS"].split(",") == list(edges)  # every sub-band, in order of wavelength
    good = np.isfinite(st.flux)
    # the cubepar ranges overlap everywhere: no real gap, so no hole wider than the coarsest grid step
    assert largest_hole(st) <= STEPS["4"] * 1.01
    assert st.wavelength[good][0] < 4.9 and st.wavelength[good][-1] > 27.9
    np.testing.assert_allclose(st.flux[good], truth_jy(st.wavelength[good]), rtol=1e-9)
    overlaps = st.meta["OVERLAPS"].split("; ")
    keys = list(edges)
    assert [o.split(" ")[0] for o in overlaps] == [f"{a}/{b}" for a, b in itertools.pairwise(keys)]
    assert all(o.endswith(f"{o.split('/')[0]} kept") for o in overlaps)


@pytest.mark.parametrize("layout", ["twelve files", "six two-channel files"])
def test_all_twelve_mrs_bands_stitch_without_holes(tmp_path: Path, layout: str) -> None:
    bands = twelve_bands(leak=False)
    inputs = bands if layout == "twelve files" else two_channel_files(bands)
    paths = []
    for i, spec in enumerate(inputs.values()):  # names that say nothing about the band
        rev = Spectrum(spec.wavelength[::-1], spec.flux[::-1], spec.flux_error[::-1], meta=spec.meta)  # decreasing
        paths.append(rev.write_fits(tmp_path / f"spectrum_{i:02d}.fits"))
    out = tmp_path / "stitched_x1d.fits"
    stitch_files(paths, out)
    check_full_coverage(read_spectrum(out))


def test_old_rule_would_have_lost_four_bands() -> None:
    """Stitching whole two-channel spectra by their longest wavelength loses 1B, 1C, 3B, 3C (issue 15): not any more."""
    six = two_channel_files(twelve_bands(leak=False))
    st = stitch(six)
    w = st.wavelength[np.isfinite(st.flux)]
    for lo, hi in ((5.74, 7.51), (13.47, 17.71)):  # the holes the old rule left
        assert ((w > lo) & (w < hi)).sum() > 0.95 * (hi - lo) / STEPS["3"]


@pytest.mark.parametrize("layout", ["twelve files", "six two-channel files"])
def test_leak_corrected_by_band_metadata_whatever_the_names(tmp_path: Path, layout: str) -> None:
    from jwstspec.products import stitch_bands
    from jwstspec.synthetic.spectra import write_leak_table

    ref = write_leak_table(tmp_path / "mrsptcorr.fits")
    bands = twelve_bands(leak=True)
    inputs = bands if layout == "twelve files" else two_channel_files(bands)
    paths = [s.write_fits(tmp_path / f"x{i}.fits") for i, s in enumerate(inputs.values())]
    product = stitch_bands(paths, tmp_path / "st_x1d.fits", spectral_leak=True, leak_reference=str(ref))
    st = read_spectrum(product.fits)
    assert product.leakcorr and st.meta["LEAKCORR"] is True and st.meta["LEAKREF"] == ref.name
    assert read_spectrum(product.leak_corrected).meta["BAND_KEY"] == "ch3-short"
    sel = np.isfinite(st.flux) & (st.wavelength > 11.55) & (st.wavelength < 13.4)
    np.testing.assert_allclose(st.flux[sel], truth_jy(st.wavelength[sel]), rtol=0.005)
    check_full_coverage(st) if layout == "twelve files" else None
    # switched off: the leak stays in 3A, LEAKCORR = F
    off = stitch_bands(paths, tmp_path / "off_x1d.fits", spectral_leak=False)
    st_off = read_spectrum(off.fits)
    assert st_off.meta["LEAKCORR"] is False and not off.leakcorr
    excess = st_off.flux[sel] / truth_jy(st_off.wavelength[sel]) - 1
    assert excess.max() > 0.05


def test_decreasing_dither_grids_combine_like_increasing_ones() -> None:
    from jwstspec.combine import combine_dithers

    w = np.linspace(5.0, 12.0, 400)  # MIRI LRS: the slit image runs long to short
    rng = np.random.default_rng(3)
    dithers = [Spectrum(w, truth_jy(w) + rng.normal(0, 1e-3, w.size), np.full(w.size, 1e-3)) for _ in range(3)]
    up = combine_dithers(dithers).combined
    down = combine_dithers([Spectrum(d.wavelength[::-1], d.flux[::-1], d.flux_error[::-1]) for d in dithers]).combined
    np.testing.assert_allclose(down.wavelength, up.wavelength)
    np.testing.assert_allclose(down.flux, up.flux)
    # a decreasing grid given to the resampler: the result follows it
    from jwstspec.combine import resample

    f, _ = resample(w, truth_jy(w), np.ones(w.size), w[::-1])
    np.testing.assert_allclose(f[1:-1], truth_jy(w[::-1])[1:-1])


def test_cli_stitch_applies_the_leak_correction_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from jwstspec.cli import main
    from jwstspec.synthetic.spectra import write_leak_table

    ref = write_leak_table(tmp_path / "mrsptcorr.fits")
    six = two_channel_files(twelve_bands(leak=True))
    paths = [str(s.write_fits(tmp_path / f"s{i}.fits")) for i, s in enumerate(six.values())]
    out = tmp_path / "cli_x1d.fits"
    assert main(["combine", "--stitch", *paths, "--leak-reference", str(ref), "--no-plot", "--output", str(out)]) == 0
    assert "12 bands from 6 files, LEAKCORR = T" in capsys.readouterr().out
    st = read_spectrum(out)
    sel = np.isfinite(st.flux) & (st.wavelength > 11.55) & (st.wavelength < 13.4)
    np.testing.assert_allclose(st.flux[sel], truth_jy(st.wavelength[sel]), rtol=0.005)
    off = tmp_path / "off_x1d.fits"
    assert main(["combine", "--stitch", *paths, "--no-spectral-leak", "--no-plot", "--output", str(off)]) == 0
    assert "LEAKCORR = F" in capsys.readouterr().out and read_spectrum(off).meta["LEAKCORR"] is False


def test_stitched_spectrum_of_one_slit_keeps_its_slit_name() -> None:
    """A MOS source's bands (one slit) keep SLITNAME; bands of different slits never get one."""
    def band(lo: float, slit: str) -> Spectrum:
        w = np.linspace(lo, lo + 1.0, 50)
        return Spectrum(w, np.ones_like(w), np.full_like(w, 0.1), meta={"SLITNAME": slit})

    assert stitch({"a_nrs1": band(3.0, "2"), "a_nrs2": band(4.1, "2")}).meta["SLITNAME"] == "2"
    assert "SLITNAME" not in stitch({"a_nrs1": band(3.0, "1"), "a_nrs2": band(4.1, "2")}).meta
