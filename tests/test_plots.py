"""PNG plots (jwstspec.plots): written atomically with the Agg canvas, no pyplot state."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from jwstspec.combine import combine_dithers, stitch
from jwstspec.plots import plot_combined, plot_dithers, plot_stitched
from jwstspec.spectrum import Spectrum
from jwstspec.synthetic.spectra import dither_spectra

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_three_plots_written(tmp_path: Path) -> None:
    ds = dither_spectra(n_dithers=3, n_points=400, artefacts=5)
    res = combine_dithers(ds.spectra)
    p1 = plot_dithers(tmp_path / "d.png", res.spectra, res.flags, title="dithers", combined=res.combined)
    p2 = plot_combined(tmp_path / "sub" / "c.png", res.combined, title="combined")
    other = Spectrum(np.linspace(6.0, 7.0, 300), np.full(300, 0.02), np.full(300, 1e-3))
    st = stitch({"a": res.combined, "b": other})
    p3 = plot_stitched(tmp_path / "s.png", st, bands={"a": (5.0, 6.0), "b": (6.0, 7.0)})
    for p in (p1, p2, p3):
        w, h = _png_size(p)
        assert w > 500 and h > 300 and p.stat().st_size > 5000
    assert not list(tmp_path.rglob(".tmp-*"))


NO_PYPLOT = """
import sys
import numpy as np
from jwstspec.plots import plot_combined
from jwstspec.spectrum import Spectrum
w = np.linspace(5, 6, 50)
plot_combined(sys.argv[1], Spectrum(w, np.ones(50), np.full(50, 0.1), ncombined=np.ones(50, int)))
import matplotlib
print("PYPLOT" if "matplotlib.pyplot" in sys.modules else "NO-PYPLOT", matplotlib.get_backend())
"""


def test_no_pyplot_and_no_display(tmp_path: Path) -> None:
    """Own process: plotting must not import pyplot (global figure state) nor need a display."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY")}
    out = tmp_path / "p.png"
    res = subprocess.run([sys.executable, "-c", NO_PYPLOT, str(out)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == "NO-PYPLOT", res.stdout
    assert _png_size(out)[0] > 500


def test_plots_of_degenerate_spectra(tmp_path: Path) -> None:
    w = np.linspace(5, 6, 50)
    nan = Spectrum(w, np.full(50, np.nan), np.full(50, np.nan))
    assert plot_combined(tmp_path / "nan.png", nan).stat().st_size > 1000
    flat = Spectrum(w, np.zeros(50), np.zeros(50), ncombined=np.zeros(50, int))
    assert plot_dithers(tmp_path / "flat.png", [flat], [np.ones(50, bool)]).stat().st_size > 1000
    assert plot_stitched(tmp_path / "st.png", flat).stat().st_size > 1000


def test_flagged_points_change_the_picture(tmp_path: Path) -> None:
    ds = dither_spectra(n_dithers=2, n_points=300, artefacts=0)
    none = [np.zeros(300, bool)] * 2
    some = [np.zeros(300, bool), np.arange(300) % 10 == 0]
    a = plot_dithers(tmp_path / "a.png", ds.spectra, none).read_bytes()
    b = plot_dithers(tmp_path / "b.png", ds.spectra, some).read_bytes()
    assert a != b
