"""Thin Prefect task wrappers around :mod:`jwstspec` functions.

Each task takes and returns file paths (strings) and small records, never
arrays or datamodels, so results are cheap to cache, to retry and to ship
to another process or cluster node.  The science lives in ``jwstspec``;
a task only calls one library function.  Cache policy, result storage and
task-run names are set per run by :mod:`flows.submit` with
``Task.with_options``.

Every task that asks CRDS for references takes the run's resolved context
(``crds_context``, :func:`jwstspec.crds.resolve_context`) as a parameter:
it is part of the task's cache key, so a new context recomputes Stage 1-3
(and, through the new products, everything downstream), and the task pins
it in its worker (:func:`jwstspec.crds.use_context`) so the references
really come from the context the manifest records.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import task
from prefect.tasks import exponential_backoff

from flows.cache import ProductCachePolicy
from jwstspec.crds import use_context

CACHE = ProductCachePolicy()


def _network_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: retry network failures, never bad input (:func:`jwstspec.download.is_retryable`)."""
    from jwstspec.download import is_retryable

    try:
        state.result()
    except Exception as exc:  # the failure that ended the attempt
        return is_retryable(exc)
    return False


# ------------------------------------------------------------------ stage 0
@task(
    name="download",
    retries=4,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
    retry_condition_fn=_network_only,
    cache_policy=None,
    persist_result=False,
)
def download_task(program: str, observation: str, output_dir: str, products: list[str], all_products: bool,
                  instrument: str, token_file: str | None, uncal_dir: str | None = None) -> list[str]:
    """Download one observation's products from MAST into the staging area ``output_dir`` (retried on network errors only).

    With ``uncal_dir``, the raw exposures are then linked into it (:func:`jwstspec.download.place_uncal`).
    """
    from jwstspec.download import download_observation, place_uncal

    result = download_observation(
        program,
        observation,
        Path(output_dir),
        products=tuple(products),
        all_products=all_products,
        instrument=instrument,
        token_file=Path(token_file) if token_file else None,
    )
    if uncal_dir is not None:
        place_uncal(result.paths, Path(uncal_dir), program=program, instrument=instrument, observation=observation)
    return [str(p) for p in result.paths]


@task(name="ingest", cache_policy=None, persist_result=False)
def ingest_task(sources: list[str], program: str, instrument: str, mode: str, data_dir: str) -> list[str]:
    """Place files the user already has into the layout (link, copy or move)."""
    from jwstspec.ingest import find_products, ingest_files
    from jwstspec.layout import Layout

    layout = Layout(Path(data_dir), program)
    if mode == "move" and not find_products([Path(s) for s in sources if Path(s).exists()], ["uncal"]):
        # a rerun after a move: the files already live in the layout
        placed = layout.placed_uncal()
        if placed:
            logging.getLogger("jwstspec.ingest").info("ingest: sources already moved into the layout (%d uncal files)", len(placed))
            return [str(p) for p in placed]
    result = ingest_files(
        [Path(s) for s in sources],
        layout.program_dir,
        program=program,
        instrument=instrument,
        mode=mode,  # type: ignore[arg-type]
        destination=lambda obs, name: layout.uncal_dir(obs) / name,
        suffixes=["uncal"],
    )
    return [str(p) for p in result.paths]


# ------------------------------------------------------------------ stage 1
@task(name="detector-rule", cache_policy=CACHE, result_serializer="json")
def detector_rule_task(exposure: str, crds_context: str) -> str:
    """The no-data-on-detector rule of jwst for one NIRSpec exposure: '' (data) or jwst's reason, with the run's CRDS context."""
    use_context(crds_context)
    from jwstspec.stages.detector_rule import no_data_reason

    return no_data_reason(Path(exposure))


@task(name="detector1", cache_policy=CACHE, result_serializer="json")
def detector1_task(uncal: str, output_dir: str, steps: dict[str, dict[str, Any]], log_file: str, crds_context: str,
                   tso: bool = False) -> str:
    """calwebb_detector1 on one exposure -> rate (rateints for TSO), with the run's CRDS context."""
    use_context(crds_context)
    from jwstspec.stages.pipelines import run_detector1, run_detector1_tso

    run = run_detector1_tso if tso else run_detector1
    return str(run(Path(uncal), Path(output_dir), steps=steps, log_file=Path(log_file)))


@task(name="clean1f", cache_policy=CACHE, result_serializer="json")
def clean1f_task(rate: str, output: str, method: str, window: int, clip_sigma: float, crds_context: str,
                 footprint_dir: str) -> str:
    """NIRSpec 1/f correction of one rate file (``pipeline``: jwst's step, with the run's CRDS context)."""
    use_context(crds_context)
    from jwstspec.stages.clean1f import clean_1f

    return str(clean_1f(Path(rate), Path(output), method=method, window=window, clip_sigma=clip_sigma,  # type: ignore[arg-type]
                        footprint_dir=Path(footprint_dir)))


@task(name="pixel-background", cache_policy=CACHE, result_serializer="json")
def pixel_background_task(science: str, backgrounds: list[str], output: str) -> str:
    """Subtract the clipped mean background image from one science rate."""
    from jwstspec.stages.background import subtract_pixel_background

    return str(subtract_pixel_background(Path(science), [Path(b) for b in backgrounds], Path(output)))


@task(name="nod-subtract", cache_policy=CACHE, result_serializer="json")
def nod_subtract_task(rates: list[str], output_dir: str) -> list[str]:
    """Each nod minus the other nod(s) of its pair or cycle."""
    from jwstspec.stages.background import nod_subtract

    return [str(p) for p in nod_subtract([Path(r) for r in rates], Path(output_dir))]


@task(name="spec2-asn", cache_policy=CACHE, result_serializer="json")
def spec2_asn_task(science: str, backgrounds: list[str], output: str, product_name: str,
                   imprints: list[str] | None = None) -> str:
    """Level-2 association with science, background and (NIRSpec) imprint members."""
    from jwstspec.stages.associations import write_spec2_asn

    return str(write_spec2_asn(Path(science), [Path(b) for b in backgrounds], Path(output), product_name=product_name,
                               imprints=[Path(i) for i in imprints or ()]))


# ------------------------------------------------------------------ stage 2
@task(name="spec2", cache_policy=CACHE, result_serializer="json")
def spec2_task(input_path: str, output_dir: str, steps: dict[str, dict[str, Any]], log_file: str, crds_context: str) -> list[str]:
    """calwebb_spec2 on one exposure (rate or level-2 association), with the run's CRDS context."""
    use_context(crds_context)
    from jwstspec.stages.pipelines import run_spec2

    return [str(p) for p in run_spec2(Path(input_path), Path(output_dir), steps=steps, log_file=Path(log_file))]


# ------------------------------------------------------------------ stage 3
@task(name="spec3", cache_policy=CACHE, result_serializer="json")
def spec3_task(members: list[str], output_asn: str, product_name: str, output_dir: str,
               steps: dict[str, dict[str, Any]], log_file: str, crds_context: str, tso: bool = False) -> list[str]:
    """Association of one group's cal files, then calwebb_spec3 (or tso3), with the run's CRDS context."""
    use_context(crds_context)
    from jwstspec.stages.associations import write_spec3_asn, write_tso3_asn
    from jwstspec.stages.pipelines import run_spec3, run_tso3

    if tso:
        asn = write_tso3_asn([Path(m) for m in members], Path(output_asn), product_name=product_name)
        products = run_tso3(asn, Path(output_dir), steps=steps, log_file=Path(log_file))
    else:
        asn = write_spec3_asn([Path(m) for m in members], Path(output_asn), product_name=product_name)
        products = run_spec3(asn, Path(output_dir), steps=steps, log_file=Path(log_file))
    return [str(asn)] + [str(p) for p in products]


# ------------------------------------------------------------------ extraction
@task(name="extract", cache_policy=CACHE, result_serializer="json")
def extract_task(source: str, output: str, options: dict[str, Any]) -> dict[str, Any]:
    """Extract the 1-D spectrum (or spectra, one per slit) of one cube or slit image (``options``: the ``[extract]`` dump).

    Returns ``{"paths": [spectrum, ...], "source": file name, "failed": [[slit, reason], ...]}``:
    the slits of a multi-slit product that could not be extracted, for the run summary.
    """
    from jwstspec.extract import extract_file

    result = extract_file(Path(source), Path(output), options)
    paths = getattr(result, "paths", None) or [result.path]
    return {"paths": [str(p) for p in paths], "source": Path(source).name,
            "failed": [[str(name), str(reason)] for name, reason in getattr(result, "failed", [])]}


# ------------------------------------------------------------------ combine
@task(name="combine", cache_policy=CACHE, result_serializer="json")
def combine_task(spectra: list[str], output: str, options: dict[str, Any]) -> dict[str, Any]:
    """Clean and average one band's dithers; MIRI 1-D corrections; plots (``options``: the ``[combine]`` dump)."""
    from jwstspec.products import combine_band

    return combine_band([Path(s) for s in spectra], Path(output), options).record()


@task(name="stitch", cache_policy=CACHE, result_serializer="json")
def stitch_task(spectra: list[str], output: str, options: dict[str, Any], crds_context: str) -> dict[str, Any]:
    """Stitch the combined bands into one spectrum (+ MIRI spectral leak, its reference from the run's CRDS context) (``options``: the ``[combine]`` dump)."""
    use_context(crds_context)
    from jwstspec.products import stitch_bands

    return stitch_bands([Path(s) for s in spectra], Path(output), options).record()


# ------------------------------------------------------------------ time series
@task(name="timeseries", cache_policy=CACHE, result_serializer="json")
def timeseries_task(x1dints: str, outputs: dict[str, str], options: dict[str, Any]) -> dict[str, Any]:
    """White-light and spectroscopic light curves, mean out-of-transit and per-integration spectra of one Tso3 product (``options``: the ``[timeseries]`` dump)."""
    from jwstspec.timeseries import build_products

    return build_products(Path(x1dints), {k: Path(v) for k, v in outputs.items()}, options).record()
