"""Stitching: chained scaling, overlap record, DQ/NCOMBINED carried over."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
