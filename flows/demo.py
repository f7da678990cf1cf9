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
        ``crds_path``, ``task_runner``, ``workers``, ``branches``).

    Returns
    -------
    dict
        ``{"demo": Demo, "summaries": {branch: RunResult}, "seconds": {"generate": s, branch: s, ...}}``.
    """
    configure_environment()  # before anything imports Prefect
    from jwstspec.layout import Layout
    from jwstspec.synthetic.demo import PROGRAM, build_demo, data_dir

    launch_embedded_api(Layout(data_dir(root), PROGRAM).prefect_dir)  # starts while the data are checked
    t0 = time.perf_counter()
    demo = build_demo(root, **kwargs)
    seconds = {"generate": time.perf_counter() - t0}
    summaries, run_seconds = run_configs(demo.configs)
    return {"demo": demo, "summaries": summaries, "seconds": {**seconds, **run_seconds}}
