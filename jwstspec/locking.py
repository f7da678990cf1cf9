"""One run at a time per observation (an advisory lock on the data directory), and process-wide set-ups shared by blocks.

Two runs started on the same data directory and observation would write the
same products; the second one stops at once with a clear message
(:class:`jwstspec.errors.LockError`) instead of corrupting the first.  The
lock is an ``fcntl.flock`` on a file under ``<data_dir>/.jwstspec/locks``:
the kernel releases it when the process dies, so a ``kill -9`` never leaves
a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from jwstspec.errors import LockError
from jwstspec.layout import Layout


@contextlib.contextmanager
def run_lock(layout: Layout, observation: str) -> Iterator[None]:
    """Hold the run lock of ``program``/``observation`` for the block."""
    layout.lock_dir.mkdir(parents=True, exist_ok=True)
    path = layout.lock_dir / f"{layout.program}-o{observation}.lock"
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise LockError(
                f"{layout.obs_dir(observation)} is being processed by {holder}; wait for it to finish or stop it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        yield
    finally:
        with contextlib.suppress(Exception):
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def check_free(layout: Layout, observation: str) -> None:
    """Raise :class:`LockError` at once when another run holds the lock of ``observation``.

    ``jwstspec run`` calls this before it starts Prefect, so a second run on
    the same data is refused in a second rather than after the embedded
    API's start; the flow still takes the lock itself for the whole run (a
    run starting between this check and the flow is refused there).
    """
    with run_lock(layout, observation):
        pass


def shared_setup(setup: Callable[[], Any], teardown: Callable[[], Any]) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """A context manager whose nested and concurrent blocks share one process-wide set-up.

    Parameters
    ----------
    setup, teardown : callable
        Called (under a lock) when the first block starts and when the last
        one still open ends.

    Returns
    -------
    callable
        A function returning the context manager (use ``with block():``).
    """
    lock = threading.Lock()
    depth = [0]

    @contextlib.contextmanager
    def block() -> Iterator[None]:
        with lock:
            depth[0] += 1
            if depth[0] == 1:
                setup()
        try:
            yield
        finally:
            with lock:
                depth[0] -= 1
                if depth[0] == 0:
                    teardown()

    return block
