"""Real JWST products (CEERS NIRSpec MOS nods, a CEERS HLSP x1d): extraction with the CLI defaults.

Provenance of the files: ``tests/data/ceers/README.md``.  Each nod, after
subtracting the mean of the other two (what the pipeline's nod subtraction
does), extracts with the CLI defaults; the three spectra combine; the
combined spectrum is finite over >= 90 % of the band.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from astropy.io import fits

from jwstspec.cli import main
from jwstspec.spectrum import read_spectrum

DATA = Path(__file__).parent / "data" / "ceers"
NODS = [DATA / f"jw01345062001_03101_0000{i}_nrs2_phot.138.1345_933.fits" for i in (1, 2, 3)]
X1D = DATA / "hlsp_ceers_jwst_nirspec_nirspec10-001027_comb-mgrat_v0.7_x1d-masked.fits"
MD5 = ["69e02df750d89a1ad702a9c1b8818f96", "859ac7f843e8bd46e902e4f10e211c94", "b81b1c4eeb638c74bc7814243e81b388"]


def nod_subtract(source: Path, target: Path) -> list[Path]:
    """Each nod minus the mean of the other two, written beside the originals' layout (astropy only).

    SCI: ``a - (b + c) / 2``; ERR and VAR_*: propagated; DQ: OR of the
    three; ``S_BKDSUB = COMPLETE`` as jwst's background step records it.
    """
    names = [source / p.name for p in NODS]
    hduls = [fits.open(p) for p in names]
    out = []
    try:
        for i, h in enumerate(hduls):
            others = [hduls[j] for j in range(3) if j != i]
            new = fits.HDUList([hdu.copy() for hdu in h])
            new["SCI"].data = h["SCI"].data - 0.5 * (others[0]["SCI"].data + others[1]["SCI"].data)
            e = [np.asarray(x["ERR"].data, float) for x in (h, *others)]
            new["ERR"].data = np.sqrt(e[0] ** 2 + 0.25 * (e[1] ** 2 + e[2] ** 2)).astype(np.float32)
            for ext in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"):
                v = [np.asarray(x[ext].data, float) for x in (h, *others)]
                new[ext].data = (v[0] + 0.25 * (v[1] + v[2])).astype(np.float32)
            new["DQ"].data = h["DQ"].data | others[0]["DQ"].data | others[1]["DQ"].data
            new[0].header["S_BKDSUB"] = "COMPLETE"
            path = target / names[i].name.replace("_phot.", "_nodsub.")
            new.writeto(path, overwrite=True)
            out.append(path)
    finally:
        for h in hduls:
            h.close()
    return out


def test_provenance() -> None:
    assert [hashlib.md5(p.read_bytes()).hexdigest() for p in NODS] == MD5
    assert hashlib.md5(X1D.read_bytes()).hexdigest() == "152627cfff24c7ec7f5bb07f6251175c"


def test_ceers_nods_extract_with_defaults_and_combine(tmp_path: Path, capsys) -> None:
    subtracted = nod_subtract(DATA, tmp_path)
    spectra = []
    for path in subtracted:
        out = tmp_path / path.name.replace(".fits", "_x1d.fits")
        assert main(["extract", str(path), "--output", str(out)]) == 0, capsys.readouterr().err
        spec = read_spectrum(out)
        spectra.append(out)
        assert spec.meta["BUNITSCI"] == "MJy/sr"
        assert spec.meta["NODSUB"] is True  # detected from the headers
        assert spec.meta["CENTMODE"] in ("header", "header+centroid")  # SRCYPOS through the WCS
        assert np.isfinite(spec.flux).mean() >= 0.9
    assert main(["combine", *map(str, spectra), "--output", str(tmp_path / "comb.fits"), "--no-plot"]) == 0
    comb = read_spectrum(tmp_path / "comb.fits")
    band = (comb.wavelength > 1.4) & (comb.wavelength < 5.3)
    assert np.isfinite(comb.flux[band]).mean() >= 0.9
    # a faint galaxy: a few uJy, positive on average (not 1e13 off, not negative from a nod residual)
    med = np.nanmedian(comb.flux[band])
    assert 1e-8 < med < 1e-4, med


def test_ceers_hlsp_x1d_is_refused_with_one_line(tmp_path: Path, capsys) -> None:
    code = main(["combine", str(X1D), str(X1D), "--output", str(tmp_path / "c.fits"), "--no-plot"])
    err = capsys.readouterr().err.strip()
    if code == 0:  # read: then it must be the galaxy's spectrum in Jy
        comb = read_spectrum(tmp_path / "c.fits")
        assert np.isfinite(comb.flux).mean() > 0.5
    else:
        assert code == 2 and len(err.splitlines()) == 1 and X1D.name in err
