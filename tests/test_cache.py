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
