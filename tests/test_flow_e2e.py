"""End to end: the demo flow on the synthetic program, with a real Prefect.

One module-scoped run of the demo (real jwst pipelines, real Prefect API on
loopback, process pool), then checks on its products, a cached rerun,
targeted invalidation, and a changed extraction option.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jwstspec.fileio import sha256sum
from jwstspec.spectrum import read_spectrum

pytestmark = pytest.mark.e2e


#: jwst steps whose products no test here reads, switched off in these runs only (both configurations alike,
#: so that ``miri-stage3`` reuses ``miri``'s Stage 1-3): Detector1's ``jump`` (the synthetic ramps hold no
#: cosmic rays), Stage 2's ``residual_fringe`` (no fringe injected here; the MRS default runs it in
#: test_flow_miri_program.py, on both detectors, against an injected fringe), Stage 3's ``outlier_detection``
#: and jwst's own ``extract_1d`` (the flow extracts the cubes)
_SKIPPED = {"stage1": {"steps": {"jump": {"skip": True}}}, "stage2": {"residual_fringe": False},
            "stage3": {"steps": {"outlier_detection": {"skip": True}, "extract_1d": {"skip": True}}}}
OVERRIDES = {"miri": _SKIPPED, "miri-stage3": _SKIPPED}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory, crds_cache: Path) -> dict[str, Any]:
    from flows.demo import run_demo
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    root = tmp_path_factory.mktemp("demo")
    with embedded_prefect():
        # the MIRI MRS observation: the NIRSpec IFU (real Stage 2/3, full frame) has its own module
        # fixture in test_flow_nirspec_ifu.py
        result = run_demo(root, crds_path=crds_cache, n_dithers=2, workers=2, branches=("miri-mrs",),
                          overrides=OVERRIDES)
        yield result


def _states(summary: dict[str, Any]) -> Counter[str]:
    return Counter(t["state"] for t in summary["tasks"])


def _final_files(summary: dict[str, Any]) -> list[Path]:
    from flows.cache import file_paths

    return sorted(p for p in file_paths(summary["products"]) if p.suffix in (".fits", ".ecsv"))


@pytest.mark.parametrize(("branch", "n_combined"), [("miri", 2), ("miri-stage3", 1)])
def test_miri_final_spectra_recover_injected_source(demo_run: dict[str, Any], branch: str, n_combined: int) -> None:
    """Stage 2 dithers (2 per band) and Stage 3 cubes (1 per band) both recover the whole injected source.

    The cache's MRS apcorr reference corrects each spectrum for the PSF outside its aperture (``APCORR``).
    """
    from jwstspec.synthetic.demo import truth_of
    from jwstspec.synthetic.miri_mrs import source_spectrum_jy

    summary = demo_run["summaries"][branch]
    assert summary["status"] == "completed"
    assert _states(summary)["failed"] == 0
    bands = {k: v for k, v in summary["products"].items() if k != "stitched"}
    assert bands, "no combined band"
    for band, record in bands.items():
        spec = read_spectrum(record["fits"])
        assert spec.ncombined is not None and spec.ncombined.max() == n_combined, band
        assert spec.meta["APCORR"] is True, band
        assert spec.meta["APCORREF"] == "jwst_miri_apcorr_synth_mrs.asdf", band
        truth = truth_of(branch)(spec)
        np.testing.assert_allclose(truth, source_spectrum_jy(spec.wavelength))  # the whole injected source
        good = np.isfinite(spec.flux) & (spec.dq == 0)
        assert good.sum() > 500, band
        ratio = spec.flux[good] / truth[good]
        assert abs(np.median(ratio) - 1) < 0.03, (band, np.median(ratio))
        assert np.percentile(np.abs(ratio - 1), 90) < 0.05, band
        assert spec.meta["DEFRINGE"] is True, band  # the MIRI MRS default: 1-D residual-fringe correction
    stitched = read_spectrum(summary["products"]["stitched"]["fits"])
    assert np.all(np.diff(stitched.wavelength) > 0)
    assert stitched.meta["DEFRINGE"] is True


def test_stage3_variant_reused_stage1_to_3_from_cache(demo_run: dict[str, Any]) -> None:
    states = Counter((t["stage"], t["state"]) for t in demo_run["summaries"]["miri-stage3"]["tasks"])
    for stage in ("stage1", "stage2", "stage3"):
        assert states[(stage, "ran")] == 0 and states[(stage, "cached")] > 0, (stage, states)
    assert states[("extract", "ran")] > 0 and states[("combine", "ran")] > 0


def test_outputs_and_provenance_beside_products(demo_run: dict[str, Any]) -> None:
    import json

    for name, summary in demo_run["summaries"].items():
        cfg = demo_run["demo"].configs[name]
        combined = cfg.data_dir / cfg.program / f"Obs{cfg.observation}" / "combined"
        manifest = json.loads((combined / "manifest.json").read_text())
        assert manifest["config"]["program"] == cfg.program
        assert manifest["crds_context"] == "jwst_0000.pmap"
        assert {"jwst", "stcal", "stdatamodels", "crds", "prefect", "jwstspec"} <= set(manifest["versions"])
        assert manifest["inputs"] and all("sha256" in r for r in manifest["inputs"])
        assert (combined / "config.toml").is_file() and (combined / "summary.md").is_file()
        logs = list((cfg.data_dir / cfg.program / f"Obs{cfg.observation}" / "logs").glob("*_stage1.log"))
        assert logs and any("detector1" in p.read_text().lower() or "Step" in p.read_text() for p in logs)


def test_second_run_is_served_from_cache(demo_run: dict[str, Any]) -> None:
    from flows.pipeline import run_pipeline

    for name, config in demo_run["demo"].configs.items():
        first = demo_run["summaries"][name]
        before = {p: sha256sum(p) for p in _final_files(first)}
        again = run_pipeline(config)
        states = Counter(t["state"] for t in again["tasks"] if t["stage"] != "download")  # ingest re-checks its links
        assert states["ran"] == 0 and states["cached"] > 0, (name, states)
        assert any(n.startswith("no new data") for n in again["notes"])
        assert {p: sha256sum(p) for p in _final_files(again)} == before


def test_artifacts_and_pipeline_logs_reach_prefect(demo_run: dict[str, Any]) -> None:
    import asyncio
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, LogFilter, LogFilterFlowRunId

    summary = demo_run["summaries"]["miri"]

    async def read() -> tuple[list[Any], list[Any]]:
        async with get_client() as client:
            arts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=summary["artifact_keys"])))
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[UUID(summary["flow_run_id"])])), limit=200)
            return arts, logs

    arts, logs = asyncio.run(read())
    by_key = {a.key: a for a in arts}
    assert set(by_key) == set(summary["artifact_keys"])
    assert "tasks" not in by_key[summary["artifact_keys"][0]].data and "| stage | ran | cached |" in by_key[summary["artifact_keys"][0]].data
    assert "jw01234001001" in str(by_key[summary["artifact_keys"][1]].data)  # exposure table
    assert "data:image/png;base64," in by_key[summary["artifact_keys"][2]].data  # embedded plots
    names = {rec.name for rec in logs}
    assert any(n.startswith(("jwst", "stpipe")) for n in names), names  # pipeline log records in the run's logs


def test_dask_runner_gives_the_same_products(demo_run: dict[str, Any]) -> None:
    """Extraction and combination on a local Dask cluster (2 workers) equal the process pool's."""
    from flows.pipeline import run_pipeline
    from jwstspec.config import validate_config

    base = demo_run["demo"].configs["miri"]
    data = base.model_dump(mode="json")
    data["extract"]["variant"] = "dask"
    data["combine"]["variant"] = "dask"
    data["runtime"] = {"task_runner": "dask", "workers": 2}
    summary = run_pipeline(validate_config(data))
    states = Counter((t["stage"], t["state"]) for t in summary["tasks"])
    assert states[("extract", "ran")] == 2 and states[("stage2", "ran")] == 0, states
    reference = demo_run["summaries"]["miri"]["products"]
    for band, record in summary["products"].items():
        a, b = read_spectrum(record["fits"]), read_spectrum(reference[band]["fits"])
        np.testing.assert_array_equal(a.flux, b.flux)
        np.testing.assert_array_equal(a.flux_error, b.flux_error)


def test_deleting_an_intermediate_recomputes_exactly_downstream(demo_run: dict[str, Any]) -> None:
    """Delete one dither's extracted spectrum: that extraction, its bands' combines and the stitch rerun; nothing else.

    (The same file-identity keys make a recomputed Stage 2 cube rerun Stage 3: ``tests/test_cache.py``.)
    """
    from flows.pipeline import run_pipeline

    config = demo_run["demo"].configs["miri"]
    extracted = sorted((config.data_dir / config.program / "Obs001" / "extract").glob("*_00002_*ch1-short*_x1d.fits"))
    assert len(extracted) == 1, extracted
    extracted[0].unlink()
    summary = run_pipeline(config)
    ran = sorted((t["stage"], t["task"]) for t in summary["tasks"] if t["state"] == "ran" and t["stage"] != "download")
    assert ran == sorted([
        ("extract", "jw01234001001_03101_00002_mirifushort"),  # one task writes both channels' spectra
        ("combine", "ch1-short"),
        ("combine", "ch2-short"),
        ("combine", "all bands"),
    ]), ran
    assert extracted[0].is_file()


def test_changing_an_extraction_option_recomputes_only_extraction_and_combine(demo_run: dict[str, Any]) -> None:
    from flows.pipeline import run_pipeline
    from jwstspec.config import validate_config

    data = demo_run["demo"].configs["miri"].model_dump(mode="json")
    data["extract"]["radius"] = "3px"
    summary = run_pipeline(validate_config(data))
    ran_stages = {t["stage"] for t in summary["tasks"] if t["state"] == "ran"}
    assert ran_stages == {"extract", "combine"}, ran_stages


def test_center_radec_on_a_two_channel_stage2_cube(demo_run: dict[str, Any], tmp_path: Path) -> None:
    """gwcs cannot invert a multi-channel cube's WCS: the reader's own inverse finds the pixel of (RA, Dec)."""
    from stdatamodels.jwst import datamodels

    from jwstspec.extract import extract_file, read_cube

    config = demo_run["demo"].configs["miri"]
    cube_path = sorted((config.data_dir / config.program / "Obs001" / "stage2").glob("*_00001_*_s3d.fits"))[0]
    cube = read_cube(cube_path)
    with datamodels.open(str(cube_path)) as model:
        ra, dec, wave = model.meta.wcs(20.3, 18.7, 100)  # its .invert raises ValueError in gwcs (jwst 3.0)
    np.testing.assert_allclose(cube.world_to_pixel(ra, dec, wave), (20.3, 18.7), atol=1e-4)
    by_sky = extract_file(cube_path, tmp_path / "radec.fits", center_radec=(ra, dec))
    by_pixel = extract_file(cube_path, tmp_path / "pixel.fits", center=cube.world_to_pixel(ra, dec, float(np.nanmedian(cube.wavelength))))
    np.testing.assert_allclose(by_sky.spectrum.flux, by_pixel.spectrum.flux, rtol=1e-6)
