"""The flow's submission book-keeping (:mod:`flows.submit`), without a Prefect API.

The cache look-up in the flow process is tested against a result written
with Prefect's own ``ResultStore`` under the key :class:`Run` computes; the
full round trip through real task runs is in ``tests/test_cache.py``.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectConcurrentFuture

from flows import tasks
from flows.submit import Done, Item, Run, concrete, never_cached, pass_on, pending, resolve


@task(name="scale-submit")
def scale(source: str, output: str, factor: int = 2) -> str:
    return output


@task(name="scale-uncached", cache_policy=None, persist_result=False)
def scale_uncached(source: str, output: str, factor: int = 2) -> str:
    return output


@task(name="scale-no-cache", cache_policy=NO_CACHE)
def scale_no_cache(source: str, output: str) -> str:
    return output


def _future(value: Any = None) -> PrefectConcurrentFuture[Any]:
    """A real Prefect future around a finished ``concurrent.futures.Future``."""
    inner: Future[Any] = Future()
    inner.set_result(value)
    return PrefectConcurrentFuture(task_run_id=uuid.uuid4(), wrapped_future=inner)


def _run(tmp: Path, force: list[str] | None = None, cache: bool = True) -> Run:
    config = SimpleNamespace(runtime=SimpleNamespace(force=force or [], cache=cache))
    return Run(config, SimpleNamespace(cache_dir=tmp / "cache"))  # type: ignore[arg-type]


def _store(run: Run, key: str, value: Any) -> None:
    from prefect.filesystems import LocalFileSystem
    from prefect.results import ResultStore

    ResultStore(result_storage=LocalFileSystem(basepath=str(run.storage))).write(key=key, obj=value)


def test_never_cached_is_read_from_the_task_declaration() -> None:
    assert never_cached(tasks.download_task) and never_cached(tasks.ingest_task)
    assert never_cached(scale_uncached) and never_cached(scale_no_cache)
    for t in (tasks.detector1_task, tasks.spec2_task, tasks.extract_task, tasks.combine_task, scale):
        assert not never_cached(t), t.name
    # the run gives cached tasks its own policy; that keeps them cached
    assert not never_cached(tasks.detector1_task.with_options(cache_policy=tasks.CACHE))


def test_concrete_replaces_done_values_and_keeps_futures(tmp_path: Path) -> None:
    fut = _future("x")
    value = {"a": Done("p"), "b": [Done(1), (Done(2), 3)], "c": Item(Done(["u", "v"]), 1), "d": fut, "e": Item(fut, 0)}
    out = concrete(value)
    assert out["a"] == "p" and out["b"] == [1, (2, 3)] and out["c"] == "v"
    assert out["d"] is fut and isinstance(out["e"], Item)  # unknown until that task ran


def test_pending_finds_futures_at_any_depth() -> None:
    assert not pending({"a": ["p", ("q",)], "b": Done("x")})
    assert pending([["p", _future()]])
    assert pending({"k": ("p", {"deep": _future()})})
    assert pending(Item(Done(["a"]), 0))  # an Item is resolved by pass_on, not looked up


def test_pass_on_and_resolve() -> None:
    fut = _future(["a", "b"])
    assert pass_on(fut) is fut  # Prefect waits for a future passed as an argument
    assert pass_on(Done("x")) == "x" and pass_on(Item(fut, 1)) == "b" and pass_on(3) == 3
    assert resolve(fut) == ["a", "b"] and resolve(Item(fut, 0)) == "a" and resolve(Done(5)) == 5 and resolve("p") == "p"


def test_done_has_the_interface_of_a_finished_future() -> None:
    done = Done([1])
    seen: list[Any] = []
    done.add_done_callback(seen.append)
    assert seen == [done] and done.wait() is None and done.result(raise_on_failure=False) == [1]
    assert done.state.name == "Cached"


def test_cache_key_binds_defaults_like_prefect(tmp_path: Path) -> None:
    run = _run(tmp_path)
    key = run.cache_key(scale, {"source": "s.txt", "output": "o.txt"})
    assert key == run.policy.key_for("scale-submit", {"source": "s.txt", "output": "o.txt", "factor": 2})
    assert key != run.cache_key(scale, {"source": "s.txt", "output": "o.txt", "factor": 3})


def test_lookup_takes_a_valid_hit_in_the_flow_process(tmp_path: Path) -> None:
    src, out = tmp_path / "s.txt", tmp_path / "o.txt"
    src.write_text("1")
    out.write_text("2")
    kwargs = {"source": str(src), "output": str(out)}
    run = _run(tmp_path)
    assert run.lookup(scale, "stage1", kwargs) is None  # nothing cached yet
    _store(run, run.cache_key(scale, kwargs), str(out))

    done = run.submit(scale, "stage1", "a", **kwargs)  # a hit: no task run is submitted
    assert isinstance(done, Done) and done.result() == str(out)
    assert run.records == [("stage1", "a", done)]

    # an input given as a cached upstream result is known: looked up too
    assert isinstance(run.submit(scale, "stage1", "b", source=Done(str(src)), output=str(out)), Done)
    # not looked up: a forced stage, caching off, an input still pending
    assert _run(tmp_path, force=["stage1"]).lookup(scale, "stage1", kwargs) is None
    assert _run(tmp_path, force=["stage2"]).lookup(scale, "stage1", kwargs) is not None
    assert _run(tmp_path, cache=False).lookup(scale, "stage1", kwargs) is None
    assert run.lookup(scale, "stage1", {"source": _future(), "output": str(out)}) is None
    # a hit naming a product that is gone is a miss
    out.unlink()
    assert run.lookup(scale, "stage1", kwargs) is None


def test_never_cached_task_is_not_looked_up(tmp_path: Path) -> None:
    src, out = tmp_path / "s.txt", tmp_path / "o.txt"
    src.write_text("1")
    out.write_text("2")
    kwargs = {"source": str(src), "output": str(out)}
    run = _run(tmp_path)
    _store(run, run.cache_key(scale_uncached, kwargs), str(out))
    assert run.lookup(scale_uncached, "download", kwargs) is None
    # the same entry under a cached task's name would be a hit
    renamed = scale.with_options(name="scale-uncached")
    assert isinstance(run.lookup(renamed, "download", kwargs), Done)


@pytest.mark.parametrize("bad", [{"factor": 2}, {"source": "s", "output": "o", "nope": 1}])
def test_cache_key_rejects_arguments_the_task_does_not_take(tmp_path: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        _run(tmp_path).cache_key(scale, bad)
