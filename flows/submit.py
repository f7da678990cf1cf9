"""Submitting the flow's tasks: cache look-ups in the flow, futures and cached values alike.

:class:`Run` is the book-keeping of one flow run.  :meth:`Run.submit`
gives every task this run's result storage and cache policy and a
readable task-run name, and records it for the run summary.  When every
input of a task is already known and the cache holds a valid result for
them, the result is taken in the flow process and no task run is created
(a fully cached rerun then starts no worker); such a task is represented
by a :class:`Done`, which has the interface of a finished future.

What the flow hands from one task to the next is one of

* a concrete value (a path, a list of paths, a record),
* a :class:`prefect.futures.PrefectFuture` of a task still to run,
* a :class:`Done` (a result the flow took from the cache),
* an :class:`Item` (element ``i`` of a list-valued task result).

:func:`concrete`, :func:`pending`, :func:`pass_on` and :func:`resolve`
turn these into what a task argument or the flow needs.  Whether a task
is cached at all is the task's own business: a task declared with
``cache_policy=None`` or ``NO_CACHE`` (download, ingest: their code checks
what is already there) is never looked up (:func:`never_cached`).
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from flows.artifacts import StageProgress
from flows.cache import ProductCachePolicy, cached_result, is_miss

if TYPE_CHECKING:  # pragma: no cover
    from jwstspec.config import PipelineConfig
    from jwstspec.layout import Layout


class Record(NamedTuple):
    """One submitted task: its stage, its label (exposure, group or band) and its future."""

    stage: str
    label: str
    future: Any  # PrefectFuture or Done


def never_cached(task: Any) -> bool:
    """Whether ``task`` is declared without a cache (``cache_policy=None`` or ``NO_CACHE``).

    Parameters
    ----------
    task : prefect.Task
        A Prefect task.

    Returns
    -------
    bool
        True for tasks that must always run (their own code checks what is
        already done), False for tasks the run's cache policy applies to.
    """
    policy = getattr(task, "cache_policy", None)
    return policy is None or policy == NO_CACHE


class Run:
    """Book-keeping of one flow run: task options and the submitted tasks.

    Parameters
    ----------
    config : PipelineConfig
        The run's configuration (``runtime.force`` and ``runtime.cache`` are read).
    layout : Layout
        The run's layout (``cache_dir`` holds the task-result storage).
    """

    def __init__(self, config: PipelineConfig, layout: Layout) -> None:
        self.config = config
        self.layout = layout
        self.storage: Path = layout.cache_dir / "results"  # a path: Prefect's local result storage
        self.policy = ProductCachePolicy()
        self.records: list[Record] = []
        self.progress = StageProgress()  # one console line per task start/finish/cache hit, done/total per stage
        self.t0 = time.perf_counter()

    def forced(self, stage: str) -> bool:
        """Whether the tasks of ``stage`` must run even when cached (``[runtime] force`` or ``cache = false``)."""
        return stage in self.config.runtime.force or not self.config.runtime.cache

    def submit(self, task: Any, stage: str, label: str, **kwargs: Any) -> Any:
        """Submit ``task`` with this run's cache storage and a readable run name.

        Parameters
        ----------
        task : prefect.Task
            The task to run.
        stage : str
            Stage the task belongs to (``stage1`` ... ``combine``), for
            ``[runtime] force`` and the run summary.
        label : str
            What the task works on (exposure, group, band): its task-run
            name is ``"<task name> <label>"``.
        **kwargs
            The task's arguments: values, futures, :class:`Done` or :class:`Item`.

        Returns
        -------
        PrefectFuture or Done
            A :class:`Done` when the result was taken from the cache in the
            flow process (reported as ``cached``), else the task run's future.
        """
        kwargs = {k: concrete(v) for k, v in kwargs.items()}
        done = self.lookup(task, stage, kwargs)
        if done is not None:
            self.records.append(Record(stage, label, done))
            self.progress.cached(stage, task.name, label)
            return done
        name = f"{task.name} {label}"
        if never_cached(task):
            configured = task.with_options(task_run_name=name)
        else:
            configured = task.with_options(
                task_run_name=name,
                result_storage=self.storage,
                cache_policy=self.policy,
                refresh_cache=self.forced(stage),
            )
        future = configured.submit(**kwargs)
        self.records.append(Record(stage, label, future))
        self.progress.track(stage, future)
        return future

    def lookup(self, task: Any, stage: str, kwargs: dict[str, Any]) -> Done | None:
        """The cached result of ``task`` called with ``kwargs``, taken in the flow process, or None.

        None when the task is never cached, its stage is forced, an input
        is still pending (its value, hence the key, is not known yet), or
        the cache holds no valid result (missing, unreadable, or naming
        product files that are gone).
        """
        if never_cached(task) or self.forced(stage) or pending(kwargs):
            return None
        value = cached_result(self.storage, self.cache_key(task, kwargs))
        return None if is_miss(value) else Done(value)

    def cache_key(self, task: Any, kwargs: dict[str, Any]) -> str:
        """The key Prefect's task run computes for ``task`` called with ``kwargs`` (all concrete).

        Prefect keys a task run's parameters with their defaults applied,
        so they are bound here the same way.
        """
        bound = inspect.signature(task.fn).bind(**kwargs)
        bound.apply_defaults()
        return self.policy.key_for(task.name, dict(bound.arguments))


class Done:
    """A task result taken from the cache by the flow itself (the interface of a finished future).

    Parameters
    ----------
    value : object
        The cached result.
    """

    class _State:
        name = "Cached"

    state = _State()

    def __init__(self, value: Any) -> None:
        self.value = value

    def wait(self, timeout: float | None = None) -> None:
        """Nothing to wait for."""
        return None

    def result(self, *args: Any, **kwargs: Any) -> Any:
        """The cached value."""
        return self.value

    def add_done_callback(self, fn: Any) -> None:
        """Call ``fn(self)`` now (the result is there)."""
        fn(self)


class Item:
    """Element ``index`` of a list-valued task result (resolved lazily).

    Parameters
    ----------
    future : PrefectFuture or Done
        The task whose result is a list.
    index : int
        Which element.
    """

    def __init__(self, future: Any, index: int) -> None:
        self.future, self.index = future, index

    def result(self) -> Any:
        """Wait for the task and return its element."""
        return self.future.result()[self.index]


def concrete(value: Any) -> Any:
    """``value`` with every :class:`Done` (also inside an :class:`Item`, lists, tuples, dicts) replaced by its result.

    Futures of tasks still to run are left as they are.
    """
    if isinstance(value, Done):
        return value.value
    if isinstance(value, Item) and isinstance(value.future, Done):
        return value.result()
    if isinstance(value, list):
        return [concrete(v) for v in value]
    if isinstance(value, tuple):
        return tuple(concrete(v) for v in value)
    if isinstance(value, dict):
        return {k: concrete(v) for k, v in value.items()}
    return value


def pending(value: Any) -> bool:
    """Whether ``value`` holds a future of a task still to run (its result is not known yet)."""
    if isinstance(value, (PrefectFuture, Item)):
        return True
    if isinstance(value, (list, tuple)):
        return any(pending(v) for v in value)
    if isinstance(value, dict):
        return any(pending(v) for v in value.values())
    return False


def pass_on(value: Any) -> Any:
    """A task argument: futures are passed on (Prefect waits for them), the rest resolved."""
    if isinstance(value, Done):
        return value.value
    if isinstance(value, Item):
        return value.result()
    return value


def resolve(value: Any) -> Any:
    """The value itself: waits for a future, an :class:`Item` or a :class:`Done`; anything else as is."""
    if isinstance(value, (PrefectFuture, Item, Done)):
        return value.result()
    return value
