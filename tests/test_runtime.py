"""Run-time plumbing: the process pool shared by the flow runs of one command.

Real Prefect flows on a private API (loopback) and a real spawn process
pool; the tasks are trivial, so these tests measure nothing, they check
which worker process ran what.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from prefect import flow, task

from flows.runtime import _warm_supported

pytestmark = pytest.mark.skipif(not _warm_supported(), reason="this Prefect's process-pool internals differ: the plain runner is used")


@pytest.fixture(scope="module")
def prefect_api() -> Any:
    from flows.runtime import embedded_prefect

    with embedded_prefect() as url:  # also the warm-pool scope
        yield url


@task(name="pid", persist_result=False)
def pid_task(i: int) -> int:
    return os.getpid()


@task(name="boom", persist_result=False)
def boom_task() -> int:
    raise ValueError("boom")


def _runner(workers: int = 1) -> Any:
    from flows.runtime import _warm_runner_class, worker_initializer

    return _warm_runner_class()(max_workers=workers, initializer=worker_initializer, initargs=({"JWSTSPEC_TEST": "1"}, "INFO"))


def _pids(n: int, workers: int = 1) -> list[int]:
    @flow(name="pids", persist_result=False)
    def f() -> list[int]:
        return [fut.result() for fut in [pid_task.submit(i) for i in range(n)]]

    return f.with_options(task_runner=_runner(workers))()


def _live_pool() -> Any:
    from flows import runtime

    return runtime._warm_pool


def _workers() -> set[int]:
    return set(_live_pool()[1]._executor._processes)


def test_workers_start_with_the_first_task_and_outlive_a_flow_run(prefect_api: Any) -> None:
    from flows.runtime import close_warm_pool

    close_warm_pool()
    assert _pids(0, workers=2) == []
    assert not _workers()  # no task ran: no worker started
    first = _pids(1, workers=2)
    started = _workers()
    assert len(started) == 2 and first[0] in started  # both workers start with the first task
    assert set(_pids(3, workers=2)) <= started and _workers() == started  # the next flow run reuses them
    close_warm_pool()
    assert _live_pool() is None
    assert not set(_pids(1, workers=2)) & started  # after the block: new workers


def test_a_failed_flow_run_does_not_break_the_next(prefect_api: Any) -> None:
    @flow(name="fails", persist_result=False)
    def fails() -> int:
        return boom_task.submit().result()

    with pytest.raises(ValueError, match="boom"):
        fails.with_options(task_runner=_runner(2))()
    assert len(_pids(2, workers=2)) == 2


def test_outside_the_block_the_pool_is_the_flow_runs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without warm_process_pools() the runner is Prefect's ProcessPoolTaskRunner (enter/exit own the pool)."""
    from flows import runtime

    monkeypatch.setattr(runtime, "_warm_depth", 0)
    runner = _runner()
    with runner:
        executor = runner._executor
        assert executor is not None and getattr(runner, "_owner", None) is None
    assert runner._executor is None and executor._shutdown_thread


def test_embedded_api_runs_flows_without_heartbeats(prefect_api: Any) -> None:
    """The private API lives as long as the command: no heartbeat thread (it cost each flow run up to 1 s)."""
    from prefect.settings import get_current_settings

    assert prefect_api is None or get_current_settings().flows.heartbeat_frequency is None


def test_make_task_runner_falls_back_to_prefects_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Prefect whose runner internals differ gets its own ProcessPoolTaskRunner, not a broken warm one."""
    from prefect.task_runners import ProcessPoolTaskRunner

    from flows import runtime
    from jwstspec.config import RuntimeOptions

    options = RuntimeOptions(task_runner="process", workers=2)
    assert type(runtime.make_task_runner(options, {})) is runtime._warm_runner_class()
    monkeypatch.setattr(runtime, "_warm_supported", lambda: False)
    runner = runtime.make_task_runner(options, {})
    assert type(runner) is ProcessPoolTaskRunner and runner._max_workers == 2
