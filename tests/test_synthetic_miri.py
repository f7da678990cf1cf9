"""The synthetic MIRI MRS observation, run through the real jwst pipelines.

Each pipeline is called exactly as on real data (no ``override_*``): every
reference comes from the local CRDS cache of the test session.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from jwstspec.errors import OptionError
from jwstspec.stages.pipelines import frozen_heap
from jwstspec.synthetic import miri_mrs as mm


@pytest.fixture(scope="module")
def miri_cache(request: pytest.FixtureRequest) -> Path:
    """The session CRDS cache with the MIRI references in it."""
    try:
        return Path(request.getfixturevalue("crds_cache"))
    except (ImportError, pytest.FixtureLookupError):
        # the full demo reference set is not available: register the MIRI part only
        from jwstspec.synthetic.crds_cache import activate, write_crds_cache

        crds = Path(os.environ.get("CRDS_PATH") or request.config.cache.mkdir("jwstspec-crds"))
        activate(crds, os.environ.get("CRDS_CONTEXT"))
        write_crds_cache(crds, mm.write_miri_references(crds))
        return crds


@pytest.fixture(scope="module")
def exposures(miri_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One science (dither 1) and one background uncal, and their Detector1 rates."""
    from jwst.pipeline import Detector1Pipeline

    raw = tmp_path_factory.mktemp("mrs_raw")
    out = tmp_path_factory.mktemp("mrs_stage1")
    sci = mm.make_mrs_uncal(raw / "jw01234001001_03101_00001_mirifushort_uncal.fits", kind="science", dither=1,
                            crds_path=miri_cache)
    bkg = mm.make_mrs_uncal(raw / "jw01234002001_03101_00001_mirifushort_uncal.fits", kind="background",
                            dither=1, observation="002", crds_path=miri_cache)
    files = {"sci_uncal": sci, "bkg_uncal": bkg}
    for key, path in (("sci_rate", sci), ("bkg_rate", bkg)):
        with frozen_heap():  # stpipe's gc.collect() before each step skips the test process's heap
            Detector1Pipeline.call(str(path), output_dir=str(out), save_results=True)
        files[key] = out / path.name.replace("_uncal.fits", "_rate.fits")
    return files


def test_flux_bookkeeping_of_the_scene() -> None:
    """Summing the injected surface brightness over the pixel footprints gives back F_nu."""
    from stdatamodels.jwst.datamodels import Level1bModel

    m = Level1bModel()
    ra, dec = mm._pointing(mm.DITHER_OFFSETS[0], mm.SOURCE_RA, mm.SOURCE_DEC)
    mm._set_exposure_meta(m, kind="science", program="01234", observation="001", exposure=1, ngroups=5,
                          ra_ref=ra, dec_ref=dec, dither=1, n_dithers=4, offset=mm.DITHER_OFFSETS[0])
    refs = mm._wcs_models()
    total = mm.scene_rate(m, refs, source=True) * mm.PHOTOM_SENS
    bkg = mm.scene_rate(m, refs, source=False) * mm.PHOTOM_SENS
    y = np.arange(mm.NY)
    for ch in mm.CHANNELS:
        lam = ch.wmin + ch.dlam * y
        cols = np.concatenate([np.arange(a, b + 1) for a, b in (ch.strip(k) for k in range(1, ch.nslices + 1))])
        flux_jy = (total - bkg)[:, cols].sum(axis=1) * ch.pixel_solid_angle * 1e6
        np.testing.assert_allclose(flux_jy, mm.source_spectrum_jy(lam), rtol=2e-3)
        np.testing.assert_allclose(bkg[:, cols[0]], mm.background_mjysr(lam), rtol=1e-12)
    # nothing outside the slices
    assert np.all(total[mm.slice_map() == 0] == 0)


def test_dithers_move_the_source_on_the_detector() -> None:
    """Each dither moves the pointing so the source lands on different pixels."""
    from stdatamodels.jwst.datamodels import Level1bModel

    refs = mm._wcs_models()
    ch = mm.CHANNELS[0]
    centroids = []
    for d in (1, 2):
        m = Level1bModel()
        ra, dec = mm._pointing(mm.DITHER_OFFSETS[d - 1], mm.SOURCE_RA, mm.SOURCE_DEC)
        mm._set_exposure_meta(m, kind="science", program="01234", observation="001", exposure=d, ngroups=5,
                              ra_ref=ra, dec_ref=dec, dither=d, n_dithers=4, offset=mm.DITHER_OFFSETS[d - 1])
        src = (mm.scene_rate(m, refs, source=True) - mm.scene_rate(m, refs, source=False))[512]
        # along-slice centroid (alpha) of the brightest slice and that slice's beta
        labels = mm.slice_map()[512]
        per_slice = {lab: src[labels == lab].sum() for lab in ch.labels}
        best = max(per_slice, key=per_slice.get)
        cols = np.flatnonzero(labels == best)
        k = best - 100
        alpha = np.sum((cols - ch.x_centre(k)) * ch.alpha_scale * src[cols]) / src[cols].sum()
        centroids.append((alpha, ch.beta(k)))
    (a1, b1), (a2, b2) = centroids
    (da1, db1), (da2, db2) = mm.DITHER_OFFSETS[:2]
    # the source sits at +offset in (alpha, beta) up to a flip of the alpha/beta axes on the sky
    assert abs(abs(a1 - a2) - abs(da1 - da2)) < 0.05
    assert abs(abs(b1 - b2) - abs(db1 - db2)) < ch.slice_width


def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="kind"):
        mm.make_mrs_uncal(tmp_path / "x_uncal.fits", kind="dark", dither=1)
    with pytest.raises(OptionError, match="ngroups"):
        mm.make_mrs_uncal(tmp_path / "x_uncal.fits", kind="science", dither=1, ngroups=mm.MAX_NGROUPS + 1)


@pytest.mark.slow
def test_detector1_recovers_injected_rate(exposures: dict[str, Path], miri_cache: Path) -> None:
    from stdatamodels.jwst import datamodels

    truth = mm.expected_rate(exposures["sci_uncal"], miri_cache)
    with datamodels.open(exposures["sci_rate"]) as rate:
        steps = rate.meta.cal_step.instance
        for step in ("dq_init", "saturation", "linearity", "dark_sub", "refpix", "jump", "ramp_fit"):
            assert steps[step] == "COMPLETE", step
        assert steps["rscd"] == "SKIPPED" and steps["reset"] == "SKIPPED"  # N/A in the cache
        assert rate.meta.ref_file.gain.name == "crds://jwst_miri_gain_synth_mirifushort.fits"
        inside = (mm.slice_map() > 0) & np.isfinite(rate.data)
        assert inside.sum() > 0.99 * (mm.slice_map() > 0).sum()
        assert rate.data[inside].sum() / truth[inside].sum() == pytest.approx(1.0, abs=0.01)
        bright = inside & (truth > 50)
        assert np.median(rate.data[bright] / truth[bright]) == pytest.approx(1.0, abs=0.01)


def _background_association(exposures: dict[str, Path]) -> tuple[Path, str]:
    """The science exposure's level-2 association with the background exposure as its background member."""
    from jwst.associations.asn_from_list import asn_from_list
    from jwst.associations.lib.rules_level2b import Asn_Lv2Spec

    sci, bkg = exposures["sci_rate"], exposures["bkg_rate"]
    name = sci.name.replace("_rate.fits", "")
    asn = asn_from_list([sci.name], rule=Asn_Lv2Spec, product_name_func=lambda item, idx: name)
    asn["products"][0]["members"].append({"expname": bkg.name, "exptype": "background"})
    asn.data["asn_type"] = "spec2"
    asn_file = sci.parent / f"{name}_spec2_asn.json"  # members are resolved relative to the asn file
    asn_file.write_text(asn.dump(format="json")[1])
    return asn_file, name


@pytest.mark.slow
def test_spec2_with_background_gives_source_surface_brightness(exposures: dict[str, Path], miri_cache: Path,
                                                               tmp_path: Path) -> None:
    from jwst.pipeline import Spec2Pipeline
    from stdatamodels.jwst import datamodels

    asn_file, name = _background_association(exposures)
    # cube_build/extract_1d are covered by the demo; residual_fringe (2-D) takes minutes
    with frozen_heap():
        Spec2Pipeline.call(str(asn_file), output_dir=str(tmp_path), save_results=True,
                           steps={"residual_fringe": {"skip": True}, "cube_build": {"skip": True},
                                  "extract_1d": {"skip": True}})
    with datamodels.open(exposures["sci_uncal"]) as m:
        refs = mm._wcs_ref_paths(miri_cache)
        source_sb = (mm.scene_rate(m, refs, source=True) - mm.scene_rate(m, refs, source=False)) * mm.PHOTOM_SENS
        bkg_sb = mm.scene_rate(m, refs, source=False) * mm.PHOTOM_SENS
    with datamodels.open(tmp_path / f"{name}_cal.fits") as cal:
        steps = cal.meta.cal_step.instance
        for step in ("assign_wcs", "bkg_subtract", "srctype", "flat_field", "fringe", "photom"):
            assert steps[step] == "COMPLETE", step
        assert cal.meta.bunit_data == "MJy/sr"
        good = np.isfinite(cal.data) & (mm.slice_map() > 0)
        bright = good & (source_sb > 2000)
        assert np.median(cal.data[bright] / source_sb[bright]) == pytest.approx(1.0, abs=0.02)
        assert cal.data[good].sum() / source_sb[good].sum() == pytest.approx(1.0, abs=0.02)
        empty = good & (source_sb < 1)
        # the background (~300 MJy/sr) is gone: what is left is noise around zero
        assert abs(np.median(cal.data[empty])) < 0.01 * np.median(bkg_sb[good])


@pytest.mark.slow
@pytest.mark.parametrize("hook", [True, False])
def test_spec2_background_errors_match_the_noise_of_the_subtraction(exposures: dict[str, Path], miri_cache: Path,
                                                                   tmp_path: Path, hook: bool) -> None:
    """jwst's bkg_subtract leaves ERR as it was (jwst#8723); jwstspec's ``run_spec2`` adds the background's
    variance by a post-hook: where no source is, the cal's residual over its ERR has unit scatter (jwst's
    own: ~sqrt(2), science and background being equally noisy)."""
    from stdatamodels.jwst import datamodels

    from jwstspec.stages.pipelines import run_spec2

    asn_file, name = _background_association(exposures)
    steps = {"residual_fringe": {"skip": True}, "cube_build": {"skip": True}, "extract_1d": {"skip": True}}
    if not hook:  # what jwst alone gives: the user's own post_hooks replace the hook
        steps["bkg_subtract"] = {"post_hooks": []}
    run_spec2(asn_file, tmp_path, steps=steps)
    with datamodels.open(exposures["sci_uncal"]) as m:
        refs = mm._wcs_ref_paths(miri_cache)
        source_sb = (mm.scene_rate(m, refs, source=True) - mm.scene_rate(m, refs, source=False)) * mm.PHOTOM_SENS
    with datamodels.open(tmp_path / f"{name}_cal.fits") as cal:
        empty = np.isfinite(cal.data) & (mm.slice_map() > 0) & (source_sb < 1) & (cal.err > 0) & (cal.dq == 0)
        z = cal.data[empty] / cal.err[empty]
    scatter = 1.4826 * np.median(np.abs(z - np.median(z)))
    print(f"hook {hook}: residual/ERR scatter {scatter:.3f} over {empty.sum()} pixels")
    assert empty.sum() > 10_000
    if hook:
        assert scatter == pytest.approx(1.0, abs=0.05), scatter
    else:
        assert scatter > 1.3, scatter
