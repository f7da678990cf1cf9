"""The jwstspec Prefect flow: config -> layout -> stages -> extraction -> combine.

The flow only orchestrates.  Every decision about *what* to process comes
from :mod:`jwstspec.plan`; every computation is a :mod:`jwstspec` function
wrapped by a task in :mod:`flows.tasks`.  Tasks exchange file paths.

Stages not listed in ``config.stages`` are not run: the flow then uses the
products already present in that stage's directory (so a user can rerun
only extraction, or enter at Stage 2 with products made elsewhere).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows import artifacts
from flows.result import RunResult
from flows.submit import Item, Run, pass_on, resolve
from flows.tasks import (
    clean1f_task,
    combine_task,
    detector1_task,
    detector_rule_task,
    download_task,
    extract_task,
    ingest_task,
    nod_subtract_task,
    pixel_background_task,
    spec2_asn_task,
    spec2_task,
    spec3_task,
    stitch_task,
    timeseries_task,
)
from jwstspec import plan as planning
from jwstspec.config import PipelineConfig, save_config
from jwstspec.crds import ContextChoice, apply_environment, crds_environment, resolve_context
from jwstspec.errors import EmptyRunError
from jwstspec.fileio import remove_stale_temporaries
from jwstspec.layout import Layout, is_cal, is_extraction_source, is_x1dints, product_name
from jwstspec.locking import run_lock
from jwstspec.products import combinations, group_by_band, group_by_slit, stitch_groups
from jwstspec.stages.pipelines import merge_steps, spec2_steps


def _stage(config: PipelineConfig, name: str) -> bool:
    return name in config.stages


@flow(name="jwstspec", flow_run_name="jw{config.program}-o{config.observation}", validate_parameters=True, persist_result=False)
def jwstspec_pipeline(config: PipelineConfig) -> RunResult:
    """Process one JWST spectroscopic observation end to end.

    Parameters
    ----------
    config : PipelineConfig
        The validated run configuration (the deployment's parameter form).

    Returns
    -------
    RunResult
        Run summary: final products, task states, notes (reads like a dict).
    """
    logger = get_run_logger()
    layout = Layout.from_config(config)
    observations = [config.observation] + ([config.background_observation] if config.background_observation and not config.nod_subtraction else [])
    layout.create(observations)
    apply_environment(crds_environment(config))
    context = run_context(config)
    logger.info("CRDS context %s", context)
    run = Run(config, layout)
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
                               output_dir=str(layout.download_dir), uncal_dir=str(layout.uncal_dir(obs)),
                               products=config.download.products,
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
            artifacts.summary(run, plan, {}, [message], crds_context=context)
            return RunResult(status="no data", message=message, crds_context=context.name)

        _stage_msa_metadata(run, plan)  # first: a missing file fails here, and jwst's detector rule reads it too
        plan = _detector_rule(run, plan, context.name)
        rates = _stage1(run, plan, context.name)
        stage2_inputs = _background(run, plan, rates, notes)
        stage2 = _stage2(run, plan, stage2_inputs, context.name)
        stage3 = _stage3(run, plan, stage2, context.name)
        slit_failures: list[dict[str, str]] = []
        if config.tso:  # Tso3 extracted the spectra: light curves instead of extraction and combination
            products, failure = _timeseries(run, stage3)
        else:
            spectra = _extract(run, plan, stage2, stage3, logger)
            try:
                products = _combine(run, spectra, context.name)
                failure = empty_run_reason(config, layout, plan, spectra, products)
            except EmptyRunError as exc:
                products, failure = {}, exc.reason
            slit_failures = failed_slits(spectra, slits=config.mode != "ifu")
        for note in notes:
            logger.warning(note)
        for f in slit_failures:
            logger.warning("not extracted: %s slit %s: %s", f["product"] or "a product", f["slit"], f["reason"])
        if failure:  # stages ran and made nothing: a failed run, with the reason in one line
            logger.error("no final product: %s", failure)
            notes = ([config.description] if config.description else []) + notes
            summary = artifacts.summary(run, plan, products, notes, crds_context=context, failure=failure,
                                        failed_slits=slit_failures)
            artifacts.manifest(run, plan, products, crds_context=context)
            raise EmptyRunError(failure, str(summary))
        states = artifacts.task_states(run)
        if states and all(t["state"] == "cached" for t in states if t["stage"] != "download"):
            message = "no new data: every task was served from the cache; products unchanged"
            logger.info(message)
            notes.append(message)
        notes = ([config.description] if config.description else []) + notes
        summary = artifacts.summary(run, plan, products, notes, crds_context=context, failed_slits=slit_failures)
        artifacts.manifest(run, plan, products, crds_context=context)
    logger.info("final products in %s", layout.stage_dir(config.observation, "combined"))
    return RunResult(status="completed", summary=str(summary), products=dict(products), tasks=artifacts.task_states(run),
                     notes=notes, flow_run_id=str(flow_run.id), artifact_keys=artifacts.artifact_keys(run),
                     crds_context=context.name, failed_slits=slit_failures)


# -------------------------------------------------------------------------- stages
def run_context(config: PipelineConfig) -> ContextChoice:
    """The CRDS context of a run starting now (:func:`jwstspec.crds.resolve_context`).

    A run that asks CRDS nothing (only extraction/combination without the
    MIRI spectral leak) does not need one: its failure to resolve is then
    recorded as the reason, not raised.
    """
    asks_crds = bool({"stage1", "stage2", "stage3"} & set(config.stages)) or (
        "combine" in config.stages and config.combine.stitch and config.combine.spectral_leak
        and config.is_mrs and config.combine.leak_reference is None)
    try:
        return resolve_context(config)
    except Exception as exc:
        if asks_crds:
            raise
        return ContextChoice("", "unresolved", " ".join(str(exc).split()))


def empty_run_reason(config: PipelineConfig, layout: Layout, plan: planning.RunPlan,
                     spectra: dict[str, list[Any]], products: dict[str, Any]) -> str | None:
    """Why a run that extracts or combines wrote no final spectrum (None: it wrote one, or was not asked to).

    A run of Stage 1-3 only makes no final spectrum by design; with
    ``extract`` or ``combine`` among its stages it must write at least one.
    """
    if not (_stage(config, "extract") or _stage(config, "combine")):
        return None
    if _stage(config, "combine") and products:
        return None
    resolved = _collect_spectra(spectra, slits=config.mode != "ifu")
    if not _stage(config, "combine") and resolved:
        return None
    obs = config.observation
    if not _stage(config, "extract"):
        return f"no extracted spectrum (*_x1d.fits) in {layout.stage_dir(obs, 'extract')} to combine"
    suffix = "s3d" if config.mode == "ifu" else "s2d"
    where = layout.stage_dir(obs, "stage2" if config.extract.stage == "stage2" else "stage3")
    if not spectra:
        reason = (f"no extractable product found: no *_{suffix}.fits from {len(plan.science.exposures)} science "
                  f"exposure(s) in {where}")
        if plan.skipped:  # e.g. every exposure ruled out by jwst's NoDataOnDetector rule: say which and why
            shown = "; ".join(f"{Path(p).name}: {why}" for p, why in plan.skipped[:3])
            more = f" (+{len(plan.skipped) - 3} more)" if len(plan.skipped) > 3 else ""
            reason += f"; {len(plan.skipped)} exposure(s) skipped: {shown}{more}"
        return reason
    return f"the extraction of {sum(len(v) for v in spectra.values())} product(s) wrote no spectrum"


def extraction_record(value: Any) -> tuple[list[str], str, list[tuple[str, str]]]:
    """(spectrum paths, source file name, [(slit, reason), ...] not extracted) of one extraction result.

    ``value``: what :func:`flows.tasks.extract_task` returns, or a plain list
    of paths (records cached before the failed slits were kept, and the
    spectra found on disk when extraction is not among the stages).
    """
    if isinstance(value, dict):
        failed = [(str(name), str(reason)) for name, reason in value.get("failed", [])]
        return [str(p) for p in value.get("paths", [])], str(value.get("source", "")), failed
    return [str(p) for p in value], "", []


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _collect_spectra(spectra: dict[str, list[Any]], slits: bool = False) -> dict[str, list[str]]:
    """{band: spectrum paths} from the extraction results.

    ``slits``: slit products (fixed slit, MOS), where a product none of
    whose slits could be extracted is listed in the summary
    (:func:`failed_slits`) and the others carry on.

    Raises
    ------
    EmptyRunError
        Every extraction failed (the first failure is named).
    Exception
        Cubes: some, not all, failed: the first failure, as before.
    """
    out: dict[str, list[str]] = {}
    failures: list[BaseException] = []
    total = 0
    for band, items in sorted(spectra.items()):
        for item in items:
            total += 1
            try:
                paths, _, _ = extraction_record(resolve(item))
            except Exception as exc:  # a failed extraction task re-raises its error here
                failures.append(exc)
                continue
            out.setdefault(band, []).extend(paths)
    if failures and len(failures) == total:
        raise EmptyRunError(f"every extraction failed ({total} of {total}); first: {_one_line(failures[0])}")
    if failures and not slits:
        raise failures[0]
    return {band: paths for band, paths in out.items() if paths}


def _stage_msa_metadata(run: Run, plan: planning.RunPlan) -> None:
    """NIRSpec MOS: link each exposure's MSA metadata file (``MSAMETFL``) beside its Stage 2 input, before any stage runs.

    ``assign_wcs`` opens it from the directory of the Spec2 input (every
    Stage 2 input lives in ``stage1/``); a missing file fails the run here,
    naming the exposure and the file (:func:`jwstspec.msa.stage_metadata`).
    """
    config, layout = run.config, run.layout
    if config.instrument != "nirspec" or not _stage(config, "stage2"):
        return
    from jwstspec.msa import stage_metadata

    by_obs: dict[str, list[Path]] = defaultdict(list)
    for exp in plan.science.exposures:
        if Path(exp.path).is_file():
            by_obs[exp.observation].append(Path(exp.path))
    for obs, paths in by_obs.items():
        stage_metadata(paths, layout.stage_dir(obs, "stage1"), [layout.uncal_dir(obs), layout.download_dir])


def failed_slits(spectra: dict[str, list[Any]], slits: bool = True) -> list[dict[str, str]]:
    """Every slit that could not be extracted: ``{"product", "slit", "reason"}``, for the summary and the run result.

    The slits a multi-slit product skipped (its task succeeded), and with
    ``slits`` each slit product whose extraction failed as a whole (slit
    ``*``, its one-line error naming the file).  Never raises.
    """
    out: list[dict[str, str]] = []
    for _band, items in sorted(spectra.items()):
        for item in items:
            try:
                value = resolve(item)
            except Exception as exc:  # noqa: BLE001 - the task's own error, reported by _collect_spectra
                if slits:
                    out.append({"product": "", "slit": "*", "reason": _one_line(exc)})
                continue
            _, source, failed = extraction_record(value)
            out += [{"product": source, "slit": name, "reason": reason} for name, reason in failed]
    return out


def _detector_rule(run: Run, plan: planning.RunPlan, crds_context: str) -> planning.RunPlan:
    """NIRSpec: leave out the exposures jwst finds no data on (assign_wcs's ``NoDataOnDetectorError``).

    They would end ``calwebb_spec2`` without a product; instead they are
    recorded as skipped with jwst's reason and the rest of the observation
    goes on (:func:`jwstspec.stages.detector_rule.no_data_reason`).
    """
    config = run.config
    if config.instrument != "nirspec" or not _stage(config, "stage2"):
        return plan
    checks = {exp.path: run.submit(detector_rule_task, "detector-rule", exp.name, exposure=str(exp.path),
                                   crds_context=crds_context) for exp in plan.all_exposures}
    reasons = {path: resolve(fut) for path, fut in checks.items()}
    kept = planning.without_exposures(plan, {p: r for p, r in reasons.items() if r})
    for path, reason in kept.skipped[len(plan.skipped):]:
        get_run_logger().warning("skipped %s: %s", path.name, reason)
    return kept


def _stage1(run: Run, plan: planning.RunPlan, crds_context: str) -> dict[Path, Any]:
    """Detector1 and 1/f correction per exposure -> {uncal path: rate (future or path)}."""
    config, layout = run.config, run.layout
    rates: dict[Path, Any] = {}
    for exp in plan.all_exposures:
        stage1_dir = layout.stage_dir(exp.observation, "stage1")
        if _stage(config, "stage1"):
            rate = run.submit(detector1_task, "stage1", exp.name, uncal=str(exp.path), output_dir=str(stage1_dir),
                              steps=config.stage1.steps, log_file=str(layout.log_file(exp.observation, exp.name, "stage1")),
                              crds_context=crds_context, tso=config.tso)
        else:
            rate = layout.rate_path(exp.observation, exp.path, tso=config.tso)
        if config.instrument == "nirspec" and config.readnoise_method != "none":
            corr = layout.corrected_rate_path(exp.observation, exp.name, tso=config.tso)
            if _stage(config, "stage1"):
                rate = run.submit(clean1f_task, "stage1", exp.name, rate=rate, output=str(corr),
                                  method=config.readnoise_method, window=config.stage1.readnoise_window,
                                  clip_sigma=config.stage1.readnoise_clip_sigma, crds_context=crds_context,
                                  footprint_dir=str(layout.footprint_dir))
            else:
                rate = corr
        rates[exp.path] = rate
    return rates


def _background(run: Run, plan: planning.RunPlan, rates: dict[Path, Any], notes: list[str]) -> dict[Path, Any]:
    """Background handling -> {science uncal path: Stage 2 input (rate or asn)}."""
    config, layout = run.config, run.layout
    logger = get_run_logger()
    method = config.stage1.bkg_subtract
    inputs: dict[Path, Any] = {}
    if method == "none" or not plan.background or not _stage(config, "stage1"):
        for exp in plan.science.exposures:
            inputs[exp.path] = rates[exp.path]
            if plan.science.imprints_for(exp) and _stage(config, "stage1"):  # imprints alone: an association
                inputs[exp.path] = run.submit(spec2_asn_task, "stage1", exp.name, science=rates[exp.path], backgrounds=[],
                                              output=str(layout.spec2_asn_path(exp.observation, exp.name)),
                                              product_name=exp.name, imprints=_imprint_rates(plan, rates, exp))
        if method != "none" and not _stage(config, "stage1"):
            for exp in plan.science.exposures:  # reuse stage-1 products of an earlier run
                asn = layout.spec2_asn_path(exp.observation, exp.name)
                sub = layout.bkgsub_products(exp.observation, exp.name)
                inputs[exp.path] = asn if asn.exists() else (sub[0] if sub else rates[exp.path])
        return inputs

    if config.nod_subtraction:
        for key, group in plan.science.groups.items():
            fut = run.submit(nod_subtract_task, "stage1", key, rates=[rates[e.path] for e in group],
                             output_dir=str(layout.stage_dir(config.observation, "stage1")))
            for i, exp in enumerate(group):
                inputs[exp.path] = Item(fut, i)
        return inputs

    for key, group in plan.science.groups.items():
        bkg_rates = [rates[b.path] for b in plan.background[key]]
        from jwstspec.stages.background import background_method

        use, why = background_method(method, config.instrument, [e.path for e in group],
                                     [b.path for b in plan.background[key]], tol=config.stage1.tilt_tolerance)
        if why:
            logger.warning("%s: %s", key, why)
            notes.append(f"{key}: {why}")
        if use != "asn" and plan.science.imprints.get(key):
            # one imprint taken for science and background alike cancels in the difference; jwst's
            # imprint_subtract (which also treats each background) runs with the asn background only
            note = (f"{key}: imprint exposures not subtracted: with the {use} background subtraction the leakage "
                    "of the science and background exposures cancels (bkg_subtract = asn lets calwebb_spec2 subtract them)")
            logger.warning(note)
            notes.append(note)
        for exp in group:
            if use == "asn":
                inputs[exp.path] = run.submit(spec2_asn_task, "stage1", exp.name, science=rates[exp.path],
                                              backgrounds=bkg_rates, output=str(layout.spec2_asn_path(exp.observation, exp.name)),
                                              product_name=exp.name, imprints=_imprint_rates(plan, rates, exp))
            else:
                inputs[exp.path] = run.submit(pixel_background_task, "stage1", exp.name, science=rates[exp.path],
                                              backgrounds=bkg_rates, output=str(layout.bkgsub_path(exp.observation, exp.name)))
    return inputs


def _imprint_rates(plan: planning.RunPlan, rates: dict[Path, Any], exp: Any) -> list[Any]:
    """The Stage-1 products of ``exp``'s imprint exposures (Spec2 ``imprint`` members, never dithers)."""
    return [rates[i.path] for i in plan.science.imprints_for(exp)]


def _stage2(run: Run, plan: planning.RunPlan, inputs: dict[Path, Any], crds_context: str) -> dict[Path, Any]:
    """Spec2 per science exposure -> {uncal path: list of products (future or list)}."""
    config, layout = run.config, run.layout
    out: dict[Path, Any] = {}
    steps = merge_steps(spec2_steps(config.mode, config.stage2.cube_align, config.instrument,
                                    residual_fringe=config.residual_fringe_on), config.stage2.steps)
    for exp in plan.science.exposures:
        if _stage(config, "stage2"):
            out[exp.path] = run.submit(spec2_task, "stage2", exp.name, input_path=pass_on(inputs[exp.path]),
                                       output_dir=str(layout.stage_dir(exp.observation, "stage2")), steps=steps,
                                       log_file=str(layout.log_file(exp.observation, exp.name, "stage2")),
                                       crds_context=crds_context)
        else:
            out[exp.path] = [str(p) for p in layout.stage2_products(exp.observation, exp.name)]
    return out


def _stage3(run: Run, plan: planning.RunPlan, stage2: dict[Path, Any], crds_context: str) -> dict[str, Any]:
    """Spec3/Tso3 per group -> {group: products (future or list)}."""
    config, layout = run.config, run.layout
    out: dict[str, Any] = {}
    obs = config.observation
    stage3_dir = layout.stage_dir(obs, "stage3")
    if not _stage(config, "stage3"):
        return out
    stage3_groups: dict[str, list[Any]] = defaultdict(list)
    for exp in plan.science.exposures:
        stage3_groups[exp.stage3_key].append(exp)
    for key, group in stage3_groups.items():
        members = []
        for exp in group:
            members += [p for p in resolve(stage2[exp.path]) if is_cal(p, tso=config.tso)]
        if not members:
            continue
        out[key] = run.submit(spec3_task, "stage3", key, members=members,
                              output_asn=str(layout.spec3_asn_path(obs, key, tso=config.tso)),
                              product_name=layout.stage3_product(obs, key), output_dir=str(stage3_dir),
                              steps=config.stage3.steps, log_file=str(layout.log_file(obs, key, "stage3")),
                              crds_context=crds_context, tso=config.tso)
    return out


def _extract(run: Run, plan: planning.RunPlan, stage2: dict[Path, Any], stage3: dict[str, Any], logger: Any) -> dict[str, list[Any]]:
    """Extraction per cube / slit image -> {band: [futures of spectrum paths]}."""
    config, layout = run.config, run.layout
    obs = config.observation
    sources: list[Path] = []
    if config.extract.stage == "stage2":
        for exp in plan.science.exposures:
            sources += [Path(p) for p in resolve(stage2[exp.path]) if is_extraction_source(p, config.mode)]
        if not _stage(config, "stage2") and not sources:
            sources = layout.extraction_sources(obs, "stage2", config.mode)
    else:
        for fut in stage3.values():
            sources += [Path(p) for p in resolve(fut) if is_extraction_source(p, config.mode)]
        if not stage3:
            sources = layout.extraction_sources(obs, "stage3", config.mode)
    by_band: dict[str, list[Any]] = defaultdict(list)
    if not _stage(config, "extract"):
        for p in layout.spectra(obs):
            by_band[planning.product_band(p)].append([str(p)])
        return dict(by_band)
    options = config.extract.library_options()
    if config.nod_subtraction and options.get("nod_subtracted") is None:
        # the flow subtracted the nods itself; calwebb_spec2 overwrites Stage 1's S_BKDSUB, so the headers can't say
        options["nod_subtracted"] = True
    progress = artifacts.Progress("extraction", len(sources))
    for src in sorted(set(sources)):
        band = planning.product_band(src)
        fut = run.submit(extract_task, "extract", product_name(src), source=str(src),
                         output=str(layout.spectrum_path(obs, src, config.extract.method)), options=options)
        fut.add_done_callback(lambda _f: progress.step())
        by_band[band].append(fut)
    logger.info("extracting %d products in %d bands", len(sources), len(by_band))
    return dict(by_band)


def _timeseries(run: Run, stage3: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Time-series products of every Tso3 ``x1dints`` -> ({"timeseries <product>": record}, failure reason or None).

    Written with ``combine`` among the stages (into ``combined/``).  A time
    series whose Stage 3 wrote no ``x1dints`` (or, entering after Stage 3,
    has none in ``stage3/``) is a failed run.
    """
    config, layout = run.config, run.layout
    obs = config.observation
    if stage3:
        sources = sorted({Path(p) for fut in stage3.values() for p in resolve(fut) if is_x1dints(p)})
    else:
        sources = layout.x1dints_products(obs)
    wanted = _stage(config, "combine") or _stage(config, "extract")
    if not sources and (wanted or stage3):
        ran = f" ({len(stage3)} calwebb_tso3 run(s) wrote none)" if stage3 else ""
        return {}, f"time series: no per-integration spectra (*_x1dints.fits) in {layout.stage_dir(obs, 'stage3')}{ran}"
    if not _stage(config, "combine"):
        return {}, None
    options = config.timeseries.library_options()
    futures = {}
    for src in sources:
        outputs = {kind: str(p) for kind, p in layout.timeseries_paths(obs, src).items()}
        futures[f"timeseries {product_name(src)}"] = run.submit(timeseries_task, "combine", product_name(src),
                                                                x1dints=str(src), outputs=outputs, options=options)
    return {key: fut.result() for key, fut in futures.items()}, None


def _combine_options(config: PipelineConfig) -> dict[str, Any]:
    """The ``[combine]`` options the combine and stitch tasks hand the library; spectral leak and 1-D defringing are MIRI MRS only."""
    options = config.combine.library_options()
    options["spectral_leak"] = config.combine.spectral_leak and config.is_mrs
    options["defringe"] = config.defringe_on
    return options


def _combine(run: Run, spectra: dict[str, list[Any]], crds_context: str) -> dict[str, Any]:
    """Combine per band, then stitch -> {band or 'stitched': product record}."""
    config, layout = run.config, run.layout
    obs = config.observation
    if not _stage(config, "combine"):
        return {}
    out: dict[str, Any] = {}
    futures = {}
    options = _combine_options(config)
    groups: dict[str, list[Path]] = defaultdict(list)
    for band, paths in _collect_spectra(spectra, slits=config.mode != "ifu").items():
        for sub, members in group_by_band([Path(p) for p in paths], band).items():  # two-channel MRS cubes: per sub-band
            groups[sub] += members
    by_slit = {band: group_by_slit(paths) if config.mode != "ifu" else {"": [Path(p) for p in paths]}
               for band, paths in groups.items()}
    products = combinations(by_slit)  # several slits (MOS): one combination per slit, i.e. per source
    for key, comb in products.items():
        futures[key] = run.submit(combine_task, "combine", key, spectra=[str(p) for p in comb.spectra],
                                  output=str(layout.combined_path(obs, key)), options=options)
    for band, fut in futures.items():
        out[band] = fut.result()
    if config.combine.stitch and out:
        for stitched, keys in stitch_groups({k: c for k, c in products.items() if k in out}).items():
            slit = stitched.removeprefix("stitched").lstrip("_")  # each source on its own, never across sources
            out[stitched] = run.submit(stitch_task, "combine", f"all bands {slit}".strip(),
                                       spectra=[out[b]["fits"] for b in keys], output=str(layout.stitched_path(obs, slit)),
                                       options=options, crds_context=crds_context).result()
    return out


def run_pipeline(config: PipelineConfig) -> RunResult:
    """Run the flow with the task runner of ``config.runtime`` (the CLI's entry)."""
    from flows.runtime import make_task_runner, set_log_levels

    env = crds_environment(config)
    apply_environment(env)
    set_log_levels(config.runtime.log_level, config.runtime.verbose)  # tasks run in this process with the thread runner
    runner = make_task_runner(config.runtime, {**env, **_prefect_env()})
    return jwstspec_pipeline.with_options(task_runner=runner)(config)


def _prefect_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}
