"""Thin, typed functions around the ``jwst`` pipelines.

One exposure (or association) in, product paths out.  Each function

* applies the step overrides of the configuration (``steps`` is the
  ``{step: {parameter: value}}`` mapping of ``[stageN.steps.<step>]``),
* runs the real pipeline with ``Pipeline.call`` (so CRDS decides the
  references: the same code runs on real data and on the synthetic demo,
  which only points ``CRDS_PATH`` at a local cache),
* writes into a temporary directory beside the final one and moves each
  product into place with an atomic rename, so an interrupted run never
  leaves a half-written file under a product name,
* writes the pipeline log of that exposure beside its products.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jwstspec.errors import InputFileError, StageError
from jwstspec.fileio import TMP_PREFIX, writer_lock
from jwstspec.locking import shared_setup

log = logging.getLogger(__name__)

#: loggers whose records go to the per-exposure log file
PIPELINE_LOGGERS: tuple[str, ...] = ("stpipe", "jwst", "stcal", "stdatamodels", "CRDS", "jwstspec")


@contextlib.contextmanager
def exposure_log(log_file: Path | None, level: int = logging.INFO) -> Iterator[None]:
    """Copy the pipeline's log records into ``log_file`` while the block runs."""
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="a")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger(name) for name in PIPELINE_LOGGERS]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.level == logging.NOTSET or lg.level > level:
            lg.setLevel(level)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        handler.close()


def _freeze() -> None:
    gc.collect()  # earlier garbage is not kept alive by the freeze
    gc.freeze()


_frozen = shared_setup(_freeze, gc.unfreeze)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave the objects alive when the block starts out of the garbage collector's passes until it ends.

    stpipe runs a full ``gc.collect()`` at the start of every step (skipped
    ones too), and a full pass walks every object of the process: ~0.2 CPU-s
    with jwst and Prefect imported, more in a test process, i.e. about half
    the CPU of a small-subarray ``calwebb_detector1``.  Frozen objects (the
    imported modules, everything built before the pipeline) are skipped by
    those passes; what the pipeline makes is still collected.  One full
    pass runs first, so earlier garbage is not kept alive, and the objects
    are unfrozen when the outermost block ends (nested and concurrent
    blocks share one freeze: :func:`jwstspec.locking.shared_setup`).
    """
    with _frozen():
        yield


@contextlib.contextmanager
def staging_dir(output_dir: Path) -> Iterator[Path]:
    """A temporary directory inside ``output_dir``; removed afterwards.

    While it exists the writer lock of ``output_dir`` is held, so another
    run's clean-up of stale temporaries leaves it alone.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    with writer_lock(output_dir):
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=output_dir))
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def publish(staged: Path, output_dir: Path) -> list[Path]:
    """Move every file of ``staged`` into ``output_dir`` (atomic renames)."""
    out = []
    for path in sorted(staged.iterdir()):
        if path.is_file():
            final = output_dir / path.name
            os.replace(path, final)
            out.append(final)
    return out


def merge_steps(*layers: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Merge step-parameter mappings; later layers win per parameter."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for step, params in (layer or {}).items():
            merged.setdefault(step, {}).update(copy.deepcopy(dict(params)))
    return merged


def _run(pipeline_cls: Any, input_path: Path, output_dir: Path, steps: Mapping[str, Mapping[str, Any]] | None,
         log_file: Path | None, label: str, **pipeline_kwargs: Any) -> list[Path]:
    if not Path(input_path).is_file():
        raise InputFileError(input_path, "input of the pipeline not found")
    t0 = time.perf_counter()
    with exposure_log(log_file), staging_dir(Path(output_dir)) as staged, frozen_heap():
        logging.getLogger("jwstspec").info("%s: %s starting", label, Path(input_path).name)
        try:
            pipeline_cls.call(
                str(input_path),
                output_dir=str(staged),
                save_results=True,
                steps=merge_steps(steps),
                configure_log=False,  # no stpipe stderr handler: records go to our handlers once
                **pipeline_kwargs,
            )
        except SystemExit as exc:  # CRDS signals fatal set-up errors with SystemExit
            raise StageError(f"{label} of {Path(input_path).name}: CRDS set-up failed (exit {exc.code}); see {log_file}") from None
        except (InputFileError, StageError):
            raise
        except Exception as exc:
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            reason = lines[-1] if lines else type(exc).__name__  # the innermost error, not the traceback text
            if ":" not in reason:
                reason = f"{type(exc).__name__}: {reason}"
            raise StageError(f"{label} of {Path(input_path).name} failed: {reason} (log: {log_file})") from exc
        products = publish(staged, Path(output_dir))
        logging.getLogger("jwstspec").info(
            "%s: %s done in %.1f s (%d products)", label, Path(input_path).name, time.perf_counter() - t0, len(products)
        )
    if not products:
        raise StageError(f"{label} of {Path(input_path).name} produced no product (see {log_file})")
    return products


def run_detector1(uncal: Path, output_dir: Path, *, steps: Mapping[str, Mapping[str, Any]] | None = None,
                  log_file: Path | None = None) -> Path:
    """Run ``calwebb_detector1`` on one uncal file.

    Returns
    -------
    Path
        The ``_rate`` file (``_rateints`` when the pipeline wrote only that).
    """
    from jwst.pipeline import Detector1Pipeline

    products = _run(Detector1Pipeline, uncal, output_dir, steps, log_file, "detector1")
    for suffix in ("_rate.fits", "_rateints.fits"):
        for p in products:
            if p.name.endswith(suffix):
                return p
    raise StageError(f"detector1 of {Path(uncal).name} wrote no rate file (wrote {[p.name for p in products]})")


def run_detector1_tso(uncal: Path, output_dir: Path, *, steps: Mapping[str, Mapping[str, Any]] | None = None,
                      log_file: Path | None = None) -> Path:
    """``calwebb_detector1`` for time series: returns the ``_rateints`` file."""
    from jwst.pipeline import Detector1Pipeline

    products = _run(Detector1Pipeline, uncal, output_dir, steps, log_file, "detector1")
    for p in products:
        if p.name.endswith("_rateints.fits"):
            return p
    raise StageError(f"detector1 of {Path(uncal).name} wrote no rateints file")


def spec2_steps(mode: str, cube_align: str = "sky", instrument: str = "nirspec", *,
                residual_fringe: bool = True) -> dict[str, dict[str, Any]]:
    """Stage-2 step settings implied by the configuration (the user's overrides come on top).

    MIRI MRS: one cube per exposure holding both channels of the detector
    (``output_type = "multi"``); with the per-band default ``calwebb_spec2``
    keeps only the first channel's cube.  ``extract_1d`` is skipped on that
    cube (its numerical WCS inverse fails on a two-channel cube in jwst 3.0;
    jwstspec extracts every Stage 2 cube itself, and Stage 3 still writes the
    pipeline's x1d per band).  The 2-D ``residual_fringe`` step, which jwst
    skips by default, runs unless ``residual_fringe`` is False
    (:attr:`jwstspec.config.PipelineConfig.residual_fringe_on`).
    """
    steps: dict[str, dict[str, Any]] = {}
    if mode == "ifu" and cube_align != "sky":
        steps.setdefault("cube_build", {})["coord_system"] = {"ifu": "ifualign", "internal": "internal_cal"}[cube_align]
    if mode == "ifu" and instrument == "miri":
        steps.setdefault("cube_build", {})["output_type"] = "multi"
        steps.setdefault("extract_1d", {})["skip"] = True
        steps.setdefault("residual_fringe", {})["skip"] = not residual_fringe
    return steps


def run_spec2(input_path: Path, output_dir: Path, *, steps: Mapping[str, Mapping[str, Any]] | None = None,
              log_file: Path | None = None) -> list[Path]:
    """Run ``calwebb_spec2`` on a rate file or a level-2 association.

    An association with background members gets the post-hook that adds
    the subtracted backgrounds' variance to ``ERR`` and ``VAR_*``
    (:mod:`jwstspec.stages.background_hook`; jwst leaves them); ``steps``
    come on top.

    Returns
    -------
    list of Path
        Every product written (``_cal``, ``_s3d``/``_s2d``, ``_x1d`` ...).
    """
    from jwst.pipeline import Spec2Pipeline

    from jwstspec.stages.background_hook import spec2_background_steps

    root = spec2_product_root(input_path)
    steps = merge_steps(spec2_background_steps(input_path), steps)
    return _run(Spec2Pipeline, input_path, output_dir, steps, log_file, "spec2", **({"output_file": root} if root else {}))


def spec2_product_root(input_path: str | Path) -> str | None:
    """The product name ``calwebb_spec2`` must give the products of a rate-like input (None for an association).

    jwst strips only its own suffixes from an input's name, so our Stage 1
    products (``_ratecorr``, ``_rateintscorr``, ``_rate_bkgsub``) would give
    ``<exposure>_ratecorr_cal.fits``; passed as ``output_file`` the
    exposure root gives jwst's own names (``<exposure>_cal.fits``,
    ``_s2d``, ``_s3d``, ``_x1d``).  Associations name their product.
    """
    from jwstspec.layout import product_name

    if str(input_path).endswith(".json"):
        return None
    return product_name(input_path)


def run_spec3(asn: Path, output_dir: Path, *, steps: Mapping[str, Mapping[str, Any]] | None = None,
              log_file: Path | None = None) -> list[Path]:
    """Run ``calwebb_spec3`` on a level-3 association; returns every product."""
    from jwst.pipeline import Spec3Pipeline

    return _run(Spec3Pipeline, asn, output_dir, steps, log_file, "spec3")


def run_tso3(asn: Path, output_dir: Path, *, steps: Mapping[str, Mapping[str, Any]] | None = None,
             log_file: Path | None = None, prefetch_references: bool = True) -> list[Path]:
    """Run ``calwebb_tso3`` on a level-3 association; returns every product.

    ``prefetch_references=False`` skips the pipeline-level reference prefetch
    (needed offline: ``Tso3Pipeline`` declares gain/readnoise that no
    override reaches, see ``offline-jwst.md`` §1.5).
    """
    from jwst.pipeline import Tso3Pipeline

    class _Tso3(Tso3Pipeline):  # instance attribute must be set before run()
        pass

    _Tso3.prefetch_references = prefetch_references
    _Tso3.__name__ = "Tso3Pipeline"
    return _run(_Tso3, asn, output_dir, steps, log_file, "tso3")
