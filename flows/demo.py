"""``jwstspec demo``'s run: the synthetic program generated, then processed by the flow.

The synthetic data and their truth are made by :mod:`jwstspec.synthetic.demo`
(science, no Prefect); this module only runs its configurations through
:func:`flows.launch.run_configs`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flows.launch import run_configs
from flows.runtime import configure_environment, launch_embedded_api


def run_demo(root: str | Path, **kwargs: Any) -> dict[str, Any]:
    """Build the demo and run every branch through the Prefect flow.

    Parameters
    ----------
    root : path
        Output directory of the demo (reused when it exists: a rerun is served from the cache).
    **kwargs
        Options of :func:`jwstspec.synthetic.demo.build_demo` (``n_dithers``,
        ``crds_path``, ``task_runner``, ``workers``, ``branches``: the observations to run).

    Returns
    -------
    dict
        ``{"demo": Demo, "summaries": {name: RunResult}, "seconds": {"generate": s, name: s, ...},
        "truth": {name: (demo_truth.json path, {product: record})}}``: each completed run's final
        spectra compared with the injected truth (:func:`jwstspec.synthetic.demo.check_truth`).
    """
    configure_environment()  # before anything imports Prefect
    from jwstspec.layout import Layout
    from jwstspec.synthetic.demo import PROGRAM, build_demo, check_truth, data_dir

    launch_embedded_api(Layout(data_dir(root), PROGRAM).prefect_dir)  # starts while the data are checked
    t0 = time.perf_counter()
    demo = build_demo(root, **kwargs)
    seconds = {"generate": time.perf_counter() - t0}
    summaries, run_seconds = run_configs(demo.configs)
    truth = {name: check_truth(demo, name, dict(result.get("products") or {}))
             for name, result in summaries.items() if result.get("status") == "completed"}
    return {"demo": demo, "summaries": summaries, "seconds": {**seconds, **run_seconds}, "truth": truth}
