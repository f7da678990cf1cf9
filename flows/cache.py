"""Task caching keyed on what determines a task's output.

:class:`ProductCachePolicy` computes a task's cache key from

* the identity of every input file (absolute path, size, mtime; files are
  never read, so a multi-GB uncal costs nothing),
* every other argument (options, step overrides) as canonical JSON,
* the task's name, the ``jwst`` version and the CRDS cache path.

The CRDS context is not read from the environment (which differs between
the flow process and a worker that already served a run): the tasks that
ask CRDS take the run's resolved context as an explicit ``crds_context``
parameter (:mod:`flows.tasks`), so it is keyed like any other option.

A cache hit is validated before it is used: when the cached result names
product files that are gone, empty, or rewritten after the result was
recorded (another run with other options or another CRDS context wrote
the same path), the stale record is removed (local storage; elsewhere
the key is replaced by a fresh one), so the task runs again and its new
result takes the key (a hit whose outputs are not its own is a miss).  Because
the key includes the mtime of each input, a recomputed upstream product
changes the keys of exactly the tasks downstream of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext

_FILE_SUFFIXES = (".fits", ".json", ".ecsv", ".png", ".asdf", ".toml", ".md", ".log")


def _jwst_version() -> str:
    try:
        from importlib.metadata import version

        return version("jwst")
    except Exception:  # pragma: no cover
        return "unknown"


def _canonical(value: Any) -> Any:
    """JSON-able canonical form; existing files become their identity."""
    if hasattr(value, "model_dump"):
        return _canonical(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if _is_path(value):
        path = Path(value)
        try:
            st = path.stat()
        except OSError:
            return {"path": str(path), "missing": True}
        if path.is_dir():
            return {"dir": str(path)}
        return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _is_path(value: Any) -> bool:
    """A Path, or a string naming a product file (by suffix) or an existing file."""
    if isinstance(value, Path):
        return True
    return isinstance(value, str) and (value.endswith(_FILE_SUFFIXES) or (os.sep in value and os.path.isfile(value)))


def _is_output_param(name: str) -> bool:
    """Parameters that name where a task writes: identity = the name only."""
    return name.startswith("output") or name.endswith(("_dir", "log_file")) or name in ("label", "destination")


#: Keys of task results that hold no product path: the extract task's input file name and its failed slits' reasons.
NOT_PATHS: tuple[str, ...] = ("failed", "source")


def file_paths(value: Any) -> list[Path]:
    """Every product path named in a task result (tasks return absolute paths; keys in :data:`NOT_PATHS` are skipped)."""
    out: list[Path] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in NOT_PATHS:
                out += file_paths(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            out += file_paths(v)
    elif isinstance(value, Path) or (isinstance(value, str) and (value.endswith(_FILE_SUFFIXES) or os.path.isabs(value))):
        out.append(Path(value))
    return out


def outputs_valid(result: Any, recorded_ns: int | None = None) -> bool:
    """Cheap validity check of a cached result: every file exists, is non-empty, and is not newer than the record.

    ``recorded_ns`` is the mtime of the cached result record: a product
    rewritten after it (another run with other options or another CRDS
    context wrote the same path, e.g. context A -> B -> back to A) is no
    longer the product that record describes.
    """
    for path in file_paths(result):
        try:
            st = path.stat()
        except OSError:
            return False
        if st.st_size == 0 or (recorded_ns is not None and st.st_mtime_ns > recorded_ns):
            return False
    return True


def record_time_ns(storage: Path | str | None, key: str) -> int | None:
    """Mtime of the result record ``key`` in a local result storage (None when unknown)."""
    if storage is None:
        return None
    try:
        return (Path(storage) / key).stat().st_mtime_ns
    except OSError:
        return None


class ProductCachePolicy(CachePolicy):
    """Cache key from input-file identity, options (the CRDS context among them) and jwst version."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        """Prefect's hook: the key of a task run (:meth:`key_for`); a fresh key when the stored record is stale or unreadable."""
        key = self.key_for(task_ctx.task.name, inputs)
        store = getattr(task_ctx, "result_store", None)
        if store is not None:
            try:
                basepath = getattr(getattr(store, "result_storage", None), "basepath", None)
                if store.exists(key) and not outputs_valid(store.read(key).result, record_time_ns(basepath, key)):
                    if basepath is not None:  # local storage: drop the stale record, the new result takes its key
                        (Path(basepath) / key).unlink(missing_ok=True)
                        return key
                    return f"{key}-stale-{uuid.uuid4().hex}"
            except Exception:
                return f"{key}-unreadable-{uuid.uuid4().hex}"
        return key

    @staticmethod
    def key_for(task_name: str, inputs: dict[str, Any]) -> str:
        """The cache key of task ``task_name`` called with ``inputs`` (resolved values)."""
        canonical = {
            name: (str(value) if _is_output_param(name) else _canonical(value)) for name, value in sorted(inputs.items())
        }
        payload = {
            "task": task_name,
            "inputs": canonical,
            "jwst": _jwst_version(),
            "crds_path": os.environ.get("CRDS_PATH", ""),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


_MISS = object()


def cached_result(storage: Path, key: str) -> Any:
    """The result cached under ``key`` in ``storage`` when it is there and its outputs are valid, else ``_MISS``.

    The flow calls this before submitting a task whose inputs are all known:
    a hit then costs a file read in the flow process instead of a task run
    in a (possibly not yet started) worker.  Anything unreadable is a miss.
    """
    from prefect.filesystems import LocalFileSystem
    from prefect.results import ResultStore

    try:
        store = ResultStore(result_storage=LocalFileSystem(basepath=str(storage)))
        if not store.exists(key):
            return _MISS
        value = store.read(key).result
    except Exception:
        return _MISS
    return value if outputs_valid(value, record_time_ns(storage, key)) else _MISS


def is_miss(value: Any) -> bool:
    """Tell whether ``value`` is the cache-miss marker of :func:`cached_result`."""
    return value is _MISS
