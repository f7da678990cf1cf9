"""The toy MIRI MRS model in all twelve sub-bands (both detectors, three grating settings).

The oracle is jwst itself: CRDS picks each band's references from the
cache by DETECTOR/CHANNEL/BAND, stdatamodels opens them with their own
classes, and jwst's ``assign_wcs`` maps every slice of the band onto the
detector inside the band's nominal wavelength range (jwst's own MRS table,
:data:`jwstspec.bands.MRS_RANGES`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jwstspec.bands import MRS_RANGES, mrs_key
from jwstspec.errors import OptionError
from jwstspec.stages.pipelines import frozen_heap
from jwstspec.synthetic import miri_mrs as mm

BANDS = [(det, band) for det in mm.DETECTOR_CHANNELS for band in mm.SETTINGS]


@pytest.fixture(scope="module")
def program_cache(crds_cache: Path) -> Path:
    """The session CRDS cache with the twelve-band references registered (written once per cache)."""
    from jwstspec.synthetic.crds_cache import registered_entries, write_crds_cache

    if not any(e.filename == "jwst_miri_wavelengthrange_synth_mrs12.asdf" for e in registered_entries(crds_cache)):
        write_crds_cache(crds_cache, mm.write_mrs_program_references(crds_cache))
    from crds.core import utils

    utils.clear_function_caches()  # this process may hold the mappings as they were before the registration
    return crds_cache


def _exposure(detector: str, band: str):
    """Metadata of a science exposure (an empty image: assign_wcs needs its shape only)."""
    from stdatamodels.jwst.datamodels import IFUImageModel

    m = IFUImageModel(data=np.zeros((mm.NY, mm.NX), np.float32))
    ra, dec = mm._pointing(mm.DITHER_OFFSETS[0], mm.SOURCE_RA, mm.SOURCE_DEC)
    mm._set_exposure_meta(m, kind="science", program="01234", observation="001", exposure=1, ngroups=5,
                          ra_ref=ra, dec_ref=dec, dither=1, n_dithers=4, offset=mm.DITHER_OFFSETS[0],
                          detector=detector, band=band, activity=mm.SETTING_ACTIVITY[band])
    return m


def test_toy_bands_sit_inside_jwsts_nominal_ranges() -> None:
    """Twelve distinct sub-bands, each inside jwst's range, with the slice counts of the MRS slicer."""
    seen = set()
    for det, band in BANDS:
        chans = mm.mrs_channels(det, band)
        assert [c.channel for c in chans] == list(mm.DETECTOR_CHANNELS[det])
        for c in chans:
            lo, hi = MRS_RANGES[mrs_key(c.channel, band)]
            assert lo <= c.wmin < c.wmax <= hi
            assert c.nslices == mm.MRS_SLICES[int(c.channel)]
            assert c.detector == det
            seen.add(c.name)
    assert len(seen) == 12
    assert mm.mrs_channels() == mm.CHANNELS  # the demo's SHORT model is unchanged
    with pytest.raises(OptionError, match="band"):
        mm.mrs_channels("MIRIFULONG", "WIDE")
    with pytest.raises(OptionError, match="detector"):
        mm.mrs_channels("NRS1", "SHORT")


@pytest.mark.parametrize(("detector", "band"), BANDS)
def test_flux_bookkeeping_in_every_band(detector: str, band: str) -> None:
    """Summing the injected surface brightness over the pixel footprints gives back F_nu in every sub-band."""
    m = _exposure(detector, band)
    refs = mm._wcs_models(detector, band)
    total = mm.scene_rate(m, refs, source=True) * mm.PHOTOM_SENS
    bkg = mm.scene_rate(m, refs, source=False) * mm.PHOTOM_SENS
    lam_y = np.arange(mm.NY)
    for ch in mm.mrs_channels(detector, band):
        lam = ch.wavelength(lam_y)
        flux_jy = (total - bkg)[:, mm._slice_columns(ch)].sum(axis=1) * ch.pixel_solid_angle * 1e6
        np.testing.assert_allclose(flux_jy, mm.observed_spectrum_jy(lam, ch.channel, band), rtol=5e-3)
    assert np.all(total[mm.slice_map(detector) == 0] == 0)


def test_channel_3a_carries_the_1b_leak_that_jwsts_table_removes() -> None:
    """3A records the source plus the leak fraction of the source at half the wavelength; jwst's rule removes it.

    The correction is jwst's ``spectral_leak`` rule as :func:`jwstspec.corrections.spectral_leak` applies it,
    with the synthetic ``mrsptcorr`` table, on noiseless 1B and 3A spectra of the scene.
    """
    from jwstspec.corrections import LeakTable, spectral_leak
    from jwstspec.spectrum import Spectrum

    (ch3,) = [c for c in mm.mrs_channels("MIRIFULONG", "SHORT") if c.channel == "3"]
    (ch1,) = [c for c in mm.mrs_channels("MIRIFUSHORT", "MEDIUM") if c.channel == "1"]
    w3 = np.linspace(ch3.wmin, ch3.wmax, 400)
    w1 = np.linspace(ch1.wmin, ch1.wmax, 400)
    excess = mm.observed_spectrum_jy(w3, "3", "SHORT") / mm.source_spectrum_jy(w3) - 1
    assert 0.01 < excess.max() < 0.03 and abs(w3[excess.argmax()] - mm.LEAK_CENTRE_UM) < 0.02
    assert np.all(mm.observed_spectrum_jy(w3, "3", "MEDIUM") == mm.source_spectrum_jy(w3))  # 3B: no leak
    pt = mm._calib_models()["mrsptcorr"].leakcor_table
    table = LeakTable(np.asarray(pt["wavelength"], float), np.asarray(pt["frac_leak"], float),
                      np.asarray(pt["err_leak"], float), "synthetic mrsptcorr")
    ones = np.ones_like(w3)
    s1 = Spectrum(w1, mm.observed_spectrum_jy(w1, "1", "MEDIUM"), 0.01 * ones, meta={"CHANNEL": "1", "BAND": "MEDIUM"})
    s3 = Spectrum(w3, mm.observed_spectrum_jy(w3, "3", "SHORT"), 0.01 * ones, meta={"CHANNEL": "3", "BAND": "SHORT"})
    np.testing.assert_allclose(spectral_leak(s1, s3, table).flux, mm.source_spectrum_jy(w3), rtol=2e-4)


@pytest.mark.slow
def test_every_band_references_open_and_assign_wcs_maps_the_slices(program_cache: Path) -> None:
    """CRDS selects each band's own references; jwst's assign_wcs puts every slice inside the band's range."""
    from jwst.assign_wcs import AssignWcsStep
    from stdatamodels.jwst import datamodels
    from stpipe.crds_client import get_multiple_reference_paths

    classes = {"distortion": datamodels.DistortionMRSModel, "specwcs": datamodels.SpecwcsModel,
               "regions": datamodels.RegionsModel, "wavelengthrange": datamodels.WavelengthrangeModel,
               "photom": datamodels.MirMrsPhotomModel, "flat": datamodels.FlatModel,
               "fringe": datamodels.FringeModel}
    opened: dict[str, str] = {}  # file -> class name (a detector's band-independent files serve three bands)
    for det, band in BANDS:
        m = _exposure(det, band)
        paths = get_multiple_reference_paths(m.get_crds_parameters(), list(classes), "jwst")
        for reftype, cls in classes.items():
            name = Path(paths[reftype]).name
            if reftype in ("distortion", "specwcs"):
                assert mm.band_tag(det, band) in name, (det, band, reftype, name)
            if name not in opened:
                with datamodels.open(paths[reftype]) as ref:
                    opened[name] = type(ref).__name__
                    if reftype in ("distortion", "specwcs"):
                        assert (ref.meta.instrument.detector, ref.meta.instrument.band) == (det, band)
                    elif reftype != "wavelengthrange":
                        assert ref.meta.instrument.detector == det
            assert opened[name] == cls.__name__, (det, band, reftype, opened[name])
        with frozen_heap():  # stpipe's gc.collect() passes skip the test process's heap
            out = AssignWcsStep.call(m)
        assert out.meta.cal_step.assign_wcs == "COMPLETE"
        smap = mm.slice_map(det)
        for ch in mm.mrs_channels(det, band):
            lo, hi = MRS_RANGES[mrs_key(ch.channel, band)]
            centres = np.array([ch.x_centre(k) for k in range(1, ch.nslices + 1)])
            x, y = np.meshgrid(centres, np.arange(0.0, mm.NY, 16.0))  # every slice, every 16th row: one call
            ra, dec, lam = out.meta.wcs(x.ravel(), y.ravel())
            assert np.all(np.isfinite(ra) & np.isfinite(dec)), (det, band, ch.channel)
            assert lo <= lam.min() and lam.max() <= hi, (det, band, ch.channel)
            np.testing.assert_allclose(lam, ch.wavelength(y.ravel()), atol=1e-6)
            # MIRIFULONG runs from long to short wavelength down the rows (jwst's residual_fringe relies on it)
            assert (np.diff(lam.reshape(y.shape)[:, 0]) < 0).all() == (det == "MIRIFULONG")
            assert [smap[0, int(c)] for c in centres] == ch.labels
            gap = ch.strip(1)[1] + 1  # the column between slices 1 and 2 belongs to no slice
            assert np.all(np.isnan(out.meta.wcs(np.full(10, float(gap)), np.arange(10.0))[2]))
        out.close()
