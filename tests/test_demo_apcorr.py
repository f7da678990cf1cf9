"""The demo's apcorr references (``jwstspec.synthetic.demo_apcorr``): what they hold and how CRDS finds them.

Each reference is read by jwst's own datamodel (schema-validated) and by
our reader, and its correction at the demo's aperture is compared with the
enclosed fraction of the profile the exposure generators inject, summed
numerically on a fine grid (the generators' own profile, not the closed
form the writer uses).  The registration test asks ``crds.getreferences``
in a fresh process on the session's demo CRDS cache, with each mode's
header, and checks that ``apcorr = auto`` finds the same file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jwstspec.extract.apcorr import radial_correction, read_radial, read_slit_table, slit_correction
from jwstspec.synthetic import demo
from jwstspec.synthetic.demo_apcorr import demo_sigma, write_apcorr_references


@pytest.fixture(scope="module")
def refs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    crds = tmp_path_factory.mktemp("apcorr-crds")
    entries = write_apcorr_references(crds)
    return {e.filename: crds / "references" / "jwst" / e.instrument.lower() / e.filename for e in entries}


def _circle_fraction(radius: float, sigma: float) -> float:
    """Fraction of a circular Gaussian (the IFU generators' density) inside ``radius``, summed on a 2 mas grid."""
    h = 0.002
    x = np.arange(-radius, radius + h, h)
    xx, yy = np.meshgrid(x, x)
    dens = np.exp(-0.5 * (xx**2 + yy**2) / sigma**2) / (2 * np.pi * sigma**2)
    return float(dens[xx**2 + yy**2 <= radius**2].sum() * h * h)


def _band_fraction(height: float, sigma: float) -> float:
    """Fraction of the slit generators' along-slit profile ``exp(-y^2 / 2 sigma^2)`` inside a band of full ``height``."""
    y = np.linspace(-12 * sigma, 12 * sigma, 240001)
    prof = np.exp(-0.5 * (y / sigma) ** 2)
    return float(prof[np.abs(y) <= height / 2].sum() / prof.sum())


def test_every_reference_is_read_by_jwst(refs: dict[str, Path]) -> None:
    from jwst.extract_1d.extract import read_apcorr_ref

    kinds = {"mrs": "MIR_MRS", "lrs": "MIR_LRS-FIXEDSLIT", "ifu": "NRS_IFU", "fs": "NRS_FIXEDSLIT", "mos": "NRS_MSASPEC"}
    seen = set()
    for name, path in refs.items():
        kind = next(k for k in kinds if f"_{k}" in name)
        with read_apcorr_ref(str(path), kinds[kind]) as model:  # schema-validated by stdatamodels
            assert model.meta.reftype.lower() == "apcorr"
        seen.add(kind)
    assert seen == set(kinds)


def test_mrs_correction_is_the_psf_as_it_arrives_in_the_cube(refs: dict[str, Path]) -> None:
    from jwstspec.synthetic.demo_apcorr import MRS_SPAXEL, mrs_effective_sigma
    from jwstspec.synthetic.miri_mrs import CHANNELS, psf_sigma_arcsec

    ref = read_radial(refs["jwst_miri_apcorr_synth_mrs.asdf"])
    for wave, spaxel in ((5.3, 0.13), (8.1, 0.17), (12.5, 0.20), (26.0, 0.35)):  # one band per channel
        for radius_px in (2.0, 4.0):  # 4: the demo's [extract] radius
            got = radial_correction(ref, np.array([wave]), radius_px, spaxel)[0]
            want = 1.0 / _circle_fraction(radius_px * spaxel, float(mrs_effective_sigma(np.array([wave]))[0]))
            assert got == pytest.approx(want, rel=3e-3), (wave, radius_px)
    # the injected PSF broadened by the toy's detector pixel, slice and the channel's spaxel (boxes: width^2 / 12)
    ch1 = next(c for c in CHANNELS if c.channel == "1")
    box = (ch1.alpha_scale**2 + ch1.slice_width**2 + MRS_SPAXEL["1"] ** 2) / 12
    assert mrs_effective_sigma(np.array([5.3]))[0] == pytest.approx(np.sqrt(psf_sigma_arcsec(5.3) ** 2 + box))


def test_nirspec_ifu_correction_is_the_injected_psf(refs: dict[str, Path]) -> None:
    ref = read_radial(refs["jwst_nirspec_apcorr_synth_ifu_g395h_f290lp.asdf"])
    for radius_px in (2.0, 3.0, 6.0):  # 6 px: the demo's
        got = radial_correction(ref, np.array([3.0, 4.0, 5.2]), radius_px, 0.1)
        np.testing.assert_allclose(got, 1.0 / _circle_fraction(radius_px * 0.1, demo.IFU_SIGMA_ARCSEC), rtol=2e-3)


@pytest.mark.parametrize("kind,generator,meta", [
    ("fs", "fixed_slit_uncal", {"EXP_TYPE": "NRS_FIXEDSLIT", "FILTER": "F290LP", "GRATING": "G395H", "SLITNAME": "S200A1"}),
    ("mos", "mos_uncal", {"EXP_TYPE": "NRS_MSASPEC", "FILTER": "F290LP", "GRATING": "G395H"}),
])
def test_nirspec_slit_correction_is_the_injected_profile(refs: dict[str, Path], kind: str, generator: str,
                                                         meta: dict[str, str]) -> None:
    from jwstspec.synthetic import nirspec_exposures, nirspec_mos

    gen = getattr(nirspec_exposures if kind == "fs" else nirspec_mos, generator)
    sigma = demo_sigma(gen)
    ref = read_slit_table(refs[f"jwst_nirspec_apcorr_synth_{kind}.fits"], meta)
    for height_px in (2.0, 3.0, 6.0, 10.0):  # 6 and 10 px: the MOS (3 px) and FS (5 px) demo apertures
        got = slit_correction(ref, np.array([3.0, 4.5]), height_px, 0.1)
        np.testing.assert_allclose(got, 1.0 / _band_fraction(height_px * 0.1, sigma), rtol=2e-3)
    # every fixed slit and setting of the synthetic model has its row (jwst refuses a table without one)
    other = read_slit_table(refs[f"jwst_nirspec_apcorr_synth_{kind}.fits"], {**meta, "FILTER": "F100LP", "GRATING": "G140M",
                                                                               "SLITNAME": "S1600A1"})
    assert slit_correction(other, np.array([1.4]), 4.0, 0.1)[0] > 1.0


def test_lrs_correction_is_the_generators_aperture_fraction(refs: dict[str, Path]) -> None:
    from jwstspec.synthetic import miri_lrs_model as lm

    ref = read_slit_table(refs["jwst_miri_apcorr_synth_lrs.fits"], {"EXP_TYPE": "MIR_LRS-FIXEDSLIT", "SUBARRAY": "FULL"})
    w = np.array([5.0, 8.0, 12.0, 14.0])
    for half in (2, 4, demo.LRS_RADIUS_PX):
        got = slit_correction(ref, w, 2.0 * half, 0.11)
        np.testing.assert_allclose(got, 1.0 / lm.aperture_fraction(0.0, half, w), rtol=1e-3)


CRDS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import crds
    from jwstspec.extract.apcorr import find_reference
    out = {}
    for name, meta in json.loads(sys.argv[1]).items():
        header = {"META.INSTRUMENT.NAME": meta["INSTRUME"], "META.EXPOSURE.TYPE": meta["EXP_TYPE"],
                  "META.OBSERVATION.DATE": "2024-01-01", "META.OBSERVATION.TIME": "00:00:00"}
        for key, field in (("CHANNEL", "CHANNEL"), ("FILTER", "FILTER"), ("GRATING", "GRATING"),
                           ("SUBARRAY", "NAME"), ("DETECTOR", "DETECTOR")):
            if key in meta:
                header[("META.SUBARRAY." if key == "SUBARRAY" else "META.INSTRUMENT.") + field] = meta[key]
        ref = crds.getreferences(header, reftypes=["apcorr"], observatory="jwst")["apcorr"]
        choice = find_reference("auto", None, meta, "aperture")
        out[name] = [ref if "N/A" in ref.upper() else ref.split("/")[-1], getattr(choice.reference, "name", None)]
    print(json.dumps(out))
    """
)

MODES = {
    "mrs-ch1": {"INSTRUME": "MIRI", "EXP_TYPE": "MIR_MRS", "CHANNEL": "1", "BAND": "SHORT", "DETECTOR": "MIRIFUSHORT"},
    "mrs-ch12": {"INSTRUME": "MIRI", "EXP_TYPE": "MIR_MRS", "CHANNEL": "12", "BAND": "SHORT", "DETECTOR": "MIRIFUSHORT"},
    "mrs-ch4": {"INSTRUME": "MIRI", "EXP_TYPE": "MIR_MRS", "CHANNEL": "4", "BAND": "LONG", "DETECTOR": "MIRIFULONG"},
    "lrs": {"INSTRUME": "MIRI", "EXP_TYPE": "MIR_LRS-FIXEDSLIT", "SUBARRAY": "FULL", "DETECTOR": "MIRIMAGE"},
    "ifu": {"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_IFU", "FILTER": "F290LP", "GRATING": "G395H", "DETECTOR": "NRS1"},
    "ifu-g140m": {"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_IFU", "FILTER": "F100LP", "GRATING": "G140M", "DETECTOR": "NRS1"},
    "fs": {"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_FIXEDSLIT", "FILTER": "F290LP", "GRATING": "G395H",
           "SLITNAME": "S200A1", "SUBARRAY": "SUBS200A1", "DETECTOR": "NRS1"},
    "mos": {"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_MSASPEC", "FILTER": "F290LP", "GRATING": "G395H", "DETECTOR": "NRS1"},
    "bots": {"INSTRUME": "NIRSPEC", "EXP_TYPE": "NRS_BRIGHTOBJ", "FILTER": "F290LP", "GRATING": "G395H",
             "SLITNAME": "S1600A1", "DETECTOR": "NRS1"},
    "lrs-slitless": {"INSTRUME": "MIRI", "EXP_TYPE": "MIR_LRS-SLITLESS", "SUBARRAY": "SLITLESSPRISM", "DETECTOR": "MIRIMAGE"},
}


def test_crds_resolves_each_modes_apcorr_offline_and_auto_finds_it(crds_cache: Path) -> None:
    from jwstspec.synthetic.crds_cache import crds_environment

    assert demo.references_stamp(crds_cache).is_file()  # the demo's cache of this version: build_demo keeps it
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRDS_")}
    env.update(crds_environment(crds_cache, demo.CONTEXT))
    proc = subprocess.run([sys.executable, "-c", CRDS_SCRIPT, json.dumps(MODES)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    want = {"mrs-ch1": "jwst_miri_apcorr_synth_mrs.asdf", "mrs-ch12": "jwst_miri_apcorr_synth_mrs.asdf",
            "mrs-ch4": "jwst_miri_apcorr_synth_mrs.asdf", "lrs": "jwst_miri_apcorr_synth_lrs.fits",
            "ifu": "jwst_nirspec_apcorr_synth_ifu_g395h_f290lp.asdf",
            "ifu-g140m": "jwst_nirspec_apcorr_synth_ifu_g140m_f100lp.asdf",
            "fs": "jwst_nirspec_apcorr_synth_fs.fits", "mos": "jwst_nirspec_apcorr_synth_mos.fits"}
    for mode, name in want.items():
        assert found[mode] == [name, name], mode
    for mode in ("bots", "lrs-slitless"):  # time series: truths are jwst's in-box fluxes, no apcorr registered
        assert "N/A" in found[mode][0].upper() and found[mode][1] is None, mode


def test_truths_follow_the_apcorr_header() -> None:
    from jwstspec.spectrum import Spectrum
    from jwstspec.synthetic import miri_lrs_model as lm
    from jwstspec.synthetic.miri_mrs import source_spectrum_jy

    w = np.linspace(5.0, 5.6, 7)
    meta = {"RADIUS": 2.0, "PIXSCALE": 0.13}
    plain = Spectrum(w, np.ones_like(w), np.ones_like(w), meta={**meta, "APCORR": False})
    corrected = Spectrum(w, np.ones_like(w), np.ones_like(w), meta={**meta, "APCORR": True})
    truth = demo.truth_of("miri")
    np.testing.assert_allclose(truth(corrected), source_spectrum_jy(w))
    assert np.all(truth(plain) < 0.999 * source_spectrum_jy(w))  # 2 px x 0.13": clearly inside the aperture only
    np.testing.assert_allclose(truth(plain), demo.expected_point_source_flux(w, 0.26))
    wl = np.linspace(6.0, 12.0, 5)
    lrs = demo.truth_of("miri-lrs")
    np.testing.assert_allclose(lrs(Spectrum(wl, wl, wl, meta={"APCORR": True})), lm.source_spectrum_jy(wl))
    np.testing.assert_allclose(lrs(Spectrum(wl, wl, wl, meta={})),
                               lm.source_spectrum_jy(wl) * lm.aperture_fraction(0.0, demo.LRS_RADIUS_PX, wl))
