"""The jwstspec Prefect flow: config -> layout -> stages -> extraction -> combine.

The flow only orchestrates.  Every decision about *what* to process comes
from :mod:`jwstspec.plan`; every computation is a :mod:`jwstspec` function
wrapped by a task in :mod:`flows.tasks`.  Tasks exchange file paths.

Stages not listed in ``config.stages`` are not run: the flow then uses the
products already present in that stage's directory (so a user can rerun
only extraction, or enter at Stage 2 with products made elsewhere).
"""

from __future__ import annotations

import inspect
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture

from flows import artifacts
from flows.cache import ProductCachePolicy, cached_result, is_miss
from flows.tasks import (
    clean1f_task,
    combine_task,
    detector1_task,
    download_task,
    extract_task,
    ingest_task,
    nod_subtract_task,
    pixel_background_task,
    spec2_asn_task,
    spec2_task,
    spec3_task,
    stitch_task,
)
from jwstspec import plan as planning
from jwstspec.config import PipelineConfig, save_config
from jwstspec.crds import apply_environment, crds_environment
from jwstspec.fileio import remove_stale_temporaries
from jwstspec.layout import Layout, product_name
from jwstspec.locking import run_lock
from jwstspec.products import group_by_band, group_by_slit
from jwstspec.stages.pipelines import merge_steps, spec2_steps


#: tasks that are never cached (their own code checks what is already there)
UNCACHED_TASKS = frozenset({"download", "ingest"})


class _Run:
    """Book-keeping of one flow run: task options and task states."""

    def __init__(self, config: PipelineConfig, layout: Layout) -> None:
        self.config = config
        self.layout = layout
        self.storage = layout.cache_dir / "results"  # a path: Prefect's local result storage
        self.policy = ProductCachePolicy()
        self.records: list[tuple[str, str, PrefectFuture[Any]]] = []  # (stage, label, future)
        self.t0 = time.perf_counter()

    def submit(self, task: Any, stage: str, label: str, **kwargs: Any) -> Any:
        """Submit a task with this run's cache storage and a readable run name.

        When every input is already known (no pending upstream task) and the
        cache holds a valid result for them, the result is taken here, in
        the flow process, and no task run is created: a fully cached rerun
        then starts no worker at all.  Such tasks are reported as ``cached``
        in the run summary and the exposures table.  Returns a
        :class:`PrefectFuture` or a :class:`_Done`.
        """
        kwargs = {k: _concrete(v) for k, v in kwargs.items()}
        if task.name in UNCACHED_TASKS:
            configured = task.with_options(task_run_name=f"{task.name} {label}")
        else:
            force = stage in self.config.runtime.force or not self.config.runtime.cache
            if not force and not _pending(kwargs):
                bound = inspect.signature(task.fn).bind(**kwargs)
                bound.apply_defaults()  # Prefect keys the task run's parameters with their defaults
                value = cached_result(self.storage, self.policy.key_for(task.name, dict(bound.arguments)))
                if not is_miss(value):
                    done = _Done(value)
                    self.records.append((stage, label, done))
                    return done
            configured = task.with_options(
                task_run_name=f"{task.name} {label}",
                result_storage=self.storage,
                cache_policy=self.policy,
                refresh_cache=force,
            )
        future = configured.submit(**kwargs)
        self.records.append((stage, label, future))
        return future


class _Done:
    """A task result taken from the cache by the flow itself (the interface of a finished future)."""

    class _State:
        name = "Cached"

    state = _State()

    def __init__(self, value: Any) -> None:
        self.value = value

    def wait(self, timeout: float | None = None) -> None:
        return None

    def result(self, *args: Any, **kwargs: Any) -> Any:
        return self.value

    def add_done_callback(self, fn: Any) -> None:
        fn(self)


def _concrete(value: Any) -> Any:
    """``value`` with every finished :class:`_Done` (also inside ``_Item`` and lists) replaced by its result."""
    if isinstance(value, _Done):
        return value.value
    if isinstance(value, _Item) and isinstance(value.future, _Done):
        return value.result()
    if isinstance(value, list):
        return [_concrete(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_concrete(v) for v in value)
    if isinstance(value, dict):
        return {k: _concrete(v) for k, v in value.items()}
    return value


def _pending(value: Any) -> bool:
    """Whether ``value`` holds a future of a task still to run (its result is not known yet)."""
    if isinstance(value, (PrefectFuture, _Item)):
        return True
    if isinstance(value, (list, tuple)):
        return any(_pending(v) for v in value)
    if isinstance(value, dict):
        return any(_pending(v) for v in value.values())
    return False


def _stage(config: PipelineConfig, name: str) -> bool:
    return name in config.stages


@flow(name="jwstspec", flow_run_name="jw{config.program}-o{config.observation}", validate_parameters=True, persist_result=False)
def jwstspec_pipeline(config: PipelineConfig) -> dict[str, Any]:
    """Process one JWST spectroscopic observation end to end.

    Parameters
    ----------
    config : PipelineConfig
        The validated run configuration (the deployment's parameter form).

    Returns
    -------
    dict
        Run summary: final products, task states, notes.
    """
    logger = get_run_logger()
    layout = Layout.from_config(config)
    observations = [config.observation] + ([config.background_observation] if config.background_observation and not config.nod_subtraction else [])
    layout.create(observations)
    apply_environment(crds_environment(config))
    run = _Run(config, layout)
    notes: list[str] = []

    with run_lock(layout, config.observation):
        # under the lock: a live run's temporaries look the same as those of a killed one
        for obs in observations:
            for stale in remove_stale_temporaries(layout.obs_dir(obs)):
                logger.info("removed what an interrupted run left: %s", stale)
        save_config(config, layout.run_file(config.observation, "config.toml"))
        logger.info("jwstspec run of program %s observation %s (config %s), data in %s",
                    config.program, config.observation, config.digest(), layout.program_dir)
        if config.description:
            logger.warning(config.description)

        # ---------------------------------------------------------- stage 0
        if _stage(config, "download"):
            for obs in observations:
                if config.download.enabled:
                    run.submit(download_task, "download", f"o{obs}", program=config.program, observation=obs,
                               output_dir=str(layout.uncal_dir(obs)), products=config.download.products,
                               all_products=config.download.all_products, instrument=config.instrument.upper(),
                               token_file=str(config.download.token_file) if config.download.token_file else None).result()
                elif config.download.ingest_from and obs == config.observation:
                    run.submit(ingest_task, "download", "local files", sources=[str(s) for s in config.download.ingest_from],
                               program=config.program, instrument=config.instrument.upper(),
                               mode=config.download.ingest_mode, data_dir=str(layout.data_dir)).result()

        plan = planning.plan_run(config, layout)
        for path, reason in plan.skipped:
            logger.info("skipped %s: %s", path.name, reason)
        if plan.is_empty and _stage(config, "stage1"):
            message = f"no new data: no spectroscopic uncal exposure in {layout.uncal_dir(config.observation)}"
            logger.info(message)
            artifacts.summary(run, plan, {}, [message])
            return {"status": "no data", "message": message, "products": {}}

        rates = _stage1(run, plan)
        stage2_inputs = _background(run, plan, rates, notes)
        stage2 = _stage2(run, plan, stage2_inputs)
        stage3 = _stage3(run, plan, stage2)
        spectra = _extract(run, plan, stage2, stage3, logger)
        products = _combine(run, spectra)
        for note in notes:
            logger.warning(note)
        states = artifacts.task_states(run)
        if states and all(t["state"] == "cached" for t in states if t["stage"] != "download"):
            message = "no new data: every task was served from the cache; products unchanged"
            logger.info(message)
            notes.append(message)
        summary = artifacts.summary(run, plan, products, ([config.description] if config.description else []) + notes)
        artifacts.manifest(run, plan, products)
    logger.info("final products in %s", layout.stage_dir(config.observation, "combined"))
    return summary


# -------------------------------------------------------------------------- stages
def _stage1(run: _Run, plan: planning.RunPlan) -> dict[Path, Any]:
    """Detector1 and 1/f correction per exposure -> {uncal path: rate (future or path)}."""
    config, layout = run.config, run.layout
    rates: dict[Path, Any] = {}
    for exp in plan.all_exposures:
        stage1_dir = layout.stage_dir(exp.observation, "stage1")
        if _stage(config, "stage1"):
            rate = run.submit(detector1_task, "stage1", exp.name, uncal=str(exp.path), output_dir=str(stage1_dir),
                              steps=config.stage1.steps, log_file=str(layout.log_file(exp.observation, exp.name, "stage1")),
                              tso=config.tso)
        else:
            rate = layout.rate_path(exp.observation, exp.path, tso=config.tso)
        if config.instrument == "nirspec" and config.readnoise_method != "none":
            corr = stage1_dir / f"{exp.name}_{'rateints' if config.tso else 'rate'}corr.fits"
            if _stage(config, "stage1"):
                rate = run.submit(clean1f_task, "stage1", exp.name, rate=rate, output=str(corr),
                                  method=config.readnoise_method, window=config.stage1.readnoise_window,
                                  clip_sigma=config.stage1.readnoise_clip_sigma)
            else:
                rate = corr
        rates[exp.path] = rate
    return rates


def _background(run: _Run, plan: planning.RunPlan, rates: dict[Path, Any], notes: list[str]) -> dict[Path, Any]:
    """Background handling -> {science uncal path: Stage 2 input (rate or asn)}."""
    config, layout = run.config, run.layout
    logger = get_run_logger()
    method = config.stage1.bkg_subtract
    inputs: dict[Path, Any] = {}
    if method == "none" or not plan.background or not _stage(config, "stage1"):
        for exp in plan.science.exposures:
            inputs[exp.path] = rates[exp.path]
        if method != "none" and not _stage(config, "stage1"):
            for exp in plan.science.exposures:  # reuse stage-1 products of an earlier run
                d = layout.stage_dir(exp.observation, "stage1")
                asn = layout.spec2_asn_path(exp.observation, exp.name)
                sub = sorted(d.glob(f"{exp.name}_*bkgsub.fits"))
                inputs[exp.path] = asn if asn.exists() else (sub[0] if sub else rates[exp.path])
        return inputs

    if config.nod_subtraction:
        for key, group in plan.science.groups.items():
            fut = run.submit(nod_subtract_task, "stage1", key, rates=[rates[e.path] for e in group],
                             output_dir=str(layout.stage_dir(config.observation, "stage1")))
            for i, exp in enumerate(group):
                inputs[exp.path] = _Item(fut, i)
        return inputs

    for key, group in plan.science.groups.items():
        bkg_rates = [rates[b.path] for b in plan.background[key]]
        from jwstspec.stages.background import background_method

        use, why = background_method(method, config.instrument, [e.path for e in group],
                                     [b.path for b in plan.background[key]], tol=config.stage1.tilt_tolerance)
        if why:
            logger.warning("%s: %s", key, why)
            notes.append(f"{key}: {why}")
        for exp in group:
            stage1_dir = layout.stage_dir(exp.observation, "stage1")
            if use == "asn":
                inputs[exp.path] = run.submit(spec2_asn_task, "stage1", exp.name, science=rates[exp.path],
                                              backgrounds=bkg_rates, output=str(layout.spec2_asn_path(exp.observation, exp.name)),
                                              product_name=exp.name)
            else:
                inputs[exp.path] = run.submit(pixel_background_task, "stage1", exp.name, science=rates[exp.path],
                                              backgrounds=bkg_rates, output=str(stage1_dir / f"{exp.name}_rate_bkgsub.fits"))
    return inputs


class _Item:
    """Element ``index`` of a list-valued task result (resolved lazily)."""

    def __init__(self, future: PrefectFuture[Any], index: int) -> None:
        self.future, self.index = future, index

    def result(self) -> Any:
        return self.future.result()[self.index]


def _pass(value: Any) -> Any:
    """A task argument: futures are passed on (Prefect waits for them), items resolved."""
    if isinstance(value, _Done):
        return value.value
    if isinstance(value, _Item):
        return value.result()
    return value


def _resolve(value: Any) -> Any:
    if isinstance(value, (PrefectFuture, _Item, _Done)):
        return value.result()
    return value


def _stage2(run: _Run, plan: planning.RunPlan, inputs: dict[Path, Any]) -> dict[Path, Any]:
    """Spec2 per science exposure -> {uncal path: list of products (future or list)}."""
    config, layout = run.config, run.layout
    out: dict[Path, Any] = {}
    steps = merge_steps(spec2_steps(config.mode, config.stage2.cube_align, config.instrument), config.stage2.steps)
    for exp in plan.science.exposures:
        stage2_dir = layout.stage_dir(exp.observation, "stage2")
        if _stage(config, "stage2"):
            out[exp.path] = run.submit(spec2_task, "stage2", exp.name, input_path=_pass(inputs[exp.path]),
                                       output_dir=str(stage2_dir), steps=steps,
                                       log_file=str(layout.log_file(exp.observation, exp.name, "stage2")))
        else:
            out[exp.path] = [str(p) for p in sorted(stage2_dir.glob(f"{exp.name}*.fits"))]
    return out


def _stage3(run: _Run, plan: planning.RunPlan, stage2: dict[Path, Any]) -> dict[str, Any]:
    """Spec3/Tso3 per group -> {group: products (future or list)}."""
    config, layout = run.config, run.layout
    out: dict[str, Any] = {}
    obs = config.observation
    stage3_dir = layout.stage_dir(obs, "stage3")
    cal_suffix = "_calints.fits" if config.tso else "_cal.fits"
    if not _stage(config, "stage3"):
        return out
    stage3_groups: dict[str, list[Any]] = defaultdict(list)
    for exp in plan.science.exposures:
        stage3_groups[exp.stage3_key].append(exp)
    for key, group in stage3_groups.items():
        members = []
        for exp in group:
            members += [p for p in _resolve(stage2[exp.path]) if str(p).endswith(cal_suffix)]
        if not members:
            continue
        out[key] = run.submit(spec3_task, "stage3", key, members=members,
                              output_asn=str(layout.spec3_asn_path(obs, key, tso=config.tso)),
                              product_name=layout.stage3_product(obs, key), output_dir=str(stage3_dir),
                              steps=config.stage3.steps, log_file=str(layout.log_file(obs, key, "stage3")), tso=config.tso)
    return out


def extraction_options(config: PipelineConfig) -> dict[str, Any]:
    """Keyword options of :func:`jwstspec.extract.extract_file` from the config."""
    e = config.extract
    return {
        "method": e.method,
        "radius": e.radius,
        "annulus_radii": e.annulus_radii,
        "bkg_annulus": e.bkg_annulus,
        "background": e.background,
        "window": e.window,
        "clip_sigma": e.clip_sigma,
        "bkg_clip_sigma": e.bkg_clip_sigma,
        "center": e.center,
        "center_radec": e.center_radec,
        "center_offset": e.center_offset,
        "fit_background": e.fit_background,
        "save_cleaned": e.save_cleaned,
        "covariance": e.covariance,
    }


def _extract(run: _Run, plan: planning.RunPlan, stage2: dict[Path, Any], stage3: dict[str, Any], logger: Any) -> dict[str, list[Any]]:
    """Extraction per cube / slit image -> {band: [futures of spectrum paths]}."""
    config, layout = run.config, run.layout
    obs = config.observation
    sources: list[Path] = []
    if config.extract.stage == "stage2":
        for exp in plan.science.exposures:
            products = [Path(p) for p in _resolve(stage2[exp.path])]
            suffix = "_s3d.fits" if config.mode == "ifu" else "_s2d.fits"
            sources += [p for p in products if p.name.endswith(suffix)]
        if not _stage(config, "stage2") and not sources:
            sources = planning.stage3_products(layout.stage_dir(obs, "stage2"), config.mode)
    else:
        for fut in stage3.values():
            suffix = "_s3d.fits" if config.mode == "ifu" else "_s2d.fits"
            sources += [Path(p) for p in _resolve(fut) if str(p).endswith(suffix)]
        if not stage3:
            sources = planning.stage3_products(layout.stage_dir(obs, "stage3"), config.mode)
    by_band: dict[str, list[Any]] = defaultdict(list)
    if not _stage(config, "extract"):
        for p in sorted(layout.stage_dir(obs, "extract").glob("*_x1d.fits")):
            by_band[planning.product_band(p)].append([str(p)])
        return dict(by_band)
    options = extraction_options(config)
    progress = artifacts.Progress("extraction", len(sources))
    for src in sorted(set(sources)):
        band = planning.product_band(src)
        fut = run.submit(extract_task, "extract", product_name(src), source=str(src),
                         output=str(layout.spectrum_path(obs, src, config.extract.method)), options=options)
        fut.add_done_callback(lambda _f: progress.step())
        by_band[band].append(fut)
    logger.info("extracting %d products in %d bands", len(sources), len(by_band))
    return dict(by_band)


def combine_options(config: PipelineConfig) -> dict[str, Any]:
    """Keyword options of :func:`jwstspec.products.combine_band` from the config."""
    c = config.combine
    return {
        "window_half": c.window_half,
        "clip_sigma": c.clip_sigma,
        "mask_ranges": [list(r) for r in c.mask_ranges],
        "defringe": c.defringe and config.instrument == "miri" and config.mode == "ifu",
        "rescale_errors": c.rescale_errors,
    }


def _combine(run: _Run, spectra: dict[str, list[Any]]) -> dict[str, Any]:
    """Combine per band, then stitch -> {band or 'stitched': product record}."""
    config, layout = run.config, run.layout
    obs = config.observation
    if not _stage(config, "combine"):
        return {}
    out: dict[str, Any] = {}
    futures = {}
    groups: dict[str, list[Path]] = defaultdict(list)
    for band, items in sorted(spectra.items()):
        paths = [p for item in items for p in _resolve(item)]
        for sub, members in group_by_band(paths, band).items():  # two-channel MRS cubes: per sub-band
            groups[sub] += members
    for band, paths in sorted(groups.items()):
        by_slit = group_by_slit(paths) if config.mode != "ifu" else {"": [Path(p) for p in paths]}
        for slit, group in by_slit.items():  # several slits (MOS): one combination per slit
            key = f"{band}_{slit}" if slit and len(by_slit) > 1 else band
            futures[key] = run.submit(combine_task, "combine", key, spectra=[str(p) for p in group],
                                      output=str(layout.combined_path(obs, key)), options=combine_options(config))
    for band, fut in futures.items():
        out[band] = fut.result()
    if config.combine.stitch and out:
        stitch_opts = {
            "scale": config.combine.scale_bands,
            "spectral_leak": config.combine.spectral_leak and config.instrument == "miri" and config.mode == "ifu",
            "leak_reference": str(config.combine.leak_reference) if config.combine.leak_reference else None,
        }
        out["stitched"] = run.submit(stitch_task, "combine", "all bands", spectra=[out[b]["fits"] for b in sorted(out)],
                                     output=str(layout.stitched_path(obs)), options=stitch_opts).result()
    return out


def run_pipeline(config: PipelineConfig) -> dict[str, Any]:
    """Run the flow with the task runner of ``config.runtime`` (the CLI's entry)."""
    from flows.runtime import make_task_runner, set_log_levels

    env = crds_environment(config)
    apply_environment(env)
    set_log_levels(config.runtime.log_level)  # tasks run in this process with the thread runner
    runner = make_task_runner(config.runtime, {**env, **_prefect_env()})
    return jwstspec_pipeline.with_options(task_runner=runner)(config)


def _prefect_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}
