"""Run jwstspec on a cluster with Dask: a SLURM (or PBS) example.

Each Dask worker is one batch job with one process and one thread (the
``jwst`` steps are CPU-bound and memory-hungry: give each job the memory of
your largest exposure times ~3).  Start the cluster, then point the run at
its scheduler:

    python deployments/dask_cluster.py --config my_program.toml --jobs 8 --queue normal

or, with a cluster started elsewhere, in the configuration::

    [runtime]
    task_runner = "dask"
    dask_address = "tcp://scheduler-host:8786"

Every worker inherits the CRDS environment of the run (CRDS_PATH must be on
a shared file system, as must ``data_dir``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    """Start a Dask cluster on a batch scheduler and run one configuration on it; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--scheduler", choices=["slurm", "pbs"], default="slurm")
    parser.add_argument("--jobs", type=int, default=4, help="number of batch jobs (Dask workers)")
    parser.add_argument("--queue", default=None)
    parser.add_argument("--account", default=None)
    parser.add_argument("--memory", default="16GB", help="memory per job")
    parser.add_argument("--walltime", default="04:00:00")
    args = parser.parse_args(argv)

    import dask_jobqueue
    from prefect_dask import DaskTaskRunner

    from flows.pipeline import jwstspec_pipeline
    from flows.runtime import configure_environment, embedded_prefect
    from jwstspec.config import load_config
    from jwstspec.crds import apply_environment, crds_environment

    config = load_config(args.config)
    configure_environment()
    apply_environment(crds_environment(config))
    cluster_class = {"slurm": "dask_jobqueue.SLURMCluster", "pbs": "dask_jobqueue.PBSCluster"}[args.scheduler]
    runner = DaskTaskRunner(
        cluster_class=cluster_class,
        cluster_kwargs={
            "cores": 1,
            "processes": 1,
            "memory": args.memory,
            "walltime": args.walltime,
            "queue": args.queue,
            "account": args.account,
            "job_script_prologue": ["export OMP_NUM_THREADS=1"],
        },
        adapt_kwargs={"minimum": 1, "maximum": args.jobs},
    )
    assert dask_jobqueue  # imported to fail early with a clear error when it is missing
    with embedded_prefect():
        jwstspec_pipeline.with_options(task_runner=runner)(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
