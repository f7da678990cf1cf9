"""The embedded demo: a synthetic program processed end to end.

:func:`build_demo` writes, under one directory,

* ``crds/``: a local CRDS cache (mappings + synthetic references) so the
  real ``jwst`` pipelines resolve every reference with no network, exactly
  as they do from a user's synced cache;
* ``raw/miri/``: a MIRI MRS observation (obs 001: a point source at
  ``n_dithers`` dither positions; obs 002: a dedicated background);
* ``raw/nirspec/``: a NIRSpec IFU observation (obs 003 science nods,
  obs 004 background) as uncal ramps with 1/f noise;
* ``data/``: the data directory the two runs write into, and the synthetic
  NIRSpec ``s3d`` cubes that stand in for Stage 2 (see below);
* ``miri.toml`` and ``nirspec.toml``: the two run configurations.

The MIRI branch runs every stage with the real pipelines: uncal ->
Detector1 -> Spec2 (background association) -> Spec3 -> extraction per
dither -> combine.  The NIRSpec branch runs Detector1 -> 1/f -> background
with the real code, then **enters Stage 2/3 from synthetic s3d cubes**
with a known injected spectrum, because NIRSpec ``assign_wcs`` needs optical-model
reference files nobody can synthesise cheaply; the run says so in its log
and summary (the configuration's ``description``).

Running the generated configurations through the Prefect flow is
:func:`flows.demo.run_demo` (the science package never imports the flow).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from jwstspec.config import PipelineConfig, save_config, validate_config
from jwstspec.crds import SERVERLESS

log = logging.getLogger("jwstspec.demo")

PROGRAM = "01234"
MIRI_OBS, MIRI_BKG_OBS = "001", "002"
NIRSPEC_OBS, NIRSPEC_BKG_OBS = "003", "004"
CONTEXT = "jwst_0000.pmap"

NIRSPEC_NOTE = (
    "DEMO: NIRSpec Stage 2/3 were not run. NIRSpec assign_wcs needs optical-model reference files that "
    "cannot be synthesised cheaply, so the Stage 2 s3d cubes of this observation are synthetic IFU cubes "
    "with a known injected spectrum made by jwstspec.synthetic.cubes (Detector1, 1/f and background ran "
    "with the real code)."
)


@dataclasses.dataclass
class Demo:
    """Paths and truth of a generated demo."""

    root: Path
    crds_path: Path
    data_dir: Path
    configs: dict[str, PipelineConfig]
    config_files: dict[str, Path]
    truth: dict[str, Any]


def write_references(crds_path: Path, branches: tuple[str, ...] = ("miri", "nirspec")) -> Path:
    """Write every synthetic reference of the demo into one local CRDS cache."""
    from jwstspec.synthetic.crds_cache import write_crds_cache
    from jwstspec.synthetic.miri_lrs import write_lrs_references
    from jwstspec.synthetic.miri_mrs import write_miri_references

    crds_path = Path(crds_path)
    entries = list(write_miri_references(crds_path)) + list(write_lrs_references(crds_path)) if "miri" in branches else []
    if "nirspec" in branches:
        from jwstspec.synthetic.nirspec import write_nirspec_references
        from jwstspec.synthetic.nirspec_model import write_nirspec_model

        entries += list(write_nirspec_references(crds_path))
        entries += write_nirspec_model(crds_path)  # optical model + Stage 2 calibration (written once per cache)
    write_crds_cache(crds_path, entries, context=CONTEXT)
    return crds_path


def _nirspec_cubes(data_dir: Path, uncal: list[Path], seed: int = 7) -> dict[str, Any]:
    """Synthetic Stage 2 s3d cubes for the NIRSpec science exposures."""
    from jwstspec.exposures import read_exposure
    from jwstspec.layout import Layout
    from jwstspec.synthetic.cubes import make_cube, source_spectrum, write_s3d

    layout = Layout(data_dir, PROGRAM)
    stage2 = layout.stage_dir(NIRSPEC_OBS, "stage2")
    stage2.mkdir(parents=True, exist_ok=True)
    truth: dict[str, Any] = {"cubes": []}
    for i, path in enumerate(sorted(uncal)):
        exp = read_exposure(path)
        cube = make_cube(nwave=600, ny=25, nx=25, wave_range=(2.87, 5.27), seed=seed + i)
        out = layout.stage2_cube_path(NIRSPEC_OBS, exp.name)
        write_s3d(cube, out, instrument="NIRSPEC", detector=exp.detector, grating=exp.grating, filter=exp.filter,
                  program=PROGRAM, observation=NIRSPEC_OBS, exposure=i + 1)
        truth["cubes"].append(str(out))
    truth["source_spectrum"] = source_spectrum
    return truth


def _place(paths: list[Path], directory: Path) -> None:
    """Hard-link (or copy) raw files into an uncal directory."""
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    for p in paths:
        dest = directory / Path(p).name
        if dest.exists():
            continue
        try:
            os.link(p, dest)
        except OSError:
            shutil.copy2(p, dest)


def _generate(raw: Path, data: Path, crds: Path, layout: Any, n_dithers: int, branches: tuple[str, ...]) -> dict[str, Any]:
    """Write the synthetic raw files into the layout (and the NIRSpec stand-in cubes); return the truth."""
    from jwstspec.synthetic.miri_mrs import make_mrs_program

    truth: dict[str, Any] = {}
    if "miri" in branches:
        # raw files go straight into the layout's uncal directories (what Stage 0 would do)
        mrs = make_mrs_program(raw / "miri", crds, n_dithers=n_dithers, n_background=2, program=PROGRAM,
                               sci_obs=MIRI_OBS, bkg_obs=MIRI_BKG_OBS)
        for obs, paths in mrs.uncal.items():
            _place(paths, layout.uncal_dir(obs))
        truth["miri"] = mrs
    if "nirspec" in branches:
        from jwstspec.synthetic.nirspec import make_nirspec_ifu_uncal

        nrs_uncal = []
        for nod in (1, 2):
            name = f"jw{PROGRAM}{NIRSPEC_OBS}001_03101_0000{nod}_nrs1_uncal.fits"
            nrs_uncal.append(make_nirspec_ifu_uncal(raw / "nirspec" / name, kind="science", nod=nod, program=PROGRAM,
                                                    observation=NIRSPEC_OBS))
        bkg = make_nirspec_ifu_uncal(raw / "nirspec" / f"jw{PROGRAM}{NIRSPEC_BKG_OBS}001_03101_00001_nrs1_uncal.fits",
                                     kind="background", nod=1, program=PROGRAM, observation=NIRSPEC_BKG_OBS)
        _place(nrs_uncal, layout.uncal_dir(NIRSPEC_OBS))
        _place([bkg], layout.uncal_dir(NIRSPEC_BKG_OBS))
        truth["nirspec"] = _nirspec_cubes(data, [layout.uncal_dir(NIRSPEC_OBS) / p.name for p in nrs_uncal])
    return truth


def build_demo(root: str | Path, *, n_dithers: int = 4, crds_path: Path | None = None, task_runner: str = "process",
               workers: int | None = None, branches: tuple[str, ...] = ("miri", "nirspec"), verbose: bool = False) -> Demo:
    """Generate the demo observations, references and configurations.

    Parameters
    ----------
    root : path
        Output directory (created).
    n_dithers : int
        MIRI MRS dither positions.
    crds_path : Path, optional
        Existing local CRDS cache to (re)use; default ``<root>/crds``.
    task_runner, workers, verbose
        ``[runtime]`` of the generated configurations.
    branches : tuple of str
        Which observations to generate: ``miri`` and/or ``nirspec``.
    """
    from jwstspec.layout import Layout

    t0 = time.perf_counter()
    root = Path(root).resolve()
    crds = Path(crds_path) if crds_path else root / "crds"
    data = root / "data"
    raw = root / "raw"
    for d in (data, raw / "miri", raw / "nirspec"):
        d.mkdir(parents=True, exist_ok=True)
    if not (crds / "config" / "jwst" / "server_config").exists():
        write_references(crds, branches)

    layout = Layout(data, PROGRAM)
    truth: dict[str, Any] = {}
    configs: dict[str, PipelineConfig] = {}
    # a second `jwstspec demo` in the same directory reuses the generated files, so the flow
    # finds unchanged inputs and serves every task from its cache
    stamp = root / f".generated-{n_dithers}-{'-'.join(branches)}"
    if not stamp.exists():
        truth.update(_generate(raw, data, crds, layout, n_dithers, branches))
        stamp.write_text("generated\n")
    truth["pixel_arcsec"] = {"miri": 0.13, "nirspec": 0.1}

    common = {
        "program": PROGRAM,
        "mode": "ifu",
        "data_dir": str(data),
        "crds": {"path": str(crds), "server_url": SERVERLESS, "context": CONTEXT},
        "runtime": {"task_runner": task_runner, **({"workers": workers} if workers else {}), **({"verbose": True} if verbose else {})},
    }
    if "miri" in branches:
        configs["miri"] = validate_config({
        **common,
        "observation": MIRI_OBS,
        "background_observation": MIRI_BKG_OBS,
        "instrument": "miri",
        "download": {"enabled": False},
        "stage1": {"bkg_subtract": "asn"},
        # The 2-D residual fringe step takes minutes on a full MRS detector; real runs keep it on.
        "stage2": {"steps": {"residual_fringe": {"skip": True}}},
        "extract": {"stage": "stage2", "method": "aperture", "radius": "4px"},
        "combine": {"spectral_leak": True},
    })
        # the same observation extracted from the Stage 3 cubes: a second extraction variant;
        # Stage 1-3 are served from the cache of the first run
        configs["miri-stage3"] = validate_config({
            **configs["miri"].model_dump(mode="json"),
            "extract": {"stage": "stage3", "method": "aperture", "radius": "4px", "variant": "stage3"},
            "combine": {"variant": "stage3", "spectral_leak": True},
        })
    if "nirspec" in branches:
        configs["nirspec"] = validate_config({
        **common,
        "observation": NIRSPEC_OBS,
        "background_observation": NIRSPEC_BKG_OBS,
        "instrument": "nirspec",
        "description": NIRSPEC_NOTE,
        "stages": ["download", "stage1", "extract", "combine"],
        "download": {"enabled": False},
        "stage1": {"readnoise_correct": "pipeline", "bkg_subtract": "pixel"},
        "extract": {"stage": "stage2", "method": "aperture", "radius": "4px", "bkg_annulus": ["7px", "10px"]},
    })
    files = {name: save_config(cfg, root / f"{name}.toml") for name, cfg in configs.items()}
    log.info("demo generated in %.1f s under %s", time.perf_counter() - t0, root)
    return Demo(root, crds, data, configs, files, truth)


def expected_point_source_flux(wavelength: np.ndarray, radius_arcsec: float) -> np.ndarray:
    """Injected MIRI source flux inside a circular aperture (Gaussian PSF of the generator)."""
    from jwstspec.synthetic.miri_mrs import psf_sigma_arcsec, source_spectrum_jy

    sigma = psf_sigma_arcsec(wavelength)
    return source_spectrum_jy(wavelength) * (1 - np.exp(-(radius_arcsec**2) / (2 * sigma**2)))
