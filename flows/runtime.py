"""Run-time plumbing: task runners, worker set-up, logging, the embedded API.

* :func:`make_task_runner` turns ``[runtime]`` into a Prefect task runner:
  a process pool (default), threads, Dask (``prefect-dask``) or serial.
* :func:`worker_initializer` runs once in every worker process: one BLAS/
  OpenMP thread per process, the run's CRDS environment, log levels.
* :func:`configure_run_logging`: what a run shows.  The per-exposure log
  files keep every record of jwst/stpipe/stcal/stdatamodels/CRDS at
  ``[runtime] log_level`` (:func:`jwstspec.stages.pipelines.exposure_log`);
  the console and the Prefect run log get jwstspec's own lines (task start,
  finish, cache hits, stage progress, summary) and every warning and error,
  but the pipelines' INFO detail (each step's parameters, each reference
  file) only with ``[runtime] verbose`` or ``log_level = "DEBUG"``.
* :func:`embedded_prefect` starts a private Prefect API on loopback for
  the duration of a command (no server to install or start; analytics
  off), unless ``PREFECT_API_URL`` already points at a server.
* :func:`warm_process_pools`: inside it, the process pool's workers outlive
  one flow run, so the flows of one command (the demo runs three) pay the
  worker start (spawn, import Prefect and jwst, CRDS set-up) once.  Workers
  are started lazily, on the first task that actually runs: a flow whose
  tasks all come from the cache starts none.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jwstspec.config import RuntimeOptions

#: loggers forwarded to the Prefect run logs (and the UI) by :func:`configure_run_logging`
EXTRA_LOGGERS = "jwst,stpipe,stcal,stdatamodels,CRDS,jwstspec"

#: of these, the pipelines': their INFO records are detail, kept in the per-exposure log files
DETAIL_LOGGERS: tuple[str, ...] = ("jwst", "stpipe", "stcal", "stdatamodels", "CRDS")

#: environment every worker gets on top of the run's CRDS variables
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def prefect_environment() -> dict[str, str]:
    """Prefect settings jwstspec relies on (set before Prefect is imported)."""
    return {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_TASKS_REFRESH_CACHE": "false",
        # the first start on a new database migrates it: Prefect's 20 s wait is too short under load
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }


def configure_environment(extra: dict[str, str] | None = None) -> None:
    """Apply :func:`prefect_environment` (without overriding the user's values) and ``extra``."""
    for key, value in prefect_environment().items():
        os.environ.setdefault(key, value)
    os.environ.update(extra or {})


def worker_initializer(env: dict[str, str], log_level: str = "INFO", verbose: bool = False) -> None:
    """Set up one worker process before it runs any task."""
    os.environ.update(WORKER_ENV)
    os.environ.update(env)
    set_log_levels(log_level, verbose)


def set_log_levels(log_level: str = "INFO", verbose: bool = False) -> None:
    """Pipeline loggers at ``log_level``, their records sent to the run log; CRDS console off."""
    for name in EXTRA_LOGGERS.split(","):
        logging.getLogger(name).setLevel(log_level)
    configure_run_logging(verbose or log_level == "DEBUG")
    quiet_crds_console()
    # jwstspec's associations name their members by absolute path on purpose (science and background
    # rates live in different observation directories); jwst warns about that on every load
    warnings.filterwarnings("ignore", message="Input association file contains path information", category=UserWarning)


def is_detail(record: logging.LogRecord) -> bool:
    """Whether ``record`` is pipeline detail: an INFO (or DEBUG) record of jwst, stpipe, stcal, ... ."""
    if record.levelno >= logging.WARNING:
        return False
    return any(record.name == name or record.name.startswith(name + ".") for name in DETAIL_LOGGERS)


class ConsoleDetail(logging.Filter):
    """Handler filter: drops the pipelines' detail (:func:`is_detail`) unless ``verbose``."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__("jwstspec-console")
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep a record unless it is jwst/stpipe detail and the console is not verbose."""
        return self.verbose or not is_detail(record)


def configure_run_logging(verbose: bool = False) -> None:
    """Send the pipeline loggers' records to the Prefect run log; keep the detail off the console.

    Idempotent; a later call only changes ``verbose``.  Prefect's own way
    (``PREFECT_LOGGING_EXTRA_LOGGERS``) attaches its API handler to these
    loggers at import, so every record they make outside a run (a test or a
    command calling jwst directly, the demo generating its data) made Prefect
    warn "attempted to send logs to the API without a flow run id".  The
    handler attached here is asked only in the processes that run flows and
    tasks, and takes only records made inside a flow or task run.  The
    console handlers of the root logger (Prefect's) get a
    :class:`ConsoleDetail` filter.
    """
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # Prefect's console handler first (a worker may not have imported prefect yet)
    handler = _run_log_handler()
    handler.detail.verbose = verbose
    for name in EXTRA_LOGGERS.split(","):
        logger = logging.getLogger(name)
        if handler not in logger.handlers:
            logger.addHandler(handler)
    for console in logging.getLogger().handlers:
        if type(console).__name__ == "PrefectConsoleHandler":
            current = [f for f in console.filters if isinstance(f, ConsoleDetail)]
            if current:
                current[0].verbose = verbose
            else:
                console.addFilter(ConsoleDetail(verbose))


_run_handler: Any = None


def _run_log_handler() -> Any:
    """The process's one :class:`RunLogHandler` (a Prefect ``APILogHandler`` for records of a run)."""
    global _run_handler
    if _run_handler is None:
        from prefect.logging.handlers import APILogHandler

        class RunLogHandler(APILogHandler):  # type: ignore[misc,valid-type]
            """Prefect's API log handler, for records made inside a flow or task run only."""

            def __init__(self) -> None:
                super().__init__()
                self.detail = ConsoleDetail()
                self.addFilter(self.detail)

            def emit(self, record: logging.LogRecord) -> None:
                if getattr(record, "flow_run_id", None) is None and not _in_run():
                    return  # not a record of a run: it has its console and files, not a run log
                super().emit(record)

        _run_handler = RunLogHandler()
    return _run_handler


def _in_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def quiet_crds_console() -> None:
    """CRDS prints to the console through its own handler; its records reach Prefect's instead."""
    try:
        from crds.core import log as crds_log

        if crds_log.THE_LOGGER.console is not None:
            crds_log.remove_console_handler()
    except Exception:  # pragma: no cover - CRDS internals changed
        pass


def make_task_runner(runtime: RuntimeOptions, env: dict[str, str]) -> Any:
    """The Prefect task runner for ``[runtime] task_runner``."""
    from prefect.task_runners import ThreadPoolTaskRunner

    workers = runtime.workers or os.cpu_count() or 1
    if runtime.task_runner == "process":
        from prefect.task_runners import ProcessPoolTaskRunner

        runner_class = _warm_runner_class() if _warm_supported() else ProcessPoolTaskRunner
        return runner_class(max_workers=workers, initializer=worker_initializer,
                            initargs=(env, runtime.log_level, runtime.verbose))
    if runtime.task_runner == "thread":
        return ThreadPoolTaskRunner(max_workers=workers)
    if runtime.task_runner == "serial":
        return ThreadPoolTaskRunner(max_workers=1)
    if runtime.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if runtime.dask_address:
            return DaskTaskRunner(address=runtime.dask_address)
        return DaskTaskRunner(
            cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True},
        )
    raise ValueError(f"unknown task runner {runtime.task_runner!r}")


_launched: Any = None  # the server started by launch_embedded_api(), adopted by embedded_prefect()
_shared: Any = None  # the server of a shared_embedded_api() block: every embedded_prefect() in it uses it


def launch_embedded_api(db_dir: Path | None = None) -> None:
    """Start the embedded API's process now, without waiting for it (see :mod:`flows.server`).

    A command calls this as early as it knows its data directory, so the
    server imports and starts while the command plans its run; the next
    :func:`embedded_prefect` adopts it.  Nothing happens when
    ``PREFECT_API_URL`` points at a server already.
    """
    global _launched
    if os.environ.get("PREFECT_API_URL") or _launched is not None or _shared is not None:
        return
    configure_environment()
    from flows.server import EmbeddedServer

    _launched = EmbeddedServer(db_dir).launch()
    atexit.register(_launched.stop)  # a command that fails before its flow runs stops it too


@contextlib.contextmanager
def embedded_prefect(db_dir: Path | None = None) -> Iterator[str | None]:
    """A private Prefect API on 127.0.0.1 for this process and its workers.

    Parameters
    ----------
    db_dir : Path, optional
        Directory of the API database kept between commands (the data
        directory's ``.jwstspec/prefect``); ``None`` gives Prefect's default
        database.  A server already launched by :func:`launch_embedded_api`
        is used as it is.

    Yields the API URL (``None`` when ``PREFECT_API_URL`` is already set,
    i.e. the user runs against their own server or Prefect Cloud).
    """
    global _launched
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    configure_environment()
    from flows.server import EmbeddedServer

    shared = _shared is not None
    server, _launched = (_shared or _launched or EmbeddedServer(db_dir)), None
    try:
        # Prefect's default wait (20 s) is too short on a loaded 2-core machine
        url = server.wait_ready(timeout=float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 120))
    except BaseException:
        server.stop()
        raise
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    os.environ["PREFECT_API_URL"] = url  # inherited by worker processes
    _refresh_prefect_settings()  # threads outside the settings context below see it too
    try:
        # No flow-run heartbeats: they let a long-lived server mark crashed runs, but this API lives
        # and dies with the command, and stopping the heartbeat thread cost each flow run up to 1 s.
        # Workers forward their logs to this API: they must not outlive it.
        settings = {PREFECT_API_URL: url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
        with temporary_settings(settings), warm_process_pools():  # this process
            yield url
    finally:
        if not shared:  # a shared API keeps its log worker (a warm pool's forwarding thread holds it)
            _drain_log_workers()
        os.environ.pop("PREFECT_API_URL", None)
        _refresh_prefect_settings()
        if not shared:
            with contextlib.suppress(Exception):
                server.stop()


@contextlib.contextmanager
def shared_embedded_api(db_dir: Path | None = None) -> Iterator[None]:
    """One embedded API for every :func:`embedded_prefect` inside this block.

    A process that runs many flows one after another (a test session, a
    notebook) starts the API server once, on the first
    :func:`embedded_prefect`, instead of once per block (~10 CPU-s each);
    it is stopped when this block ends.  The flow runs share its database:
    read results by flow-run id, not by counting.

    Parameters
    ----------
    db_dir : Path, optional
        As for :func:`embedded_prefect`.
    """
    global _shared
    configure_environment()
    from flows.server import EmbeddedServer

    outer, _shared = _shared, EmbeddedServer(db_dir)
    try:
        yield
    finally:
        server, _shared = _shared, outer
        _drain_log_workers()
        with contextlib.suppress(Exception):
            server.stop()


def _refresh_prefect_settings() -> None:
    """Make Prefect's process-wide settings follow ``os.environ`` (its API URL).

    Prefect reads its settings once, at import; a thread that runs outside
    :func:`embedded_prefect`'s settings context (Prefect's own helper
    threads) would otherwise find no API URL and start a server of its own.
    """
    with contextlib.suppress(Exception):  # a Prefect without it: the settings context alone
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def _drain_log_workers() -> None:
    """Ship the last log records and retire the log workers bound to this API.

    Prefect's log worker keeps its HTTP client for the life of the process; a
    later embedded API (a new port) must get a fresh worker, or its records
    would go to the stopped one.
    """
    with contextlib.suppress(Exception):
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)


# ---------------------------------------------------------------------------- warm process pool
_warm_lock = threading.Lock()
_warm_depth = 0  # > 0 inside warm_process_pools() (in the process that runs the flows)
_warm_pool: tuple[Any, Any] | None = None  # (key, started ProcessPoolTaskRunner that owns the workers)


@contextlib.contextmanager
def warm_process_pools() -> Iterator[None]:
    """Keep process-pool workers alive across the flow runs made inside this block.

    The pool's processes are shut down when the outermost block ends.
    Outside such a block :class:`WarmProcessPoolTaskRunner` behaves exactly
    like Prefect's ``ProcessPoolTaskRunner`` (a pool per flow run).
    """
    global _warm_depth
    with _warm_lock:
        _warm_depth += 1
    try:
        yield
    finally:
        with _warm_lock:
            _warm_depth -= 1
            last = _warm_depth == 0
        if last:
            close_warm_pool()


def close_warm_pool() -> None:
    """Shut down the shared workers (waits for running tasks)."""
    global _warm_pool
    with _warm_lock:
        pool, _warm_pool = _warm_pool, None
    if pool is not None:
        pool[1].__exit__(None, None, None)


def _shared_pool(key: Any, make: Any) -> Any:
    """The started owner runner for ``key``, replacing a pool of another key or a broken one."""
    global _warm_pool
    stale = None
    with _warm_lock:
        if _warm_pool is not None:
            old_key, owner = _warm_pool
            broken = owner._executor is None or getattr(owner._executor, "_broken", False)
            if old_key == key and not broken:
                return owner
            stale, _warm_pool = owner, None
    if stale is not None:
        stale.__exit__(None, None, None)
    owner = make()
    owner.__enter__()
    with _warm_lock:
        _warm_pool = (key, owner)
    return owner


def _warm_scope() -> bool:
    return _warm_depth > 0


def _worker_ready() -> int:
    """A no-op job: makes the executor start a worker (which runs the initializer)."""
    return os.getpid()


def _start_all_workers(executor: Any, max_workers: int) -> None:
    """Start every worker of ``executor`` now, on the flow's first task that runs.

    ``ProcessPoolExecutor`` (spawn) starts a worker only when a job finds
    none idle, and Prefect hands it a job only once the job's upstream
    tasks are done.  So the second worker of a fan-out was started only
    when the fan-out began, and its start (interpreter, Prefect, jwst:
    ~10 s) delayed half of the fan-out.  Started here, the workers get
    ready while the first task (download/ingest, Detector1 of the first
    exposure) runs.  A flow whose tasks all come from the cache submits
    nothing and starts no worker.
    """
    processes = getattr(executor, "_processes", None)
    if processes is None or getattr(executor, "_broken", False):
        return
    for _ in range(max_workers - len(processes)):
        executor.submit(_worker_ready)


_warm_class: Any = None
# the private attributes of Prefect's ProcessPoolTaskRunner (3.4-3.9) that the warm runner relies on
_RUNNER_INTERNALS = ("_executor", "_resolver_executor", "_max_workers", "_initializer", "_initargs",
                     "_cancel_events", "_cached_env", "_cached_env_settings")


def _warm_supported() -> bool:
    """Whether the installed Prefect's process-pool runner has the internals the warm runner shares.

    A Prefect release that changes them gets its own ``ProcessPoolTaskRunner``
    (a pool per flow run: slower start, same results) instead of a broken one.
    """
    from prefect.task_runners import ProcessPoolTaskRunner

    probe = ProcessPoolTaskRunner(max_workers=1)
    return all(hasattr(probe, name) for name in _RUNNER_INTERNALS) and hasattr(ProcessPoolTaskRunner, "cancel_all")


def __getattr__(name: str) -> Any:
    # The runner class subclasses Prefect's: it is built on first use, so that
    # importing this module does not import Prefect before configure_environment().
    if name == "WarmProcessPoolTaskRunner":
        return _warm_runner_class()
    raise AttributeError(name)


def _warm_runner_class() -> Any:
    global _warm_class
    if _warm_class is not None:
        return _warm_class
    from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

    class WarmProcessPoolTaskRunner(ProcessPoolTaskRunner):  # type: ignore[misc,valid-type]
        """Prefect's process-pool runner whose workers are shared by the flow runs of one command.

        Inside :func:`warm_process_pools` the worker processes (and the thread
        that forwards their logs and events to the API) belong to the block,
        not to the flow run: the next flow run with the same pool settings
        (workers, initializer and its arguments) reuses them, already past
        spawn and imports.  A flow run that ends with tasks still pending (it
        failed) shuts the shared pool down as Prefect's runner would, so
        nothing of it runs on.  Outside the block (the runner Prefect
        re-creates inside each worker, a user's own API) nothing changes.
        """

        def __enter__(self) -> Any:
            if not _warm_scope():
                return super().__enter__()
            from concurrent.futures import ThreadPoolExecutor

            TaskRunner.__enter__(self)
            key = (self._max_workers, self._initializer, repr(self._initargs))
            self._owner = _shared_pool(key, lambda: ProcessPoolTaskRunner(
                max_workers=self._max_workers, initializer=self._initializer, initargs=self._initargs))
            self._executor = self._owner._executor
            self._resolver_executor = ThreadPoolExecutor(max_workers=self._max_workers)
            self._submitted: list[Any] = []
            return self

        def submit(self, task: Any, parameters: dict[str, Any], wait_for: Any = None, dependencies: Any = None) -> Any:
            future = super().submit(task, parameters, wait_for=wait_for, dependencies=dependencies)
            if getattr(self, "_owner", None) is not None:
                self._submitted.append(future)
            _start_all_workers(self._executor, self._max_workers)
            return future

        def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
            owner = getattr(self, "_owner", None)
            if owner is None:
                return super().__exit__(exc_type, exc_value, traceback)
            pending = [f for f in self._submitted if not f.wrapped_future.done()]
            self._owner = None
            self._executor = None
            self._cached_env = None
            self._cached_env_settings = None
            self._cancel_events.clear()
            if pending:  # a failed flow run: cancel what is queued, wait for what runs (Prefect's behaviour)
                global _warm_pool
                with _warm_lock:
                    if _warm_pool is not None and _warm_pool[1] is owner:
                        _warm_pool = None
                owner.__exit__(exc_type, exc_value, traceback)
            if self._resolver_executor is not None:
                self._resolver_executor.shutdown(cancel_futures=True, wait=True)
                self._resolver_executor = None
            self._submitted = []
            TaskRunner.__exit__(self, exc_type, exc_value, traceback)

    WarmProcessPoolTaskRunner.__module__ = __name__  # pickled by reference (module __getattr__)
    WarmProcessPoolTaskRunner.__qualname__ = "WarmProcessPoolTaskRunner"
    _warm_class = WarmProcessPoolTaskRunner
    return _warm_class
