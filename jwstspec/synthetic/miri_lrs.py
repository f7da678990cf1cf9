"""MIRI LRS slitless time series: the product shipped inside ``jwst`` and its extract1d reference.

``jwst`` ships one real-format TSO product (pre-flight test data, not sky):
a MIRI LRS slitless ``CubeModel`` of 10 integrations with a full gwcs.
jwstspec uses it to test ``calwebb_tso3`` offline; the only reference
``Tso3Pipeline`` needs beyond N/A is an ``extract1d`` JSON file, registered
here in the local CRDS cache.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.fileio import atomic_path, atomic_write_text
from jwstspec.synthetic.crds_cache import RefEntry, reference_dir


def shipped_tso_file() -> Path:
    """Path of the MIRI LRS slitless ``calints``-like file inside the installed ``jwst``."""
    import jwst

    return Path(jwst.__file__).parent / "stpipe" / "tests" / "data" / "miri_data.fits"


def write_lrs_references(crds_path: Path) -> list[RefEntry]:
    """Write the LRS slitless extract1d reference (JSON); return the entry to register."""
    ref = {
        "reftype": "EXTRACT1D",
        "instrument": "MIRI",
        "telescope": "JWST",
        "exp_type": "MIR_LRS-SLITLESS",
        "pedigree": "DUMMY",
        "useafter": "2000-01-01T00:00:00",
        "author": "jwstspec.synthetic",
        "description": "Boxcar of 11 columns around the LRS slitless trace (jwstspec tests)",
        "apertures": [{"id": "ANY", "region_type": "target", "disp_axis": 2, "xstart": 30, "xstop": 41,
                       "use_source_posn": False, "bkg_order": 0}],
    }
    name = "jwst_miri_extract1d_synth_lrs_slitless.json"
    atomic_write_text(reference_dir(Path(crds_path), "MIRI") / name, json.dumps(ref, indent=2) + "\n")
    return [RefEntry("MIRI", "extract1d", name, {"META.EXPOSURE.TYPE": "MIR_LRS-SLITLESS"})]


@dataclasses.dataclass(frozen=True)
class TransitTruth:
    """What :func:`write_lrs_transit` injected.

    Attributes
    ----------
    nints : int
        Number of integrations.
    in_transit : tuple of bool
        Per integration: inside the (box-shaped) transit.
    depth_short, depth_long : float
        Fractional depth at ``wave_short`` and ``wave_long`` micron; linear in
        wavelength between them (and beyond), see :meth:`depth`.
    wave_short, wave_long : float
        Wavelengths (micron) of the two depths.
    bjd_start, cadence_days : float
        Mid-time (BJD_TDB) of the first integration and the time between integrations.
    """

    nints: int
    in_transit: tuple[bool, ...]
    depth_short: float
    depth_long: float
    wave_short: float = 5.0
    wave_long: float = 12.0
    bjd_start: float = 60300.5
    cadence_days: float = 30.0 / 86400

    def depth(self, wavelength: Any) -> Any:
        """Injected fractional depth at ``wavelength`` (micron), linear in wavelength."""
        w = np.asarray(wavelength, dtype=float)
        slope = (self.depth_long - self.depth_short) / (self.wave_long - self.wave_short)
        return self.depth_short + slope * (w - self.wave_short)

    def times(self) -> np.ndarray:
        """Mid-times (BJD_TDB) of the integrations."""
        return self.bjd_start + self.cadence_days * np.arange(self.nints)

    def record(self) -> dict[str, Any]:
        """JSON-ready dict of the truth (``depth_ratio``-style figures are computed from it by the tests)."""
        return {**dataclasses.asdict(self), "in_transit": list(self.in_transit)}


def write_lrs_transit(path: Path, *, nints: int = 24, transit: tuple[int, int] = (8, 16), depth_short: float = 0.010,
                      depth_long: float = 0.020, noise: float = 1.0, seed: int = 0,
                      program: str = "01234", observation: str = "001") -> TransitTruth:
    """A MIRI LRS slitless ``calints`` time series with a box transit, from the product shipped in ``jwst``.

    The scene is the median of the shipped file's 10 integrations (its LRS
    trace, with the shipped gwcs), its hot and dead pixels removed by a
    7-row running median along the dispersion; each integration is the scene times
    ``1 - depth(lambda) * in_transit`` (lambda from the file's own WCS per
    pixel) plus Gaussian noise of ``noise`` times the shipped integrations'
    scatter per pixel (also written as ``ERR``).  The
    ``INT_TIMES`` table gets one row per integration with BJD_TDB and UTC
    times, and the headers the program, observation and integration range.

    Parameters
    ----------
    path : Path
        Output ``*_calints.fits``.
    nints : int
        Number of integrations.
    transit : (int, int)
        First and last+1 integration index (0-based) inside the transit.
    depth_short, depth_long : float
        Fractional transit depth at 5 and 12 micron (linear in wavelength).
    noise : float
        Noise scale relative to the shipped per-pixel scatter between integrations.
    seed : int
        Random seed.
    program, observation : str
        Written to the headers (``PROGRAM``, ``OBSERVTN``).

    Returns
    -------
    TransitTruth
    """
    from astropy.io import fits
    from astropy.table import Table
    from scipy.ndimage import median_filter
    from stdatamodels.jwst import datamodels

    in_transit = tuple(transit[0] <= i < transit[1] for i in range(nints))
    truth = TransitTruth(nints, in_transit, depth_short, depth_long)
    rng = np.random.default_rng(seed)
    with datamodels.open(str(shipped_tso_file())) as shipped:
        model = shipped.copy()
    # the shipped frames carry hot/dead pixels of +-5e4 (their ERR up to 1e5 times the real scatter): a running
    # median along the dispersion (rows) keeps the trace's profile and drops them; the noise is the integrations'
    # own robust scatter, smoothed the same way
    data = np.nan_to_num(np.asarray(model.data, dtype=float))
    scene = median_filter(np.median(data, axis=0), size=(7, 1), mode="nearest")
    mad = 1.4826 * np.median(np.abs(data - np.median(data, axis=0)), axis=0)
    err = median_filter(mad, size=(7, 1), mode="nearest") + 1e-3
    dq = np.zeros(scene.shape, np.uint32)
    ny, nx = scene.shape
    y, x = np.mgrid[:ny, :nx]
    wavelength = np.asarray(model.meta.wcs(x, y)[-1], dtype=float)
    depth = np.where(np.isfinite(wavelength), truth.depth(np.nan_to_num(wavelength, nan=truth.wave_short)), 0.0)
    factor = 1.0 - depth[None] * np.asarray(in_transit, dtype=float)[:, None, None]
    model.data = (scene[None] * factor + noise * err[None] * rng.standard_normal((nints, ny, nx))).astype(np.float32)
    model.err = np.broadcast_to(err, (nints, ny, nx)).astype(np.float32)
    model.dq = np.broadcast_to(dq, (nints, ny, nx)).astype(np.uint32)
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        setattr(model, name, np.broadcast_to(err**2 / 3, (nints, ny, nx)).astype(np.float32))
    mid = truth.times()
    half = truth.cadence_days / 2
    utc = mid - 0.00074  # a fixed light-time offset stands for the barycentric correction
    model.int_times = Table({
        "integration_number": np.arange(1, nints + 1, dtype=np.int32),
        "int_start_MJD_UTC": utc - half, "int_mid_MJD_UTC": utc, "int_end_MJD_UTC": utc + half,
        "int_start_BJD_TDB": mid - half, "int_mid_BJD_TDB": mid, "int_end_BJD_TDB": mid + half,
    }).as_array()
    model.meta.exposure.nints = nints
    model.meta.exposure.integration_start = 1
    model.meta.exposure.integration_end = nints
    model.meta.exposure.start_time = float(utc[0] - half)
    model.meta.exposure.end_time = float(utc[-1] + half)
    model.meta.exposure.mid_time = float((utc[0] + utc[-1]) / 2)
    model.meta.observation.program_number = program
    model.meta.observation.observation_number = observation
    model.meta.visit.tsovisit = True
    model.meta.filename = Path(path).name
    with atomic_path(path) as tmp:
        model.save(str(tmp))
        with fits.open(tmp, mode="update") as hdul:  # save() records the temporary name
            hdul[0].header["FILENAME"] = Path(path).name
    model.close()
    return truth
