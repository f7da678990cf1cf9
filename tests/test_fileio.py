"""Atomic writes, stale temporaries, locks."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from jwstspec.config import validate_config
from jwstspec.errors import LockError
from jwstspec.fileio import atomic_path, atomic_write_text, remove_stale_temporaries, sha256sum
from jwstspec.layout import Layout
from jwstspec.locking import check_free, run_lock, shared_setup


def test_atomic_path_renames_only_on_success(tmp_path: Path) -> None:
    final = tmp_path / "sub" / "out.fits"
    with atomic_path(final) as tmp:
        assert tmp.parent == final.parent and tmp.suffix == ".fits"
        tmp.write_text("x")
        assert not final.exists()
    assert final.read_text() == "x"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert final.read_text() == "x"  # untouched
    assert [p.name for p in final.parent.iterdir()] == ["out.fits"]  # no temporary left


def test_stale_temporaries_removed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    stale = tmp_path / "a" / ".tmp-out.abc.fits"
    stale.write_text("partial")
    keep = atomic_write_text(tmp_path / "a" / "keep.txt", "ok")
    staging = tmp_path / "a" / ".tmp-abc123"  # a pipeline staging directory of a killed run
    (staging / "sub").mkdir(parents=True)
    (staging / "sub" / "x_cal.fits").write_text("half")
    assert remove_stale_temporaries(tmp_path) == [staging, stale]
    assert keep.exists() and not stale.exists() and not staging.exists()


def test_sha256_streamed(tmp_path: Path) -> None:
    import hashlib

    f = tmp_path / "f.bin"
    f.write_bytes(b"abc" * 1000)
    assert sha256sum(f, chunk=7) == hashlib.sha256(b"abc" * 1000).hexdigest()


def _hold(data_dir: str, ready, release) -> None:  # pragma: no cover - runs in a child
    cfg = validate_config({"program": "01234", "observation": "001", "instrument": "miri", "data_dir": data_dir})
    with run_lock(Layout.from_config(cfg), "001"):
        ready.set()
        release.wait(30)


def test_second_run_on_same_observation_is_refused(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(tmp_path), ready, release))
    proc.start()
    try:
        assert ready.wait(60)
        cfg = validate_config({"program": "01234", "observation": "001", "instrument": "miri", "data_dir": str(tmp_path)})
        with pytest.raises(LockError, match="being processed by pid"), run_lock(Layout.from_config(cfg), "001"):
            pass
        with run_lock(Layout.from_config(cfg), "002"):  # another observation is free
            pass
        with pytest.raises(LockError, match="being processed by pid"):  # what `jwstspec run` asks before Prefect starts
            check_free(Layout.from_config(cfg), "001")
        check_free(Layout.from_config(cfg), "002")
    finally:
        release.set()
        proc.join(30)
    with run_lock(Layout.from_config(cfg), "001"):  # released when the holder ends
        pass
    check_free(Layout.from_config(cfg), "001")


def test_shared_setup_runs_once_for_nested_and_concurrent_blocks() -> None:
    import threading

    calls: list[str] = []
    block = shared_setup(lambda: calls.append("setup"), lambda: calls.append("teardown"))
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with block():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=other)
    with block():
        with block():
            assert calls == ["setup"]
        t.start()
        assert inside.wait(10)
    assert calls == ["setup"]  # the other thread's block is still open
    release.set()
    t.join(10)
    assert calls == ["setup", "teardown"]
    with block():
        pass
    assert calls == ["setup", "teardown", "setup", "teardown"]
