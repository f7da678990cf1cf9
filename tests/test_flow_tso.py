"""Time series end to end: the flow enters at Stage 3 with a synthetic MIRI LRS slitless transit.

The Stage 2 product (``calints``) is the real-format MIRI LRS slitless time
series shipped in ``jwst``, with a box transit injected whose depth rises
from 1 % at 5 um to 2 % at 12 um (:func:`jwstspec.synthetic.miri_lrs.write_lrs_transit`);
the real ``calwebb_tso3`` extracts it (with the synthetic CRDS cache), then
the flow builds the light curves.  Also: a time series without ``x1dints``
exits 3 with the reason, through the command line.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from astropy.io import fits
from astropy.table import Table

from jwstspec.cli import main

ROOT = "jw01234001001_04101_00001_mirimage"
NINTS = 24


def _uncal_header() -> fits.Header:
    """Header-only uncal exposure of a MIRI LRS slitless time series (what the plan reads)."""
    return fits.Header({"TELESCOP": "JWST", "INSTRUME": "MIRI", "DETECTOR": "MIRIMAGE", "EXP_TYPE": "MIR_LRS-SLITLESS",
                        "PROGRAM": "01234", "OBSERVTN": "001", "VISIT": "001", "EXPOSURE": "1", "FILTER": "P750L",
                        "SUBARRAY": "SLITLESSPRISM", "TSOVISIT": True, "NINTS": NINTS})


def _program(tmp: Path) -> tuple[Path, dict[str, Any]]:
    data = tmp / "data"
    uncal = data / "01234" / "Obs001" / "uncal"
    uncal.mkdir(parents=True)
    fits.PrimaryHDU(header=_uncal_header()).writeto(uncal / f"{ROOT}_uncal.fits")
    cfg = {"program": "01234", "observation": "001", "instrument": "miri", "mode": "slitless", "tso": True,
           "data_dir": str(data), "stages": ["stage3", "extract", "combine"], "download": {"enabled": False},
           "crds": {"server_url": "https://jwst-serverless-mode.stsci.edu", "context": "jwst_0000.pmap"},
           "timeseries": {"bins": 8, "baseline_integrations": [[1, 8], [17, NINTS]]},
           "runtime": {"task_runner": "thread", "workers": 1}}
    return data, cfg


@pytest.fixture(scope="module")
def prefect_api() -> Any:
    from flows.runtime import configure_environment, embedded_prefect

    configure_environment()
    with embedded_prefect() as url:
        yield url


@pytest.fixture(scope="module")
def tso_run(prefect_api: Any, crds_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import time

    from flows.pipeline import run_pipeline
    from jwstspec.config import validate_config
    from jwstspec.synthetic.miri_lrs import write_lrs_transit

    data, cfg = _program(tmp_path_factory.mktemp("tso"))
    stage2 = data / "01234" / "Obs001" / "stage2"
    stage2.mkdir(parents=True)
    t0 = time.perf_counter()
    truth = write_lrs_transit(stage2 / f"{ROOT}_calints.fits", nints=NINTS, transit=(8, 16), noise=0.5)
    t1 = time.perf_counter()
    result = run_pipeline(validate_config(cfg))
    t2 = time.perf_counter()
    print(f"tso e2e: synthetic calints {t1 - t0:.1f} s, flow (Tso3 + light curves) {t2 - t1:.1f} s")
    return {"result": result, "truth": truth, "data": data, "combined": data / "01234" / "Obs001" / "combined", "config": cfg}


@pytest.mark.slow
def test_white_light_depth_within_5_percent_of_the_injected(tso_run: dict[str, Any]) -> None:
    result, truth = tso_run["result"], tso_run["truth"]
    assert result.status == "completed"
    (key,) = [k for k in result.products if k.startswith("timeseries ")]
    record = result.products[key]
    assert Path(record["source"]).name == "jw01234-o001_t001_miri_x1dints.fits"  # the real Tso3's product
    wl = Table.read(record["whitelight"], format="ascii.ecsv")
    assert wl.colnames[0] == "BJD_TDB" and np.allclose(wl["BJD_TDB"], truth.times())  # the product's own times
    assert list(wl["BASELINE"]) == [not t for t in truth.in_transit]
    # injected white-light depth: the depth law weighted by the mean out-of-transit spectrum over the summed band
    oot = Table.read(record["oot_spectrum"], hdu="EXTRACT1D")
    lo, hi = wl.meta["WAVE_LO"], wl.meta["WAVE_HI"]
    w, f = np.asarray(oot["WAVELENGTH"]), np.asarray(oot["FLUX"])
    inside = (w >= lo) & (w <= hi)
    injected = float(np.sum(f[inside] * truth.depth(w[inside])) / np.sum(f[inside]))
    ratio = record["depth"] / injected
    print(f"tso e2e: white-light depth {record['depth']:.5f} +- {record['depth_error']:.5f}, injected {injected:.5f}, "
          f"ratio {ratio:.4f}")
    assert abs(ratio - 1) < 0.05


@pytest.mark.slow
def test_speclc_has_the_injected_wavelength_dependence(tso_run: dict[str, Any]) -> None:
    record = next(v for k, v in tso_run["result"].products.items() if k.startswith("timeseries "))
    truth = tso_run["truth"]
    chans = Table.read(record["fits"], hdu="CHANNELS")
    curves = Table.read(record["fits"], hdu="SPECLC")
    assert len(chans) == 8 and np.asarray(curves["FLUX"]).shape == (NINTS, 8)
    expected = truth.depth(np.asarray(chans["WAVELENGTH"]))
    print("tso e2e: channel depth / injected", np.round(np.asarray(chans["DEPTH"]) / expected, 3))
    assert np.allclose(chans["DEPTH"], expected, rtol=0.10)
    slope = np.polyfit(np.asarray(chans["WAVELENGTH"]), np.asarray(chans["DEPTH"]), 1)[0]
    assert slope == pytest.approx((truth.depth_long - truth.depth_short) / (truth.wave_long - truth.wave_short), rel=0.15)
    long = Table.read(record["speclc_ecsv"], format="ascii.ecsv")
    assert len(long) == NINTS * 8


@pytest.mark.slow
def test_plots_are_artifacts_and_products_are_listed(tso_run: dict[str, Any]) -> None:
    import specutils
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    result, combined = tso_run["result"], tso_run["combined"]
    record = next(v for k, v in result.products.items() if k.startswith("timeseries "))
    for kind in ("whitelight_png", "speclc_png"):
        assert Path(record[kind]).read_bytes()[:4] == b"\x89PNG"

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=result.artifact_keys)))

    # this run's own (another file's run in this process may share program and observation, so the key)
    plots = next(a for a in asyncio.run(read()) if a.key.endswith("-plots") and str(a.flow_run_id) == str(result.flow_run_id))
    for kind in ("whitelight_png", "speclc_png"):
        assert f"### {Path(record[kind]).stem}\n\n![" in plots.data and "data:image/png;base64," in plots.data
    summary = (combined / "summary.md").read_text()
    for name in ("_whitelight.ecsv", "_whitelight.png", "_speclc.fits", "_speclc.ecsv", "_speclc.png", "_oot_x1d.fits",
                 "_x1dints.fits", "white-light depth"):
        assert name in summary, name
    outputs = json.loads((combined / "manifest.json").read_text())["outputs"]
    assert {record[k] for k in ("fits", "whitelight", "whitelight_png", "speclc_png", "oot_spectrum", "spectra")} <= {o["path"] for o in outputs}
    spectra = specutils.SpectrumList.read(record["spectra"], format="JWST x1d multi")
    assert len(spectra) == NINTS
    assert specutils.Spectrum.read(record["oot_spectrum"]).flux.unit == "Jy"


@pytest.mark.slow
def test_rerun_is_cached_and_a_new_binning_recomputes_only_the_light_curves(tso_run: dict[str, Any]) -> None:
    """Same configuration: every task from the cache, products byte-identical; new [timeseries] bins: Tso3 stays cached."""
    from flows.pipeline import run_pipeline
    from jwstspec.config import validate_config
    from jwstspec.fileio import sha256sum

    record = next(v for k, v in tso_run["result"].products.items() if k.startswith("timeseries "))
    files = [Path(record[k]) for k in ("fits", "whitelight", "speclc_ecsv", "oot_spectrum", "spectra")]
    before = {p: sha256sum(p) for p in files}
    again = run_pipeline(validate_config(tso_run["config"]))
    assert {t["state"] for t in again.tasks} == {"cached"}, again.tasks
    assert {p: sha256sum(p) for p in files} == before
    cfg = {**tso_run["config"], "timeseries": {**tso_run["config"]["timeseries"], "bins": 5}}
    rebinned = run_pipeline(validate_config(cfg))
    assert {(t["stage"], t["state"]) for t in rebinned.tasks} == {("stage3", "cached"), ("combine", "ran")}
    assert len(Table.read(record["fits"], hdu="CHANNELS")) == 5


def test_time_series_without_x1dints_exits_3(prefect_api: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No Stage 2 product, so no x1dints: exit 3, one line with the reason, FAILED in the summary."""
    data, cfg = _program(tmp_path)
    path = tmp_path / "run.toml"
    path.write_text(tomli_w.dumps(cfg))
    assert main(["run", str(path)]) == 3
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("jwstspec run: error:")]
    assert len(lines) == 1 and "time series: no per-integration spectra (*_x1dints.fits) in" in lines[0], lines
    summary = (data / "01234" / "Obs001" / "combined" / "summary.md").read_text()
    assert "**FAILED**: time series: no per-integration spectra" in summary
