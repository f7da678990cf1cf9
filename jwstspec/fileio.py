"""Atomic file writing: nothing half-written ever carries a final name.

Every product jwstspec writes goes through :func:`atomic_path`: the writer
receives a temporary name in the destination directory, and only after it
returns without error is the file renamed (``os.replace``, atomic on POSIX)
to its final name.  A crash or ``kill -9`` leaves at most a ``.tmp-*`` file,
which :func:`remove_stale_temporaries` cleans on the next run.

A writer holds a shared ``flock`` on the destination directory while its
temporary exists (:func:`writer_lock`; the kernel drops it when the writer
dies, even by ``kill -9``).  :func:`remove_stale_temporaries` removes the
temporaries of a directory only when it can take that lock exclusively, so
it never removes the in-flight temporaries of another live run (two runs
whose science observations share one background observation both write
into the background's directories).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` on success.

    Parameters
    ----------
    final : str or Path
        The path the finished file must have.
    suffix : str, optional
        Suffix of the temporary name (defaults to the final suffix, so that
        writers that infer the format from the extension keep working).

    Yields
    ------
    Path
        Where to write.  If the block raises, the temporary file is removed
        and ``final`` is left untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    sfx = final.suffix if suffix is None else suffix
    with writer_lock(final.parent):
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + final.stem + ".", suffix=sfx, dir=final.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        tmp_path.unlink()  # writers such as astropy refuse to overwrite by default
        try:
            yield tmp_path
            if not tmp_path.exists():
                raise FileNotFoundError(f"writer produced no file for {final}")
            os.replace(tmp_path, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
            raise


@contextlib.contextmanager
def writer_lock(directory: str | Path) -> Iterator[None]:
    """Hold a shared ``flock`` on ``directory`` for the block: "a live writer has temporaries here".

    Many writers may hold it at once; :func:`remove_stale_temporaries` takes
    it exclusively.  Where the file system does not support ``flock`` on a
    directory the block runs without it.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def _busy(directory: Path, held: dict[Path, int | None]) -> bool:
    """Whether a live writer holds :func:`writer_lock` on ``directory`` (else keep it locked exclusively in ``held``)."""
    if directory not in held:
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            held[directory] = None
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return True
        except OSError:  # no flock on directories here: cannot tell, treat as stale (the run lock still applies)
            pass
        held[directory] = fd
    return False


def atomic_write_text(final: str | Path, text: str) -> Path:
    """Write ``text`` to ``final`` atomically and return the final path."""
    with atomic_path(final) as tmp:
        tmp.write_text(text)
    return Path(final)


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove what an interrupted run left below ``directory``: ``.tmp-*`` files and staging directories.

    Call it only while holding the lock of the run that owns ``directory``
    (:func:`jwstspec.locking.run_lock`).  Temporaries in a directory where a
    live writer holds :func:`writer_lock` are left alone: they may belong to
    another run writing there (a shared background observation).
    """
    removed: list[Path] = []
    root = Path(directory)
    if not root.exists():
        return removed
    held: dict[Path, int | None] = {}  # directories locked exclusively while their temporaries go
    try:
        for path in sorted(root.rglob(TMP_PREFIX + "*")):
            if any(part.startswith(TMP_PREFIX) for part in path.relative_to(root).parts[:-1]):
                continue  # inside a temporary directory: goes (or stays) with it
            if _busy(path.parent, held):
                continue  # a live writer (another run) is working in this directory
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            elif path.exists() or path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(path)
    finally:
        for fd in held.values():
            if fd is not None:
                os.close(fd)
    return removed


def sha256sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """Streamed SHA-256 of a file (never reads it whole)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
