"""What a run shows: console and run-log filtering, run-only API forwarding, stage progress lines.

The per-exposure log files keep every pipeline record (``tests/test_stages.py``
reads them); here: the console and the Prefect run log drop the pipelines'
INFO detail unless verbose, keep warnings and jwstspec's own lines, and the
API handler never sees a record made outside a run (Prefect's handler warns
"attempted to send logs to the API without a flow run id" for those: the
test shows that it does, so the check can fail).
"""

from __future__ import annotations

import io
import logging
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from flows.runtime import ConsoleDetail, configure_run_logging, is_detail


def _record(name: str, level: int, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, "message of %s", (name,), None)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize(("name", "level", "detail"), [
    ("stpipe.step", logging.INFO, True),
    ("jwst.pipeline.calwebb_detector1", logging.INFO, True),
    ("CRDS", logging.INFO, True),
    ("stcal.ramp_fitting.ols_fit", logging.DEBUG, True),
    ("jwst.reset.reset_step", logging.WARNING, False),
    ("stpipe.step", logging.ERROR, False),
    ("jwstspec", logging.INFO, False),
    ("jwstspec.stages.pipelines", logging.INFO, False),
    ("prefect.task_runs", logging.INFO, False),
])
def test_detail_is_the_pipelines_info(name: str, level: int, detail: bool) -> None:
    record = _record(name, level)
    assert is_detail(record) is detail
    assert ConsoleDetail(verbose=False).filter(record) is (not detail)
    assert ConsoleDetail(verbose=True).filter(record) is True


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """A Prefect console handler on the root logger, writing into a string; a jwst logger at INFO."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()  # Prefect's set-up replaces the root's handlers: first
    stream = io.StringIO()
    handler = PrefectConsoleHandler(stream=stream)
    root = logging.getLogger()
    root.addHandler(handler)
    levels = {n: logging.getLogger(n).level for n in ("jwst", "jwstspec")}
    for n in levels:
        logging.getLogger(n).setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)
        configure_run_logging(verbose=False)


def test_console_shows_warnings_and_jwstspec_lines_detail_only_when_verbose(console: io.StringIO) -> None:
    configure_run_logging(verbose=False)
    logging.getLogger("jwst.console_test").info("Step parameters are: save_results: False")
    logging.getLogger("jwst.console_test").warning("No RESET reference file found")
    logging.getLogger("jwstspec.console_test").info("detector1: x_uncal.fits starting")
    text = console.getvalue()
    assert "No RESET reference file found" in text and "x_uncal.fits starting" in text
    assert "save_results" not in text

    configure_run_logging(verbose=True)  # a second call changes only the verbosity
    logging.getLogger("jwst.console_test").info("Step parameters are: save_results: False")
    assert "save_results" in console.getvalue()
    assert sum(isinstance(f, ConsoleDetail) for h in logging.getLogger().handlers for f in h.filters) == \
        sum(type(h).__name__ == "PrefectConsoleHandler" for h in logging.getLogger().handlers)


def test_records_outside_a_run_do_not_reach_the_api_and_raise_no_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect.logging.handlers as handlers

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(handlers, "emit_api_log", sent.append)
    configure_run_logging(verbose=False)
    logger = logging.getLogger("jwst.console_test_api")
    logger.setLevel(logging.INFO)
    ours = [h for h in logging.getLogger("jwst").handlers if isinstance(h, handlers.APILogHandler)]
    assert len(ours) == 1, "one run-log handler on the pipeline logger"

    # Prefect's own handler on such a logger (what PREFECT_LOGGING_EXTRA_LOGGERS attaches) warns:
    plain = handlers.APILogHandler()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain.handle(_record("jwst.console_test_api", logging.WARNING))
    assert any("without a flow run id" in str(w.message) for w in caught)

    # ours: a record made outside a run is not a run record: no warning, nothing sent
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.warning("outside any run")
    assert not caught and not sent

    # a record that belongs to a run is sent; the pipelines' INFO detail is not (unless verbose)
    run_id = uuid.uuid4()
    ours[0].handle(_record("jwst.reset.reset_step", logging.WARNING, flow_run_id=run_id))
    ours[0].handle(_record("stpipe.step", logging.INFO, flow_run_id=run_id))
    ours[0].handle(_record("jwstspec", logging.INFO, flow_run_id=run_id))
    assert [(s["name"], s["flow_run_id"]) for s in sent] == [("jwst.reset.reset_step", str(run_id)), ("jwstspec", str(run_id))]
    configure_run_logging(verbose=True)
    try:
        ours[0].handle(_record("stpipe.step", logging.INFO, flow_run_id=run_id))
        assert sent[-1]["name"] == "stpipe.step"
    finally:
        configure_run_logging(verbose=False)


class _Future:
    """A future whose completion the test decides."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def add_done_callback(self, fn: Any) -> None:
        self.callbacks.append(fn)

    def finish(self) -> None:
        for fn in self.callbacks:
            fn(self)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_stage_progress_lines() -> None:
    from flows.artifacts import StageProgress

    logger = logging.getLogger("jwstspec.test_console.progress")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    lines = _Lines()
    logger.addHandler(lines)
    progress = StageProgress(logger)
    progress.cached("stage1", "detector1", "jw01_mirifushort")
    progress.cached("stage1", "detector1", "jw02_mirifushort")
    futures = [_Future() for _ in range(8)]
    for f in futures:
        progress.track("stage1", f)
    one = _Future()
    progress.track("stage3", one)
    for f in futures:
        f.finish()
    one.finish()
    assert lines.lines == [
        "detector1 jw01_mirifushort: cached",
        "detector1 jw02_mirifushort: cached",
        "stage1: 4/10 tasks finished, 2 from the cache",  # every quarter of the 8 that run
        "stage1: 6/10 tasks finished, 2 from the cache",
        "stage1: 8/10 tasks finished, 2 from the cache",
        "stage1: 10/10 tasks finished, 2 from the cache",
        "stage3: 1/1 tasks finished",
    ]


def test_verbose_flags_set_the_runtime_option() -> None:
    from jwstspec.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["run", "x.toml", "--verbose"]).verbose is True
    assert parser.parse_args(["run", "x.toml"]).verbose is None  # the configuration's value stays
    assert parser.parse_args(["demo", "--verbose"]).verbose is True
