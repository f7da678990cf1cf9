"""Task caching: keys from file identity and options; stale hits recompute.

Runs real Prefect flows (a private API on loopback) with small tasks that
write files, so the cache policy is tested without the jwst pipelines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task

from flows.cache import ProductCachePolicy, _canonical, outputs_valid


@pytest.fixture(scope="module")
def prefect_api() -> Any:
    from flows.runtime import embedded_prefect

    with embedded_prefect() as url:
        yield url


CALLS: list[str] = []


@task(name="double")
def double(source: str, output: str, factor: int) -> str:
    CALLS.append(Path(output).name)
    Path(output).write_text(str(factor * int(Path(source).read_text())))
    return output


def _run(tmp: Path, source: Path, factor: int = 2, refresh: bool = False) -> tuple[str, str]:
    storage = tmp / "cache" / "results"
    policy = ProductCachePolicy()
    t = double.with_options(cache_policy=policy, result_storage=storage, persist_result=True, refresh_cache=refresh)

    @flow(name="cache-test")
    def f() -> tuple[str, str]:
        a = t.submit(source=str(source), output=str(tmp / "a.txt"), factor=factor)
        b = t.submit(source=a, output=str(tmp / "b.txt"), factor=factor)  # downstream of a
        b.wait()
        return a.state.name, b.state.name

    return f()


def test_cache_hit_stale_miss_and_downstream(prefect_api: Any, tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("3")
    CALLS.clear()
    assert _run(tmp_path, src) == ("Completed", "Completed")
    assert (tmp_path / "b.txt").read_text() == "12"
    assert _run(tmp_path, src) == ("Cached", "Cached")
    assert CALLS == ["a.txt", "b.txt"]

    # an output deleted: its task recomputes; the downstream task sees a new input and recomputes too
    (tmp_path / "a.txt").unlink()
    assert _run(tmp_path, src) == ("Completed", "Completed")
    # only the downstream output deleted: upstream stays cached
    (tmp_path / "b.txt").unlink()
    assert _run(tmp_path, src) == ("Cached", "Completed")
    # an option changed: both recompute
    assert _run(tmp_path, src, factor=3) == ("Completed", "Completed")
    assert (tmp_path / "b.txt").read_text() == "27"
    # forced
    assert _run(tmp_path, src, factor=3, refresh=True) == ("Completed", "Completed")


def test_canonical_uses_identity_not_content(tmp_path: Path) -> None:
    f = tmp_path / "x.fits"
    f.write_bytes(b"1" * 10)
    ident = _canonical(str(f))
    assert ident["size"] == 10 and "mtime_ns" in ident
    assert _canonical(tmp_path / "missing.fits") == {"path": str(tmp_path / "missing.fits"), "missing": True}
    assert _canonical({"b": 1, "a": [1.5, "s"]}) == {"a": [1.5, "s"], "b": 1}


def test_outputs_valid(tmp_path: Path) -> None:
    good = tmp_path / "g.fits"
    good.write_text("x")
    empty = tmp_path / "e.fits"
    empty.write_text("")
    assert outputs_valid({"fits": str(good), "n": 3})
    assert not outputs_valid([str(good), str(empty)])
    assert not outputs_valid(str(tmp_path / "gone.fits"))


@task(name="scale")
def scale(source: str, output: str, factor: int = 2) -> str:
    """A task with a default argument (Prefect keys a run's parameters with their defaults)."""
    CALLS.append(Path(output).name)
    Path(output).write_text(str(factor * int(Path(source).read_text())))
    return output


def _flow_run(tmp: Path, source: Path, force: list[str] | None = None) -> list[tuple[bool, str]]:
    """Two chained tasks through the flow's ``Run.submit`` (the parent-side cache lookup).

    Returns, per task, (whether a task run was submitted, final state name).
    """
    from types import SimpleNamespace

    from prefect.futures import PrefectFuture

    from flows.submit import Run

    config = SimpleNamespace(runtime=SimpleNamespace(force=force or [], cache=True))
    layout = SimpleNamespace(cache_dir=tmp / "cache")

    @flow(name="cache-test-run", persist_result=False)
    def f() -> list[tuple[bool, str]]:
        run = Run(config, layout)  # type: ignore[arg-type]
        a = run.submit(scale, "stage1", "a", source=str(source), output=str(tmp / "a.txt"))
        b = run.submit(scale, "stage2", "b", source=a, output=str(tmp / "b.txt"))
        assert b.result() == str(tmp / "b.txt")
        return [(isinstance(x, PrefectFuture), x.state.name) for x in (a, b)]

    return f()


def test_cached_results_are_taken_in_the_flow_process(prefect_api: Any, tmp_path: Path) -> None:
    """A hit whose inputs are known costs no task run; a miss or a stale hit still runs (and downstream)."""
    src = tmp_path / "src.txt"
    src.write_text("3")
    CALLS.clear()
    assert _flow_run(tmp_path, src) == [(True, "Completed"), (True, "Completed")]
    assert CALLS == ["a.txt", "b.txt"]

    # the key computed in the flow (with the default factor) is the key Prefect computed in the task run
    assert _flow_run(tmp_path, src) == [(False, "Cached"), (False, "Cached")]
    assert CALLS == ["a.txt", "b.txt"]

    # downstream output gone: the flow's lookup sees a stale hit, the task runs, upstream stays cached
    (tmp_path / "b.txt").unlink()
    assert _flow_run(tmp_path, src) == [(False, "Cached"), (True, "Completed")]
    assert (tmp_path / "b.txt").read_text() == "12"

    # upstream output gone: it runs, and downstream (an input with a new mtime) runs in its task run
    (tmp_path / "a.txt").unlink()
    assert _flow_run(tmp_path, src) == [(True, "Completed"), (True, "Completed")]
    assert CALLS == ["a.txt", "b.txt", "b.txt", "a.txt", "b.txt"]

    # a forced stage: no lookup, the task runs with refresh_cache
    assert _flow_run(tmp_path, src, force=["stage2"]) == [(False, "Cached"), (True, "Completed")]
