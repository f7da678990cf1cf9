"""Start the embedded Prefect API and run configurations through the flow.

The one entry of ``jwstspec run`` and ``jwstspec demo`` (and of anything
else that runs the flow from a command): the Prefect settings jwstspec
relies on are applied before Prefect is imported, a private API is started
on loopback for the duration (unless ``PREFECT_API_URL`` points at a server
already), and the configurations run one after the other in it, sharing
the warm process pool (:mod:`flows.runtime`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from flows.runtime import configure_environment, embedded_prefect

if TYPE_CHECKING:  # pragma: no cover
    from flows.result import RunResult
    from jwstspec.config import PipelineConfig


def run_configs(configs: Mapping[str, PipelineConfig]) -> tuple[dict[str, RunResult], dict[str, float]]:
    """Run each configuration through the flow inside one embedded Prefect API.

    Parameters
    ----------
    configs : mapping of str to PipelineConfig
        Validated configurations by name, run in this order.

    Returns
    -------
    results : dict of str to RunResult
        Each run's result, by name.
    seconds : dict of str to float
        Wall time of each run, by name.
    """
    configure_environment()  # before Prefect is imported
    results: dict[str, RunResult] = {}
    seconds: dict[str, float] = {}
    from jwstspec.layout import Layout

    first = next(iter(configs.values()), None)
    with embedded_prefect(Layout.from_config(first).prefect_dir if first is not None else None):
        from flows.pipeline import run_pipeline

        for name, config in configs.items():
            t0 = time.perf_counter()
            results[name] = run_pipeline(config)
            seconds[name] = time.perf_counter() - t0
    return results, seconds
