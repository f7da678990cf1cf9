"""Run-time plumbing: task runners, worker set-up, logging, the embedded API.

* :func:`make_task_runner` turns ``[runtime]`` into a Prefect task runner:
  a process pool (default), threads, Dask (``prefect-dask``) or serial.
* :func:`worker_initializer` runs once in every worker process: one BLAS/
  OpenMP thread per process, the run's CRDS environment, log levels.
* :func:`embedded_prefect` starts a private Prefect API on loopback for
  the duration of a command (no server to install or start; analytics
  off), unless ``PREFECT_API_URL`` already points at a server.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from jwstspec.config import RuntimeOptions

#: loggers forwarded to the Prefect run logs (and the UI)
EXTRA_LOGGERS = "jwst,stpipe,stcal,stdatamodels,CRDS,jwstspec"

#: environment every worker gets on top of the run's CRDS variables
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def prefect_environment() -> dict[str, str]:
    """Prefect settings jwstspec relies on (set before Prefect is imported)."""
    return {
        "PREFECT_LOGGING_EXTRA_LOGGERS": EXTRA_LOGGERS,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_TASKS_REFRESH_CACHE": "false",
        # the embedded API migrates its database on every start: Prefect's 20 s wait is too short under load
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }


def configure_environment(extra: dict[str, str] | None = None) -> None:
    """Apply :func:`prefect_environment` (without overriding the user's values) and ``extra``."""
    for key, value in prefect_environment().items():
        os.environ.setdefault(key, value)
    os.environ.update(extra or {})


def worker_initializer(env: dict[str, str], log_level: str = "INFO") -> None:
    """Set up one worker process before it runs any task."""
    os.environ.update(WORKER_ENV)
    os.environ.update(env)
    set_log_levels(log_level)


def set_log_levels(log_level: str = "INFO") -> None:
    """Pipeline loggers at ``log_level`` (their records then reach Prefect), CRDS console off."""
    for name in EXTRA_LOGGERS.split(","):
        logging.getLogger(name).setLevel(log_level)
    quiet_crds_console()


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
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    workers = runtime.workers or os.cpu_count() or 1
    if runtime.task_runner == "process":
        return ProcessPoolTaskRunner(max_workers=workers, initializer=worker_initializer, initargs=(env, runtime.log_level))
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


@contextlib.contextmanager
def embedded_prefect() -> Iterator[str | None]:
    """A private Prefect API on 127.0.0.1 for this process and its workers.

    Yields the API URL (``None`` when ``PREFECT_API_URL`` is already set,
    i.e. the user runs against their own server or Prefect Cloud).
    """
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    configure_environment()
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url  # inherited by worker processes
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):  # this process
            yield server.api_url
    finally:
        _drain_log_workers()
        os.environ.pop("PREFECT_API_URL", None)
        with contextlib.suppress(Exception):
            server.stop()


def _drain_log_workers() -> None:
    """Ship the last log records and retire the log workers bound to this API.

    Prefect's log worker keeps its HTTP client for the life of the process; a
    later embedded API (a new port) must get a fresh worker, or its records
    would go to the stopped one.
    """
    with contextlib.suppress(Exception):
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
