"""What a run shows in the Prefect UI: summary, exposure table, plots, progress.

Artifacts are created with Prefect's artifact API; the same summary is
written as ``summary.md`` beside the outputs, and ``manifest.json`` records
provenance (:mod:`jwstspec.manifest`).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from flows.cache import file_paths
from jwstspec.crds import ContextChoice, context_in_force
from jwstspec.fileio import atomic_write_text
from jwstspec.manifest import write_manifest

if TYPE_CHECKING:  # pragma: no cover
    from flows.submit import Run
    from jwstspec.plan import RunPlan


#: the artifacts of a run (key suffixes)
ARTIFACTS: tuple[str, ...] = ("summary", "exposures", "plots")


def _key(run: Run, suffix: str) -> str:
    """Artifact keys: lower-case letters, digits and dashes only."""
    return f"jwstspec-{run.config.program}-o{run.config.observation}-{suffix}"


def task_states(run: Run) -> list[dict[str, Any]]:
    """Final state of every submitted task: ran, cached or failed."""
    out = []
    for stage, label, future in run.records:
        try:
            future.wait()
            name = future.state.name
        except Exception as exc:  # pragma: no cover - defensive
            name = f"unknown ({type(exc).__name__})"
        state = {"Completed": "ran", "Cached": "cached"}.get(name, name.lower())
        out.append({"stage": stage, "task": label, "state": state})
    return out


class Progress:
    """A Prefect progress artifact for a long fan-out (no-op outside a flow)."""

    def __init__(self, what: str, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.id = None
        try:
            self.id = create_progress_artifact(progress=0.0, description=f"{what}: {total} tasks")
        except Exception:
            self.id = None

    def step(self) -> None:
        """Count one finished task and update the progress artifact."""
        self.done += 1
        if self.id is not None:
            try:
                update_progress_artifact(self.id, progress=100.0 * self.done / self.total)
            except Exception:
                pass


class StageProgress:
    """The lines a person follows in a flow run's log: cache hits and each stage's progress.

    A task served from the cache by the flow (no task run) gets one line with
    its name and label (the exposure); a task that runs already gets Prefect's
    "Finished in state ..." line.  Each stage's progress (finished/submitted)
    is logged when a quarter of its tasks more have finished, and when the
    last one has.
    """

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter | None = None) -> None:
        self.logger = logger or _flow_logger()
        self.total: Counter[str] = Counter()
        self.done: Counter[str] = Counter()
        self.cache_hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def cached(self, stage: str, task: str, label: str) -> None:
        """A task of ``stage`` served from the cache by the flow."""
        self.logger.info("%s %s: cached", task, label)
        with self._lock:
            self.total[stage] += 1
            self.done[stage] += 1
            self.cache_hits[stage] += 1

    def track(self, stage: str, future: Any) -> None:
        """Count a submitted task of ``stage``; log the stage's progress as it finishes."""
        with self._lock:
            self.total[stage] += 1
        future.add_done_callback(lambda _future: self.finished(stage))

    def finished(self, stage: str) -> None:
        """One more task of ``stage`` finished (completed, cached by Prefect, or failed)."""
        with self._lock:
            self.done[stage] += 1
            done, total, hits = self.done[stage], self.total[stage], self.cache_hits[stage]
        ran = total - hits  # the tasks that got a task run
        step = max(1, ran // 4)
        if done == total or (done - hits) % step == 0:
            cached = f", {hits} from the cache" if hits else ""
            self.logger.info("%s: %d/%d tasks finished%s", stage, done, total, cached)


def _flow_logger() -> logging.Logger | logging.LoggerAdapter:
    """The flow run's logger (its records carry the run id, from any thread); ``jwstspec.flow`` outside a run."""
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:
        return logging.getLogger("jwstspec.flow")


def _png_markdown(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"### {title}\n\n![{title}](data:image/png;base64,{data})\n"


def artifact_keys(run: Run) -> list[str]:
    """Keys of the run's artifacts: summary, exposure table, plots."""
    return [_key(run, k) for k in ARTIFACTS]


def failed_slit_lines(failed: list[dict[str, str]]) -> list[str]:
    """The summary's "Failed slits" section (nothing when every slit was extracted)."""
    if not failed:
        return []
    lines = ["", f"## Failed slits ({len(failed)} not extracted)", ""]
    for f in failed:
        where = f"`{f['product']}` " if f.get("product") else ""
        what = "every slit" if f.get("slit") == "*" else f"slit {f.get('slit')}"
        lines.append(f"* {where}{what}: {' '.join(str(f.get('reason', '')).split())}")
    return lines


def summary(run: Run, plan: RunPlan, products: dict[str, Any], notes: list[str],
            crds_context: ContextChoice | None = None, failure: str | None = None,
            failed_slits: list[dict[str, str]] | None = None) -> Path:
    """Create the summary, exposure-table and plot artifacts; write summary.md and return its path.

    ``crds_context`` is the run's resolved context (default: what this
    process's CRDS would use now); ``failure`` the one-line reason of a run
    that made no final product; ``failed_slits`` the slits that could not be
    extracted (``{"product", "slit", "reason"}``, :func:`flows.pipeline.failed_slits`).
    """
    config, layout = run.config, run.layout
    states = task_states(run)
    per_stage: dict[str, Counter[str]] = defaultdict(Counter)
    for s in states:
        per_stage[s["stage"]][s["state"]] += 1
    wall = time.perf_counter() - run.t0
    run.progress.logger.info("tasks: %s; wall time %.0f s", "; ".join(
        f"{stage} {c.get('ran', 0)} ran, {c.get('cached', 0)} cached, {c.get('failed', 0)} failed"
        for stage, c in per_stage.items()) or "none", wall)
    lines = [
        f"# jwstspec run: program {config.program}, observation {config.observation}",
        "",
        f"* config digest: `{config.digest()}` ({config.instrument} {config.mode}{' TSO' if config.tso else ''})",
        *([f"* **FAILED**: {failure}"] if failure else []),
        f"* CRDS context: {_context_line(crds_context)}",
        f"* exposures: {len(plan.science.exposures)} science in {len(plan.groups)} group(s) "
        f"({', '.join(plan.groups) or 'none'}); {sum(len(v) for v in plan.background.values())} background; "
        f"{len(plan.skipped)} skipped",
        f"* wall time: {wall:.1f} s",
        "",
        "| stage | ran | cached | failed |",
        "|---|---|---|---|",
    ]
    for stage, counts in per_stage.items():
        lines.append(f"| {stage} | {counts.get('ran', 0)} | {counts.get('cached', 0)} | {counts.get('failed', 0)} |")
    if notes:
        lines += ["", "## Notes", ""] + [f"* {n}" for n in notes]
    lines += failed_slit_lines(failed_slits or [])
    if plan.skipped:
        lines += ["", "## Skipped exposures", ""] + [f"* {Path(p).name}: {why}" for p, why in plan.skipped]
    final = {k: v for k, v in products.items()}
    if final:
        lines += ["", "## Final products", ""]
        for band, record in final.items():
            lines.append(f"* {band}: `{record.get('fits') if isinstance(record, dict) else record}`")
            if isinstance(record, dict) and record.get("kind") == "timeseries":
                lines += _timeseries_lines(record)
    text = "\n".join(lines) + "\n"
    out_dir = layout.stage_dir(config.observation, "combined")
    atomic_write_text(out_dir / "summary.md", text)
    try:
        create_markdown_artifact(markdown=text, key=_key(run, "summary"), description="jwstspec run summary")
        table = []
        by_label: dict[str, dict[str, str]] = defaultdict(dict)
        for s in states:
            by_label[s["task"]][s["stage"]] = s["state"]
        for exp in plan.all_exposures:
            row = {"exposure": exp.name, "observation": exp.observation, "group": exp.group_key}
            row.update(by_label.get(exp.name, {}))
            table.append(row)
        if table:
            create_table_artifact(table=table, key=_key(run, "exposures"), description="exposures and their state per stage")
        plots = [Path(p) for rec in final.values() for p in file_paths(rec) if str(p).endswith(".png")]
        if plots:
            md = "\n".join(_png_markdown(p, p.stem) for p in plots if p.is_file())
            create_markdown_artifact(markdown=md, key=_key(run, "plots"), description="combined spectra and light curves")
    except Exception as exc:  # artifacts are a view, never a reason to fail a run
        import logging

        logging.getLogger("jwstspec").warning("could not create artifacts: %s", exc)
    return out_dir / "summary.md"


def _timeseries_lines(record: dict[str, Any]) -> list[str]:
    """Sub-items of a time-series product in the summary: its white-light depth and every file."""
    from jwstspec.timeseries import TimeSeriesProduct

    depth = f"  * white-light depth {1e2 * record['depth']:.4f} ± {1e2 * record['depth_error']:.4f} % " \
            f"({record['nints']} integrations, {record['nbaseline']} in the baseline, time {record['time_column']})"
    return [depth] + [f"  * {kind}: `{record[kind]}`" for kind in TimeSeriesProduct.FILES if record.get(kind)]


def _context_line(choice: ContextChoice | None) -> str:
    if choice is None:
        return f"`{context_in_force()}`"
    return f"`{choice.name or 'none'}` ({choice.source}{': ' + choice.detail if choice.detail else ''})"


def manifest(run: Run, plan: RunPlan, products: dict[str, Any], crds_context: ContextChoice | None = None) -> Path:
    """Write manifest.json beside the outputs (``crds_context``: the run's resolved context)."""
    config, layout = run.config, run.layout
    outputs: list[str] = []
    for _stage, _label, future in run.records:
        try:
            outputs += [str(p) for p in file_paths(future.result(raise_on_failure=False))]
        except Exception:
            continue
    return write_manifest(
        layout.run_file(config.observation, "manifest.json"),
        config,
        inputs=[e.path for e in plan.all_exposures],
        outputs=outputs,
        tasks=task_states(run),
        crds_context=crds_context.name if crds_context else context_in_force(),
        crds_context_source=f"{crds_context.source}: {crds_context.detail}" if crds_context else "",
    )
