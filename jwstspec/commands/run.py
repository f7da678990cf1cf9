"""``jwstspec run``: run the pipeline flow on a configuration file."""

from __future__ import annotations

import argparse
import json

from jwstspec.config import STAGES, load_config

HELP = "Run the pipeline (a Prefect flow) described by a configuration file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``jwstspec run`` arguments to ``parser``."""
    parser.add_argument("config", help="TOML configuration file (see `jwstspec init`)")
    parser.add_argument("--force", action="append", choices=STAGES, default=[], metavar="STAGE",
                        help=f"recompute STAGE even when cached (repeatable; one of {', '.join(STAGES)})")
    parser.add_argument("--stages", nargs="+", choices=STAGES, metavar="STAGE", help="run only these stages")
    parser.add_argument("--task-runner", choices=["process", "thread", "dask", "serial"], help="override [runtime] task_runner")
    parser.add_argument("--workers", type=int, help="override [runtime] workers")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    parser.add_argument("--verbose", action="store_true", default=None,
                        help="show the jwst pipelines' detail (each step's parameters and references) on the console "
                             "and in the Prefect run log (sets [runtime] verbose; always in the per-exposure log files)")


def run(args: argparse.Namespace) -> int:
    """Run ``jwstspec run``; return the exit code."""
    config = load_config(args.config)  # validated before any work
    updates: dict = {}
    runtime = config.runtime.model_copy(update={
        k: v for k, v in {
            "force": sorted(set(config.runtime.force) | set(args.force)) or None,
            "task_runner": args.task_runner,
            "workers": args.workers,
            "verbose": args.verbose,
        }.items() if v is not None
    })
    updates["runtime"] = runtime
    if args.stages:
        updates["stages"] = args.stages
    from jwstspec.config import validate_config

    config = validate_config({**config.model_dump(), **{k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in updates.items()}})

    from jwstspec.layout import Layout
    from jwstspec.locking import check_free
    from jwstspec.plan import check_inputs

    layout = Layout.from_config(config)
    check_inputs(config, layout)  # exposures already there: checked before anything is written
    check_free(layout, config.observation)  # another run on these data: refused before Prefect starts

    from flows.launch import run_configs

    summary = run_configs({"run": config})[0]["run"]
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        print(f"done: summary in {summary.get('summary', '-')}" if summary.get("status") == "completed" else summary.get("message", "done"))
    return 0
