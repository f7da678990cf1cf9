"""Synthetic NIRSpec MOS (jwstspec.synthetic.nirspec_mos): the MSA metadata file read by jwst, rates through the real Spec2.

jwst is the oracle: its own ``get_open_msa_slits`` reads our metadata file
(slitlets, primary shutter per nod, sources), and the real
``calwebb_spec2`` (assign_wcs with the file beside the input, extract_2d,
srctype from the stellarity, the MSA flat, photom, resample_spec,
extract_1d) must give each injected source back in MJy/Jy.
"""

from __future__ import annotations

import numpy as np
import pytest

from jwstspec.synthetic import nirspec_mos as mos

MSA = "jw01234005001_01_msa.fits"


@pytest.mark.parametrize("nod", [1, 2, 3])
def test_jwst_reads_the_metadata_file_with_the_source_in_the_nods_shutter(tmp_path, nod):
    from jwst.assign_wcs.nirspec import get_open_msa_slits

    path = mos.write_msa_metadata(tmp_path / MSA)
    slits = get_open_msa_slits(1234, str(path), 1, nod, slit_scales={})
    assert sorted(int(s.name) for s in slits) == [s.slitlet_id for s in mos.SOURCES]
    for src in mos.SOURCES:
        slit = next(s for s in slits if int(s.name) == src.slitlet_id)
        assert slit.source_id == src.source_id and slit.source_alias == src.name
        assert (slit.quadrant, slit.xcen) == (src.quadrant, src.row)
        assert slit.ycen == src.column + mos.NOD_SHUTTER[nod]  # the primary shutter: where the source is
        assert slit.shutter_state == {1: "x11", 2: "1x1", 3: "11x"}[nod] and slit.stellarity == 1.0
        assert slit.source_ypos == 0.0  # centred in its shutter


def test_unknown_nod_is_refused(tmp_path):
    with pytest.raises(ValueError, match="nod must be 1, 2 or 3"):
        mos.mos_exposure(tmp_path / "x_rate.fits", tmp_path / MSA, nod=4)


@pytest.fixture(scope="module")
def mos_spec2(crds_cache, tmp_path_factory):
    """Nod 3 (each source in the last shutter of its slitlet) through the real calwebb_spec2."""
    import time

    from jwstspec.stages.pipelines import run_spec2

    d = tmp_path_factory.mktemp("mos")
    msa = mos.write_msa_metadata(d / MSA)
    exp = mos.mos_exposure(d / "jw01234005001_03101_00003_nrs1_rate.fits", msa, nod=3, noise=0.02, seed=3)
    t0 = time.perf_counter()
    products = run_spec2(exp.path, d / "stage2", log_file=d / "spec2.log")
    print(f"MOS Spec2 of one full-frame exposure: {time.perf_counter() - t0:.1f} s")
    return exp, {p.name.rsplit("_", 1)[-1]: p for p in products}


@pytest.mark.slow
def test_spec2_gives_one_point_source_slit_per_slitlet_in_mjy(mos_spec2):
    from stdatamodels.jwst import datamodels as dm

    exp, products = mos_spec2
    assert {"cal.fits", "s2d.fits", "x1d.fits"} <= set(products)
    with dm.open(products["s2d.fits"]) as s2d:
        slits = {int(s.name): s for s in s2d.slits}
        assert sorted(slits) == sorted(exp.slitlets.values())
        for name, slitlet in exp.slitlets.items():
            s = slits[slitlet]
            assert (s.source_alias, s.source_type, s.meta.bunit_data) == (name, "POINT", "MJy")
            assert s.shutter_state == "11x"  # nod 3: the source's shutter is the last of three


@pytest.mark.slow
@pytest.mark.parametrize(("source", "tolerance"), [("bright", 0.02), ("faint", 0.05)])
def test_spec2_x1d_gives_each_source_its_injected_flux(mos_spec2, source, tolerance):
    from stdatamodels.jwst import datamodels as dm

    exp, products = mos_spec2
    with dm.open(products["x1d.fits"]) as x1d:
        spec = next(s for s in x1d.spec if int(s.name) == exp.slitlets[source])
        w, f = np.asarray(spec.spec_table["WAVELENGTH"]), np.asarray(spec.spec_table["FLUX"])
    ok = np.isfinite(f) & (f != 0) & (w > 0)
    assert ok.sum() > 1500
    assert np.median(f[ok] / exp.truths[source](w[ok])) == pytest.approx(1.0, abs=tolerance)


@pytest.mark.slow
def test_spec2_puts_the_bright_sources_line_at_its_wavelength(mos_spec2):
    from stdatamodels.jwst import datamodels as dm

    exp, products = mos_spec2
    with dm.open(products["x1d.fits"]) as x1d:
        spec = next(s for s in x1d.spec if int(s.name) == exp.slitlets["bright"])
        w, f = np.asarray(spec.spec_table["WAVELENGTH"]), np.asarray(spec.spec_table["FLUX"])
    near = np.isfinite(f) & (np.abs(w - 3.60) < 0.02)
    excess = f[near] - mos.BRIGHT_SCALE * 1e-3 * (w[near] / 4.0) ** 0.5  # minus the injected continuum
    centre = np.sum(w[near] * excess) / np.sum(excess)
    resolution_element = 2 * np.median(np.diff(w[np.isfinite(f)]))  # a shutter is 2 pixels wide
    assert abs(centre - 3.60) < 0.1 * resolution_element
